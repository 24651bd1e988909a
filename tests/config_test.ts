import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import {
  ConfigError,
  loadConfig,
  OPTION_GROUPS,
  OPTIONS,
  type RouterConfig,
  toRouterOptions,
} from "../config/load.ts";
import { ROUTER_DEFAULTS, withDefaults } from "../config/defaults.ts";
import { configurationWarnings } from "../config/warnings.ts";

const root = new URL("..", import.meta.url).pathname;

/** Loads a configuration from in-memory flags, environment and files. */
function load(
  args: string[],
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): RouterConfig {
  return loadConfig(args, (name) => env[name], readFrom(files));
}

function readFrom(files: Record<string, string>): (path: string) => string {
  return (path) => {
    if (Object.hasOwn(files, path)) return files[path]!;
    throw new Deno.errors.NotFound(`No such file or directory (os error 2): readfile '${path}'`);
  };
}

/** Loads `file` as ptth.json. */
function loadFile(file: unknown): RouterConfig {
  return load(["--config", "ptth.json"], {}, { "ptth.json": JSON.stringify(file) });
}

/** The ConfigError `fn` throws. */
function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    ok(!error.message.includes("\n"), `the message is one line: ${error.message}`);
    return error;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
const TOKEN = "s3cret-token-0123456789";

Deno.test("loadConfig() gives every option its default when nothing is set", () => {
  const config = load([]);
  deepEqual({ ...config, sources: {} }, {
    port: 8888,
    tunnelPort: 8887,
    hostname: "0.0.0.0",
    tunnelHostname: "0.0.0.0",
    tunnelPath: "/.well-known/ptth/tunnel",
    tokens: {},
    serviceHosts: {},
    routes: [],
    trustedProxies: [],
    maxHeaderBytes: 65536,
    maxBodyBytes: Infinity,
    responseHeaderTimeout: 60_000,
    idleTimeout: 300_000,
    handshakeTimeout: 10_000,
    headerTimeout: 10_000,
    clientIdleTimeout: 60_000,
    maxConnections: 10_000,
    maxConnectionsPerAddress: 512,
    maxPendingHandshakes: 1024,
    maxPendingHandshakesPerAddress: 16,
    maxStreamsPerTunnel: Infinity,
    maxQueuedRequests: 1024,
    maxResponseBuffer: 256 * 1024 * 1024,
    maxWebSocketBuffer: 256 * 1024 * 1024,
    maxTunnelsPerService: 256,
    authFailuresPerMinute: 10,
    tunnelWait: 3000,
    maxRetries: 2,
    keepaliveInterval: 15_000,
    keepaliveTimeout: 10_000,
    adminPort: 8889,
    adminHostname: "127.0.0.1",
    adminHosts: [],
    readyServices: [],
    logFormat: "text",
    logLevel: "info",
    acmeDirectory: "https://acme-v02.api.letsencrypt.org/directory",
    acmeStaging: false,
    acmeCaCerts: [],
    stateDir: "ptth-state",
    acmeOrderTimeout: 120_000,
    acmeRequestTimeout: 30_000,
    acmeOrdersPerHour: 20,
    acmeRetryDelay: 60_000,
    acmeRetryMaxDelay: 3_600_000,
    help: false,
    version: false,
    sources: {},
  });
  deepEqual(config.sources, {});
  equal(config.allowAnonymous, undefined, "unset, so that the router decides");
  equal(config.tlsCert, undefined);
});

Deno.test("loadConfig() prefers a flag to an env var, an env var to the file, the file to the default", () => {
  const file = JSON.stringify({ port: 1, tunnelPort: 2, hostname: "10.0.0.1", idleTimeout: 4000 });
  const config = load(
    ["--port", "9000", "--config", "ptth.json"],
    { PTTH_PORT: "9100", PTTH_TUNNEL_PORT: "9001" },
    { "ptth.json": file },
  );
  equal(config.port, 9000, "flag over env and file");
  equal(config.tunnelPort, 9001, "env over file");
  equal(config.hostname, "10.0.0.1", "file over default");
  equal(config.idleTimeout, 4000, "file over default");
  equal(config.handshakeTimeout, 10_000, "default");
  deepEqual(config.sources, {
    config: "--config",
    port: "--port",
    tunnelPort: "PTTH_TUNNEL_PORT",
    hostname: 'config key "hostname" in ptth.json',
    idleTimeout: 'config key "idleTimeout" in ptth.json',
  });
});

Deno.test("loadConfig() applies the same precedence to lists, taking each list whole from one place", () => {
  const files = {
    "ptth.json": JSON.stringify({
      routes: ["/file=file"],
      trustedProxies: ["10.0.0.1"],
      tokens: { file: TOKEN },
    }),
  };
  const env = {
    PTTH_CONFIG: "ptth.json",
    PTTH_ROUTES: "/env=env,/env2=env",
    PTTH_TOKENS: `env=${TOKEN}`,
  };
  const config = load(["--route", "/flag=flag"], env, files);
  deepEqual(config.routes, [{ path: "/flag", service: "flag" }]);
  deepEqual(config.tokens, { env: TOKEN });
  deepEqual(config.trustedProxies, ["10.0.0.1"]);
});

Deno.test("loadConfig() reads the file named by PTTH_CONFIG unless --config names another", () => {
  const files = { "a.json": '{"port": 1}', "b.json": '{"port": 2}' };
  equal(load([], { PTTH_CONFIG: "a.json" }, files).port, 1);
  equal(load(["--config", "b.json"], { PTTH_CONFIG: "a.json" }, files).port, 2);
});

Deno.test("loadConfig() takes the last value of a repeated single-valued flag", () => {
  equal(load(["--port", "1", "--port", "2"]).port, 2);
});

Deno.test("loadConfig() counts an empty env var as unset", () => {
  equal(load([], { PTTH_PORT: "" }).port, 8888);
});

Deno.test("tunnelHostname defaults to the hostname, wherever the hostname came from", () => {
  equal(load([], { PTTH_HOSTNAME: "127.0.0.1" }).tunnelHostname, "127.0.0.1");
  equal(load(["--hostname", "::1", "--tunnel-hostname", "0.0.0.0"]).tunnelHostname, "0.0.0.0");
});

Deno.test("ports are 0 to 65535 and anything else names the flag, env var or key", () => {
  equal(load(["--port", "0"]).port, 0);
  equal(load(["--port", "65535"]).port, 65535);
  equal(loadFile({ tunnelPort: 443 }).tunnelPort, 443);
  equal(
    errorOf(() => load(["--port", "http"])).message,
    'Invalid --port: "http" is not a port (0-65535)',
  );
  match(errorOf(() => load(["--port", "65536"])).message, /^Invalid --port: "65536"/);
  match(errorOf(() => load(["--port", "-1"])).message, /--port/);
  match(errorOf(() => load([], { PTTH_TUNNEL_PORT: "x" })).message, /^Invalid PTTH_TUNNEL_PORT:/);
  equal(
    errorOf(() => loadFile({ port: "80" })).message,
    'Invalid config key "port" in ptth.json: expected a port number (0-65535), got "80"',
  );
  match(errorOf(() => loadFile({ port: 80.5 })).message, /"port" in ptth.json: 80.5 is not a port/);
});

Deno.test("hostnames are names or IP addresses", () => {
  equal(load(["--hostname", "localhost"]).hostname, "localhost");
  equal(load(["--hostname", "::"]).hostname, "::");
  equal(load(["--hostname", "192.168.1.10"]).hostname, "192.168.1.10");
  match(
    errorOf(() => load(["--hostname", "a b"])).message,
    /^Invalid --hostname: "a b" is not a hostname or IP address$/,
  );
  match(errorOf(() => load([], { PTTH_TUNNEL_HOSTNAME: "[::1]" })).message, /PTTH_TUNNEL_HOSTNAME/);
});

Deno.test("sizes take bytes or a kb, mb or gb suffix, and unlimited only where it is the default", () => {
  equal(load(["--max-header-bytes", "1000"]).maxHeaderBytes, 1000);
  equal(load(["--max-header-bytes", "512kb"]).maxHeaderBytes, 512 * 1024);
  equal(load(["--max-body-bytes", "10mb"]).maxBodyBytes, 10 * 1024 ** 2);
  equal(load(["--max-body-bytes", "1GB"]).maxBodyBytes, 1024 ** 3);
  equal(load(["--max-body-bytes", "1.5kb"]).maxBodyBytes, 1536);
  equal(load([], { PTTH_MAX_BODY_BYTES: "unlimited" }).maxBodyBytes, Infinity);
  equal(loadFile({ maxBodyBytes: "2mb", maxHeaderBytes: 4096 }).maxBodyBytes, 2 * 1024 ** 2);
  match(
    errorOf(() => load([], { PTTH_MAX_BODY_BYTES: "ten" })).message,
    /^Invalid PTTH_MAX_BODY_BYTES: "ten" is not a size \(e\.g\. 10mb/,
  );
  for (const bad of ["10tb", "0", "-1", "1.5b", "mb", ""]) {
    match(errorOf(() => load([`--max-body-bytes=${bad}`])).message, /^Invalid --max-body-bytes:/);
  }
  match(
    errorOf(() => load(["--max-header-bytes", "unlimited"])).message,
    /^Invalid --max-header-bytes: "unlimited" is not a size/,
  );
  match(
    errorOf(() => loadFile({ maxHeaderBytes: true })).message,
    /^Invalid config key "maxHeaderBytes" in ptth.json: true is not a size/,
  );
});

Deno.test("durations take milliseconds or an ms, s, m or h suffix, up to what timers allow", () => {
  equal(load(["--idle-timeout", "250"]).idleTimeout, 250);
  equal(load(["--idle-timeout", "500ms"]).idleTimeout, 500);
  equal(load(["--idle-timeout", "30s"]).idleTimeout, 30_000);
  equal(load(["--idle-timeout", "1.5s"]).idleTimeout, 1500);
  equal(load([], { PTTH_RESPONSE_HEADER_TIMEOUT: "5m" }).responseHeaderTimeout, 300_000);
  equal(loadFile({ handshakeTimeout: "1h" }).handshakeTimeout, 3_600_000);
  equal(loadFile({ handshakeTimeout: 2500 }).handshakeTimeout, 2500);
  for (const bad of ["30d", "-5s", "s", "5 minutes"]) {
    match(
      errorOf(() => load([`--handshake-timeout=${bad}`])).message,
      /^Invalid --handshake-timeout: .* is not a duration \(e\.g\. 30s, 500ms, 5m\)$/,
    );
  }
  // A duration, but too short: said so, not "not a duration".
  for (const zero of ["0", "0s", "0ms"]) {
    equal(
      errorOf(() => load(["--idle-timeout", zero])).message,
      `Invalid --idle-timeout: "${zero}" is too short: it must be greater than 0`,
    );
  }
  equal(load(["--tunnel-wait", "0"]).tunnelWait, 0, "where 0 means do not wait");
  match(
    errorOf(() => load(["--idle-timeout", "30000h"])).message,
    /^Invalid --idle-timeout: "30000h" is too long \(at most 24 days\)$/,
  );
  match(
    errorOf(() => loadFile({ idleTimeout: 1.5 })).message,
    /^Invalid config key "idleTimeout" in ptth.json: 1.5 is not a duration/,
  );
});

Deno.test("counts are positive integers, and unlimited only where it is the default", () => {
  equal(load(["--max-streams-per-tunnel", "100"]).maxStreamsPerTunnel, 100);
  equal(load(["--max-streams-per-tunnel", "unlimited"]).maxStreamsPerTunnel, Infinity);
  equal(load([], { PTTH_MAX_TUNNELS_PER_SERVICE: "4" }).maxTunnelsPerService, 4);
  equal(loadFile({ authFailuresPerMinute: 3 }).authFailuresPerMinute, 3);
  match(
    errorOf(() => load(["--max-streams-per-tunnel", "0"])).message,
    /^Invalid --max-streams-per-tunnel: "0" is not a positive integer or unlimited$/,
  );
  match(
    errorOf(() => load([], { PTTH_AUTH_FAILURES_PER_MINUTE: "unlimited" })).message,
    /^Invalid PTTH_AUTH_FAILURES_PER_MINUTE: "unlimited" is not a positive integer$/,
  );
  match(
    errorOf(() => loadFile({ maxTunnelsPerService: -2 })).message,
    /"maxTunnelsPerService" in ptth.json: -2 is not a positive integer/,
  );
});

Deno.test("--allow-anonymous alone means true, --no-allow-anonymous or =false means false", () => {
  equal(load(["--allow-anonymous"]).allowAnonymous, true);
  equal(load(["--allow-anonymous=false"]).allowAnonymous, false);
  equal(load(["--no-allow-anonymous"]).allowAnonymous, false);
  equal(load([], { PTTH_ALLOW_ANONYMOUS: "yes" }).allowAnonymous, true);
  equal(load([], { PTTH_ALLOW_ANONYMOUS: "0" }).allowAnonymous, false);
  equal(loadFile({ allowAnonymous: true }).allowAnonymous, true);
  match(
    errorOf(() => load(["--allow-anonymous=maybe"])).message,
    /^Invalid --allow-anonymous: "maybe" is not a boolean/,
  );
  equal(
    errorOf(() => load(["--allow-anonymous", "false"])).message,
    'Unexpected argument "false"',
    "a boolean's value sticks to the flag with =",
  );
  match(
    errorOf(() => loadFile({ allowAnonymous: "true" })).message,
    /^Invalid config key "allowAnonymous" in ptth.json: expected true or false, got "true"$/,
  );
});

Deno.test("tokens come as SERVICE=TOKEN flags, a comma list or a file object, several per service", () => {
  const other = "another-token-abcdefghij";
  deepEqual(load(["--token", `api=${TOKEN}`, "--token", `api=${other}`]).tokens, {
    api: [TOKEN, other],
  });
  deepEqual(load([], { PTTH_TOKENS: `api=${TOKEN}, web.v2=${other}` }).tokens, {
    api: TOKEN,
    "web.v2": other,
  });
  deepEqual(loadFile({ tokens: { api: TOKEN, web: [TOKEN, other] } }).tokens, {
    api: TOKEN,
    web: [TOKEN, other],
  });
});

Deno.test("tokens shorter than 16 characters are refused, and no error ever shows a token", () => {
  const short = "tooshort123";
  const errors = [
    errorOf(() => load(["--token", `api=${short}`])),
    errorOf(() => load([], { PTTH_TOKENS: `web=${TOKEN},api=${short}` })),
    errorOf(() => loadFile({ tokens: { api: [TOKEN, short] } })),
  ];
  match(errors[0]!.message, /^Invalid --token: the token for service "api" is too short/);
  match(errors[1]!.message, /^Invalid PTTH_TOKENS: the token for service "api" is too short/);
  match(errors[2]!.message, /^Invalid config key "tokens.api\[1\]" in ptth.json: .*too short/);
  match(errors[0]!.message, /at least 16 characters, so that it cannot be guessed/);
  const malformed = [
    errorOf(() => load(["--token", TOKEN])),
    errorOf(() => load(["--token", `API=${TOKEN}`])),
    errorOf(() => load(["--token", `api=${TOKEN} x`])),
    errorOf(() => load(["--token", "api", TOKEN])),
  ];
  equal(malformed[0]!.message, "Invalid --token: entry 1 is not SERVICE=TOKEN");
  match(malformed[1]!.message, /^Invalid --token: entry 1 has a bad service name/);
  match(malformed[2]!.message, /has spaces, control or non-ASCII characters/);
  equal(malformed[3]!.message, "Unexpected argument (options start with --)");
  for (const error of [...errors, ...malformed]) {
    ok(!error.message.includes(short) && !error.message.includes(TOKEN), error.message);
    ok(!String(error.cause ?? "").includes(TOKEN), "nor does its cause");
  }
});

Deno.test("service names in the tokens file must be lowercase names", () => {
  match(
    errorOf(() => loadFile({ tokens: { Api: TOKEN } })).message,
    /^Invalid config key "tokens.Api" in ptth.json: "Api" is not a service name/,
  );
  match(
    errorOf(() => loadFile({ tokens: { api: [] } })).message,
    /"tokens.api" in ptth.json: expected at least one token/,
  );
  match(
    errorOf(() => loadFile({ tokens: [TOKEN] })).message,
    /^Invalid config key "tokens" in ptth.json: expected an object/,
  );
});

Deno.test("routes are host, host/path or /path patterns, and * serves only wildcard hosts", () => {
  const config = load([
    "--route=api.example.com=api",
    "--route=api.example.com/v2=api-v2",
    "--route=/static=cdn",
    "--route=*.apps.example.com=*",
  ]);
  deepEqual(config.routes, [
    { host: "api.example.com", service: "api" },
    { host: "api.example.com", path: "/v2", service: "api-v2" },
    { path: "/static", service: "cdn" },
    { host: "*.apps.example.com", service: "*" },
  ]);
  deepEqual(load([], { PTTH_ROUTES: "a.example=a, /b=b" }).routes, [
    { host: "a.example", service: "a" },
    { path: "/b", service: "b" },
  ]);
  deepEqual(
    loadFile({ routes: ["a.example=a", { host: "*.b.example", path: "/x", service: "*" }] }).routes,
    [{ host: "a.example", service: "a" }, { host: "*.b.example", path: "/x", service: "*" }],
  );
});

Deno.test("bad routes name the flag, env var or nested file key", () => {
  const cases: [string, RegExp][] = [
    ["api.example.com", /is not PATTERN=SERVICE/],
    ["=api", /has no host or path/],
    ["API.example.com=api", /is not a route host/],
    ["api.example.com:8080=api", /has a port; routes match host names only/],
    ["*=api", /is not a route host/],
    ["api.example.com=*", /service "\*" needs a wildcard host/],
    ["/a b=api", /is not a URL path/],
    ["/a?b=1=api", /is not a URL path/],
    ["/v1=Api", /"Api" is not a service name/],
  ];
  for (const [route, reason] of cases) {
    const message = errorOf(() => load(["--route", route])).message;
    match(message, /^Invalid --route: /);
    match(message, reason);
  }
  match(
    errorOf(() => load(["--route", "/v1=a", "--route", "/v1=b"])).message,
    /^Invalid --route: "\/v1" is routed twice$/,
  );
  match(
    errorOf(() => load([], { PTTH_ROUTES: "/ok=a,bad" })).message,
    /^Invalid PTTH_ROUTES: "bad"/,
  );
  equal(
    errorOf(() => loadFile({ routes: ["a.example=a", { host: "b.example", service: "B" }] }))
      .message,
    'Invalid config key "routes[1].service" in ptth.json: "B" is not a service name ' +
      '(up to 63 lowercase letters, digits, "-", "_" and ".", starting with a letter or digit)',
  );
  // A name no backend could register in a handshake is refused here too.
  match(
    errorOf(() => load(["--token", `${"s".repeat(64)}=0123456789abcdef-token`])).message,
    /^Invalid --token: entry 1 has a bad service name \(up to 63 /,
  );
  match(
    errorOf(() => loadFile({ routes: [{ path: "v1", service: "a" }] })).message,
    /^Invalid config key "routes\[0\].path" in ptth.json: path "v1" does not start with "\/"$/,
  );
  equal(
    errorOf(() => loadFile({ routes: [{ host: "a.example" }] })).message,
    'Invalid config key "routes[0].service" in ptth.json: a route needs a service',
  );
  equal(
    errorOf(() => loadFile({ routes: [{ host: "a.example", service: "a", weight: 2 }] })).message,
    'Unknown config key "routes[0].weight" in ptth.json',
  );
  match(errorOf(() => loadFile({ routes: ["x=a", 7] })).message, /"routes\[1\]" in ptth.json/);
  match(
    errorOf(() => loadFile({ routes: "a=b" })).message,
    /"routes" in ptth.json: expected an array/,
  );
});

Deno.test("trusted proxies are IPv4 or IPv6 addresses or CIDR ranges", () => {
  const good = ["10.0.0.1", "10.0.0.0/8", "::1", "fe80::/10", "2001:db8::/32", "0.0.0.0/0"];
  deepEqual(load(good.flatMap((proxy) => ["--trusted-proxy", proxy])).trustedProxies, good);
  deepEqual(load([], { PTTH_TRUSTED_PROXIES: "10.0.0.1, ::1" }).trustedProxies, [
    "10.0.0.1",
    "::1",
  ]);
  for (
    const bad of ["300.1.1.1", "10.0.0.0/33", "::1/129", "example.com", "10.0.0.1/8/1", "01.2.3.4"]
  ) {
    match(
      errorOf(() => load(["--trusted-proxy", bad])).message,
      /^Invalid --trusted-proxy: ".*" is not an IP address or CIDR range \(e\.g\. 10\.0\.0\.0\/8\)$/,
    );
  }
  match(
    errorOf(() => loadFile({ trustedProxies: ["10.0.0.1", 5] })).message,
    /^Invalid config key "trustedProxies\[1\]" in ptth.json: expected a string, got 5$/,
  );
});

Deno.test("unknown flags and unknown file keys are errors naming them, with a guess", () => {
  equal(errorOf(() => load(["--nope"])).message, "Unknown option --nope");
  equal(
    errorOf(() => load(["--prot", "80"])).message,
    "Unknown option --prot (did you mean --port?)",
  );
  equal(errorOf(() => load(["--port"])).message, "Missing value for --port");
  equal(
    errorOf(() => load(["--port", "-1"])).message,
    "Missing value for --port (write --port=VALUE for one starting with -)",
  );
  equal(
    errorOf(() => loadFile({ port: 80, tunelPort: 81 })).message,
    'Unknown config key "tunelPort" in ptth.json (did you mean tunnelPort?)',
  );
  equal(
    errorOf(() => loadFile({ config: "other.json" })).message,
    'Unknown config key "config" in ptth.json',
  );
});

Deno.test("a config file that is missing, not JSON or not an object names the file", () => {
  match(
    errorOf(() => load(["--config", "missing.json"])).message,
    /^Invalid --config: cannot read "missing.json": No such file or directory/,
  );
  match(
    errorOf(() => load([], { PTTH_CONFIG: "bad.json" }, { "bad.json": "{port: 1}" })).message,
    /^Invalid PTTH_CONFIG: "bad.json" is not JSON: /,
  );
  equal(
    errorOf(() => load(["--config", "list.json"], {}, { "list.json": "[]" })).message,
    'Invalid --config: "list.json" does not hold a JSON object',
  );
});

Deno.test("TLS takes a certificate and a key, both or neither, from any source", () => {
  match(
    errorOf(() => load(["--tls-cert", "cert.pem"])).message,
    /^Invalid --tls-cert: needs --tls-key \(PTTH_TLS_KEY, "tlsKey"\) as well/,
  );
  match(
    errorOf(() => load([], { PTTH_TUNNEL_TLS_KEY: "key.pem" })).message,
    /^Invalid PTTH_TUNNEL_TLS_KEY: needs --tunnel-tls-cert/,
  );
  match(
    errorOf(() => loadFile({ tlsKey: "key.pem" })).message,
    /^Invalid config key "tlsKey" in ptth.json: needs --tls-cert/,
  );
  const config = load(["--tls-cert", "cert.pem"], { PTTH_TLS_KEY: "key.pem" });
  equal(config.tlsCert, "cert.pem");
  equal(config.tlsKey, "key.pem");
});

Deno.test("toRouterOptions() reads the PEM files and passes every other option through", () => {
  const files = { "cert.pem": CERT, "key.pem": KEY, "t.crt": CERT, "t.key": KEY };
  const config = load(
    [
      "--tls-cert=cert.pem",
      "--tls-key=key.pem",
      "--tunnel-tls-cert=t.crt",
      "--tunnel-tls-key=t.key",
      "--port=1",
      "--no-allow-anonymous",
    ],
    {},
    files,
  );
  const options = toRouterOptions(config, readFrom(files));
  deepEqual(options.tls, { cert: CERT, key: KEY });
  deepEqual(options.tunnelTls, { cert: CERT, key: KEY });
  equal(options.port, 1);
  equal(options.allowAnonymous, false);
  equal(options.maxBodyBytes, Infinity);
  const plain = toRouterOptions(load([]), readFrom({}));
  equal(plain.tls, undefined);
  ok(!("allowAnonymous" in plain), "left to the router when unset");
});

Deno.test("toRouterOptions() names the option of a PEM file it cannot read or that holds no PEM", () => {
  const config = load([], { PTTH_TLS_CERT: "cert.pem", PTTH_TLS_KEY: "key.pem" });
  match(
    errorOf(() => toRouterOptions(config, readFrom({ "cert.pem": CERT }))).message,
    /^Invalid PTTH_TLS_KEY: cannot read "key.pem": No such file or directory/,
  );
  equal(
    errorOf(() => toRouterOptions(config, readFrom({ "cert.pem": KEY, "key.pem": KEY }))).message,
    'Invalid PTTH_TLS_CERT: "cert.pem" holds no PEM certificate',
  );
  equal(
    errorOf(() => toRouterOptions(config, readFrom({ "cert.pem": CERT, "key.pem": CERT }))).message,
    'Invalid PTTH_TLS_KEY: "key.pem" holds no PEM private key',
  );
});

Deno.test("--help and --version are answered even when the environment or file is broken", () => {
  const config = load(["-h", "--config", "missing.json"], { PTTH_PORT: "nope" });
  equal(config.help, true);
  equal(config.port, 8888);
  equal(load(["-V"], { PTTH_CONFIG: "missing.json" }).version, true);
  equal(load(["--help=false"]).help, false);
});

Deno.test("every option has a distinct flag, env var and key, a group, and a default that parses", () => {
  const flags = new Set(OPTIONS.map((spec) => spec.flag));
  const envs = OPTIONS.flatMap((spec) => spec.env ?? []);
  equal(flags.size, OPTIONS.length);
  equal(new Set(envs).size, envs.length);
  for (const spec of OPTIONS) {
    ok(OPTION_GROUPS.includes(spec.group));
    ok(spec.env === undefined || spec.env.startsWith("PTTH_"), spec.env);
    ok(/^[a-z]+(-[a-z]+)*$/.test(spec.flag), spec.flag);
    if (spec.default !== undefined && !spec.type.list && spec.shown !== "") {
      deepEqual(spec.type.parse([spec.shown], `--${spec.flag}`), spec.default, spec.flag);
    }
  }
});

Deno.test("createRouter() and the CLI start a router with the same defaults", () => {
  // What the command line makes of no flags, no environment and no file…
  const fromCli = withDefaults(toRouterOptions(load([]), readFrom({})));
  // …against what the library fills in when nothing is given.
  const fromLibrary = withDefaults({});
  for (const key of Object.keys(ROUTER_DEFAULTS) as Array<keyof typeof ROUTER_DEFAULTS>) {
    deepEqual(fromCli[key], fromLibrary[key], key);
  }
});

Deno.test("the README's configuration table shows every option's default as --help does", async () => {
  const readme = await Deno.readTextFile(`${root}/README.md`);
  const rows = new Map<string, string[]>();
  for (const line of readme.split("\n")) {
    const flag = line.match(/^\| (?:`-\w`, )?`--([a-z-]+)/)?.[1];
    // Cells are split at pipes, not at the escaped ones inside a cell (`<text\|json>`).
    if (flag) rows.set(flag, line.split(/(?<!\\)\|/).map((cell) => cell.trim()));
  }
  for (const spec of OPTIONS) {
    const row = rows.get(spec.flag);
    ok(row, `--${spec.flag} has a row in the README's table`);
    // Cells: "", flag, environment, file key, default, meaning, "".
    const shown = row[4]!.replace(/^`|`$/g, "");
    const expected = spec.shown === "--hostname" ? "the hostname" : spec.shown;
    equal(shown, expected, `--${spec.flag}'s default in the README`);
  }
});

Deno.test("the README documents every option's flag, env var and file key", async () => {
  const readme = await Deno.readTextFile(`${root}/README.md`);
  for (const spec of OPTIONS) {
    ok(readme.includes(`--${spec.flag}`), `--${spec.flag} is in the README`);
    if (spec.env) ok(readme.includes(spec.env), `${spec.env} is in the README`);
    if (spec.inFile) ok(readme.includes(`\`${spec.key}\``), `${spec.key} is in the README`);
  }
});

Deno.test("the README's example ptth.json is a valid configuration that can serve every route", async () => {
  const readme = await Deno.readTextFile(`${root}/README.md`);
  const example = readme.match(/An example `ptth.json`:[^`]*(?:`[^`]*`[^`]*)*?```json\n([^`]*)```/)
    ?.[1];
  ok(example, "the README has an example ptth.json");
  const config = load(["--config", "ptth.json"], {}, { "ptth.json": example });
  equal(config.port, 443);
  equal(config.routes.length, 3);
  equal(config.maxBodyBytes, 10 * 1024 ** 2);
  deepEqual(configurationWarnings(config), []);
});

Deno.test("a route or ready service no backend can serve, and an open admin without a token, are warned about", () => {
  const token = "0123456789abcdef-api";
  deepEqual(configurationWarnings(load(["--token", `api=${token}`, "--route", "/api=api"])), []);
  deepEqual(configurationWarnings(load(["--route", "/=default"])), [], "anonymous serve default");
  deepEqual(configurationWarnings(load(["--token", `api=${token}`, "--route", "/static=cdn"])), [
    "Route /static=cdn sends requests to service cdn, which no backend can serve: " +
    "no token is configured for cdn and anonymous tunnels are refused",
  ]);
  deepEqual(configurationWarnings(load(["--ready-service", "api"])), [
    "--ready-service api can never be ready: no token is configured for api and anonymous " +
    'tunnels serve only "default"',
  ]);
  deepEqual(
    configurationWarnings(load(["--admin-hostname", "0.0.0.0"])),
    [
      "The admin listener on 0.0.0.0 is open to the network without a token: " +
      "set --admin-token (or PTTH_ADMIN_TOKEN) to guard /metrics and /api",
    ],
  );
  deepEqual(
    configurationWarnings(load(["--admin-hostname", "0.0.0.0", "--admin-port", "off"])),
    [],
  );
});

Deno.test("the CLI exits with code 2 and one line naming the key for a bad config file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ptth-config-" });
  try {
    const path = `${dir}/bad.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({ routes: [{ host: "a.example", service: "A" }] }),
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "mod.ts", "--config", path],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stderr);
    equal(code, 2);
    equal(stdout.length, 0);
    equal(text.trim().split("\n").length, 1, text);
    match(
      text,
      /^ptth: Invalid config key "routes\[0\]\.service" in .*bad\.json: .*\(see --help\)$/m,
    );
    const missing = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "mod.ts"],
      cwd: root,
      env: { PTTH_CONFIG: `${dir}/missing.json` },
      stderr: "piped",
    }).output();
    equal(missing.code, 2);
    match(new TextDecoder().decode(missing.stderr), /^ptth: Invalid PTTH_CONFIG: cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--tunnel-path sets the WebSocket tunnel's path, and off turns it off", () => {
  equal(load(["--tunnel-path", "/tunnel"]).tunnelPath, "/tunnel");
  equal(load([], { PTTH_TUNNEL_PATH: "off" }).tunnelPath, "");
  throws(() => load(["--tunnel-path", "tunnel"]), /not an absolute path/);
  throws(() => load(["--tunnel-path", "/t?x=1"]), /not an absolute path/);
  equal(toRouterOptions(load(["--tunnel-path", "/t"]), () => "").tunnelPath, "/t");
});

Deno.test("files named in a config file are found from the config file's folder", () => {
  const files = {
    "etc/ptth/ptth.json": JSON.stringify({ tlsCert: "cert.pem", tlsKey: "/abs/key.pem" }),
    "etc/ptth/cert.pem": CERT,
    "/abs/key.pem": KEY,
  };
  const config = load(["--config", "etc/ptth/ptth.json"], {}, files);
  equal(config.tlsCert, "etc/ptth/cert.pem");
  equal(config.tlsKey, "/abs/key.pem", "an absolute path stays as it is");
  equal(toRouterOptions(config, readFrom(files)).tls?.cert, CERT);
  // From a flag or the environment, a relative path is the working directory's, as usual.
  equal(load(["--tls-cert", "cert.pem", "--tls-key", "key.pem"]).tlsCert, "cert.pem");
});

Deno.test("--max-queued-requests takes 0 and up, and is passed to the router", () => {
  equal(load(["--max-queued-requests", "0"]).maxQueuedRequests, 0);
  equal(load([], { PTTH_MAX_QUEUED_REQUESTS: "50" }).maxQueuedRequests, 50);
  match(
    errorOf(() => load(["--max-queued-requests", "unlimited"])).message,
    /^Invalid --max-queued-requests: "unlimited" is not a whole number$/,
  );
  const options = toRouterOptions(load(["--max-queued-requests", "7"]), readFrom({}));
  equal(options.maxQueuedRequests, 7);
});

Deno.test("--max-response-buffer takes a size, and is passed to the router", () => {
  equal(load(["--max-response-buffer", "64mb"]).maxResponseBuffer, 64 * 1024 * 1024);
  equal(load([], { PTTH_MAX_RESPONSE_BUFFER: "1gb" }).maxResponseBuffer, 1024 ** 3);
  equal(loadFile({ maxResponseBuffer: 1_000_000 }).maxResponseBuffer, 1_000_000);
  match(
    errorOf(() => load(["--max-response-buffer", "0"])).message,
    /^Invalid --max-response-buffer: "0" is not a size/,
  );
  const options = toRouterOptions(load(["--max-response-buffer", "1mb"]), readFrom({}));
  equal(options.maxResponseBuffer, 1024 * 1024);
});

Deno.test("automatic HTTPS options: off without --acme-email, read whole with it", () => {
  equal(toRouterOptions(load([]), readFrom({})).acmeEmail, undefined);
  equal("acmeDirectory" in toRouterOptions(load([]), readFrom({})), false);
  const config = load(
    [
      "--acme-email",
      "ops@example.com",
      "--acme-ca-cert",
      "root.pem",
      "--acme-orders-per-hour",
      "5",
    ],
    { PTTH_STATE_DIR: "/var/lib/ptth", PTTH_ACME_RETRY_MAX_DELAY: "10m" },
  );
  const options = toRouterOptions(config, readFrom({ "root.pem": CERT }));
  equal(options.acmeEmail, "ops@example.com");
  equal(options.acmeDirectory, "https://acme-v02.api.letsencrypt.org/directory");
  deepEqual(options.acmeCaCerts, [CERT]);
  equal(options.stateDir, "/var/lib/ptth");
  equal(options.acmeOrdersPerHour, 5);
  equal(options.acmeRetryMaxDelay, 600_000);
  match(configurationWarnings(config).join("\n"), /--acme-email is accepted but no certificate/);
  const staging = toRouterOptions(
    load(["--acme-email", "ops@example.com", "--acme-staging"]),
    readFrom({}),
  );
  equal(staging.acmeDirectory, "https://acme-staging-v02.api.letsencrypt.org/directory");
});

Deno.test("automatic HTTPS options refuse what cannot work, naming the option", () => {
  equal(
    errorOf(() => load(["--acme-email", "not an address"])).message,
    'Invalid --acme-email: "not an address" is not an email address',
  );
  equal(
    errorOf(() => load(["--acme-directory", "http://ca.example/dir"])).message,
    'Invalid --acme-directory: "http://ca.example/dir" is not an https:// URL',
  );
  equal(
    errorOf(() => load(["--acme-staging", "--acme-directory", "https://ca.example/dir"])).message,
    "--acme-staging and --acme-directory both name the ACME CA: give one",
  );
  const config = load(["--acme-email", "ops@example.com", "--acme-ca-cert", "key.pem"]);
  equal(
    errorOf(() => toRouterOptions(config, readFrom({ "key.pem": KEY }))).message,
    'Invalid --acme-ca-cert: "key.pem" holds no PEM certificate',
  );
});

Deno.test("the state directory and CA files in a config file are found beside it", () => {
  const config = load([], { PTTH_CONFIG: "/etc/ptth/ptth.json" }, {
    "/etc/ptth/ptth.json": JSON.stringify({
      acmeEmail: "ops@example.com",
      stateDir: "state",
      acmeCaCerts: ["root.pem"],
    }),
  });
  equal(config.stateDir, "/etc/ptth/state");
  deepEqual(config.acmeCaCerts, ["/etc/ptth/root.pem"]);
});

Deno.test("createRouter refuses an option it does not know, naming the one it takes instead", () => {
  const create = (options: Record<string, unknown>) => () => withDefaults(options as never);
  throws(create({ adminPort: 0 }), {
    name: "TypeError",
    message: "Unknown router option adminPort: createRouter takes `admin: { port }`",
  });
  throws(create({ tlsCert: "cert.pem" }), {
    name: "TypeError",
    message:
      "Unknown router option tlsCert: createRouter takes `tls: { cert, key }`, with the PEM text",
  });
  throws(create({ prot: 80 }), { name: "TypeError", message: "Unknown router option prot" });
  // Every option the configuration table names is one of createRouter's, or has a message.
  for (const spec of OPTIONS) {
    if (["config", "help", "version"].includes(spec.key)) continue;
    try {
      withDefaults({ [spec.key]: undefined } as never);
    } catch (error) {
      ok(!(error as Error).message.endsWith(spec.key), `${spec.key} has no word on where it went`);
    }
  }
});
