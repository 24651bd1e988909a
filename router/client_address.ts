/**
 * Who the client is behind trusted proxies. Each proxy appends the address
 * of its own peer to `X-Forwarded-For` (and an element to `Forwarded`, RFC
 * 7239 §4), so only entries appended by a trusted proxy can be believed: the
 * client is the rightmost entry that is not itself a trusted proxy, walking
 * from the router's own peer leftwards. Everything left of it was written by
 * the client and is dropped, so that the leftmost entry the backend gets is
 * the client.
 *
 * @module
 */

/** Whether an address (IPv4 or IPv6, no brackets) is a trusted proxy. */
export type TrustedProxies = (address: string) => boolean;

function parseIPv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  // No leading zeros: `010` reads as octal to some parsers.
  const bytes = parts.map((p) => (/^(0|[1-9]\d{0,2})$/.test(p) ? Number(p) : 256));
  return bytes.every((b) => b < 256) ? bytes : null;
}

/**
 * Parses an IP address into 16 bytes (IPv4 as IPv4-mapped IPv6), or `null`.
 *
 * @param text An IPv4 address (`192.0.2.1`) or an IPv6 one without brackets (`2001:db8::1`).
 * @returns Its bytes, or `null` when it is not an address.
 *
 * @example
 * ```ts
 * import { parseIP } from "./client_address.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 * deepEqual(parseIP("192.0.2.1")?.slice(12), [192, 0, 2, 1]);
 * equal(parseIP("::1")?.[15], 1);
 * equal(parseIP("unknown"), null);
 * ```
 */
export function parseIP(text: string): number[] | null {
  const v4 = parseIPv4(text);
  if (v4) return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4];
  if (!text.includes(":")) return null;
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const embedded = parseIPv4(text.slice(lastColon + 1));
  if (embedded) {
    head = text.slice(0, lastColon + 1) + "0:0";
    tail = embedded;
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const group = (s: string) => (s === "" ? [] : s.split(":"));
  const left = group(halves[0]!);
  const right = halves.length === 2 ? group(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const words = [...left, ...Array(missing).fill("0"), ...right];
  const bytes: number[] = [];
  for (const word of words) {
    if (!/^[0-9a-f]{1,4}$/i.test(word)) return null;
    const n = parseInt(word, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/**
 * Builds a matcher for trusted proxies from IP addresses and CIDR ranges.
 *
 * @param list Addresses (`10.0.0.1`, `::1`) or ranges (`10.0.0.0/8`, `fd00::/8`).
 * @returns A function telling whether an address is in the list.
 * @throws {TypeError} On an entry that is not an address or range.
 *
 * @example
 * ```ts
 * import { trustedProxyMatcher } from "./client_address.ts";
 * import { equal } from "node:assert/strict";
 * const trusted = trustedProxyMatcher(["10.0.0.0/8", "::1"]);
 * equal(trusted("10.1.2.3"), true);
 * equal(trusted("11.0.0.1"), false);
 * equal(trusted("::1"), true);
 * ```
 */
export function trustedProxyMatcher(list: readonly string[]): TrustedProxies {
  if (list.length === 0) return () => false;
  const ranges = list.map((entry) => {
    const [address, prefixText] = entry.split("/");
    const bytes = parseIP(address!);
    const isV4 = parseIPv4(address!) !== null;
    const prefix = prefixText === undefined ? 128 : Number(prefixText) + (isV4 ? 96 : 0);
    if (
      bytes === null || !(prefix >= 0 && prefix <= 128) ||
      (prefixText !== undefined && !/^\d+$/.test(prefixText))
    ) {
      throw new TypeError(`Invalid trusted proxy: ${JSON.stringify(entry)}`);
    }
    return { bytes, prefix };
  });
  return (address: string) => {
    const bytes = parseIP(address);
    if (bytes === null) return false;
    return ranges.some((range) => {
      for (let bit = 0; bit < range.prefix; bit += 8) {
        const bits = Math.min(8, range.prefix - bit);
        const mask = (0xff << (8 - bits)) & 0xff;
        if ((bytes[bit >> 3]! & mask) !== (range.bytes[bit >> 3]! & mask)) return false;
      }
      return true;
    });
  };
}

/**
 * The address in one hop's entry, or `null` when it is not one: `192.0.2.1`,
 * `2001:db8::1`, with a port (`192.0.2.1:4711`, `[2001:db8::1]:4711`) as
 * some balancers write it. `unknown`, obfuscated names (`_x`, RFC 7239 §6.3)
 * and anything malformed are not addresses.
 */
function entryAddress(entry: string): string | null {
  let address = entry;
  if (address.startsWith("[")) {
    const close = address.indexOf("]");
    const rest = address.slice(close + 1);
    if (close < 0 || (rest !== "" && !/^:\d{1,5}$/.test(rest))) return null;
    address = address.slice(1, close);
    return address.includes(":") && parseIP(address) !== null ? address.toLowerCase() : null;
  }
  const colon = address.indexOf(":");
  // One colon: IPv4 with a port; more: IPv6 without brackets (and so without a port).
  if (colon >= 0 && colon === address.lastIndexOf(":")) {
    if (!/^\d{1,5}$/.test(address.slice(colon + 1))) return null;
    address = address.slice(0, colon);
    return parseIPv4(address) !== null ? address : null;
  }
  return parseIP(address) !== null ? address.toLowerCase() : null;
}

/**
 * The `X-Forwarded-For` to send: the client (the rightmost address that is
 * not a trusted proxy), then the trusted hops after it, then `peer`. An entry
 * that is not an address ends the walk: the hop to its right, which a trusted
 * proxy vouched for, is then the client. Everything further left was written
 * by the client and is dropped.
 *
 * @param forwardedFor The peer's `X-Forwarded-For`, or `null` when it sent none.
 * @param peer The router's own peer (a trusted proxy, or the walk would not start).
 * @param trusted Which addresses are trusted proxies.
 * @returns The value to send; its first entry is the client.
 *
 * @example
 * ```ts
 * import { forwardedForChain, trustedProxyMatcher } from "./client_address.ts";
 * import { equal } from "node:assert/strict";
 * const trusted = trustedProxyMatcher(["10.0.0.0/8"]);
 * // The client wrote 6.6.6.6; the balancer 10.0.0.2 appended the client's address.
 * equal(forwardedForChain("6.6.6.6, 203.0.113.9", "10.0.0.2", trusted), "203.0.113.9, 10.0.0.2");
 * equal(forwardedForChain("203.0.113.9, 10.0.0.7", "10.0.0.2", trusted), "203.0.113.9, 10.0.0.7, 10.0.0.2");
 * equal(forwardedForChain("6.6.6.6, unknown", "10.0.0.2", trusted), "10.0.0.2");
 * ```
 */
export function forwardedForChain(
  forwardedFor: string | null,
  peer: string,
  trusted: TrustedProxies,
): string {
  let chain = peer;
  if (forwardedFor === null) return chain;
  // From the right, without splitting the whole field.
  let end = forwardedFor.length;
  while (end >= 0) {
    const comma = forwardedFor.lastIndexOf(",", end - 1);
    const address = entryAddress(forwardedFor.slice(comma + 1, end).trim());
    if (address === null) break;
    chain = `${address}, ${chain}`;
    if (!trusted(address) || comma < 0) break;
    end = comma;
  }
  return chain;
}

/**
 * The `Forwarded` field to send (RFC 7239), by the same rule as
 * {@linkcode forwardedForChain}: elements left of the client's are dropped,
 * and an element for `peer` is appended (§4). Elements are split at commas
 * outside quoted strings; the node of each is its `for` parameter.
 *
 * @param forwarded The peer's `Forwarded` (a trusted proxy's).
 * @param peer The router's own peer.
 * @param trusted Which addresses are trusted proxies.
 * @returns The value to send.
 *
 * @example
 * ```ts
 * import { forwardedChain, trustedProxyMatcher } from "./client_address.ts";
 * import { equal } from "node:assert/strict";
 * const trusted = trustedProxyMatcher(["10.0.0.0/8"]);
 * equal(
 *   forwardedChain('for=6.6.6.6, for="203.0.113.9:4711";proto=https', "10.0.0.2", trusted),
 *   'for="203.0.113.9:4711";proto=https, for=10.0.0.2',
 * );
 * equal(forwardedChain("for=::1", "::1", trusted), 'for="[::1]"');
 * ```
 */
export function forwardedChain(forwarded: string, peer: string, trusted: TrustedProxies): string {
  const elements = splitElements(forwarded);
  let first = elements.length;
  while (first > 0) {
    const address = forNode(elements[first - 1]!);
    if (address === null) break;
    first--;
    if (!trusted(address)) break;
  }
  // RFC 7239 §6: an IPv6 node is bracketed, and so quoted.
  const node = peer.includes(":") ? `for="[${peer}]"` : `for=${peer}`;
  return [...elements.slice(first), node].join(", ");
}

/**
 * The `X-Forwarded-For` a `Forwarded` field amounts to: the `for` node of
 * each element, `unknown` where an element names no address.
 *
 * @param forwarded A `Forwarded` value (RFC 7239).
 * @returns The addresses, comma-separated.
 *
 * @example
 * ```ts
 * import { forwardedForOf } from "./client_address.ts";
 * import { equal } from "node:assert/strict";
 * equal(forwardedForOf('for=192.0.2.1;proto=https, for="[2001:db8::1]:80", for=_x'),
 *   "192.0.2.1, 2001:db8::1, unknown");
 * ```
 */
export function forwardedForOf(forwarded: string): string {
  return splitElements(forwarded).map((element) => forNode(element) ?? "unknown").join(", ");
}

/** The elements of a `Forwarded` value: commas inside quoted strings do not split. */
function splitElements(value: string): string[] {
  const elements: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const char = value[i];
    if (quoted && char === "\\") i++;
    else if (char === '"') quoted = !quoted;
    else if (char === "," && !quoted) {
      elements.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  elements.push(value.slice(start).trim());
  return elements;
}

/** RFC 7239 §4: `pair *( ";" pair )`, a pair `token "=" ( token / quoted-string )`. */
const PAIR = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)=([!#$%&'*+.^_`|~0-9A-Za-z-]+|"(?:[^"\\]|\\.)*")$/;

/** The address an element's `for` names, or `null` (none, `unknown`, obfuscated, malformed). */
function forNode(element: string): string | null {
  let node: string | null = null;
  for (const pair of element.split(";")) {
    const match = PAIR.exec(pair.trim());
    if (match === null) return null;
    if (match[1]!.toLowerCase() !== "for") continue;
    if (node !== null) return null; // Twice: which one?
    const value = match[2]!;
    node = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value;
  }
  return node === null ? null : entryAddress(node);
}

/**
 * The public client's address as far as the router can tell: the peer
 * itself, or behind trusted proxies the rightmost X-Forwarded-For entry that
 * is not a trusted proxy (see {@linkcode forwardedForChain}).
 *
 * @param forwardedFor The request's X-Forwarded-For, if any.
 * @param peer The router's own peer.
 * @param trusted Which addresses are trusted proxies.
 * @returns The client's address.
 *
 * @example
 * ```ts
 * import { clientAddressOf, trustedProxyMatcher } from "./client_address.ts";
 * import { equal } from "node:assert/strict";
 * const trusted = trustedProxyMatcher(["10.0.0.0/8"]);
 * equal(clientAddressOf("6.6.6.6, 203.0.113.9", "10.0.0.2", trusted), "203.0.113.9");
 * equal(clientAddressOf("6.6.6.6", "192.0.2.1", trusted), "192.0.2.1");
 * ```
 */
export function clientAddressOf(
  forwardedFor: string | null,
  peer: string,
  trusted: TrustedProxies,
): string {
  if (forwardedFor === null || !trusted(peer)) return peer;
  const chain = forwardedForChain(forwardedFor, peer, trusted);
  const comma = chain.indexOf(",");
  return comma < 0 ? chain : chain.slice(0, comma);
}
