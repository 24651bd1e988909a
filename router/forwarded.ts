/**
 * The fields a proxy adds and removes on the way to a backend: hop-by-hop
 * fields out (RFC 9110 §7.6.1), `Via` in (§7.6.3), and X-Forwarded-* set from
 * what the router saw, trusting a client's own values only when it is a
 * configured trusted proxy, and then, for the client's address, only the
 * entries trusted proxies vouch for (client_address.ts).
 *
 * @module
 */

import { tokens } from "../tunnel/tokens.ts";
import {
  forwardedChain,
  forwardedForChain,
  forwardedForOf,
  type TrustedProxies,
} from "./client_address.ts";

export { trustedProxyMatcher } from "./client_address.ts";

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
 * From a trusted proxy, X-Forwarded-For (or, without it, the `for` nodes of
 * `Forwarded`) is cut to the entries trusted proxies vouch for, so that its
 * first entry is the client; `Forwarded` is cut the same way and gets the
 * peer appended. From anyone else, both are replaced or dropped.
 *
 * @param headers The public request's fields.
 * @param target The public request's target (its scheme and host are forwarded).
 * @param remote The public client's address, when known.
 * @param trusted Which addresses are trusted proxies (their forwarding fields are read).
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
 *   () => false,
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
  trusted: TrustedProxies,
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
  trustedProxies: TrustedProxies,
  named: Set<string> | null,
): ForwardedHead {
  const trusted = remote !== undefined && trustedProxies(remote);
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
  let forwarded: string | null = null;
  // forEach, not for…of: no iterator and result objects per field.
  headers.forEach((value, name) => {
    head.headerBytes += name.length + value.length + 32;
    if (name === "content-length") {
      head.contentLength = value;
      // A list of equal lengths (which HTTP/2 peers may send) goes on as the one length.
      if (value.includes(",")) value = value.split(",")[0]!.trim();
    } else if (name === "upgrade") head.upgrade = value;
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
      else forwarded = value;
      return;
    }
    fields.push(name, value);
  });
  // RFC 9110 §7.6.3: each intermediary appends itself to Via.
  fields.push("via", via === null ? "1.1 ptth" : `${via}, 1.1 ptth`);
  if (remote !== undefined) {
    // The client is the first entry (client_address.ts); anything else, the peer.
    if (!trusted) fields.push("x-forwarded-for", remote);
    else {
      const chain = forwardedFor ?? (forwarded === null ? null : forwardedForOf(forwarded));
      fields.push("x-forwarded-for", forwardedForChain(chain, remote, trustedProxies));
      if (forwarded !== null) {
        fields.push("forwarded", forwardedChain(forwarded, remote, trustedProxies));
      }
    }
  }
  fields.push("x-forwarded-proto", proto ?? target.scheme);
  fields.push("x-forwarded-host", forwardedHost ?? target.host);
  return head;
}
