/**
 * An HTTP/1.1 response head from a `Response` (RFC 9112 §4, §6): the status
 * line, the fields less the hop-by-hop ones, `date`, and the framing the
 * body gets: its `content-length` when known, else chunked for HTTP/1.1 or
 * the connection's end for HTTP/1.0. Bytes go into a reusable
 * {@linkcode ByteSink}, so a small response leaves in one write.
 *
 * @module
 */

/**
 * A growable byte buffer that text is written into as ISO-8859-1 (each
 * UTF-16 unit of a field one octet, as `Headers` keeps them).
 *
 * @example
 * ```ts
 * import { ByteSink } from "./http1_response.ts";
 * import { equal } from "node:assert/strict";
 * const sink = new ByteSink(4);
 * sink.text("HTTP/1.1");
 * sink.bytes(new Uint8Array([13, 10]));
 * equal(new TextDecoder().decode(sink.view()), "HTTP/1.1\r\n");
 * ```
 */
export class ByteSink {
  #buf: Uint8Array;
  #length = 0;

  /** @param size The initial capacity. */
  constructor(size: number) {
    this.#buf = new Uint8Array(size);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  /** The capacity. */
  get capacity(): number {
    return this.#buf.length;
  }

  #reserve(n: number): void {
    if (this.#length + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#length + n));
    next.set(this.#buf.subarray(0, this.#length));
    this.#buf = next;
  }

  /** Appends `text`, one octet per UTF-16 unit (all are below 256 in fields). */
  text(text: string): void {
    const n = text.length;
    this.#reserve(n);
    const buf = this.#buf;
    let at = this.#length;
    // The native encoder is right for ASCII, which it says by writing one octet per unit.
    const { read, written } = utf8.encodeInto(text, buf.subarray(at));
    if (read === n && written === n) {
      this.#length = at + n;
      return;
    }
    for (let i = 0; i < n; i++) buf[at++] = text.charCodeAt(i);
    this.#length = at;
  }

  /** Appends a copy of `bytes`. */
  bytes(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /** The bytes written (a view: valid until the next write to the sink). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#length);
  }

  /** Forgets what was written. */
  clear(): void {
    this.#length = 0;
  }
}

const utf8 = new TextEncoder();

/** How a response's body is framed on the wire. */
export interface Framing {
  /** The declared content-length, or -1. */
  length: number;
  /** Whether the body is sent chunked. */
  chunked: boolean;
  /** Whether no body is sent at all (HEAD, 1xx, 204, 304). */
  noBody: boolean;
  /** Whether the connection closes after this response. */
  close: boolean;
}

/** What the response head depends on besides the response. */
export interface ResponseContext {
  /** The request's method. */
  method: string;
  /** The request's HTTP minor version (0 or 1). */
  minor: number;
  /** Whether the connection is to stay open after the response. */
  keepAlive: boolean;
}

/**
 * Fields that belong to one connection (RFC 9110 §7.6.1) and are never
 * copied from a Response; the framing fields are the edge's to write.
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
]);

const DIGITS = /^\d{1,15}$/;

const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  414: "URI Too Long",
  417: "Expectation Failed",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  499: "Client Closed Request",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/**
 * The reason phrase of a status, or `""` for one without a common phrase
 * (RFC 9112 §4: the phrase is optional and clients ignore it).
 *
 * @param status The status code.
 * @returns The phrase.
 *
 * @example
 * ```ts
 * import { reasonPhrase } from "./http1_response.ts";
 * import { equal } from "node:assert/strict";
 * equal(reasonPhrase(404), "Not Found");
 * ```
 */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "";
}

let dateSecond = -1;
let dateText = "";

/**
 * The `date` field's value now (RFC 9110 §6.6.1), made at most once a second.
 *
 * @returns An IMF-fixdate.
 *
 * @example
 * ```ts
 * import { httpDate } from "./http1_response.ts";
 * import { match } from "node:assert/strict";
 * match(httpDate(), /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
 * ```
 */
export function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/**
 * Writes the head of `response` into `sink` and says how its body goes.
 *
 * @param sink Where the head's bytes go.
 * @param status The status (a final one, 200-599).
 * @param headers The response's fields.
 * @param hasBody Whether the Response has a body.
 * @param request What the head depends on in the request and the connection.
 * @param bodyLength The body's length when the edge knows it (its octets are at hand), else -1.
 * @returns The body's framing.
 *
 * @example
 * ```ts
 * import { ByteSink, responseHead } from "./http1_response.ts";
 * import { equal, match } from "node:assert/strict";
 * const sink = new ByteSink(256);
 * const framing = responseHead(sink, 200, new Headers({ "content-length": "2" }), true, {
 *   method: "GET", minor: 1, keepAlive: true,
 * });
 * equal(framing.length, 2);
 * match(new TextDecoder().decode(sink.view()), /^HTTP\/1.1 200 OK\r\ncontent-length: 2\r\n/);
 * ```
 */
export function responseHead(
  sink: ByteSink,
  status: number,
  headers: Headers,
  hasBody: boolean,
  request: ResponseContext,
  bodyLength = -1,
): Framing {
  // RFC 9110 §6.4.1: HEAD, 204 and 304 responses end with their head.
  const noBody = request.method === "HEAD" || status === 204 || status === 304;
  // The head is one string, encoded once. forEach takes a function made once, with
  // its state here: no closure per response.
  fieldsStatus = status;
  fieldsLength = -1;
  fieldsDate = false;
  fieldsText = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
  headers.forEach(addField);
  let text = fieldsText;
  let length = fieldsLength;
  fieldsText = "";
  if (!fieldsDate) text += `date: ${httpDate()}\r\n`;
  let chunked = false;
  let close = !request.keepAlive;
  if (!noBody && length < 0) {
    if (!hasBody) text += "content-length: 0\r\n";
    else if (bodyLength >= 0) {
      length = bodyLength;
      text += `content-length: ${bodyLength}\r\n`;
    } else if (request.minor === 1) {
      chunked = true;
      text += "transfer-encoding: chunked\r\n";
    } // RFC 9112 §6.3: an HTTP/1.0 client reads an unknown length to the connection's end.
    else close = true;
  }
  if (close) text += "connection: close\r\n";
  else if (request.minor === 0) text += "connection: keep-alive\r\n";
  sink.text(`${text}\r\n`);
  return { length: noBody ? -1 : length, chunked, noBody, close };
}

// The state of the head responseHead is writing (it runs to its end before another starts).
let fieldsText = "";
let fieldsStatus = 0;
let fieldsLength = -1;
let fieldsDate = false;

function addField(value: string, name: string): void {
  if (HOP_BY_HOP.has(name)) return;
  if (name === "content-length") {
    // RFC 9110 §8.6: none on a 204; a malformed one is not passed on.
    if (fieldsStatus === 204 || fieldsLength >= 0 || !DIGITS.test(value)) return;
    fieldsLength = Number(value);
  } else if (name === "date") fieldsDate = true;
  fieldsText += `${name}: ${value}\r\n`;
}
