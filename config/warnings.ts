/**
 * What a configuration can load yet never do: a route or a ready service no
 * backend could ever serve (no token for it, and anonymous tunnels serve only
 * `default`), or an admin listener open to the network without a token. The
 * CLI prints these at start, so that a router answering 503 forever says why.
 *
 * @module
 */

import type { RouterConfig } from "./load.ts";

/** The service anonymous tunnels serve. */
const ANONYMOUS_SERVICE = "default";

/** Whether an address is a loopback one (127.0.0.0/8, ::1, localhost). */
function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || hostname === "[::1]" ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * The warnings a configuration deserves, one line each.
 *
 * @param config A configuration from `loadConfig`.
 * @returns The lines, empty when nothing looks wrong.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./load.ts";
 * import { configurationWarnings } from "./warnings.ts";
 * import { equal, match } from "node:assert/strict";
 * const token = "0123456789abcdef-api";
 * const config = loadConfig(["--token", `api=${token}`, "--route", "/static=cdn"], () => undefined, () => "");
 * const [warning] = configurationWarnings(config);
 * match(warning!, /^Route \/static=cdn sends requests to service cdn, which no backend can serve/);
 * equal(configurationWarnings(loadConfig([], () => undefined, () => "")).length, 0);
 * ```
 */
export function configurationWarnings(config: RouterConfig): string[] {
  const tokenServices = new Set(Object.keys(config.tokens));
  const anonymous = config.allowAnonymous ?? tokenServices.size === 0;
  const servable = (service: string) =>
    tokenServices.has(service) || (anonymous && service === ANONYMOUS_SERVICE);
  const why = (service: string) =>
    `no token is configured for ${service}` +
    (anonymous
      ? ` and anonymous tunnels serve only "${ANONYMOUS_SERVICE}"`
      : " and anonymous tunnels are refused");
  const warnings: string[] = [];
  for (const route of config.routes) {
    const pattern = `${route.host ?? ""}${route.path ?? ""}=${route.service}`;
    if (route.service === "*") {
      // The subdomain's first label names the service: some token (or anonymous) must exist.
      if (tokenServices.size === 0 && !anonymous) {
        warnings.push(
          `Route ${pattern} names each subdomain's service by its first label, but no backend ` +
            `can serve any: no token is configured and anonymous tunnels are refused`,
        );
      }
    } else if (!servable(route.service)) {
      warnings.push(
        `Route ${pattern} sends requests to service ${route.service}, which no backend can ` +
          `serve: ${why(route.service)}`,
      );
    }
  }
  for (const service of config.readyServices) {
    if (!servable(service)) {
      warnings.push(
        `--ready-service ${service} can never be ready: ${why(service)}`,
      );
    }
  }
  if (config.adminPort !== "off" && !isLoopback(config.adminHostname) && !config.adminToken) {
    warnings.push(
      `The admin listener on ${config.adminHostname} is open to the network without a token: ` +
        `set --admin-token (or PTTH_ADMIN_TOKEN) to guard /metrics and /api`,
    );
  }
  if (config.acmeEmail !== undefined) {
    warnings.push(
      `--acme-email is accepted but no certificate is ordered yet: automatic HTTPS needs the ` +
        `router's own HTTPS listener, which is not in this version (use --tls-cert for now)`,
    );
  }
  return warnings;
}
