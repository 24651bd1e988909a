/**
 * HTTP semantics on HTTP/2 field lists (RFC 9113 §8): pseudo-header rules,
 * field validity, connection-specific fields, and the conversion between flat
 * field lists (`[name, value, name, value, …]`) and Web `Headers`.
 *
 * @module
 */

import { ErrorCode } from "./constants.ts";
import { StreamError } from "./errors.ts";

/** Regular fields as name/value pairs, ready to initialize `Headers`, `Request` or `Response`. */
export type FieldPairs = Array<[string, string]>;

/** The pseudo-headers and fields of a request, checked. */
export interface RequestHead {
  /** `:method`. */
  method: string;
  /** `:scheme`; empty for a plain CONNECT. */
  scheme: string;
  /** `:authority`, or the Host header when `:authority` is absent. */
  authority: string;
  /** `:path`; empty for a plain CONNECT. */
  path: string;
  /** `:protocol` of an extended CONNECT (RFC 8441), else `null`. */
  protocol: string | null;
  /** The regular fields (cookie crumbs joined, §8.2.3). */
  headers: FieldPairs;
  /** Whether a `host` field is among them. */
  hasHost: boolean;
  /** The declared content-length, or -1. */
  contentLength: number;
}

/** The status and fields of a response, checked. */
export interface ResponseHead {
  /** `:status`. */
  status: number;
  /** The regular fields. */
  headers: FieldPairs;
  /** The declared content-length, or -1. */
  contentLength: number;
}

/**
 * Statuses whose responses have no body (RFC 9110 §6.4.1, §15.3.5-6, §15.4.5).
 *
 * @example
 * ```ts
 * import { NULL_BODY_STATUS } from "./message.ts";
 * import { equal } from "node:assert/strict";
 * equal(NULL_BODY_STATUS.has(304), true);
 * ```
 */
export const NULL_BODY_STATUS: ReadonlySet<number> = new Set([204, 205, 304]);

/**
 * Fields that are connection-specific in HTTP/1.1 and therefore malformed in
 * HTTP/2 (RFC 9113 §8.2.2); `te` is allowed only as `trailers`.
 */
export const CONNECTION_SPECIFIC_FIELDS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

// §8.2.1: names MUST NOT contain 0x00-0x20, 0x41-0x5a (upper case), 0x7f-0xff or a colon;
// beyond that a field name is an RFC 9110 §5.1 token, which is what Web Headers accept.
const INVALID_NAME = /[^!#$%&'*+\-.^_`|~0-9a-z]/;
// §8.2.1: values MUST NOT contain NUL, LF or CR, nor start or end with SP or HTAB; other
// controls are invalid in RFC 9110 §5.5 and "MAY" be malformed too. They are: Deno.serve
// panics (and the whole process dies) on a response header value holding one.
// deno-lint-ignore no-control-regex
const INVALID_VALUE = /[\0-\x08\x0a-\x1f\x7f]|^[ \t]|[ \t]$/;
// §8.3.1 forbids userinfo in :authority; RFC 3986 §3.2 allows only host and port. Any
// "@", "/", "?" or "#" would change the host or path of the URL built from it.
const INVALID_AUTHORITY = /[^A-Za-z0-9\-._~%!$&'()*+,;=:[\]]/;
// RFC 3986 §3.1: a scheme is a letter followed by letters, digits, "+", "-" or ".".
const VALID_SCHEME = /^[A-Za-z][A-Za-z0-9+\-.]*$/;

function malformed(streamId: number, message: string): StreamError {
  return new StreamError(streamId, ErrorCode.PROTOCOL_ERROR, `Malformed message: ${message}`);
}

/**
 * Checks a regular field (not a pseudo-header) against RFC 9113 §8.2.
 *
 * @param streamId The stream, for the error.
 * @param name The field name.
 * @param value The field value.
 * @throws {StreamError} PROTOCOL_ERROR when the field is malformed.
 */
function checkRegularField(streamId: number, name: string, value: string): void {
  if (name.length === 0 || INVALID_NAME.test(name)) {
    throw malformed(streamId, `invalid field name ${JSON.stringify(name)}`);
  }
  if (INVALID_VALUE.test(value)) throw malformed(streamId, `invalid value of ${name}`);
  if (CONNECTION_SPECIFIC_FIELDS.has(name)) {
    throw malformed(streamId, `connection-specific field ${name}`);
  }
  if (name === "te" && value !== "trailers") throw malformed(streamId, "te other than trailers");
}

/** Regular fields collected from a field list, with what the message rules need. */
interface Collected {
  pairs: FieldPairs;
  contentLength: number;
  host: string | null;
}

/**
 * Collects the regular fields from index `start` as pairs, checking each.
 * Cookie crumbs are joined with "; " (RFC 9113 §8.2.3); content-length is
 * checked as it goes by.
 */
function collectFields(streamId: number, fields: string[], start: number): Collected {
  const pairs: FieldPairs = [];
  let cookie: string | null = null;
  let contentLength = -1;
  let host: string | null = null;
  for (let i = start; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      throw malformed(streamId, `pseudo-header ${name} after fields`);
    }
    checkRegularField(streamId, name, value);
    if (name === "cookie") {
      cookie = cookie === null ? value : `${cookie}; ${value}`;
      continue;
    }
    if (name === "content-length") {
      contentLength = parseContentLength(streamId, value, contentLength);
    } else if (name === "host") host = value;
    pairs.push([name, value]);
  }
  if (cookie !== null) pairs.push(["cookie", cookie]);
  return { pairs, contentLength, host };
}

/** Parses one content-length value; repeats must agree (RFC 9110 §8.6). */
function parseContentLength(streamId: number, value: string, previous: number): number {
  let length = -1;
  for (const part of value.split(",")) {
    const text = part.trim();
    if (!/^\d{1,15}$/.test(text) || (length >= 0 && Number(text) !== length)) {
      throw malformed(streamId, `invalid content-length ${JSON.stringify(value)}`);
    }
    length = Number(text);
  }
  if (previous >= 0 && previous !== length) {
    throw malformed(streamId, `conflicting content-length ${JSON.stringify(value)}`);
  }
  return length;
}

/**
 * Checks the field list of a request header block (RFC 9113 §8.3.1, §8.2) and
 * splits it into pseudo-headers and `Headers`.
 *
 * @param streamId The stream, for errors.
 * @param fields The decoded flat field list.
 * @param allowExtendedConnect Whether we advertised SETTINGS_ENABLE_CONNECT_PROTOCOL.
 * @returns The checked request head.
 * @throws {StreamError} PROTOCOL_ERROR when the request is malformed (§8.1.1).
 *
 * @example
 * ```ts
 * import { parseRequestHead } from "./message.ts";
 * import { equal } from "node:assert/strict";
 * const head = parseRequestHead(1, [
 *   ":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", "/foo",
 *   "accept", "text/plain",
 * ]);
 * equal(head.path, "/foo");
 * equal(new Headers(head.headers).get("accept"), "text/plain");
 * ```
 */
export function parseRequestHead(
  streamId: number,
  fields: string[],
  allowExtendedConnect = false,
): RequestHead {
  let method: string | null = null;
  let scheme: string | null = null;
  let authority: string | null = null;
  let path: string | null = null;
  let protocol: string | null = null;
  let i = 0;
  for (; i < fields.length && fields[i]!.charCodeAt(0) === 0x3a; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    // §8.3: a pseudo-header repeated, unknown, or a response one is malformed.
    switch (name) {
      case ":method":
        if (method !== null) throw malformed(streamId, "duplicate :method");
        method = value;
        break;
      case ":scheme":
        if (scheme !== null) throw malformed(streamId, "duplicate :scheme");
        scheme = value;
        break;
      case ":authority":
        if (authority !== null) throw malformed(streamId, "duplicate :authority");
        authority = value;
        break;
      case ":path":
        if (path !== null) throw malformed(streamId, "duplicate :path");
        path = value;
        break;
      case ":protocol":
        if (protocol !== null) throw malformed(streamId, "duplicate :protocol");
        protocol = value;
        break;
      default:
        throw malformed(streamId, `pseudo-header ${name} in a request`);
    }
    if (INVALID_VALUE.test(value)) throw malformed(streamId, `invalid value of ${name}`);
  }
  const collected = collectFields(streamId, fields, i);
  const headers = collected.pairs;
  if (method === null || method === "") throw malformed(streamId, "missing :method");
  if (protocol !== null) {
    // RFC 8441 §4: :protocol only on CONNECT, only when the server allowed it.
    if (!allowExtendedConnect) throw malformed(streamId, ":protocol not enabled");
    if (method !== "CONNECT") throw malformed(streamId, ":protocol without CONNECT");
  }
  const host = collected.host;
  if (method === "CONNECT" && protocol === null) {
    // §8.5: CONNECT carries :authority only.
    if (scheme !== null || path !== null) {
      throw malformed(streamId, "CONNECT with :scheme or :path");
    }
    if (authority === null) throw malformed(streamId, "CONNECT without :authority");
    if (INVALID_AUTHORITY.test(authority)) throw malformed(streamId, "invalid :authority");
    return {
      method,
      scheme: "",
      authority,
      path: "",
      protocol,
      headers,
      hasHost: collected.host !== null,
      contentLength: collected.contentLength,
    };
  }
  if (scheme === null || scheme === "") throw malformed(streamId, "missing :scheme");
  if (!VALID_SCHEME.test(scheme)) throw malformed(streamId, "invalid :scheme");
  if (path === null || path === "") throw malformed(streamId, "missing or empty :path");
  // §8.3.1: http(s) paths start with "/", except "*" for OPTIONS.
  if (path.charCodeAt(0) !== 0x2f && !(path === "*" && method === "OPTIONS")) {
    throw malformed(streamId, `invalid :path ${JSON.stringify(path)}`);
  }
  if (authority !== null && host !== null && host !== authority) {
    throw malformed(streamId, "host differs from :authority");
  }
  const effectiveAuthority = authority ?? host ?? "";
  if (INVALID_AUTHORITY.test(effectiveAuthority)) throw malformed(streamId, "invalid :authority");
  return {
    method,
    scheme,
    authority: effectiveAuthority,
    path,
    protocol,
    headers,
    hasHost: collected.host !== null,
    contentLength: collected.contentLength,
  };
}

/**
 * Checks the field list of a response header block (RFC 9113 §8.3.2).
 *
 * @param streamId The stream, for errors.
 * @param fields The decoded flat field list.
 * @returns The checked response head; `status` may be 1xx (interim).
 * @throws {StreamError} PROTOCOL_ERROR when the response is malformed.
 *
 * @example
 * ```ts
 * import { parseResponseHead } from "./message.ts";
 * import { equal } from "node:assert/strict";
 * const head = parseResponseHead(1, [":status", "204", "x-a", "1"]);
 * equal(head.status, 204);
 * ```
 */
export function parseResponseHead(streamId: number, fields: string[]): ResponseHead {
  let status: string | null = null;
  let i = 0;
  for (; i < fields.length && fields[i]!.charCodeAt(0) === 0x3a; i += 2) {
    if (fields[i] !== ":status") {
      throw malformed(streamId, `pseudo-header ${fields[i]} in a response`);
    }
    if (status !== null) throw malformed(streamId, "duplicate :status");
    status = fields[i + 1]!;
  }
  // RFC 9110 §15: 100 to 599; a Response cannot even be built with another (a RangeError).
  if (status === null || !/^[1-5]\d\d$/.test(status)) throw malformed(streamId, "invalid :status");
  // §8.6: HTTP/2 has no 101 Switching Protocols.
  if (status === "101") throw malformed(streamId, ":status 101");
  const collected = collectFields(streamId, fields, i);
  return {
    status: Number(status),
    headers: collected.pairs,
    contentLength: collected.contentLength,
  };
}

/**
 * Checks a trailer block: no pseudo-headers (RFC 9113 §8.1).
 *
 * @param streamId The stream, for errors.
 * @param fields The decoded flat field list.
 * @returns The trailers as `Headers`.
 * @throws {StreamError} PROTOCOL_ERROR when the trailers are malformed.
 *
 * @example
 * ```ts
 * import { parseTrailers } from "./message.ts";
 * import { equal } from "node:assert/strict";
 * equal(parseTrailers(1, ["grpc-status", "0"]).get("grpc-status"), "0");
 * ```
 */
export function parseTrailers(streamId: number, fields: string[]): Headers {
  return new Headers(collectFields(streamId, fields, 0).pairs);
}

/**
 * Appends the fields of `headers` to a flat field list, leaving out the
 * connection-specific ones HTTP/2 forbids (RFC 9113 §8.2.2) and any listed in
 * `skip`. Each `set-cookie` stays a field of its own.
 *
 * @param headers The Web headers.
 * @param out The flat list to append to.
 * @param skip More names to leave out (lower case).
 * @returns `out`.
 *
 * @example
 * ```ts
 * import { appendHeaderFields } from "./message.ts";
 * import { deepEqual } from "node:assert/strict";
 * const out = appendHeaderFields(
 *   new Headers({ "x-a": "1", connection: "close" }),
 *   [":status", "200"],
 * );
 * deepEqual(out, [":status", "200", "x-a", "1"]);
 * ```
 */
export function appendHeaderFields(
  headers: Headers,
  out: string[],
  skip?: ReadonlySet<string>,
): string[] {
  // forEach, not for…of: no iterator and result objects per field. It yields
  // each set-cookie on its own (Fetch standard).
  headers.forEach((value, name) => {
    if (CONNECTION_SPECIFIC_FIELDS.has(name) || skip?.has(name)) return;
    if (name === "te" && value !== "trailers") return;
    out.push(name, value);
  });
  return out;
}
