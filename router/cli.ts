/**
 * The router's command line: the usage text (generated from the option
 * table in config.ts) and `main(args)`, which loads the configuration and
 * runs a router until SIGINT or SIGTERM.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { hostPort } from "./addr.ts";
import {
  type AnyOptionSpec,
  ConfigError,
  loadConfig,
  OPTION_GROUPS,
  OPTIONS,
  type RouterConfig,
  toRouterOptions,
} from "../config/load.ts";
import {
  createRouter,
  ListenError,
  type Router,
  type RouterOptions,
  TlsConfigError,
} from "./create_router.ts";
import { Logger } from "../log/logger.ts";
import { configurationWarnings } from "../config/warnings.ts";

/** The package version, read from deno.json. */
export const VERSION: string = denoJson.version;

/** Where the option descriptions start in `--help`, and where lines end. */
const HELP_COLUMN = 32;
const HELP_WIDTH = 100;

/** Breaks `text` into lines of at most `width` characters at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

function describeOption(spec: AnyOptionSpec): string[] {
  const { metavar } = spec.type;
  // `--allow-anonymous[=<bool>]`: an optional value sticks to its flag.
  const value = metavar === "" ? "" : metavar.startsWith("[") ? metavar : ` ${metavar}`;
  const usage = `  ${spec.short ? `-${spec.short}, ` : ""}--${spec.flag}${value}`;
  const where = [
    spec.env ? `env ${spec.env}` : "",
    spec.shown ? `default ${spec.shown}` : "",
  ].filter((part) => part !== "").join(", ");
  const text = wrap(
    `${spec.help}${spec.type.list ? " (repeatable)" : ""}`,
    HELP_WIDTH - HELP_COLUMN,
  );
  if (where) text.push(...wrap(`[${where}]`, HELP_WIDTH - HELP_COLUMN));
  const indent = " ".repeat(HELP_COLUMN);
  const lines = text.map((line) => indent + line);
  if (usage.length < HELP_COLUMN - 1) lines[0] = usage.padEnd(HELP_COLUMN) + text[0];
  else lines.unshift(usage);
  return lines;
}

/** The `--help` text: every option of the table by group, formats, examples. */
function usage(): string {
  const lines = [
    `ptth ${VERSION}: a ReverseHTTP router`,
    "",
    "Backends dial the tunnel port and serve HTTP/2 over the connection they opened;",
    "public HTTP requests to the HTTP port are proxied to them.",
    "",
    "Usage:",
    "  deno run -A jsr:@ptth/router [options]",
    "",
    "Every option is a flag, a PTTH_* environment variable and a key of the JSON file given",
    "with --config: the flag's name in camelCase (tokens, routes and trustedProxies for the",
    "repeatable ones). A flag wins over the environment, the environment over the file, the",
    "file over the default; a list is taken whole from one of them, not merged.",
  ];
  for (const group of OPTION_GROUPS) {
    lines.push("", `${group}:`);
    for (const spec of OPTIONS) if (spec.group === group) lines.push(...describeOption(spec));
  }
  lines.push(
    "",
    "Formats:",
    "  sizes       bytes, or 512kb, 10mb, 1gb (1kb = 1024 bytes); unlimited where that is the default",
    "  durations   milliseconds, or 500ms, 30s, 5m, 1h",
    "  numbers     in the file, JSON numbers; sizes and durations may also be strings as above",
    "  booleans    --allow-anonymous alone is true, --no-allow-anonymous or =false is false;",
    "              in the environment true/false, 1/0, yes/no, on/off; in the file true/false",
    "  lists       repeat the flag; in the environment separate with commas",
    "  routes      PATTERN=SERVICE, PATTERN is host, host/path or /path; a host *.suffix",
    "              matches subdomains, and SERVICE * then takes the subdomain's first label",
    "  tokens      SERVICE=TOKEN; at least 16 characters: shorter tokens could be guessed",
    "  log levels  debug, info, warn, error: a level shows its lines and the more severe ones",
    "",
    "Examples:",
    "  deno run -A jsr:@ptth/router",
    "  deno run -A jsr:@ptth/router --port 8080 --tunnel-port 9000",
    "  PTTH_PORT=80 deno run -A jsr:@ptth/router",
    '  deno run -A jsr:@ptth/router --token "api=$API_TOKEN" --route api.example.com=api',
    "  deno run -A jsr:@ptth/router --config ptth.json --max-body-bytes 10mb",
    "  PTTH_ADMIN_TOKEN=$ADMIN_TOKEN deno run -A jsr:@ptth/router --ready-service api",
    "  deno run -A jsr:@ptth/router --admin-hostname 0.0.0.0 --admin-port 9100",
    "  deno run -A jsr:@ptth/router --log-format json --log-level warn",
    "",
    "  then: the dashboard at http://127.0.0.1:8889/, and",
    '  curl -H "Authorization: Bearer $ADMIN_TOKEN" http://127.0.0.1:8889/metrics',
    "",
    "  with ptth.json:",
    "  {",
    '    "port": 443,',
    '    "tlsCert": "/etc/ptth/cert.pem",',
    '    "tlsKey": "/etc/ptth/key.pem",',
    '    "tokens": { "api": "a-long-random-secret-token" },',
    '    "routes": ["api.example.com=api", { "host": "*.apps.example.com", "service": "*" }],',
    '    "idleTimeout": "2m"',
    "  }",
  );
  return lines.join("\n");
}

/**
 * Prints the usage text to stdout.
 *
 * @example
 * ```ts
 * import { printUsage } from "jsr:@ptth/router/cli";
 * import { match } from "node:assert/strict";
 * const log = console.log;
 * let text = "";
 * console.log = (line: string) => text += line;
 * printUsage();
 * console.log = log;
 * match(text, /--tunnel-port/);
 * ```
 */
export function printUsage(): void {
  console.log(usage());
}

/** Mirrors the router's default: anonymous tunnels only while no token is configured. */
function anonymousAllowed(config: RouterConfig): boolean {
  return config.allowAnonymous ?? Object.keys(config.tokens).length === 0;
}

/** The lines saying what the router does besides listening: auth, TLS, routes. */
function describeSetup(config: RouterConfig, options: RouterOptions): string[] {
  const services = Object.keys(config.tokens);
  const anonymous = anonymousAllowed(config);
  const auth = services.length === 0
    ? "Authentication: off (no tokens)"
    : `Authentication: tokens for ${services.length} service${services.length === 1 ? "" : "s"} ` +
      `(${services.join(", ")})`;
  const tls = (on: boolean) => on ? "on" : "off";
  const routes = config.routes.length;
  return [
    `${auth}, anonymous tunnels ${anonymous ? "accepted" : "refused"}`,
    `TLS: ${tls(options.tls !== undefined)} for HTTP traffic, ` +
    `${tls(options.tunnelTls !== undefined)} for tunnels`,
    routes === 0
      ? "Routes: none, every request goes to any tunnel"
      : `Routes: ${routes} rule${routes === 1 ? "" : "s"}`,
  ];
}

/** The start-up banner: version, ports, admin URL, auth, TLS, services, routes. */
function banner(
  config: RouterConfig,
  options: RouterOptions,
  router: Router,
  adminBusy: boolean,
): string[] {
  const tunnelScheme = options.tunnelTls ? "tls" : "tcp";
  const scheme = options.tls ? "https" : "http";
  let admin = "Admin: off";
  if (router.adminAddr) {
    const token = options.admin?.token === undefined
      ? "no token"
      : "token required for /metrics and /api";
    admin = `Admin: dashboard at http://${hostPort(router.adminAddr)}/ ` +
      `(/metrics, /healthz, /readyz, /api/tunnels; ${token})`;
  } else if (adminBusy) {
    admin = `Admin: off, port ${config.adminPort} is in use (choose one with --admin-port)`;
  }
  const setup = describeSetup(config, options);
  return [
    `ptth ${VERSION}`,
    `Listening for reverse tunnels on ${tunnelScheme}://${hostPort(router.tunnelAddr)}`,
    `Listening for HTTP traffic on ${scheme}://${hostPort(router.addr)}`,
    admin,
    ...setup.slice(0, -1),
    describeServices(config),
    ...setup.slice(-1),
  ];
}

/** The services the configuration names, and what /readyz waits for. */
function describeServices(config: RouterConfig): string {
  const wildcards = config.routes.filter((route) => route.service === "*");
  const named = new Set([
    ...Object.keys(config.tokens),
    ...config.routes.map((route) => route.service).filter((service) => service !== "*"),
    ...config.readyServices,
  ]);
  const parts = [...named].sort();
  for (const route of wildcards) parts.push(`one per subdomain of ${route.host?.slice(2)}`);
  const anonymous = anonymousAllowed(config);
  const text = parts.length > 0
    ? `Services: ${parts.join(", ")}`
    : `Services: none configured${anonymous ? ", backends serve service default" : ""}`;
  return config.readyServices.length === 0
    ? text
    : `${text}; /readyz waits for ${config.readyServices.join(", ")}`;
}

/**
 * Starts the router. The default admin port already taken (another router on
 * this machine) only turns the admin listener off; any other busy port is an error.
 */
function startRouter(
  config: RouterConfig,
  options: RouterOptions,
): { router: Router; adminBusy: boolean } | number {
  try {
    return { router: createRouter(options), adminBusy: false };
  } catch (thrown) {
    if (!(thrown instanceof ListenError)) throw thrown;
    let error = thrown;
    // The default admin port taken (another router here) only turns the admin listener off.
    if (
      error.inUse && error.listener === "admin" && config.sources.adminPort === undefined &&
      options.admin !== undefined
    ) {
      const { admin: _admin, ...withoutAdmin } = options;
      try {
        return { router: createRouter(withoutAdmin), adminBusy: true };
      } catch (again) {
        if (!(again instanceof ListenError)) throw again;
        error = again;
      }
    }
    const failed = error as ListenError;
    // The flag to fix: the tunnel port listens on --hostname unless --tunnel-hostname is set.
    const flag = failed.listener === "public"
      ? failed.inUse ? "--port" : "--hostname"
      : failed.listener === "tunnel"
      ? failed.inUse
        ? "--tunnel-port"
        : config.sources.tunnelHostname
        ? "--tunnel-hostname"
        : "--hostname"
      : failed.inUse
      ? "--admin-port"
      : "--admin-hostname";
    console.error(`ptth: ${failed.message} (see ${flag})`);
    // A port in use is the machine's state; an address that cannot be listened on is a mistake.
    return failed.inUse ? 1 : 2;
  }
}

/**
 * Runs the router CLI until SIGINT or SIGTERM, then shuts down gracefully.
 * Options come from flags, `PTTH_…` variables and the `--config` file.
 *
 * @param args The command-line arguments.
 * @returns The exit code: 0, 2 for invalid configuration (a TLS certificate
 *   and key that do not match included) or a missing permission, 1 when a
 *   port is in use.
 *
 * @example Bad flags give exit code 2
 * ```ts
 * import { main } from "jsr:@ptth/router/cli";
 * import { equal } from "node:assert/strict";
 * const error = console.error;
 * console.error = () => {};
 * equal(await main(["--nope"]), 2);
 * console.error = error;
 * ```
 */
export async function main(args: string[]): Promise<number> {
  try {
    return await run(args);
  } catch (error) {
    // A permission the router was not started with: say which, in one line.
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    const what = error.message.replace(/, run again with.*$/, "");
    console.error(
      `ptth: Missing permission: ${what}; a router needs --allow-net and --allow-env ` +
        `(and --allow-read for --config and TLS files)`,
    );
    return 2;
  }
}

async function run(args: string[]): Promise<number> {
  const readFile = (path: string) => Deno.readTextFileSync(path);
  let config: RouterConfig;
  let options: RouterOptions;
  try {
    config = loadConfig(args, (name) => Deno.env.get(name), readFile);
    if (config.help) {
      printUsage();
      return 0;
    }
    if (config.version) {
      console.log(`ptth ${VERSION}`);
      return 0;
    }
    options = toRouterOptions(config, readFile);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`ptth: ${error.message} (see --help)`);
    return 2;
  }
  let started: ReturnType<typeof startRouter>;
  try {
    started = startRouter(config, options);
  } catch (error) {
    // A certificate and key that do not go together is a configuration error too.
    if (!(error instanceof TlsConfigError)) throw error;
    console.error(`ptth: ${error.message} (see --help)`);
    return 2;
  }
  if (typeof started === "number") return started;
  const { router, adminBusy } = started;
  // The banner is for people; with JSON logs it goes out as log lines, so pipelines parse it.
  const json = new Logger({ format: "json", level: config.logLevel });
  const say = config.logFormat === "json"
    ? (line: string) => json.info(line)
    : (line: string) => console.error(line);
  const stop = () => {
    say("Shutting down: finishing in-flight requests");
    router.shutdown();
  };
  // Before the banner: whoever reads it may signal at once.
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  for (const line of banner(config, options, router, adminBusy)) say(line);
  // What the configuration can never do (a route no backend can serve…): said once, at start.
  const warn = config.logFormat === "json"
    ? (line: string) => json.warn(line)
    : (line: string) => console.error(`Warning: ${line}`);
  for (const line of configurationWarnings(config)) warn(line);
  await router.finished;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  return 0;
}
