/**
 * The one home of every router default: `createRouter` fills unset options
 * from it, and the option table (so the CLI, `--help` and the README table)
 * takes its defaults from it, so the library and the command line cannot
 * drift apart.
 *
 * @module
 */

import { DEFAULT_TUNNEL_PATH } from "../tunnel/handshake.ts";
import type { RouterOptions, RouteSpec } from "./router_options.ts";

/** A default shared by every router: frozen, so that no caller can change it for the others. */
function frozen<T extends object>(value: T): T {
  return Object.freeze(value);
}

/**
 * The value of every router option that has a fixed default. Options whose
 * default depends on others (`tunnelHostname`, `allowAnonymous`) or that are
 * off unless given (`tls`, `tunnelTls`, `admin`) are not here.
 *
 * @example
 * ```ts
 * import { ROUTER_DEFAULTS } from "./defaults.ts";
 * import { equal } from "node:assert/strict";
 * equal(ROUTER_DEFAULTS.port, 8888);
 * equal(ROUTER_DEFAULTS.tunnelPort, 8887);
 * ```
 */
export const ROUTER_DEFAULTS = {
  hostname: "0.0.0.0",
  port: 8888,
  tunnelPort: 8887,
  tunnelPath: DEFAULT_TUNNEL_PATH,
  tokens: frozen<Record<string, string | string[]>>({}),
  serviceHosts: frozen<Record<string, string[]>>({}),
  routes: frozen<RouteSpec[]>([]),
  trustedProxies: frozen<string[]>([]),
  maxHeaderBytes: 65_536,
  maxBodyBytes: Infinity,
  responseHeaderTimeout: 60_000,
  tunnelWait: 3_000,
  maxRetries: 2,
  idleTimeout: 300_000,
  maxStreamsPerTunnel: Infinity,
  maxQueuedRequests: 1024,
  maxWebSocketBuffer: 256 * 1024 * 1024,
  maxResponseBuffer: 256 * 1024 * 1024,
  maxTunnelsPerService: 256,
  authFailuresPerMinute: 10,
  keepaliveInterval: 15_000,
  keepaliveTimeout: 10_000,
  handshakeTimeout: 10_000,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 512,
  headerTimeout: 10_000,
  clientIdleTimeout: 60_000,
  maxPendingHandshakes: 1024,
  maxPendingHandshakesPerAddress: 16,
  logFormat: "text",
  logLevel: "info",
} as const;

/** Let's Encrypt's production ACME directory: the default CA. */
export const LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";

/** Let's Encrypt's staging ACME directory (`acmeStaging`): untrusted certificates, high limits. */
export const LETS_ENCRYPT_STAGING_DIRECTORY =
  "https://acme-staging-v02.api.letsencrypt.org/directory";

/**
 * The defaults of automatic HTTPS (ACME), used once `acmeEmail` is set. The
 * bounds keep a long name list or a failing name within Let's Encrypt's
 * rate limits (300 new orders per 3 hours per account; 5 failed
 * validations per name per hour).
 *
 * @example
 * ```ts
 * import { ACME_DEFAULTS } from "./defaults.ts";
 * import { equal } from "node:assert/strict";
 * equal(ACME_DEFAULTS.acmeOrdersPerHour, 20);
 * ```
 */
export const ACME_DEFAULTS = {
  acmeDirectory: LETS_ENCRYPT_DIRECTORY,
  acmeStaging: false,
  acmeCaCerts: frozen<string[]>([]),
  stateDir: "ptth-state",
  acmeOrderTimeout: 120_000,
  acmeRequestTimeout: 30_000,
  acmeOrdersPerHour: 20,
  acmeRetryDelay: 60_000,
  acmeRetryMaxDelay: 3_600_000,
} as const;

/** The admin listener's defaults on the command line (`createRouter` has none unless given). */
export const ADMIN_DEFAULTS = {
  port: 8889,
  hostname: "127.0.0.1",
  readyServices: frozen<string[]>([]),
  hosts: frozen<string[]>([]),
} as const;

/** Router options with every defaulted option filled in. */
export type ResolvedRouterOptions =
  & Omit<RouterOptions, keyof typeof ROUTER_DEFAULTS>
  & { [K in keyof typeof ROUTER_DEFAULTS]-?: NonNullable<RouterOptions[K]> };

/**
 * Every key of `RouterOptions`, for the check of unknown keys (a program
 * without type checking, or `createRouter({ adminPort })` copied from the
 * configuration table). The type below fails to compile when a key of
 * `RouterOptions` is missing here.
 */
const ROUTER_OPTION_KEYS = [
  "hostname",
  "port",
  "tunnelHostname",
  "tunnelPort",
  "tunnelPath",
  "signal",
  "tls",
  "tunnelTls",
  "tokens",
  "allowAnonymous",
  "serviceHosts",
  "routes",
  "trustedProxies",
  "maxHeaderBytes",
  "maxBodyBytes",
  "responseHeaderTimeout",
  "tunnelWait",
  "maxRetries",
  "idleTimeout",
  "maxStreamsPerTunnel",
  "maxQueuedRequests",
  "maxResponseBuffer",
  "maxWebSocketBuffer",
  "maxTunnelsPerService",
  "authFailuresPerMinute",
  "keepaliveInterval",
  "keepaliveTimeout",
  "http2",
  "handshakeTimeout",
  "maxConnections",
  "maxConnectionsPerAddress",
  "headerTimeout",
  "clientIdleTimeout",
  "maxPendingHandshakes",
  "maxPendingHandshakesPerAddress",
  "log",
  "quiet",
  "logFormat",
  "logLevel",
  "acmeEmail",
  "acmeDirectory",
  "acmeStaging",
  "acmeCaCerts",
  "stateDir",
  "acmeOrderTimeout",
  "acmeRequestTimeout",
  "acmeOrdersPerHour",
  "acmeRetryDelay",
  "acmeRetryMaxDelay",
  "admin",
] as const satisfies readonly (keyof RouterOptions)[];
type MissingKeys = Exclude<keyof RouterOptions, typeof ROUTER_OPTION_KEYS[number]>;
const _allKeysListed: [MissingKeys] extends [never] ? true : MissingKeys = true;
const KNOWN_KEYS: ReadonlySet<string> = new Set(ROUTER_OPTION_KEYS);

/** Where the configuration table's options that are not `createRouter` options went. */
const MOVED: Readonly<Record<string, string>> = {
  tlsCert: "`tls: { cert, key }`, with the PEM text",
  tlsKey: "`tls: { cert, key }`, with the PEM text",
  tunnelTlsCert: "`tunnelTls: { cert, key }`, with the PEM text",
  tunnelTlsKey: "`tunnelTls: { cert, key }`, with the PEM text",
  adminPort: "`admin: { port }`",
  adminHostname: "`admin: { hostname }`",
  adminToken: "`admin: { token }`",
  adminHosts: "`admin: { hosts }`",
  readyServices: "`admin: { readyServices }`",
};

/**
 * Throws a `TypeError` on an option `createRouter` does not know, naming the
 * right one where the configuration table's key differs.
 */
function checkKeys(options: RouterOptions): void {
  for (const key of Object.keys(options)) {
    if (KNOWN_KEYS.has(key)) continue;
    const instead = MOVED[key];
    throw new TypeError(
      instead === undefined
        ? `Unknown router option ${key}`
        : `Unknown router option ${key}: createRouter takes ${instead}`,
    );
  }
}

/**
 * Fills every unset option that has a default from {@linkcode ROUTER_DEFAULTS}.
 *
 * @param options The options as given.
 * @returns The same options, none of the defaulted ones undefined.
 * @throws {TypeError} On a key `createRouter` does not know.
 *
 * @example
 * ```ts
 * import { withDefaults } from "./defaults.ts";
 * import { equal } from "node:assert/strict";
 * const options = withDefaults({ port: 0 });
 * equal(options.port, 0);
 * equal(options.tunnelPort, 8887);
 * ```
 */
export function withDefaults(options: RouterOptions): ResolvedRouterOptions {
  checkKeys(options);
  const resolved: Record<string, unknown> = { ...options };
  for (const [key, value] of Object.entries(ROUTER_DEFAULTS)) resolved[key] ??= value;
  return resolved as ResolvedRouterOptions;
}
