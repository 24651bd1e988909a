/**
 * The option table (flag, `PTTH_…` variable, file key, parser, default and
 * help of every option) and `loadConfig`, which merges flags, environment
 * and file with the precedence flag > environment > file > default.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  ACME_DEFAULTS,
  ADMIN_DEFAULTS,
  LETS_ENCRYPT_STAGING_DIRECTORY,
  ROUTER_DEFAULTS,
} from "./defaults.ts";
import type { RouterOptions, RouteSpec } from "./router_options.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../log/logger.ts";
import {
  booleanType,
  choiceType,
  ConfigError,
  countType,
  dirType,
  durationType,
  emailType,
  filesType,
  fileType,
  hostnamesType,
  hostnameType,
  httpsUrlType,
  invalid,
  type KeyNamer,
  MIN_TOKEN_LENGTH,
  parseBoolean,
  portOrOffType,
  portType,
  proxiesType,
  quote,
  routesType,
  secretType,
  serviceHostsType,
  servicesType,
  sizeType,
  tokensType,
  urlPathType,
  type ValueType,
} from "./values.ts";

export { ConfigError, type KeyNamer, type ValueType };

/**
 * A resolved configuration: every option with its value from a flag, the
 * environment, the config file or its default. Plain data (file paths, not
 * file contents); {@linkcode toRouterOptions} turns it into `RouterOptions`.
 *
 * @example
 * ```ts
 * import { loadConfig } from "jsr:@ptth/router/config";
 * import { equal } from "node:assert/strict";
 * const config = loadConfig([], () => undefined, () => "{}");
 * equal(config.port, 8888);
 * equal(config.tunnelHostname, "0.0.0.0");
 * ```
 */
export interface RouterConfig {
  /** Public HTTP port. @default {8888} */
  port: number;
  /** Port backends dial. @default {8887} */
  tunnelPort: number;
  /** Interface for the public HTTP port. @default {"0.0.0.0"} */
  hostname: string;
  /** Interface for the tunnel port. @default {hostname} */
  tunnelHostname: string;
  /** Path on the public port for tunnels over WebSocket; `""` turns it off. @default {"/.well-known/ptth/tunnel"} */
  tunnelPath: string;
  /** PEM certificate file for public HTTPS (with `tlsKey`). */
  tlsCert?: string;
  /** PEM private key file for public HTTPS (with `tlsCert`). */
  tlsKey?: string;
  /** PEM certificate file for TLS on the tunnel port (with `tunnelTlsKey`). */
  tunnelTlsCert?: string;
  /** PEM private key file for TLS on the tunnel port (with `tunnelTlsCert`). */
  tunnelTlsKey?: string;
  /** Contact of the ACME account; setting it turns on automatic HTTPS. */
  acmeEmail?: string;
  /** The ACME CA's directory URL. @default {Let's Encrypt production} */
  acmeDirectory: string;
  /** Use Let's Encrypt's staging CA. @default {false} */
  acmeStaging: boolean;
  /** PEM files of certificates to trust for the ACME CA's HTTPS. @default {[]} */
  acmeCaCerts: string[];
  /** Where the ACME account key and certificates are kept. @default {"ptth-state"} */
  stateDir: string;
  /** How long one certificate order may take (ms). @default {120000} */
  acmeOrderTimeout: number;
  /** How long one request to the ACME CA may take (ms). @default {30000} */
  acmeRequestTimeout: number;
  /** New certificate orders per hour at most. @default {20} */
  acmeOrdersPerHour: number;
  /** The wait after a name's first failed order, doubled after each (ms). @default {60000} */
  acmeRetryDelay: number;
  /** The longest wait between orders for a failing name (ms). @default {3600000} */
  acmeRetryMaxDelay: number;
  /** Tokens per service: a string, or several tokens as an array. @default {{}} */
  tokens: Record<string, string | string[]>;
  /** Whether tunnels without a token are accepted; unset lets the router decide. */
  allowAnonymous?: boolean;
  /** Host patterns per service that its backends may announce. @default {{}} */
  serviceHosts: Record<string, string[]>;
  /** The route table. @default {[]} */
  routes: RouteSpec[];
  /** IP addresses or CIDR ranges whose X-Forwarded-* headers are believed. @default {[]} */
  trustedProxies: string[];
  /** Largest request header section in bytes. @default {65536} */
  maxHeaderBytes: number;
  /** Largest request body in bytes. @default {Infinity} */
  maxBodyBytes: number;
  /** How long to wait for a backend's response headers (ms). @default {60000} */
  responseHeaderTimeout: number;
  /** How long a stream may move no body bytes before it is reset (ms). @default {300000} */
  idleTimeout: number;
  /** How long a tunnel may take to complete its handshake (ms). @default {10000} */
  handshakeTimeout: number;
  /** Public connections at once at most. @default {10000} */
  maxConnections: number;
  /** Public connections from one address at once at most. @default {512} */
  maxConnectionsPerAddress: number;
  /** How long a public client may take to send a request head (ms). @default {10000} */
  headerTimeout: number;
  /** How long a public connection may stay open with no request in flight (ms). @default {60000} */
  clientIdleTimeout: number;
  /** Tunnel handshakes in progress at once at most. @default {1024} */
  maxPendingHandshakes: number;
  /** Tunnel handshakes in progress from one address at most. @default {16} */
  maxPendingHandshakesPerAddress: number;
  /** Streams per tunnel at most. @default {Infinity} */
  maxStreamsPerTunnel: number;
  /** Requests of one service that may wait for a stream slot or a tunnel. @default {1024} */
  maxQueuedRequests: number;
  /** Unread response bytes held for clients, across tunnels. @default {268435456} */
  maxResponseBuffer: number;
  /** Bytes of WebSocket messages not received whole yet, over all sockets. @default {268435456} */
  maxWebSocketBuffer: number;
  /** Tunnels per service at most. @default {256} */
  maxTunnelsPerService: number;
  /** Failed handshakes per address per minute before 429. @default {10} */
  authFailuresPerMinute: number;
  /** How long a request waits for a tunnel to (re)connect before 503 (ms). @default {3000} */
  tunnelWait: number;
  /** How many times a failed request is sent again on another tunnel. @default {2} */
  maxRetries: number;
  /** PING a tunnel silent this long (ms). @default {15000} */
  keepaliveInterval: number;
  /** Close a tunnel whose PING is not answered within this long (ms). @default {10000} */
  keepaliveTimeout: number;
  /** Port of the admin listener (dashboard, metrics, probes); `off` turns it off. @default {8889} */
  adminPort: number | "off";
  /** Interface for the admin listener. @default {"127.0.0.1"} */
  adminHostname: string;
  /** The token `/metrics` and `/api/*` on the admin listener require. */
  adminToken?: string;
  /** Host names the admin listener answers besides loopback names and IP addresses. @default {[]} */
  adminHosts: string[];
  /** Services that must each have a tunnel before `/readyz` answers 200. @default {[]} */
  readyServices: string[];
  /** How log lines look. @default {"text"} */
  logFormat: LogFormat;
  /** The least severe level logged. @default {"info"} */
  logLevel: LogLevel;
  /** The JSON config file that was read, if any. */
  config?: string;
  /** `--help` was given: nothing but the flags was read. @default {false} */
  help: boolean;
  /** `--version` was given: nothing but the flags was read. @default {false} */
  version: boolean;
  /**
   * Where each value came from, as error messages name it (`--port`,
   * `PTTH_PORT`, `config key "port" in ptth.json`); absent for defaults.
   * @default {{}}
   */
  sources: Partial<Record<ConfigKey, string>>;
}

/** The name of an option: a key of {@linkcode RouterConfig} and of the config file. */
export type ConfigKey = Exclude<keyof RouterConfig, "sources">;

/**
 * The `--help` sections, in order.
 *
 * @example
 * ```ts
 * import { OPTION_GROUPS } from "jsr:@ptth/router/config";
 * import { equal } from "node:assert/strict";
 * equal(OPTION_GROUPS[0], "Listening");
 * ```
 */
export const OPTION_GROUPS = [
  "Listening",
  "TLS",
  "Automatic HTTPS",
  "Authentication",
  "Routing",
  "Limits",
  "Admin",
  "Logging",
  "Other",
] as const;

/** A `--help` section: one of {@linkcode OPTION_GROUPS}. */
export type OptionGroup = typeof OPTION_GROUPS[number];

/** One option: everything the loader, `--help` and the README say about it. */
export interface OptionSpec<K extends ConfigKey = ConfigKey> {
  /** The key in {@linkcode RouterConfig} and in the config file (camelCase). */
  readonly key: K;
  /** The long flag without its dashes (kebab-case). */
  readonly flag: string;
  /** A one-letter alias, if any. */
  readonly short?: string;
  /** The environment variable, if the option can come from the environment. */
  readonly env?: string;
  /** Whether the config file may set it. */
  readonly inFile: boolean;
  /** Its `--help` section. */
  readonly group: OptionGroup;
  /** Its parser. */
  readonly type: ValueType<NonNullable<RouterConfig[K]>>;
  /** Its value when nothing sets it (undefined: left unset). */
  readonly default?: RouterConfig[K];
  /** The default as `--help` shows it, written as the option is. */
  readonly shown: string;
  /** What it does, for `--help` and the README. */
  readonly help: string;
}

/** Any row of {@linkcode OPTIONS}. */
export type AnyOptionSpec = { [K in ConfigKey]: OptionSpec<K> }[ConfigKey];

// ---------------------------------------------------------------------------
// The table

function option<K extends ConfigKey>(spec: OptionSpec<K>): OptionSpec<K> {
  return spec;
}

/**
 * Every option, once. `--help`, the README's table and the loader are all
 * driven by it.
 *
 * @example
 * ```ts
 * import { OPTIONS } from "jsr:@ptth/router/config";
 * import { equal } from "node:assert/strict";
 * const port = OPTIONS.find((option) => option.key === "port")!;
 * equal(port.flag, "port");
 * equal(port.env, "PTTH_PORT");
 * equal(port.shown, "8888");
 * ```
 */
export const OPTIONS: readonly AnyOptionSpec[] = [
  option({
    key: "port",
    flag: "port",
    env: "PTTH_PORT",
    inFile: true,
    group: "Listening",
    type: portType,
    default: ROUTER_DEFAULTS.port,
    shown: "8888",
    help: "Public HTTP port; 0 picks a free one",
  }),
  option({
    key: "tunnelPort",
    flag: "tunnel-port",
    env: "PTTH_TUNNEL_PORT",
    inFile: true,
    group: "Listening",
    type: portType,
    default: ROUTER_DEFAULTS.tunnelPort,
    shown: "8887",
    help: "Port backends dial; 0 picks a free one",
  }),
  option({
    key: "hostname",
    flag: "hostname",
    env: "PTTH_HOSTNAME",
    inFile: true,
    group: "Listening",
    type: hostnameType,
    default: ROUTER_DEFAULTS.hostname,
    shown: "0.0.0.0",
    help: "Interface for the public HTTP port",
  }),
  option({
    key: "tunnelHostname",
    flag: "tunnel-hostname",
    env: "PTTH_TUNNEL_HOSTNAME",
    inFile: true,
    group: "Listening",
    type: hostnameType,
    shown: "--hostname",
    help: "Interface for the tunnel port",
  }),
  option({
    key: "tunnelPath",
    flag: "tunnel-path",
    env: "PTTH_TUNNEL_PATH",
    inFile: true,
    group: "Listening",
    type: urlPathType,
    default: ROUTER_DEFAULTS.tunnelPath,
    shown: "/.well-known/ptth/tunnel",
    help: "Path on the public port where backends open tunnels over WebSocket; off turns it off",
  }),
  option({
    key: "tlsCert",
    flag: "tls-cert",
    env: "PTTH_TLS_CERT",
    inFile: true,
    group: "TLS",
    type: fileType,
    shown: "none",
    help: "PEM certificate for public HTTPS (needs --tls-key)",
  }),
  option({
    key: "tlsKey",
    flag: "tls-key",
    env: "PTTH_TLS_KEY",
    inFile: true,
    group: "TLS",
    type: fileType,
    shown: "none",
    help: "PEM private key for public HTTPS (needs --tls-cert)",
  }),
  option({
    key: "tunnelTlsCert",
    flag: "tunnel-tls-cert",
    env: "PTTH_TUNNEL_TLS_CERT",
    inFile: true,
    group: "TLS",
    type: fileType,
    shown: "none",
    help: "PEM certificate for TLS on the tunnel port (needs --tunnel-tls-key)",
  }),
  option({
    key: "tunnelTlsKey",
    flag: "tunnel-tls-key",
    env: "PTTH_TUNNEL_TLS_KEY",
    inFile: true,
    group: "TLS",
    type: fileType,
    shown: "none",
    help: "PEM private key for TLS on the tunnel port (needs --tunnel-tls-cert)",
  }),
  option({
    key: "acmeEmail",
    flag: "acme-email",
    env: "PTTH_ACME_EMAIL",
    inFile: true,
    group: "Automatic HTTPS",
    type: emailType,
    shown: "none",
    help: "Turn on certificates from an ACME CA for the routes' exact host names; " +
      "the CA's account contact",
  }),
  option({
    key: "acmeDirectory",
    flag: "acme-directory",
    env: "PTTH_ACME_DIRECTORY",
    inFile: true,
    group: "Automatic HTTPS",
    type: httpsUrlType,
    default: ACME_DEFAULTS.acmeDirectory,
    shown: ACME_DEFAULTS.acmeDirectory,
    help: "The ACME CA's directory URL (Let's Encrypt production by default)",
  }),
  option({
    key: "acmeStaging",
    flag: "acme-staging",
    env: "PTTH_ACME_STAGING",
    inFile: true,
    group: "Automatic HTTPS",
    type: booleanType("[=<bool>]"),
    default: ACME_DEFAULTS.acmeStaging,
    shown: "false",
    help:
      "Use Let's Encrypt's staging CA (untrusted certificates, high rate limits) to try a setup",
  }),
  option({
    key: "acmeCaCerts",
    flag: "acme-ca-cert",
    env: "PTTH_ACME_CA_CERTS",
    inFile: true,
    group: "Automatic HTTPS",
    type: filesType,
    default: ACME_DEFAULTS.acmeCaCerts,
    shown: "none",
    help: "Trust this PEM certificate for the ACME CA's HTTPS (a private CA)",
  }),
  option({
    key: "stateDir",
    flag: "state-dir",
    env: "PTTH_STATE_DIR",
    inFile: true,
    group: "Automatic HTTPS",
    type: dirType,
    default: ACME_DEFAULTS.stateDir,
    shown: ACME_DEFAULTS.stateDir,
    help: "Where the ACME account key and the certificates are kept (folders 0700, files 0600)",
  }),
  option({
    key: "acmeOrderTimeout",
    flag: "acme-order-timeout",
    env: "PTTH_ACME_ORDER_TIMEOUT",
    inFile: true,
    group: "Automatic HTTPS",
    type: durationType(),
    default: ACME_DEFAULTS.acmeOrderTimeout,
    shown: "2m",
    help: "Give up a certificate order (and back off) after this long",
  }),
  option({
    key: "acmeRequestTimeout",
    flag: "acme-request-timeout",
    env: "PTTH_ACME_REQUEST_TIMEOUT",
    inFile: true,
    group: "Automatic HTTPS",
    type: durationType(),
    default: ACME_DEFAULTS.acmeRequestTimeout,
    shown: "30s",
    help: "Give up one request to the ACME CA after this long",
  }),
  option({
    key: "acmeOrdersPerHour",
    flag: "acme-orders-per-hour",
    env: "PTTH_ACME_ORDERS_PER_HOUR",
    inFile: true,
    group: "Automatic HTTPS",
    type: countType(false),
    default: ACME_DEFAULTS.acmeOrdersPerHour,
    shown: "20",
    help: "New certificate orders per hour at most (Let's Encrypt allows 300 per 3 hours)",
  }),
  option({
    key: "acmeRetryDelay",
    flag: "acme-retry-delay",
    env: "PTTH_ACME_RETRY_DELAY",
    inFile: true,
    group: "Automatic HTTPS",
    type: durationType(),
    default: ACME_DEFAULTS.acmeRetryDelay,
    shown: "1m",
    help: "Wait this long after a name's failed order, doubling after each failure",
  }),
  option({
    key: "acmeRetryMaxDelay",
    flag: "acme-retry-max-delay",
    env: "PTTH_ACME_RETRY_MAX_DELAY",
    inFile: true,
    group: "Automatic HTTPS",
    type: durationType(),
    default: ACME_DEFAULTS.acmeRetryMaxDelay,
    shown: "1h",
    help: "The longest wait between orders for a failing name",
  }),
  option({
    key: "tokens",
    flag: "token",
    env: "PTTH_TOKENS",
    inFile: true,
    group: "Authentication",
    type: tokensType,
    default: ROUTER_DEFAULTS.tokens,
    shown: "none",
    help: "Let backends presenting TOKEN serve SERVICE; tokens have at least 16 characters, " +
      "as shorter ones could be guessed",
  }),
  option({
    key: "allowAnonymous",
    flag: "allow-anonymous",
    env: "PTTH_ALLOW_ANONYMOUS",
    inFile: true,
    group: "Authentication",
    type: booleanType("[=<bool>]"),
    shown: "true without tokens",
    help: "Accept tunnels without a token (they serve service default)",
  }),
  option({
    key: "serviceHosts",
    flag: "service-hosts",
    env: "PTTH_SERVICE_HOSTS",
    inFile: true,
    group: "Authentication",
    type: serviceHostsType,
    default: ROUTER_DEFAULTS.serviceHosts,
    shown: "none",
    help: "Let backends of SERVICE announce hosts PATTERN covers (a host or *.suffix); " +
      "without it a service announces none (anonymous ones may when no token is set)",
  }),
  option({
    key: "routes",
    flag: "route",
    env: "PTTH_ROUTES",
    inFile: true,
    group: "Routing",
    type: routesType,
    default: ROUTER_DEFAULTS.routes,
    shown: "none",
    help: "Send requests matching PATTERN (host, host/path or /path) to SERVICE; " +
      "without routes, any tunnel serves any request",
  }),
  option({
    key: "trustedProxies",
    flag: "trusted-proxy",
    env: "PTTH_TRUSTED_PROXIES",
    inFile: true,
    group: "Routing",
    type: proxiesType,
    default: ROUTER_DEFAULTS.trustedProxies,
    shown: "none",
    help: "Believe X-Forwarded-* headers from this address or CIDR range",
  }),
  option({
    key: "maxHeaderBytes",
    flag: "max-header-bytes",
    env: "PTTH_MAX_HEADER_BYTES",
    inFile: true,
    group: "Limits",
    type: sizeType(false),
    default: ROUTER_DEFAULTS.maxHeaderBytes,
    shown: "64kb",
    help: "Largest request header section (431 above)",
  }),
  option({
    key: "maxBodyBytes",
    flag: "max-body-bytes",
    env: "PTTH_MAX_BODY_BYTES",
    inFile: true,
    group: "Limits",
    type: sizeType(true),
    default: ROUTER_DEFAULTS.maxBodyBytes,
    shown: "unlimited",
    help: "Largest request body (413 above)",
  }),
  option({
    key: "responseHeaderTimeout",
    flag: "response-header-timeout",
    env: "PTTH_RESPONSE_HEADER_TIMEOUT",
    inFile: true,
    group: "Limits",
    type: durationType(),
    default: ROUTER_DEFAULTS.responseHeaderTimeout,
    shown: "60s",
    help: "Wait this long for a backend's response headers (504 after)",
  }),
  option({
    key: "idleTimeout",
    flag: "idle-timeout",
    env: "PTTH_IDLE_TIMEOUT",
    inFile: true,
    group: "Limits",
    type: durationType(),
    default: ROUTER_DEFAULTS.idleTimeout,
    shown: "5m",
    help: "Reset a stream whose body moves no bytes for this long",
  }),
  option({
    key: "handshakeTimeout",
    flag: "handshake-timeout",
    env: "PTTH_HANDSHAKE_TIMEOUT",
    inFile: true,
    group: "Limits",
    type: durationType(),
    default: ROUTER_DEFAULTS.handshakeTimeout,
    shown: "10s",
    help: "Drop a tunnel that has not completed its handshake by then",
  }),
  option({
    key: "headerTimeout",
    flag: "header-timeout",
    env: "PTTH_HEADER_TIMEOUT",
    inFile: true,
    group: "Limits",
    type: durationType(),
    default: ROUTER_DEFAULTS.headerTimeout,
    shown: "10s",
    help: "Close a public connection whose request head (TLS handshake included) takes longer",
  }),
  option({
    key: "clientIdleTimeout",
    flag: "client-idle-timeout",
    env: "PTTH_CLIENT_IDLE_TIMEOUT",
    inFile: true,
    group: "Limits",
    type: durationType(),
    default: ROUTER_DEFAULTS.clientIdleTimeout,
    shown: "60s",
    help: "Close a public connection with no request in flight (or a stalled transfer) this long",
  }),
  option({
    key: "maxConnections",
    flag: "max-connections",
    env: "PTTH_MAX_CONNECTIONS",
    inFile: true,
    group: "Limits",
    type: countType(false),
    default: ROUTER_DEFAULTS.maxConnections,
    shown: "10000",
    help: "Public connections at once at most (at the limit idle ones are closed, new ones wait)",
  }),
  option({
    key: "maxConnectionsPerAddress",
    flag: "max-connections-per-address",
    env: "PTTH_MAX_CONNECTIONS_PER_ADDRESS",
    inFile: true,
    group: "Limits",
    type: countType(false),
    default: ROUTER_DEFAULTS.maxConnectionsPerAddress,
    shown: "512",
    help: "Public connections from one address at once at most (more are closed at once)",
  }),
  option({
    key: "maxPendingHandshakes",
    flag: "max-pending-handshakes",
    env: "PTTH_MAX_PENDING_HANDSHAKES",
    inFile: true,
    group: "Limits",
    type: countType(false),
    default: ROUTER_DEFAULTS.maxPendingHandshakes,
    shown: "1024",
    help: "Tunnel handshakes in progress at once at most (at the limit new ones wait)",
  }),
  option({
    key: "maxPendingHandshakesPerAddress",
    flag: "max-pending-handshakes-per-address",
    env: "PTTH_MAX_PENDING_HANDSHAKES_PER_ADDRESS",
    inFile: true,
    group: "Limits",
    type: countType(false),
    default: ROUTER_DEFAULTS.maxPendingHandshakesPerAddress,
    shown: "16",
    help: "Tunnel handshakes in progress from one address at most (more are closed at once)",
  }),
  option({
    key: "maxStreamsPerTunnel",
    flag: "max-streams-per-tunnel",
    env: "PTTH_MAX_STREAMS_PER_TUNNEL",
    inFile: true,
    group: "Limits",
    type: countType(true),
    default: ROUTER_DEFAULTS.maxStreamsPerTunnel,
    shown: "unlimited",
    help: "Concurrent requests per tunnel at most (below the backend's own limit)",
  }),
  option({
    key: "maxQueuedRequests",
    flag: "max-queued-requests",
    env: "PTTH_MAX_QUEUED_REQUESTS",
    inFile: true,
    group: "Limits",
    type: countType(false, 0),
    default: ROUTER_DEFAULTS.maxQueuedRequests,
    shown: "1024",
    help: "Requests of one service that may wait for a stream slot or a tunnel (503 beyond)",
  }),
  option({
    key: "maxResponseBuffer",
    flag: "max-response-buffer",
    env: "PTTH_MAX_RESPONSE_BUFFER",
    inFile: true,
    group: "Limits",
    type: sizeType(false),
    default: ROUTER_DEFAULTS.maxResponseBuffer,
    shown: "256mb",
    help: "Response data held for clients that have not read it, all tunnels together (a " +
      "stream window, 4mb, per response at most); past it, responses whose clients took " +
      "nothing for 1s are reset, the largest first",
  }),
  option({
    key: "maxWebSocketBuffer",
    flag: "max-websocket-buffer",
    env: "PTTH_MAX_WEBSOCKET_BUFFER",
    inFile: true,
    group: "Limits",
    type: sizeType(false),
    default: ROUTER_DEFAULTS.maxWebSocketBuffer,
    shown: "256mb",
    help: "WebSocket message data held for messages not received whole yet, all sockets " +
      "together (64mb per message at most); a socket whose next fragment does not fit is " +
      "closed with 1009",
  }),
  option({
    key: "maxTunnelsPerService",
    flag: "max-tunnels-per-service",
    env: "PTTH_MAX_TUNNELS_PER_SERVICE",
    inFile: true,
    group: "Limits",
    type: countType(false),
    default: ROUTER_DEFAULTS.maxTunnelsPerService,
    shown: "256",
    help: "Tunnels per service at most (more are refused with 429)",
  }),
  option({
    key: "authFailuresPerMinute",
    flag: "auth-failures-per-minute",
    env: "PTTH_AUTH_FAILURES_PER_MINUTE",
    inFile: true,
    group: "Limits",
    type: countType(false),
    default: ROUTER_DEFAULTS.authFailuresPerMinute,
    shown: "10",
    help: "Failed handshakes per address per minute before 429",
  }),
  option({
    key: "tunnelWait",
    flag: "tunnel-wait",
    env: "PTTH_TUNNEL_WAIT",
    inFile: true,
    group: "Limits",
    type: durationType(0),
    default: ROUTER_DEFAULTS.tunnelWait,
    shown: "3s",
    help: "A request with no tunnel waits this long for one to (re)connect (503 after)",
  }),
  option({
    key: "maxRetries",
    flag: "max-retries",
    env: "PTTH_MAX_RETRIES",
    inFile: true,
    group: "Limits",
    type: countType(false, 0),
    default: ROUTER_DEFAULTS.maxRetries,
    shown: "2",
    help: "Resend a failed request this often on another tunnel (unprocessed ones, or " +
      "idempotent ones whose tunnel failed)",
  }),
  option({
    key: "keepaliveInterval",
    flag: "keepalive-interval",
    env: "PTTH_KEEPALIVE_INTERVAL",
    inFile: true,
    group: "Limits",
    type: durationType(),
    default: ROUTER_DEFAULTS.keepaliveInterval,
    shown: "15s",
    help: "PING a tunnel that has been silent this long (NATs often drop idle flows at 30s)",
  }),
  option({
    key: "keepaliveTimeout",
    flag: "keepalive-timeout",
    env: "PTTH_KEEPALIVE_TIMEOUT",
    inFile: true,
    group: "Limits",
    type: durationType(),
    default: ROUTER_DEFAULTS.keepaliveTimeout,
    shown: "10s",
    help: "Close a tunnel whose PING is not answered within this long",
  }),
  option({
    key: "adminPort",
    flag: "admin-port",
    env: "PTTH_ADMIN_PORT",
    inFile: true,
    group: "Admin",
    type: portOrOffType,
    default: ADMIN_DEFAULTS.port,
    shown: "8889",
    help: "Port of the admin listener: dashboard at /, /metrics, /healthz, /readyz, " +
      "/api/tunnels; 0 picks a free one, off turns it off",
  }),
  option({
    key: "adminHostname",
    flag: "admin-hostname",
    env: "PTTH_ADMIN_HOSTNAME",
    inFile: true,
    group: "Admin",
    type: hostnameType,
    default: ADMIN_DEFAULTS.hostname,
    shown: "127.0.0.1",
    help: "Interface for the admin listener (loopback: only this machine can reach it)",
  }),
  option({
    key: "adminToken",
    flag: "admin-token",
    env: "PTTH_ADMIN_TOKEN",
    inFile: true,
    group: "Admin",
    type: secretType,
    shown: "none",
    help: "Require Authorization: Bearer TOKEN for /metrics and /api/* (probes stay open); " +
      "at least 16 characters",
  }),
  option({
    key: "adminHosts",
    flag: "admin-host",
    env: "PTTH_ADMIN_HOSTS",
    inFile: true,
    group: "Admin",
    type: hostnamesType,
    default: ADMIN_DEFAULTS.hosts,
    shown: "none",
    help: "Answer the dashboard, /metrics and /api/* for this Host name too, besides localhost, " +
      "IP addresses and --admin-hostname; other Hosts get 421 (DNS rebinding)",
  }),
  option({
    key: "readyServices",
    flag: "ready-service",
    env: "PTTH_READY_SERVICES",
    inFile: true,
    group: "Admin",
    type: servicesType,
    default: ADMIN_DEFAULTS.readyServices,
    shown: "none",
    help: "/readyz answers 503 until this service has a tunnel up",
  }),
  option({
    key: "logFormat",
    flag: "log-format",
    env: "PTTH_LOG_FORMAT",
    inFile: true,
    group: "Logging",
    type: choiceType(LOG_FORMATS),
    default: ROUTER_DEFAULTS.logFormat,
    shown: "text",
    help: "text: a line per request and tunnel event for terminals; json: one JSON object a line",
  }),
  option({
    key: "logLevel",
    flag: "log-level",
    env: "PTTH_LOG_LEVEL",
    inFile: true,
    group: "Logging",
    type: choiceType(LOG_LEVELS),
    default: ROUTER_DEFAULTS.logLevel,
    shown: "info",
    help: "Least severe level logged: debug (adds PING round trips), info (requests, tunnels), " +
      "warn (5xx, refused handshakes, failures), error",
  }),
  option({
    key: "config",
    flag: "config",
    env: "PTTH_CONFIG",
    inFile: false,
    group: "Other",
    type: fileType,
    shown: "none",
    help: "Read options from this JSON file (keys as in the README)",
  }),
  option({
    key: "help",
    flag: "help",
    short: "h",
    inFile: false,
    group: "Other",
    type: booleanType(""),
    default: false,
    shown: "",
    help: "Show this help",
  }),
  option({
    key: "version",
    flag: "version",
    short: "V",
    inFile: false,
    group: "Other",
    type: booleanType(""),
    default: false,
    shown: "",
    help: "Show the version",
  }),
];

// ---------------------------------------------------------------------------
// Loading

/** The edit distance of two short words, to suggest what a typo meant. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length]!;
}

function suggest(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best === undefined ? "" : ` (did you mean ${best}?)`;
}

/**
 * parseArgs cannot give a boolean flag a value, so boolean options are string
 * options and the bare forms are rewritten: `--x` → `--x=true`,
 * `--no-x` → `--x=false`, `-h` → `--help=true`.
 */
function expandBooleanFlags(args: readonly string[]): string[] {
  const booleans = OPTIONS.filter((spec) => spec.type.switch);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    const long = booleans.find((spec) => arg === `--${spec.flag}`);
    const negated = booleans.find((spec) => arg === `--no-${spec.flag}`);
    const shorts = /^-[a-zA-Z]+$/.test(arg)
      ? [...arg.slice(1)].map((letter) => booleans.find((spec) => spec.short === letter))
      : [];
    if (long) out.push(`--${long.flag}=true`);
    else if (negated) out.push(`--${negated.flag}=false`);
    else if (shorts.length > 0 && shorts.every((spec) => spec !== undefined)) {
      for (const spec of shorts) out.push(`--${spec!.flag}=true`);
    } else out.push(arg);
  }
  return out;
}

/** The values of each flag given, in order. */
function parseFlags(args: readonly string[]): Map<ConfigKey, string[]> {
  const options: Record<string, { type: "string"; multiple: true }> = {};
  for (const spec of OPTIONS) options[spec.flag] = { type: "string", multiple: true };
  let values: Record<string, string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: expandBooleanFlags(args),
      options,
      strict: true,
      allowPositionals: false,
    }) as { values: Record<string, string[] | undefined> });
  } catch (error) {
    throw flagError(error);
  }
  const flags = new Map<ConfigKey, string[]>();
  for (const spec of OPTIONS) {
    const given = values[spec.flag];
    if (given) flags.set(spec.key, given);
  }
  return flags;
}

/** parseArgs' messages span lines and quote oddly: restate them in one line. */
function flagError(error: unknown): ConfigError {
  const { code, message } = error as { code?: string; message?: string };
  const quoted = /'([^']*)'/.exec(message ?? "")?.[1] ?? "";
  const flags = OPTIONS.map((spec) => `--${spec.flag}`);
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new ConfigError(`Unknown option ${quoted}${suggest(quoted, flags)}`, { cause: error });
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const flag = quoted.split(" ")[0]!;
      // parseArgs takes a next argument starting with "-" for another option, not a value.
      const hint = message?.includes("ambiguous")
        ? ` (write ${flag}=VALUE for one starting with -)`
        : "";
      return new ConfigError(`Missing value for ${flag}${hint}`, { cause: error });
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      // Anything shorter than a token cannot be one; longer words might be, so are neither
      // echoed nor kept as the cause (whose message quotes them).
      return new ConfigError(
        quoted.length < MIN_TOKEN_LENGTH
          ? `Unexpected argument ${quote(quoted)}`
          : "Unexpected argument (options start with --)",
      );
    default:
      return new ConfigError(`Invalid arguments: ${(message ?? "").split("\n")[0]}`, {
        cause: error,
      });
  }
}

interface ConfigFile {
  path: string;
  values: Record<string, unknown>;
}

function readConfigFile(
  path: string,
  label: string,
  readFile: (path: string) => string,
): ConfigFile {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    throw new ConfigError(`Invalid ${label}: cannot read ${quote(path)}: ${reason(error)}`, {
      cause: error,
    });
  }
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Invalid ${label}: ${quote(path)} is not JSON: ${reason(error)}`, {
      cause: error,
    });
  }
  if (typeof values !== "object" || values === null || Array.isArray(values)) {
    throw new ConfigError(`Invalid ${label}: ${quote(path)} does not hold a JSON object`);
  }
  const keys = OPTIONS.filter((spec) => spec.inFile).map((spec) => spec.key);
  for (const key of Object.keys(values)) {
    if (!(keys as string[]).includes(key)) {
      throw new ConfigError(`Unknown config key ${quote(key)} in ${path}${suggest(key, keys)}`);
    }
  }
  return { path, values: values as Record<string, unknown> };
}

function reason(error: unknown): string {
  return String((error as Error)?.message ?? error).split("\n")[0]!;
}

function splitList(text: string): string[] {
  return text.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

function fileLabel(key: string, path: string): KeyNamer {
  return (suffix = "") => `config key ${quote(key + suffix)} in ${path}`;
}

/** Sets `config[spec.key]` from the first of flag, environment, file, default that has it. */
function resolve<K extends ConfigKey>(
  spec: OptionSpec<K>,
  config: Partial<RouterConfig>,
  sources: Partial<Record<ConfigKey, string>>,
  from: {
    flags: Map<ConfigKey, string[]>;
    env: (name: string) => string | undefined;
    file: ConfigFile | undefined;
  },
): void {
  const flagged = from.flags.get(spec.key);
  // An empty variable counts as unset, as shells and .env files commonly leave them.
  const envText = spec.env === undefined ? undefined : from.env(spec.env)?.trim() || undefined;
  const file = spec.inFile ? from.file : undefined;
  if (flagged) {
    const label = `--${spec.flag}`;
    config[spec.key] = spec.type.parse(flagged, label);
    sources[spec.key] = label;
  } else if (spec.env !== undefined && envText !== undefined) {
    config[spec.key] = spec.type.parse(spec.type.list ? splitList(envText) : [envText], spec.env);
    sources[spec.key] = spec.env;
  } else if (file && Object.hasOwn(file.values, spec.key)) {
    const name = fileLabel(spec.key, file.path);
    const value = spec.type.fromJson(file.values[spec.key], name);
    // A file named in the config file is found from the config file's folder, not from
    // wherever the router was started.
    config[spec.key] = spec.type === fileType || spec.type === dirType
      ? besideFile(value as string, file.path) as typeof value
      : spec.type === filesType
      ? (value as string[]).map((path) => besideFile(path, file.path)) as typeof value
      : value;
    sources[spec.key] = name();
  } else if (spec.default !== undefined) {
    // Copied, so that callers mutating one config's lists cannot change the table.
    config[spec.key] = structuredClone(spec.default);
  }
}

/** `path` as seen from the folder of `configPath`, unless it is absolute. */
function besideFile(path: string, configPath: string): string {
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith("\\\\")) return path;
  const folder = configPath.slice(
    0,
    Math.max(configPath.lastIndexOf("/"), configPath.lastIndexOf("\\")) + 1,
  );
  return folder + path;
}

const SPEC_BY_KEY = new Map<ConfigKey, AnyOptionSpec>(OPTIONS.map((spec) => [spec.key, spec]));

/** How an option is named when the source of its value is unknown: its flag. */
function labelOf(config: RouterConfig, key: ConfigKey): string {
  return config.sources[key] ?? `--${SPEC_BY_KEY.get(key)!.flag}`;
}

/** A certificate without a key (or the reverse) is surely a mistake: both or neither. */
function checkPair(config: RouterConfig, cert: ConfigKey, key: ConfigKey): void {
  const [given, missing] = config[cert] === undefined ? [key, cert] : [cert, key];
  if (config[given] !== undefined && config[missing] === undefined) {
    const other = SPEC_BY_KEY.get(missing)!;
    throw invalid(
      labelOf(config, given),
      `needs --${other.flag} (${other.env}, "${other.key}") as well: TLS takes a certificate and a key`,
    );
  }
}

/**
 * Resolves the configuration: each option from its flag, else its `PTTH_…`
 * environment variable, else the JSON config file (`--config` or
 * `PTTH_CONFIG`), else its default. List options (tokens, routes, trusted
 * proxies) are taken whole from the first source that has them, not merged.
 * With `--help` or `--version`, nothing but the flags is read.
 *
 * @param args The command-line arguments.
 * @param env Reads an environment variable (`Deno.env.get`).
 * @param readFile Reads a text file (`Deno.readTextFileSync`).
 * @returns The configuration.
 * @throws {ConfigError} On an unknown option or key, or a bad value.
 *
 * @example Flags win over the environment, which wins over the file
 * ```ts
 * import { loadConfig } from "jsr:@ptth/router/config";
 * import { equal } from "node:assert/strict";
 * const env: Record<string, string> = { PTTH_CONFIG: "ptth.json", PTTH_TUNNEL_PORT: "9001" };
 * const config = loadConfig(
 *   ["--port", "9000"],
 *   (name) => env[name],
 *   () => '{"port": 80, "tunnelPort": 81, "maxBodyBytes": "10mb", "idleTimeout": "2m"}',
 * );
 * equal(config.port, 9000);
 * equal(config.tunnelPort, 9001);
 * equal(config.maxBodyBytes, 10 * 1024 * 1024);
 * equal(config.idleTimeout, 120_000);
 * equal(config.sources.maxBodyBytes, 'config key "maxBodyBytes" in ptth.json');
 * ```
 */
export function loadConfig(
  args: readonly string[],
  env: (name: string) => string | undefined,
  readFile: (path: string) => string,
): RouterConfig {
  let flags = parseFlags(args);
  const config: Partial<RouterConfig> = {};
  const sources: Partial<Record<ConfigKey, string>> = {};
  const asked = (key: "help" | "version") =>
    parseBoolean(flags.get(key)?.at(-1) ?? "0", `--${key}`);
  const early = asked("help") || asked("version");
  // --help and --version answer whatever else is given, even a broken PTTH_PORT.
  if (early) flags = new Map([...flags].filter(([key]) => key === "help" || key === "version"));
  const from = { flags, env: early ? () => undefined : env, file: undefined };
  resolve(SPEC_BY_KEY.get("config")!, config, sources, from);
  const file = config.config === undefined || early
    ? undefined
    : readConfigFile(config.config, sources.config!, readFile);
  for (const spec of OPTIONS) {
    if (spec.key !== "config") resolve(spec, config, sources, { ...from, file });
  }
  config.tunnelHostname ??= config.hostname;
  const result = { ...config, sources } as RouterConfig;
  if (!result.help && !result.version) {
    checkPair(result, "tlsCert", "tlsKey");
    checkPair(result, "tunnelTlsCert", "tunnelTlsKey");
    if (result.acmeStaging && result.sources.acmeDirectory !== undefined) {
      throw new ConfigError(
        `${labelOf(result, "acmeStaging")} and ${
          labelOf(result, "acmeDirectory")
        } both name the ACME CA: give one`,
      );
    }
  }
  return result;
}

function readPem(
  config: RouterConfig,
  key: "tlsCert" | "tlsKey" | "tunnelTlsCert" | "tunnelTlsKey",
  readFile: (path: string) => string,
): string {
  const path = config[key]!;
  const label = labelOf(config, key);
  let pem: string;
  try {
    pem = readFile(path);
  } catch (error) {
    throw new ConfigError(`Invalid ${label}: cannot read ${quote(path)}: ${reason(error)}`, {
      cause: error,
    });
  }
  // Catches a swapped certificate and key, or a DER file, before the listener does obscurely.
  const expected = key.endsWith("Cert")
    ? /-----BEGIN CERTIFICATE-----/
    : /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
  if (!expected.test(pem)) {
    const what = key.endsWith("Cert") ? "certificate" : "private key";
    throw invalid(label, `${quote(path)} holds no PEM ${what}`);
  }
  return pem;
}

function readCaCert(path: string, label: string, readFile: (path: string) => string): string {
  let pem: string;
  try {
    pem = readFile(path);
  } catch (error) {
    throw new ConfigError(`Invalid ${label}: cannot read ${quote(path)}: ${reason(error)}`, {
      cause: error,
    });
  }
  if (!/-----BEGIN CERTIFICATE-----/.test(pem)) {
    throw invalid(label, `${quote(path)} holds no PEM certificate`);
  }
  return pem;
}

function readTls(
  config: RouterConfig,
  cert: "tlsCert" | "tunnelTlsCert",
  key: "tlsKey" | "tunnelTlsKey",
  readFile: (path: string) => string,
): { cert: string; key: string } | undefined {
  checkPair(config, cert, key);
  if (config[cert] === undefined) return undefined;
  return { cert: readPem(config, cert, readFile), key: readPem(config, key, readFile) };
}

/**
 * Turns a configuration into `createRouter` options, reading the TLS
 * certificate and key files.
 *
 * @param config A configuration from {@linkcode loadConfig}.
 * @param readFile Reads a text file (`Deno.readTextFileSync`).
 * @returns The router options.
 * @throws {ConfigError} When a PEM file cannot be read or holds no certificate or key.
 *
 * @example
 * ```ts
 * import { loadConfig, toRouterOptions } from "jsr:@ptth/router/config";
 * import { deepEqual, equal } from "node:assert/strict";
 * const files: Record<string, string> = {
 *   "cert.pem": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
 *   "key.pem": "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
 * };
 * const read = (path: string) => files[path]!;
 * const config = loadConfig(
 *   ["--tls-cert", "cert.pem", "--tls-key", "key.pem", "--route", "*.apps.example.com=*"],
 *   () => undefined,
 *   read,
 * );
 * const options = toRouterOptions(config, read);
 * equal(options.tls?.cert, files["cert.pem"]);
 * equal(options.tunnelTls, undefined);
 * deepEqual(options.routes, [{ host: "*.apps.example.com", service: "*" }]);
 * ```
 */
export function toRouterOptions(
  config: RouterConfig,
  readFile: (path: string) => string,
): RouterOptions {
  const options: RouterOptions = {
    hostname: config.hostname,
    port: config.port,
    tunnelHostname: config.tunnelHostname,
    tunnelPort: config.tunnelPort,
    tunnelPath: config.tunnelPath,
    tokens: config.tokens,
    serviceHosts: config.serviceHosts,
    routes: config.routes,
    trustedProxies: config.trustedProxies,
    maxHeaderBytes: config.maxHeaderBytes,
    maxBodyBytes: config.maxBodyBytes,
    responseHeaderTimeout: config.responseHeaderTimeout,
    idleTimeout: config.idleTimeout,
    handshakeTimeout: config.handshakeTimeout,
    headerTimeout: config.headerTimeout,
    clientIdleTimeout: config.clientIdleTimeout,
    maxConnections: config.maxConnections,
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    maxPendingHandshakes: config.maxPendingHandshakes,
    maxPendingHandshakesPerAddress: config.maxPendingHandshakesPerAddress,
    maxStreamsPerTunnel: config.maxStreamsPerTunnel,
    maxQueuedRequests: config.maxQueuedRequests,
    maxResponseBuffer: config.maxResponseBuffer,
    maxWebSocketBuffer: config.maxWebSocketBuffer,
    maxTunnelsPerService: config.maxTunnelsPerService,
    authFailuresPerMinute: config.authFailuresPerMinute,
    tunnelWait: config.tunnelWait,
    maxRetries: config.maxRetries,
    keepaliveInterval: config.keepaliveInterval,
    keepaliveTimeout: config.keepaliveTimeout,
    logFormat: config.logFormat,
    logLevel: config.logLevel,
  };
  if (config.adminPort !== "off") {
    options.admin = {
      hostname: config.adminHostname,
      port: config.adminPort,
      readyServices: config.readyServices,
      hosts: config.adminHosts,
      ...(config.adminToken === undefined ? {} : { token: config.adminToken }),
    };
  }
  // Unset means "the router decides" (anonymous only while no token is configured).
  if (config.allowAnonymous !== undefined) options.allowAnonymous = config.allowAnonymous;
  const tls = readTls(config, "tlsCert", "tlsKey", readFile);
  if (tls) options.tls = tls;
  const tunnelTls = readTls(config, "tunnelTlsCert", "tunnelTlsKey", readFile);
  if (tunnelTls) options.tunnelTls = tunnelTls;
  if (config.acmeEmail !== undefined) {
    options.acmeEmail = config.acmeEmail;
    options.acmeDirectory = config.acmeStaging
      ? LETS_ENCRYPT_STAGING_DIRECTORY
      : config.acmeDirectory;
    options.acmeCaCerts = config.acmeCaCerts.map((path) =>
      readCaCert(path, labelOf(config, "acmeCaCerts"), readFile)
    );
    options.stateDir = config.stateDir;
    options.acmeOrderTimeout = config.acmeOrderTimeout;
    options.acmeRequestTimeout = config.acmeRequestTimeout;
    options.acmeOrdersPerHour = config.acmeOrdersPerHour;
    options.acmeRetryDelay = config.acmeRetryDelay;
    options.acmeRetryMaxDelay = config.acmeRetryMaxDelay;
  }
  return options;
}
