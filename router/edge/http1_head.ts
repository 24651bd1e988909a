/**
 * The HTTP/1.1 request head, from bytes (RFC 9112 §2-§6, RFC 9110 §5): the
 * request line, the field lines and the rules that decide how the message
 * is framed. Pure: no I/O, so every rule can be tested with exact bytes.
 *
 * Strict where leniency would let two parsers disagree about where a
 * message ends (request smuggling): a body is delimited by one Content-Length
 * of digits or by a Transfer-Encoding ending in `chunked`, never both; bare
 * CR, obs-fold and whitespace before a field's colon are refused.
 *
 * @module
 */

import { isValidHost } from "../host.ts";

/**
 * A request the edge refuses before it reaches the app, with the status to
 * answer (400, 405, 414, 417, 431, 501 or 505); the connection then closes.
 *
 * @example
 * ```ts
 * import { Http1Error } from "./http1_head.ts";
 * import { equal } from "node:assert/strict";
 * equal(new Http1Error(431, "Header section too large").status, 431);
 * ```
 */
export class Http1Error extends Error {
  /** The status of the answer. */
  readonly status: number;

  /**
   * @param status The status of the answer.
   * @param message What was wrong, in one line.
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "Http1Error";
    this.status = status;
  }
}

/** A parsed request head. */
export interface Http1Head {
  /** The method token, as sent (methods are case-sensitive, RFC 9110 §9.1). */
  method: string;
  /**
   * The path and query to serve: the origin-form target, the path of an
   * absolute-form one (`/` when empty), or `*` (OPTIONS only).
   */
  path: string;
  /** The authority of an absolute-form target (RFC 9112 §3.2.2), else `null`. */
  authority: string | null;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: number;
  /** The fields as a flat list, names in lower case: `[name, value, name, value, …]`. */
  fields: string[];
  /** The Host field, if any (checked: `uri-host [":" port]`). */
  host: string | null;
  /** The declared Content-Length, or -1. */
  contentLength: number;
  /** Whether the body is chunked (Transfer-Encoding ends in `chunked`). */
  chunked: boolean;
  /** Whether the connection may carry another request after this one. */
  keepAlive: boolean;
  /** Whether the client waits for `100 Continue` before its body (HTTP/1.1 only). */
  expectContinue: boolean;
  /** Whether the request asks to switch protocols (`Connection: upgrade` and an `Upgrade` field). */
  upgrade: boolean;
}

// RFC 9110 §5.6.2: token = 1*tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 §5.5: field values are VCHAR, obs-text, SP and HTAB; any other control is refused.
// deno-lint-ignore no-control-regex
const INVALID_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
// RFC 9112 §3.2: a request-target is visible ASCII (anything else must be percent-encoded),
// and RFC 3986 §3.5 fragments are not sent.
const INVALID_TARGET = /[^\x21-\x7e]|#/;
const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+\-.]*):\/\/([^/?]*)(.*)$/;
const VERSION = /^HTTP\/\d\.\d$/;
const DIGITS = /^\d{1,15}$/;
// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

const utf8 = new TextDecoder();

/**
 * Decodes octets as ISO-8859-1 (each octet one UTF-16 unit), which is what
 * field values are to `Headers`: the common all-ASCII head takes the native
 * decoder, one with obs-text the slow way.
 */
function latin1(buf: Uint8Array, start: number, end: number): string {
  const text = utf8.decode(buf.subarray(start, end));
  if (!NON_ASCII.test(text)) return text;
  let out = "";
  for (let i = start; i < end; i += 4096) {
    out += String.fromCharCode(...buf.subarray(i, Math.min(end, i + 4096)));
  }
  return out;
}

/**
 * Finds the end of a head: the index just past the empty line
 * (`\r\n\r\n`), searching from `from` (a caller that already searched up to
 * some point passes it less 3, so a boundary split across reads is found).
 * RFC 9112 §2.2 lets a recipient take a bare LF for a line end; this one
 * refuses it, so that no two readers of the head can disagree on its lines.
 *
 * @param buf The read buffer.
 * @param start Where the head starts.
 * @param from Where to start searching (at least `start`).
 * @param end Where the bytes read end.
 * @returns The index after the head, or -1 when it is not complete yet.
 * @throws {Http1Error} 400 for a line feed not preceded by a carriage return.
 *
 * @example
 * ```ts
 * import { findHeadEnd } from "./http1_head.ts";
 * import { equal } from "node:assert/strict";
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\nrest");
 * equal(findHeadEnd(bytes, 0, 0, bytes.length), bytes.length - 4);
 * equal(findHeadEnd(bytes, 0, 0, 20), -1);
 * ```
 */
export function findHeadEnd(buf: Uint8Array, start: number, from: number, end: number): number {
  let i = from;
  while (i < end) {
    const lf = buf.indexOf(10, i);
    if (lf < 0 || lf >= end) return -1;
    if (lf === start || buf[lf - 1] !== 13) throw bad("Bare LF in the request head");
    if (lf - 3 >= start && buf[lf - 2] === 10 && buf[lf - 3] === 13) return lf + 1;
    i = lf + 1;
  }
  return -1;
}

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Whether the bytes begin the HTTP/2 connection preface (RFC 9113 §3.4): a
 * client speaking HTTP/2 with prior knowledge on a plain port.
 *
 * @param buf The read buffer.
 * @param start Where the connection's bytes start.
 * @param end Where the bytes read end.
 * @returns `true` for the whole preface, `false` once a byte differs, `null` to wait for more.
 *
 * @example
 * ```ts
 * import { isHttp2Preface } from "./http1_head.ts";
 * import { equal } from "node:assert/strict";
 * const preface = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
 * equal(isHttp2Preface(preface, 0, preface.length), true);
 * equal(isHttp2Preface(preface, 0, 3), null);
 * equal(isHttp2Preface(new TextEncoder().encode("POST"), 0, 4), false);
 * ```
 */
export function isHttp2Preface(buf: Uint8Array, start: number, end: number): boolean | null {
  const n = Math.min(end - start, PREFACE.length);
  for (let i = 0; i < n; i++) if (buf[start + i] !== PREFACE[i]) return false;
  return n === PREFACE.length ? true : null;
}

/** OWS (RFC 9110 §5.6.3) trimmed; not String.prototype.trim, which also takes NBSP (0xA0). */
function trimOws(text: string): string {
  let a = 0;
  let b = text.length;
  while (a < b && (text.charCodeAt(a) === 32 || text.charCodeAt(a) === 9)) a++;
  while (b > a && (text.charCodeAt(b - 1) === 32 || text.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === text.length ? text : text.slice(a, b);
}

function bad(message: string): Http1Error {
  return new Http1Error(400, message);
}

/**
 * Parses a complete request head: the bytes up to and including the empty
 * line that ends it ({@linkcode findHeadEnd}), leading empty lines skipped by
 * the caller.
 *
 * @param buf The read buffer.
 * @param start Where the request line starts.
 * @param end Where the head ends (after `\r\n\r\n`).
 * @returns The checked head.
 * @throws {Http1Error} 400 for malformed or ambiguous requests, 405 for
 *   CONNECT, TRACE and TRACK, 417 for an unknown expectation, 501 for a
 *   transfer coding other than chunked, 505 for versions other than 1.0
 *   and 1.1.
 *
 * @example
 * ```ts
 * import { parseHead } from "./http1_head.ts";
 * import { equal } from "node:assert/strict";
 * const bytes = new TextEncoder().encode(
 *   "POST /a?b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\n",
 * );
 * const head = parseHead(bytes, 0, bytes.length);
 * equal(head.path, "/a?b");
 * equal(head.host, "example.com");
 * equal(head.contentLength, 5);
 * ```
 */
export function parseHead(buf: Uint8Array, start: number, end: number): Http1Head {
  const text = latin1(buf, start, end - 4);
  const lineEnd = text.indexOf("\r\n");
  const requestLine = lineEnd < 0 ? text : text.slice(0, lineEnd);
  // RFC 9112 §3: method SP request-target SP HTTP-version, single spaces.
  const sp1 = requestLine.indexOf(" ");
  const sp2 = sp1 < 0 ? -1 : requestLine.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || requestLine.indexOf(" ", sp2 + 1) >= 0) {
    throw bad("Malformed request line");
  }
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const versionText = requestLine.slice(sp2 + 1);
  if (!TOKEN.test(method)) throw bad("Malformed method");
  // Compared whole first: the common versions need no match array.
  let minor: number;
  if (versionText === "HTTP/1.1") minor = 1;
  else if (versionText === "HTTP/1.0") minor = 0;
  else if (VERSION.test(versionText)) {
    throw new Http1Error(505, `Only HTTP/1.0 and HTTP/1.1 are served, not ${versionText}`);
  } else throw bad("Malformed HTTP version");
  if (target === "" || INVALID_TARGET.test(target)) throw bad("Malformed request target");
  // Not proxied: CONNECT asks for a tunnel to elsewhere (RFC 9110 §9.3.6), TRACE would echo
  // credentials back (§9.3.8), and a Fetch Request can carry neither.
  if (method === "CONNECT" || method === "TRACE" || method === "TRACK") {
    throw new Http1Error(405, `The router does not serve ${method} requests`);
  }

  const fields: string[] = [];
  let host: string | null = null;
  let hosts = 0;
  let contentLength = -1;
  let codings: string[] | null = null;
  let close = false;
  let keepAliveToken = false;
  let connectionUpgrade = false;
  let upgradeField = false;
  let expectContinue = false;
  let pos = lineEnd < 0 ? text.length : lineEnd + 2;
  while (pos < text.length) {
    const next = text.indexOf("\r\n", pos);
    const line = next < 0 ? text.slice(pos) : text.slice(pos, next);
    pos = next < 0 ? text.length : next + 2;
    const first = line.charCodeAt(0);
    // RFC 9112 §5.2: obs-fold in a request is refused (400).
    if (first === 32 || first === 9) throw bad("Obsolete line folding in a field");
    const colon = line.indexOf(":");
    if (colon <= 0) throw bad("Malformed field line");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) {
      const last = name.charCodeAt(name.length - 1);
      // RFC 9112 §5.1: whitespace between a field name and its colon must be refused.
      throw bad(
        last === 32 || last === 9 ? "Whitespace before a field's colon" : "Malformed field name",
      );
    }
    const value = trimOws(line.slice(colon + 1));
    if (INVALID_VALUE.test(value)) throw bad("Control character in a field value");
    const lower = name.toLowerCase();
    switch (lower) {
      case "host":
        hosts++;
        host = value;
        break;
      case "content-length":
        // RFC 9110 §8.6: digits only; RFC 9112 §6.3: a repeat (even an equal one) is refused.
        if (contentLength >= 0) throw bad("Repeated Content-Length");
        if (!DIGITS.test(value)) throw bad("Malformed Content-Length");
        contentLength = Number(value);
        break;
      case "transfer-encoding":
        codings ??= [];
        for (const part of value.split(",")) {
          const coding = trimOws(part).toLowerCase();
          if (coding !== "") codings.push(coding);
        }
        break;
      case "connection":
        for (const part of value.split(",")) {
          const option = trimOws(part).toLowerCase();
          if (option === "close") close = true;
          else if (option === "keep-alive") keepAliveToken = true;
          else if (option === "upgrade") connectionUpgrade = true;
        }
        break;
      case "upgrade":
        upgradeField = true;
        break;
      case "expect":
        // RFC 9110 §10.1.1: 100-continue is the only expectation; HTTP/1.0 ignores it.
        if (value.toLowerCase() !== "100-continue") {
          throw new Http1Error(417, "Only the 100-continue expectation is supported");
        }
        expectContinue = minor === 1;
        break;
    }
    fields.push(lower, value);
  }

  // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host; any Host must be valid.
  if (hosts > 1) throw bad("More than one Host field");
  if (hosts === 0 && minor === 1) throw bad("Missing Host field");
  if (host !== null && !isValidHost(host)) throw bad("Invalid Host field");

  let chunked = false;
  if (codings !== null) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
    if (minor === 0) throw bad("Transfer-Encoding in an HTTP/1.0 request");
    // RFC 9112 §6.3: both is a smuggling attempt or a broken client; either way 400.
    if (contentLength >= 0) throw bad("Both Content-Length and Transfer-Encoding");
    // RFC 9112 §6.3: chunked must be the final coding, and applied once (§6.1).
    if (codings.at(-1) !== "chunked" || codings.indexOf("chunked") !== codings.length - 1) {
      throw bad("Transfer-Encoding does not end in chunked");
    }
    if (codings.length > 1) {
      throw new Http1Error(501, `Transfer coding ${codings[0]} is not supported`);
    }
    chunked = true;
  }

  // RFC 9112 §3.2: origin-form, absolute-form (its host wins over Host, §3.2.2; its scheme
  // is ignored: the listener decides), asterisk-form for OPTIONS only.
  let path = target;
  let authority: string | null = null;
  if (target === "*") {
    if (method !== "OPTIONS") throw bad("Asterisk-form target without OPTIONS");
  } else if (target.charCodeAt(0) !== 0x2f) {
    const absolute = ABSOLUTE_FORM.exec(target);
    const scheme = absolute?.[1]?.toLowerCase();
    if (absolute === null || (scheme !== "http" && scheme !== "https")) {
      throw bad("Malformed request target");
    }
    authority = absolute[2]!;
    if (!isValidHost(authority)) throw bad("Invalid authority in the request target");
    const rest = absolute[3]!;
    path = rest === "" ? "/" : rest.charCodeAt(0) === 0x3f ? `/${rest}` : rest;
  }

  return {
    method,
    path,
    authority,
    minor,
    fields,
    host,
    contentLength,
    chunked,
    keepAlive: !close && (minor === 1 || keepAliveToken),
    expectContinue,
    upgrade: connectionUpgrade && upgradeField,
  };
}
