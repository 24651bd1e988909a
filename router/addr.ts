/**
 * How a network address reads in logs, the banner and the dashboard.
 *
 * @module
 */

/**
 * `host:port`, with an IPv6 host in brackets (RFC 3986 §3.2.2).
 *
 * @param addr The address.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { hostPort } from "./addr.ts";
 * import { equal } from "node:assert/strict";
 * equal(hostPort({ hostname: "127.0.0.1", port: 8887 }), "127.0.0.1:8887");
 * equal(hostPort({ hostname: "::1", port: 8887 }), "[::1]:8887");
 * ```
 */
export function hostPort(addr: { hostname: string; port: number }): string {
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return `${host}:${addr.port}`;
}
