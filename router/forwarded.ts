/**
 * The fields a proxy adds and removes on the way to a backend: hop-by-hop
 * fields out (RFC 9110 §7.6.1), `Via` in (§7.6.3), and X-Forwarded-* set from
 * what the router saw, trusting a client's own values only when it is a
 * configured trusted proxy.
 *
 * @module
 */

import { tokens } from "../tunnel/tokens.ts";

/**
 * Request fields never forwarded: hop-by-hop ones (RFC 9110 §7.6.1), those
 * HTTP/2 forbids (RFC 9113 §8.2.2), and `host`, which becomes `:authority`.
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "transfer-encoding",
  "upgrade",
  "host",
]);

/** Fields that describe earlier hops: believed only from trusted proxies. */
const FORWARDING: ReadonlySet<string> = new Set([
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "forwarded",
]);

type Matcher = (address: string) => boolean;

function parseIPv4(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : 256));
  return bytes.every((b) => b < 256) ? bytes : null;
}

/** Parses an IP address into 16 bytes (IPv4 as IPv4-mapped IPv6), or `null`. */
function parseIP(text: string): number[] | null {
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
 * import { trustedProxyMatcher } from "./forwarded.ts";
 * import { equal } from "node:assert/strict";
 * const trusted = trustedProxyMatcher(["10.0.0.0/8", "::1"]);
 * equal(trusted("10.1.2.3"), true);
 * equal(trusted("11.0.0.1"), false);
 * equal(trusted("::1"), true);
 * ```
 */
export function trustedProxyMatcher(list: readonly string[]): Matcher {
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

/** Where a public request goes, read from its URL once (URL getters build a new string each call). */
export interface RequestTarget {
  /** The URL itself. */
  url: URL;
  /** The scheme without its colon, a constant for http and https. */
  scheme: string;
  /** The host, with its port if any (`:authority`). */
  host: string;
  /** The path without its query (for routes and logs). */
  pathname: string;
  /** The path and query (`:path`). */
  path: string;
}

/**
 * Reads a request's target from its URL. The scheme of http and https is a
 * constant string: the HPACK encoder then finds it in its tables without
 * hashing a new one.
 *
 * @param url The request's URL.
 * @returns Its scheme, host, pathname and path.
 *
 * @example
 * ```ts
 * import { requestTarget } from "./forwarded.ts";
 * import { equal } from "node:assert/strict";
 * const target = requestTarget(new URL("https://example.com:8443/a?b=1"));
 * equal(target.scheme, "https");
 * equal(target.host, "example.com:8443");
 * equal(target.pathname, "/a");
 * equal(target.path, "/a?b=1");
 * ```
 */
export function requestTarget(url: URL): RequestTarget {
  const protocol = url.protocol;
  const scheme = protocol === "http:"
    ? "http"
    : protocol === "https:"
    ? "https"
    : protocol.slice(0, -1);
  const pathname = url.pathname;
  return { url, scheme, host: url.host, pathname, path: pathname + url.search };
}

/** What {@linkcode forwardedFields} read from a request's header section. */
export interface ForwardedHead {
  /** The fields to send, as a flat list (`x-request-id` left for the caller to add). */
  fields: string[];
  /**
   * The client's header section as RFC 9113 §6.5.2 counts it (name + value +
   * 32 per field), for the header size limit.
   */
  headerBytes: number;
  /** The client's `X-Request-Id`, if any (never forwarded as it is). */
  requestId: string | null;
  /** The client's `Content-Length`, if any. */
  contentLength: string | null;
  /** The client's `Upgrade`, if any (hop-by-hop: never forwarded). */
  upgrade: string | null;
  /** The client's `Connection`, if any (hop-by-hop: never forwarded). */
  connection: string | null;
}

/**
 * The fields to send to the backend, as a flat list: the request's fields
 * minus hop-by-hop ones (and those its `Connection` names), plus `Via` and
 * X-Forwarded-For/-Proto/-Host. The fields the proxy itself needs come back
 * from the same pass, instead of a `Headers.get()` each.
 *
 * @param headers The public request's fields.
 * @param target The public request's target (its scheme and host are forwarded).
 * @param remote The public client's address, when known.
 * @param trusted Whether that client is a trusted proxy (its forwarding fields are kept).
 * @returns The fields, their size, and the fields the proxy reads.
 *
 * @example
 * ```ts
 * import { forwardedFields, requestTarget } from "./forwarded.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 * const head = forwardedFields(
 *   new Headers({ "x-forwarded-for": "6.6.6.6", accept: "*\/*", "x-request-id": "abc" }),
 *   requestTarget(new URL("http://example.com/")),
 *   "192.0.2.1",
 *   false,
 * );
 * deepEqual(head.fields, [
 *   "accept", "*\/*", "via", "1.1 ptth",
 *   "x-forwarded-for", "192.0.2.1", "x-forwarded-proto", "http", "x-forwarded-host", "example.com",
 * ]);
 * equal(head.requestId, "abc");
 * equal(head.headerBytes, "x-forwarded-for".length + 7 + 32 + "accept".length + 3 + 32 + 47);
 * ```
 */
export function forwardedFields(
  headers: Headers,
  target: RequestTarget,
  remote: string | undefined,
  trusted: boolean,
): ForwardedHead {
  const head = collect(headers, target, remote, trusted, null);
  // RFC 9110 §7.6.1: fields named in Connection are hop-by-hop too. Beyond
  // keep-alive and close, which name nothing that is forwarded, that is rare:
  // then the fields are taken again, with those names left out.
  const named = head.connection === null ? null : namedFields(head.connection);
  return named === null ? head : collect(headers, target, remote, trusted, named);
}

/** The field names a Connection value makes hop-by-hop, beyond those always dropped. */
function namedFields(connection: string): Set<string> | null {
  // Made only for a name that survives: `keep-alive` and `close` cost no Set.
  let named: Set<string> | null = null;
  for (const token of tokens(connection)) {
    if (token !== "" && token !== "close" && !HOP_BY_HOP.has(token)) {
      (named ??= new Set()).add(token);
    }
  }
  return named;
}

/** One pass over the fields: {@linkcode forwardedFields} with `named` fields dropped too. */
function collect(
  headers: Headers,
  target: RequestTarget,
  remote: string | undefined,
  trusted: boolean,
  named: Set<string> | null,
): ForwardedHead {
  const head: ForwardedHead = {
    fields: [],
    headerBytes: 0,
    requestId: null,
    contentLength: null,
    upgrade: null,
    connection: null,
  };
  const fields = head.fields;
  let via: string | null = null;
  let forwardedFor: string | null = null;
  let proto: string | null = null;
  let forwardedHost: string | null = null;
  // forEach, not for…of: no iterator and result objects per field.
  headers.forEach((value, name) => {
    head.headerBytes += name.length + value.length + 32;
    if (name === "content-length") head.contentLength = value;
    else if (name === "upgrade") head.upgrade = value;
    else if (name === "connection") head.connection = value;
    else if (name === "x-request-id") {
      head.requestId = value;
      return; // The caller sends its own.
    }
    if (HOP_BY_HOP.has(name) || named?.has(name)) {
      if (name === "te" && value.toLowerCase() === "trailers") fields.push(name, "trailers");
      return;
    }
    if (name === "via") {
      via = value;
      return;
    }
    if (FORWARDING.has(name)) {
      if (!trusted) return; // A client cannot forge earlier hops.
      if (name === "x-forwarded-for") forwardedFor = value;
      else if (name === "x-forwarded-proto") proto = value;
      else if (name === "x-forwarded-host") forwardedHost = value;
      else fields.push(name, value);
      return;
    }
    fields.push(name, value);
  });
  // RFC 9110 §7.6.3: each intermediary appends itself to Via.
  fields.push("via", via === null ? "1.1 ptth" : `${via}, 1.1 ptth`);
  const hop = remote ?? null;
  if (hop !== null || forwardedFor !== null) {
    fields.push("x-forwarded-for", [forwardedFor, hop].filter((v) => v !== null).join(", "));
  }
  fields.push("x-forwarded-proto", proto ?? target.scheme);
  fields.push("x-forwarded-host", forwardedHost ?? target.host);
  return head;
}
