/**
 * Which `Host` the admin listener answers. A page on `evil.example` whose
 * name an attacker re-points at 127.0.0.1 (DNS rebinding) is same-origin
 * with the admin listener in the operator's browser: its requests arrive
 * from loopback, and only their `Host: evil.example` tells them apart. So
 * the admin data answers only Hosts that name this listener: loopback names,
 * IP addresses (a rebinding page always has a name; an address in the URL
 * means the browser connected to that address itself), the name it listens
 * on and the names the operator configured.
 *
 * @module
 */

import { parseIP } from "../client_address.ts";

/** Names that always mean this machine. */
const LOOPBACK_NAMES = ["localhost"];

/**
 * Builds the check of a request's `Host` for the admin listener.
 *
 * @param names Further host names to answer (`--admin-host`, the name it listens on).
 * @returns Whether a `Host` value (`name[:port]`) names the admin listener.
 *
 * @example
 * ```ts
 * import { adminHostMatcher } from "./host_guard.ts";
 * import { equal } from "node:assert/strict";
 * const names = adminHostMatcher(["ops.example.com"]);
 * equal(names("localhost:8889"), true);
 * equal(names("[::1]:8889"), true);
 * equal(names("10.1.2.3"), true);
 * equal(names("OPS.example.com.:8889"), true);
 * equal(names("evil.example:8889"), false);
 * ```
 */
export function adminHostMatcher(names: readonly string[]): (host: string) => boolean {
  const allowed = new Set([...LOOPBACK_NAMES, ...names.map((name) => bareName(name))]);
  return (host: string) => {
    const name = hostName(host);
    return name !== null && (allowed.has(name) || isAddress(name));
  };
}

/** A configured name as a Host's name reads: lower case, no trailing dot, IPv6 without brackets. */
function bareName(name: string): string {
  const lower = name.toLowerCase().replace(/\.$/, "");
  return lower.startsWith("[") && lower.endsWith("]") ? lower.slice(1, -1) : lower;
}

/**
 * The name of a `Host` value (RFC 9110 §7.2: `uri-host [":" port]`), lower
 * case without a trailing dot, IPv6 without brackets; `null` for anything else.
 */
function hostName(host: string): string | null {
  let name = host.toLowerCase();
  let port = "";
  if (name.startsWith("[")) {
    const close = name.indexOf("]");
    if (close < 0) return null;
    port = name.slice(close + 1);
    name = name.slice(1, close);
    if (parseIP(name) === null || !name.includes(":")) return null;
  } else {
    const colon = name.indexOf(":");
    if (colon >= 0) {
      port = name.slice(colon);
      name = name.slice(0, colon);
    }
    if (!/^[a-z0-9.-]+$/.test(name)) return null;
    if (name.endsWith(".")) name = name.slice(0, -1);
  }
  return port === "" || /^:\d{1,5}$/.test(port) ? name : null;
}

/** Whether a Host's name is an IP address: it names the machine the client connected to. */
function isAddress(name: string): boolean {
  return /^[\d.]+$/.test(name) || name.includes(":") ? parseIP(name) !== null : false;
}
