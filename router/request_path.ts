/**
 * The path a request is routed by and forwarded with: the public path made
 * canonical, so that the router's route table and the backend's framework
 * read the same path. Octets of unreserved characters are decoded and other
 * escapes get upper-case hex (RFC 3986 §6.2.2.1-2), dot segments are removed
 * (§5.2.4, `%2e` included), and encodings that frameworks read differently
 * are refused instead of guessed at.
 *
 * @module
 */

/** Why a path was refused: the router answers 400 and never forwards it. */
export class InvalidPathError extends Error {
  /** What the path has that is refused (`an encoded slash (%2F)`). */
  readonly reason: string;

  /** @param reason What the path has that is refused. */
  constructor(reason: string) {
    super(`The path has ${reason}`);
    this.name = "InvalidPathError";
    this.reason = reason;
  }
}

const HEX = "0123456789ABCDEF";

/** The value of a hex digit's char code, or -1. */
function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(byte: number): boolean {
  const lower = byte | 0x20;
  return (lower >= 0x61 && lower <= 0x7a) || (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e;
}

/**
 * Printable ASCII that a WHATWG URL parser percent-encodes in a path (its
 * path percent-encode set): encoded here too, so that the backend, which
 * parses the forwarded path as a URL, sees it unchanged.
 */
function isPathEncoded(code: number): boolean {
  return code === 0x22 || code === 0x3c || code === 0x3e || code === 0x60 || code === 0x7b ||
    code === 0x7d;
}

/** An escaped `%` that, decoded once more, is an escape again. */
const DOUBLE_ENCODING = /%25[0-9A-Fa-f]{2}/;

/** UTF-8 that may not stand: overlong forms (`%C0%AF` for `/`), surrogates, stray bytes. */
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Where a path starting at `start` ends: at its query, its fragment or the end of `text`. */
function pathEnd(text: string, start: number): number {
  const end = text.length;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x3f || code === 0x23) return i;
  }
  return end;
}

/** Whether a char code after `.` or `..` makes it a dot segment (the end is -1). */
function endsDotSegment(code: number): boolean {
  return code === -1 || code === 0x2f || code === 0x3f || code === 0x23 || code === 0x3b;
}

/**
 * The one scan over a path that needs no change (no `%`, no dot segment,
 * nothing to encode): returns where it ends (its query, its fragment or the
 * end), or -1 when it needs the slow way. Throws on what is refused outright.
 */
function canonicalEnd(text: string, start: number): number {
  const end = text.length;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x2f) {
      const next = i + 1 < end ? text.charCodeAt(i + 1) : -1;
      if (next === 0x2f) return -1; // `//`: merged below.
      // A segment `.` or `..` (or `.;x`, `..;x`), but not `.well-known`.
      if (next === 0x2e) {
        const after = i + 2 < end ? text.charCodeAt(i + 2) : -1;
        if (endsDotSegment(after)) return -1;
        if (after === 0x2e && endsDotSegment(i + 3 < end ? text.charCodeAt(i + 3) : -1)) return -1;
      }
    } else if (code === 0x3f || code === 0x23) {
      return i;
    } else if (code === 0x25) {
      return -1;
    } else if (code === 0x5c) {
      throw new InvalidPathError("a backslash");
    } else if (code <= 0x20 || code >= 0x7f || isPathEncoded(code)) {
      return -1;
    }
  }
  return end;
}

/**
 * Makes a path canonical, or refuses it.
 *
 * Refused, as frameworks do not agree on what they mean: an encoded slash
 * (`%2F`), an encoded backslash (`%5C`) or a backslash (some read it as a
 * slash), `%00`, a `%` without two hex digits, a double encoding (`%25`
 * followed by two hex digits: decoded twice, it is another escape), a dot
 * segment with parameters (`..;x`: Tomcat reads `..`), control characters and
 * escapes of octets that are not UTF-8 (overlong forms such as `%C0%AF` for
 * `/`). Empty segments are merged (`//admin` is `/admin`), as some frameworks
 * merge slashes and nginx does by default.
 *
 * A path without `%`, dot segments or characters to encode costs one scan
 * and comes back as it is.
 *
 * @param path A path (from a `?` or `#` on, it is left out); `""` reads as `/`.
 * @returns The canonical path: what the routes match and the backend gets.
 * @throws {InvalidPathError} When the path is refused.
 *
 * @example
 * ```ts
 * import { InvalidPathError, normalizePath } from "./request_path.ts";
 * import { equal, throws } from "node:assert/strict";
 * equal(normalizePath("/%61dmin"), "/admin");
 * equal(normalizePath("/a/../admin"), "/admin");
 * equal(normalizePath("/a/%2e%2E/admin/"), "/admin/");
 * equal(normalizePath("/caf%c3%a9"), "/caf%C3%A9");
 * equal(normalizePath("//admin//x"), "/admin/x");
 * throws(() => normalizePath("/%2Fadmin"), InvalidPathError);
 * throws(() => normalizePath("/a\\b"), InvalidPathError);
 * ```
 */
export function normalizePath(path: string): string {
  return pathFrom(path, 0);
}

/**
 * The canonical path ({@linkcode normalizePath}) of a request's URL, read
 * from the URL as the client wrote it: `request.url` keeps the path raw,
 * where a parsed `URL` has already resolved dot segments and turned
 * backslashes into slashes.
 *
 * @param url A request's URL (`scheme://authority/path?query`).
 * @returns Its canonical path, `/` when it has none.
 * @throws {InvalidPathError} When the path is refused.
 *
 * @example
 * ```ts
 * import { InvalidPathError, requestPath } from "./request_path.ts";
 * import { equal, throws } from "node:assert/strict";
 * equal(requestPath("http://example.com/a/../b?c=/../d"), "/b");
 * equal(requestPath("http://example.com?q"), "/");
 * throws(() => requestPath("http://example.com/a\\b"), InvalidPathError);
 * ```
 */
export function requestPath(url: string): string {
  const authority = url.indexOf("://");
  // The authority ends where a URL parser ends it: at / ? # or a backslash.
  let start = authority < 0 ? 0 : authority + 3;
  const end = url.length;
  while (start < end) {
    const code = url.charCodeAt(start);
    if (code === 0x2f || code === 0x3f || code === 0x23 || code === 0x5c) break;
    start++;
  }
  return pathFrom(url, start);
}

/** The canonical form of the path that starts at `text[start]`. */
function pathFrom(text: string, start: number): string {
  const first = start < text.length ? text.charCodeAt(start) : -1;
  if (first === -1 || first === 0x3f || first === 0x23) return "/";
  if (first === 0x5c) throw new InvalidPathError("a backslash");
  if (first !== 0x2f) throw new InvalidPathError("no leading slash");
  const end = canonicalEnd(text, start);
  if (end >= 0) return start === 0 && end === text.length ? text : text.slice(start, end);
  return rebuild(text.slice(start, pathEnd(text, start)));
}

/** The slow way: decode, encode and check each segment, then remove dot segments. */
function rebuild(path: string): string {
  const segments: string[] = [];
  const end = path.length;
  let start = 1;
  while (start <= end) {
    let stop = path.indexOf("/", start);
    if (stop < 0) stop = end;
    const last = stop === end;
    const segment = canonicalSegment(path, start, stop);
    // Slashes are merged, as nginx does by default: some frameworks read `//admin` as
    // `/admin`, others as it is, so the backend gets the one both agree on.
    if (segment === "" && !last) {
      start = stop + 1;
      continue;
    }
    // RFC 3986 §5.2.4: `.` goes, `..` takes the segment before it; a last dot
    // segment leaves the path ending in a slash.
    if (segment === "." || segment === "..") {
      if (segment === "..") segments.pop();
      if (last) segments.push("");
    } else {
      if (segment.startsWith(".;") || segment.startsWith("..;")) {
        throw new InvalidPathError("a dot segment with parameters (..;)");
      }
      segments.push(segment);
    }
    start = stop + 1;
  }
  return "/" + segments.join("/");
}

/** One segment (`path[start, stop)`, no slash) decoded and encoded canonically. */
function canonicalSegment(path: string, start: number, stop: number): string {
  let out = "";
  // Escaped octets above 0x7f, checked as UTF-8 once their run ends.
  let run: number[] | null = null;
  for (let i = start; i < stop; i++) {
    const code = path.charCodeAt(i);
    if (code === 0x25) {
      const high = i + 2 < stop ? hexValue(path.charCodeAt(i + 1)) : -1;
      const low = high < 0 ? -1 : hexValue(path.charCodeAt(i + 2));
      if (low < 0) throw new InvalidPathError("a % not followed by two hex digits");
      const byte = high * 16 + low;
      i += 2;
      if (byte >= 0x80) {
        (run ??= []).push(byte);
        out += "%" + HEX[high] + HEX[low];
        continue;
      }
      if (run !== null) run = checkUtf8(run);
      if (isUnreserved(byte)) {
        out += String.fromCharCode(byte);
        continue;
      }
      if (byte === 0x2f) throw new InvalidPathError("an encoded slash (%2F)");
      if (byte === 0x5c) throw new InvalidPathError("an encoded backslash (%5C)");
      if (byte === 0x00) throw new InvalidPathError("an encoded NUL (%00)");
      out += "%" + HEX[high] + HEX[low];
      continue;
    }
    if (run !== null) run = checkUtf8(run);
    if (code === 0x5c) throw new InvalidPathError("a backslash");
    if (code <= 0x20 || code === 0x7f) throw new InvalidPathError("a control character or a space");
    if (code > 0x7f) {
      // Unencoded non-ASCII (not valid in a URI, RFC 3986 §2): sent as UTF-8
      // escapes, as a URL parser would. A lone surrogate cannot be.
      const pair = code >= 0xd800 && code <= 0xdbff && i + 1 < stop;
      const char = path.slice(i, pair ? i + 2 : i + 1);
      try {
        out += encodeURIComponent(char);
      } catch {
        throw new InvalidPathError("a lone surrogate (not UTF-8)");
      }
      if (pair) i++;
      continue;
    }
    out += isPathEncoded(code) ? "%" + HEX[code >> 4] + HEX[code & 15] : path[i];
  }
  if (run !== null) checkUtf8(run);
  // Checked on the result: `%25%32%66` becomes `%252f` once `2` and `f` are decoded.
  if (out.includes("%25") && DOUBLE_ENCODING.test(out)) {
    throw new InvalidPathError("a double encoding (%25 followed by two hex digits)");
  }
  return out;
}

/** Throws unless the escaped octets are UTF-8; returns `null` (no run). */
function checkUtf8(run: number[]): null {
  try {
    STRICT_UTF8.decode(new Uint8Array(run));
  } catch {
    throw new InvalidPathError("escaped octets that are not UTF-8");
  }
  return null;
}

/**
 * Why a raw path is refused (an ambiguous encoding, a backslash), or `null`:
 * {@linkcode normalizePath}'s verdict without its result, for a server that
 * checks the path as the client wrote it, before a URL parser changes it.
 *
 * @param path A path as received (a query after it is left out).
 * @returns The reason, or `null` when the path is taken.
 *
 * @example
 * ```ts
 * import { refusedPath } from "./request_path.ts";
 * import { equal } from "node:assert/strict";
 * equal(refusedPath("/a\\b"), "a backslash");
 * equal(refusedPath("/a/b"), null);
 * ```
 */
export function refusedPath(path: string): string | null {
  try {
    normalizePath(path);
    return null;
  } catch (error) {
    if (error instanceof InvalidPathError) return error.reason;
    throw error;
  }
}
