/**
 * The check of a request's Host (or `:authority`, or an absolute-form
 * target's authority): `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986
 * §3.2.2-3.2.3) and nothing else, so that no userinfo, path, query or
 * fragment can ride in it into the URL the router builds (a Host of
 * `victim.example/admin?` would otherwise move the request's path).
 *
 * @module
 */

// RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ); an IPv4 address
// has the same characters. Empty is allowed by the RFC, but names no host to route to.
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+$/;
const PORT = /^\d{1,5}$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Whether `text` is an IPv6 address as RFC 3986 §3.2.2 writes it inside
 * brackets (IPv6address; no zone identifier, no IPvFuture).
 */
function isIPv6(text: string): boolean {
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...left, ...right];
  // An embedded IPv4 address may end the address, and counts as two groups.
  let count = all.length;
  const last = all.at(-1);
  if (last !== undefined && last.includes(".")) {
    if (!IPV4.test(last)) return false;
    all.pop();
    count++;
  }
  if (!all.every((group) => HEX_GROUP.test(group))) return false;
  return halves.length === 2 ? count < 8 : count === 8;
}

/**
 * Whether a Host value is `uri-host [":" port]`: a registered name or IPv4
 * address, or an IPv6 address in brackets, then at most a port of 1 to 5
 * digits up to 65535. An empty host, userinfo (`a@b`), a path, query or
 * fragment, and an empty or out-of-range port are all refused.
 *
 * @param text The Host field's value (or `:authority`).
 * @returns Whether it is a valid host and optional port.
 *
 * @example
 * ```ts
 * import { isValidHost } from "./host.ts";
 * import { equal } from "node:assert/strict";
 * equal(isValidHost("example.com"), true);
 * equal(isValidHost("example.com:8443"), true);
 * equal(isValidHost("[2001:db8::1]:443"), true);
 * equal(isValidHost("victim.example/admin?"), false);
 * equal(isValidHost("a@b"), false);
 * equal(isValidHost("example.com:99999"), false);
 * ```
 */
export function isValidHost(text: string): boolean {
  let host = text;
  let port: string | null = null;
  if (text.charCodeAt(0) === 0x5b) {
    const close = text.indexOf("]");
    if (close < 0) return false;
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (rest.charCodeAt(0) !== 0x3a) return false;
      port = rest.slice(1);
    }
    if (!isIPv6(text.slice(1, close))) return false;
  } else {
    const colon = text.indexOf(":");
    if (colon >= 0) {
      host = text.slice(0, colon);
      port = text.slice(colon + 1);
    }
    if (!REG_NAME.test(host)) return false;
  }
  return port === null || (PORT.test(port) && Number(port) <= 65_535);
}
