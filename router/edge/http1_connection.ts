/**
 * One HTTP/1.1 connection of the edge (RFC 9112): requests parsed from the
 * bytes, handed to the app as `Request`s, and the answers written back in
 * order.
 *
 * One loop reads the socket, and reads only when something wants the
 * bytes: the next head; the body, while its reader asks for more
 * (backpressure: a handler that does not read stops the client); and, while
 * a request is in flight, a bounded read-ahead, so that a client that leaves
 * aborts its request at once and pipelined requests wait their turn.
 * Deadlines (a head in `headerTimeout`, an idle connection, a read or write
 * that makes no progress in `idleTimeout`) are fields the server's one sweep
 * reads, not timers.
 *
 * @module
 */

import { PrefixedIO } from "../../tunnel/prefixed_io.ts";
import { ChunkedDecoder } from "./http1_chunked.ts";
import {
  findHeadEnd,
  Http1Error,
  type Http1Head,
  isHttp2Preface,
  parseHead,
} from "./http1_head.ts";
import {
  ByteSink,
  type Framing,
  reasonPhrase,
  type ResponseContext,
  responseHead,
} from "./http1_response.ts";
import { Http1Request } from "./edge_request.ts";
import type { EdgeConnection, EdgeContext } from "./connection.ts";
import { type PendingUpgrade, type UpgradedConnection, upgradeOf } from "./upgrade.ts";
import { fixedBodyOf, freeChunk, hasOwnedChunks } from "./proxied_body.ts";
import { refusedPath } from "../request_path.ts";

// Phases of the connection: what the bytes read now are for.
const HEAD = 0; // the next request's head
const BODY = 1; // the current request's body
const WAIT = 2; // nothing: the current request is complete, its answer pending
const LINGER = 3; // nothing: we have answered and closed our side (RFC 9112 §9.6)
const HANDOFF = 4; // the connection belongs to someone else (a WebSocket, HTTP/2)
const CLOSED = 5;

/** The read buffer's size between requests; it grows for a larger head or a chunked body. */
const INITIAL_BUFFER = 4 * 1024;
/** The read buffer's size for chunked bodies and the largest direct body read. */
const BODY_READ_SIZE = 64 * 1024;
/** Unread body octets the connection reads and drops to stay open after an answer. */
const DRAIN_LIMIT = 64 * 1024;
/**
 * After closing our side, how long we read and drop what the client still
 * sends (RFC 9112 §9.6), however much: an upload the answer refused is
 * drained rather than cut with a reset that could destroy the answer.
 */
const LINGER_TIME = 2_000;
/** Larger body chunks are written on their own instead of copied after the head. */
const COPY_LIMIT = 16 * 1024;

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");
const PENDING = Symbol("pending");
const EMPTY_BODY = new Uint8Array(0);
/** Statuses whose answers have no body (RFC 9110 §6.4.1, §15.3.5, §15.4.5). */
const NULL_BODY: ReadonlySet<number> = new Set([204, 205, 304]);
const END_OF_BODY: ReadableStreamReadDoneResult<Uint8Array> = { done: true, value: undefined };

/**
 * The value `promise` settles to if it settles within a microtask hop or
 * two (a body chunk already queued), else PENDING.
 */
function settledOrPending<T>(promise: Promise<T>): Promise<T | typeof PENDING> {
  let settled: T | typeof PENDING = PENDING;
  promise.then((value) => settled = value, nothing);
  return Promise.resolve().then(nothing).then(() => settled);
}

function nothing(): void {}

// Output buffers are taken for the length of one answer and given back: a
// connection between answers holds none.
const sinks: ByteSink[] = [];
function takeSink(): ByteSink {
  return sinks.pop() ?? new ByteSink(COPY_LIMIT + 1024);
}
function giveSink(sink: ByteSink): void {
  sink.clear();
  if (sinks.length < 64 && sink.capacity <= 4 * (COPY_LIMIT + 1024)) sinks.push(sink);
}

/** The socket of a connection: a TCP or TLS connection. */
export type EdgeSocket = Deno.Conn | Deno.TlsConn;

/** What the server tells a connection besides the context. */
export interface Http1Options {
  /** When the first request's head must be complete (ms since the epoch), from accept. */
  firstHeadBy: number;
  /** Takes over a connection that opened with the HTTP/2 preface (plain listeners), or `null`. */
  onHttp2: ((prefix: Uint8Array) => void) | null;
  /** Told once the connection is closed (or handed over and closed by its new owner). */
  onClosed: () => void;
}

/**
 * Serves HTTP/1.1 on one connection.
 *
 * @example Answer one request over a loopback connection
 * ```ts
 * import { Http1Connection } from "./http1_connection.ts";
 * import { equal, match } from "node:assert/strict";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = (listener.addr as Deno.NetAddr).port;
 * const client = await Deno.connect({ hostname: "127.0.0.1", port });
 * const conn = await listener.accept();
 * const { promise: done, resolve: closed } = Promise.withResolvers<void>();
 * new Http1Connection(conn, {
 *   scheme: "http", localAuthority: "127.0.0.1", maxHeaderBytes: 65536,
 *   headerTimeout: 10_000, idleTimeout: 60_000, log: () => {},
 *   handler: (request) => new Response(new URL(request.url).pathname),
 *   onError: () => new Response(null, { status: 500 }),
 * }, { firstHeadBy: Date.now() + 10_000, onHttp2: null, onClosed: closed });
 * await client.write(new TextEncoder().encode(
 *   "GET /hello HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
 * ));
 * let text = "";
 * const buf = new Uint8Array(1024);
 * for (let n; (n = await client.read(buf)) !== null;) text += new TextDecoder().decode(buf.subarray(0, n));
 * match(text, /^HTTP\/1.1 200 OK\r\n/);
 * // A body the app gave whole goes with its length, as Deno.serve sends it.
 * match(text, /\r\ncontent-length: 6\r\n/);
 * equal(text.endsWith("\r\n\r\n/hello"), true);
 * client.close();
 * await done;
 * listener.close();
 * ```
 */
export class Http1Connection implements EdgeConnection {
  #conn: EdgeSocket;
  #ctx: EdgeContext;
  #options: Http1Options;
  #remote: Deno.NetAddr;

  #buf = new Uint8Array(INITIAL_BUFFER);
  #start = 0;
  #end = 0;
  /** How far the search for the head's end got. */
  #scanned = 0;
  #phase = HEAD;
  #served = 0;
  #reading = false;
  #wake: (() => void) | null = null;
  #eof = false;
  #draining = false;
  #closed = false;

  // Deadlines, read by tick(): 0 for none. A read's deadline depends on the phase, which
  // may change while the read waits (a request answered: the connection turns idle).
  #headBy: number;
  #readStarted = 0;
  #writeBy = 0;
  #lingerUntil = 0;
  #idleSince = -1;

  // The exchange in progress (one at a time: pipelined requests wait in the buffer).
  #head: Http1Head | null = null;
  #request: Http1Request | null = null;
  #responding = false;
  #keepAlive = false;
  #bodyLeft = 0;
  #decoder: ChunkedDecoder | null = null;
  #controller: ReadableByteStreamController | null = null;
  /** The reader's buffer to read the body into, while it waits for one (BYOB). */
  #byob: ReadableStreamBYOBRequest | null = null;
  #demand = false;
  #discarding = false;
  #discarded = 0;
  #expectContinue = false;
  #interim: Promise<void> | null = null;
  #handoff: ((bytes: Uint8Array | null) => void) | null = null;

  /**
   * @param conn The accepted (and, for TLS, handshaken) connection.
   * @param ctx What the server's connections share.
   * @param options Deadline of the first head, the HTTP/2 switch, the close callback.
   */
  constructor(conn: EdgeSocket, ctx: EdgeContext, options: Http1Options) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.#options = options;
    this.#remote = conn.remoteAddr as Deno.NetAddr;
    this.#headBy = options.firstHeadBy;
    this.#pump();
  }

  /** @inheritdoc */
  get idleSince(): number {
    return this.#phase === HEAD && this.#start === this.#end && this.#served > 0 &&
        !this.#responding
      ? this.#idleSince
      : -1;
  }

  /** @inheritdoc */
  tick(now: number): void {
    const readBy = this.#reading ? this.#readDeadline() : 0;
    if ((readBy !== 0 && now >= readBy) || (this.#writeBy !== 0 && now >= this.#writeBy)) {
      this.close();
    }
  }

  /** @inheritdoc */
  drain(): void {
    this.#draining = true;
    this.#keepAlive = false;
    if (this.#phase === HANDOFF || (this.#phase === HEAD && !this.#responding)) this.close();
  }

  /** @inheritdoc */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#phase = CLOSED;
    this.#writeBy = 0;
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
    const gone = new Error("Connection closed");
    if (this.#request !== null) Http1Request.abort(this.#request, gone);
    this.#failBody(gone);
    const handoff = this.#handoff;
    this.#handoff = null;
    handoff?.(null);
    this.#wakeUp();
    this.#options.onClosed();
  }

  // ---- reading -------------------------------------------------------------------------------

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Whether the loop should read now. */
  #wantsBytes(): boolean {
    switch (this.#phase) {
      case HEAD:
      case LINGER:
        return true;
      case BODY:
        return this.#demand || (this.#discarding && this.#discarded <= DRAIN_LIMIT);
      case WAIT:
        // Read ahead (a client leaving; pipelined requests), within one head's size.
        return !this.#eof && this.#end - this.#start <= this.#ctx.maxHeaderBytes;
      default:
        return false;
    }
  }

  /** The deadline of the read in flight, given the phase now. */
  #readDeadline(): number {
    switch (this.#phase) {
      case HEAD:
        if (this.#start < this.#end || this.#served === 0) return this.#headBy;
        return this.#idleSince + this.#ctx.idleTimeout;
      case BODY:
        return this.#readStarted + this.#ctx.idleTimeout;
      case LINGER:
        return this.#lingerUntil;
      default:
        return 0;
    }
  }

  /** Room at the end of the read buffer: compacted, or grown up to one head. */
  #room(): Uint8Array {
    if (this.#start === this.#end) {
      this.#start = this.#end = this.#scanned = 0;
      const want = this.#phase === BODY ? BODY_READ_SIZE : INITIAL_BUFFER;
      if (this.#buf.length !== want && (this.#phase === BODY || this.#phase === HEAD)) {
        this.#buf = new Uint8Array(want);
      }
    } else if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#scanned = Math.max(0, this.#scanned - this.#start);
        this.#start = 0;
      } else {
        const next = new Uint8Array(
          Math.min(this.#buf.length * 2, Math.max(this.#ctx.maxHeaderBytes + 8, INITIAL_BUFFER)),
        );
        next.set(this.#buf.subarray(0, this.#end));
        this.#buf = next;
      }
    }
    // A read into an empty buffer takes the buffer itself: no view object per read.
    return this.#end === 0 ? this.#buf : this.#buf.subarray(this.#end);
  }

  async #pump(): Promise<void> {
    try {
      await this.#readLoop();
    } catch (error) {
      this.#ctx.log(
        `connection from ${this.#remote.hostname} failed: ${(error as Error)?.message ?? error}`,
      );
      this.close();
    }
  }

  async #readLoop(): Promise<void> {
    while (this.#phase !== HANDOFF && this.#phase !== CLOSED) {
      if (!this.#wantsBytes()) {
        await new Promise<void>((resolve) => this.#wake = resolve);
        continue;
      }
      // A body of known length with nothing buffered is read straight into the reader's
      // buffer (a BYOB read: the proxy's two alternating buffers), or into one of its own
      // that becomes the chunk: no copy either way.
      const direct = this.#phase === BODY && this.#decoder === null && !this.#discarding &&
        this.#start === this.#end;
      const byob = direct ? this.#byob : null;
      const view = byob?.view ?? null;
      const into = !direct
        ? this.#room()
        : view !== null
        ? new Uint8Array(view.buffer, view.byteOffset, Math.min(view.byteLength, this.#bodyLeft))
        : new Uint8Array(Math.min(this.#bodyLeft, BODY_READ_SIZE));
      if (into.length === 0) {
        // The buffer is full of one head at its limit: the parser has answered 431 by now.
        await new Promise<void>((resolve) => this.#wake = resolve);
        continue;
      }
      this.#readStarted = Date.now();
      this.#reading = true;
      let n: number | null;
      let failure: unknown = null;
      try {
        n = await this.#conn.read(into);
      } catch (error) {
        n = null;
        failure = error;
      }
      this.#reading = false;
      if (this.#phase === HANDOFF) {
        // Bytes that came after an upgrade's head are the new protocol's.
        const handoff = this.#handoff;
        this.#handoff = null;
        handoff?.(n === null ? null : into.slice(0, n));
        return;
      }
      if (this.#phase === CLOSED) return;
      if (n === null) return this.#clientLeft(failure);
      if (direct) {
        this.#bodyLeft -= n;
        if (byob !== null && byob === this.#byob && !this.#discarding) {
          this.#byob = null;
          this.#demand = false;
          byob.respond(n);
        } else this.#bodyChunk(into.subarray(0, n), byob === null);
        if (this.#bodyLeft === 0) this.#bodyEnded();
        continue;
      }
      if (this.#phase === LINGER) continue;
      this.#end += n;
      this.#process();
    }
  }

  /** Parses what is buffered as far as the phase allows. */
  #process(): void {
    try {
      while (true) {
        if (this.#phase === HEAD) {
          if (!this.#takeHead()) return;
        } else if (this.#phase === BODY) {
          if (!this.#feedBody()) return;
        } else return;
      }
    } catch (error) {
      this.#malformed(error);
    }
  }

  /** Takes the next head if it is complete; returns whether it did. */
  #takeHead(): boolean {
    const buf = this.#buf;
    const end = this.#end;
    let start = this.#start;
    // RFC 9112 §2.2: empty lines before a request line are ignored.
    while (end - start >= 2 && buf[start] === 13 && buf[start + 1] === 10) start += 2;
    this.#start = start;
    if (start === end) return false;
    // The head of a request on a kept-alive connection is timed from its first byte.
    if (this.#headBy === 0) this.#headBy = Date.now() + this.#ctx.headerTimeout;
    if (this.#served === 0 && this.#options.onHttp2 !== null) {
      const preface = isHttp2Preface(buf, start, end);
      if (preface === null) return false;
      if (preface) {
        this.#phase = HANDOFF;
        this.#options.onHttp2(buf.slice(start, end));
        return false;
      }
    }
    const limit = this.#ctx.maxHeaderBytes;
    const headEnd = findHeadEnd(buf, start, Math.max(start, this.#scanned - 3), end);
    if (headEnd < 0) {
      this.#scanned = end;
      if (end - start > limit) throw overLimit(buf, start, end, limit);
      return false;
    }
    if (headEnd - start > limit + 4) throw overLimit(buf, start, headEnd, limit);
    const head = parseHead(buf, start, headEnd);
    this.#start = this.#scanned = headEnd;
    this.#begin(head, headEnd - start);
    return true;
  }

  /** Starts an exchange: the body's framing, the Request, the app. */
  #begin(head: Http1Head, headBytes: number): void {
    this.#head = head;
    this.#headBy = 0;
    this.#idleSince = -1;
    this.#keepAlive = head.keepAlive && !this.#draining;
    this.#expectContinue = head.expectContinue;
    this.#discarding = false;
    this.#discarded = 0;
    this.#demand = false;
    this.#responding = true;
    const method = head.method;
    const hasBody = head.chunked || head.contentLength > 0;
    // Fetch forbids a body on GET and HEAD; HTTP gives it no meaning (RFC 9110 §9.3.1):
    // it is read and dropped, like the body of a request the router answers itself.
    const keepBody = hasBody && method !== "GET" && method !== "HEAD" && head.path !== "*";
    let body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null = null;
    this.#phase = WAIT;
    if (hasBody) {
      this.#phase = BODY;
      this.#discarding = !keepBody;
      if (head.chunked) {
        this.#decoder = new ChunkedDecoder(this.#ctx.maxHeaderBytes - headBytes);
        body = keepBody ? this.#chunkedBody() : null;
      } else {
        this.#bodyLeft = head.contentLength;
        body = keepBody ? this.#lengthBody() : null;
      }
    }
    if (head.path === "*") {
      // RFC 9110 §9.3.7: OPTIONS * is about the server, not a resource: the router answers.
      this.#respond(
        new Response(null, { headers: { allow: "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS" } }),
      );
      return;
    }
    const refused = refusedPath(head.path);
    if (refused !== null) {
      this.#respond(plain(400, `Bad Request: the path has ${refused}`));
      return;
    }
    const authority = head.authority ?? head.host ?? this.#ctx.localAuthority;
    const url = `${this.#ctx.scheme}://${authority}${head.path}`;
    let request: Http1Request;
    try {
      request = method === "GET" && body === null
        ? new Http1Request(url, undefined)
        : new Http1Request(url, {
          method,
          body,
          // @ts-ignore: `duplex` is required for streaming bodies but missing from some lib types.
          duplex: "half",
        });
      // Appended one by one: cheaper in Deno than converting an init list.
      const headers = request.headers;
      const fields = head.fields;
      for (let i = 0; i < fields.length; i += 2) {
        const name = fields[i]!;
        // RFC 9112 §3.2.2: an absolute-form target's authority replaces Host.
        headers.append(
          name,
          name === "host" && head.authority !== null ? head.authority : fields[i + 1]!,
        );
      }
    } catch (error) {
      this.#keepAlive = false;
      const message = (error as Error)?.message ?? String(error);
      this.#respond(plain(400, `Bad Request: ${message.split("\n")[0]}`));
      return;
    }
    this.#request = request;
    let result: Response | Promise<Response>;
    try {
      result = this.#ctx.handler(request, this.#remote);
    } catch (error) {
      result = this.#ctx.onError(error);
    }
    if (result instanceof Response) this.#respond(result);
    else result.then(this.#onResponse, this.#onHandlerError);
  }

  #onResponse = (response: Response): void => {
    this.#respond(response);
  };

  #onHandlerError = (error: unknown): void => {
    this.#respond(this.#ctx.onError(error));
  };

  /** A body of known length: buffered whole when it came with the head, else a stream. */
  #lengthBody(): Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> {
    const buffered = this.#end - this.#start;
    if (buffered >= this.#bodyLeft) {
      const body = this.#buf.slice(this.#start, this.#start + this.#bodyLeft);
      this.#start += this.#bodyLeft;
      this.#bodyLeft = 0;
      this.#phase = WAIT;
      return body;
    }
    return this.#bodyStream();
  }

  /** A chunked body: whole when it came with the head, else a stream. */
  #chunkedBody(): Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> {
    const parts: Uint8Array[] = [];
    let size = 0;
    const decoder = this.#decoder!;
    this.#start = decoder.decode(this.#buf, this.#start, this.#end, (chunk) => {
      parts.push(chunk.slice());
      size += chunk.length;
    });
    if (decoder.done) {
      this.#decoder = null;
      this.#phase = WAIT;
      return concat(parts, size);
    }
    const stream = this.#bodyStream();
    for (const part of parts) this.#controller!.enqueue(part);
    return stream;
  }

  /**
   * The body as a byte stream: a reader that brings its own buffer (BYOB)
   * gets the socket's bytes read straight into it; others get chunks of up
   * to BODY_READ_SIZE. Nothing is read from the socket until the reader asks.
   */
  #bodyStream(): ReadableStream<Uint8Array> {
    let own: ReadableByteStreamController | null = null;
    return new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: BODY_READ_SIZE,
      start: (controller) => {
        own = controller;
        this.#controller = controller;
      },
      pull: (controller) => {
        if (own !== this.#controller) return;
        this.#demand = true;
        this.#byob = controller.byobRequest;
        if (this.#expectContinue) {
          // RFC 9110 §10.1.1: the client waits for 100 before it sends the body.
          this.#expectContinue = false;
          this.#interim = this.#writeAll(CONTINUE).catch(() => this.close());
        }
        this.#wakeUp();
      },
      cancel: () => {
        if (own !== this.#controller) return;
        this.#controller = null;
        this.#byob = null;
        this.#discarding = true;
        this.#wakeUp();
      },
    }, { highWaterMark: 0 });
  }

  /** Passes buffered body octets on; returns whether the body ended. */
  #feedBody(): boolean {
    const start = this.#start;
    const end = this.#end;
    if (start === end) return false;
    const decoder = this.#decoder;
    if (decoder !== null) {
      this.#start = decoder.decode(this.#buf, start, end, this.#onChunk);
      if (!decoder.done) return false;
    } else {
      const n = Math.min(this.#bodyLeft, end - start);
      this.#bodyChunk(this.#buf.subarray(start, start + n), false);
      this.#start += n;
      this.#bodyLeft -= n;
      if (this.#bodyLeft > 0) return false;
    }
    this.#bodyEnded();
    return true;
  }

  #onChunk = (chunk: Uint8Array): void => this.#bodyChunk(chunk, false);

  /** One run of body octets: to the reader, or dropped; `owned` when `bytes` is not the read buffer. */
  #bodyChunk(bytes: Uint8Array, owned: boolean): void {
    if (bytes.length === 0) return;
    const controller = this.#controller;
    if (this.#discarding || controller === null) {
      this.#discarded += bytes.length;
      return;
    }
    this.#demand = false;
    // Enqueued bytes fill a waiting BYOB request: it is spent.
    this.#byob = null;
    controller.enqueue(owned ? bytes : bytes.slice());
  }

  #bodyEnded(): void {
    this.#decoder = null;
    this.#closeBody();
    this.#controller = null;
    this.#demand = false;
    this.#phase = WAIT;
    // The answer went out before the body was read to its end (drained since).
    if (!this.#responding) this.#next();
  }

  /**
   * Ends the body stream. A reader waiting with its own buffer gets it back
   * empty (a byte stream's close needs its BYOB request answered).
   */
  #closeBody(): void {
    const controller = this.#controller;
    if (controller === null) return;
    controller.close();
    const byob = this.#byob;
    this.#byob = null;
    if (byob !== null) {
      try {
        byob.respond(0);
      } catch {
        // Answered already.
      }
    }
  }

  /** Fails the body stream, if there is one still open. */
  #failBody(error: unknown): void {
    this.#controller?.error(error);
    this.#controller = null;
    this.#byob = null;
  }

  /** The client closed its side, or the connection failed. */
  #clientLeft(failure: unknown): void {
    this.#eof = true;
    if (this.#phase === HEAD || this.#phase === LINGER || !this.#responding) return this.close();
    const error = new Error(
      failure === null ? "Client closed the connection" : `Client connection failed: ${failure}`,
    );
    this.#keepAlive = false;
    this.#failBody(new Error("Client closed the connection before the body ended"));
    if (this.#request !== null) Http1Request.abort(this.#request, error);
  }

  /** A head or chunked body the parser refused: answered, then the connection closes. */
  #malformed(error: unknown): void {
    const status = error instanceof Http1Error ? error.status : 400;
    const message = (error as Error)?.message ?? String(error);
    this.#keepAlive = false;
    // Whatever follows cannot be framed: nothing more is parsed.
    this.#start = this.#end = this.#scanned = 0;
    if (this.#phase === BODY) {
      // A chunked body broke: its reader fails; the answer, if one is coming, stands.
      if (!this.#responding) return this.close();
      this.#failBody(error);
      this.#discarding = true;
      this.#discarded = Infinity;
      this.#phase = WAIT;
      // No app has the request yet (its body broke in the packet that brought the head):
      // no answer is coming, so the router gives one.
      if (this.#request === null) {
        this.#head = null;
        this.#respond(plain(status, `${reasonPhrase(status)}: ${message}`));
      }
      return;
    }
    this.#phase = WAIT;
    this.#responding = true;
    this.#head = null;
    this.#respond(plain(status, `${reasonPhrase(status)}: ${message}`));
  }

  // ---- writing -------------------------------------------------------------------------------

  async #writeAll(bytes: Uint8Array): Promise<void> {
    this.#writeBy = Date.now() + this.#ctx.idleTimeout;
    try {
      let offset = 0;
      while (offset < bytes.length) {
        offset += await this.#conn.write(offset === 0 ? bytes : bytes.subarray(offset));
      }
    } finally {
      this.#writeBy = 0;
    }
  }

  /** Writes the answer to the current exchange, then goes on to the next request or closes. */
  #respond(response: Response): void {
    if (this.#closed) {
      response.body?.cancel().catch(nothing);
      return;
    }
    if (!(response instanceof Response)) {
      response = this.#ctx.onError(new TypeError("Handler did not return a Response"));
    }
    const head = this.#head;
    let status = response.status;
    if (status === 101 && head?.upgrade) {
      const upgrade = upgradeOf(response);
      if (upgrade !== undefined && upgrade.request === this.#request) {
        this.#upgrade(response, upgrade);
        return;
      }
    }
    if (status < 200) {
      response.body?.cancel().catch(nothing);
      response = this.#ctx.onError(new TypeError(`Handler answered with status ${status}`));
      status = response.status;
    }
    // A body the app did not read: drained afterwards when short, else the connection closes
    // (so does one still waiting for 100 Continue: the client may never send it).
    if (
      this.#phase === BODY &&
      (this.#decoder !== null || this.#bodyLeft > DRAIN_LIMIT || this.#expectContinue)
    ) this.#keepAlive = false;
    const interim = this.#interim;
    if (interim !== null) {
      // The 100 Continue is still being written: the answer follows it.
      this.#interim = null;
      interim.then(() => this.#respond(response));
      return;
    }
    const context = {
      method: head?.method ?? "GET",
      minor: head?.minor ?? 1,
      keepAlive: this.#keepAlive,
    };
    const sink = takeSink();
    const fixed = fixedBodyOf(response);
    if (fixed === undefined) {
      this.#respondStreaming(response, status, context, sink);
      return;
    }
    this.#respondWhole(response, status, context, sink, fixed);
  }

  /** The whole body is at hand: head and body in one write, no stream, no await. */
  #respondWhole(
    response: Response,
    status: number,
    context: ResponseContext,
    sink: ByteSink,
    fixed: Uint8Array,
  ): void {
    let framing: Framing;
    try {
      framing = responseHead(sink, status, response.headers, true, context, fixed.length);
    } catch (error) {
      giveSink(sink);
      this.#ctx.log(`public response failed: ${(error as Error)?.message ?? error}`);
      this.#answered(false);
      return;
    }
    if (framing.close) this.#keepAlive = false;
    let rest: Uint8Array | null = null;
    let complete = true;
    if (!framing.noBody) {
      // A declared length shorter than the octets cuts them; a longer one leaves it short.
      const length = framing.length;
      const bytes = length >= 0 && length < fixed.length ? fixed.subarray(0, length) : fixed;
      complete = length < 0 || bytes.length === length;
      if (bytes.length <= COPY_LIMIT) sink.bytes(bytes);
      else rest = bytes;
    }
    this.#sink = sink;
    this.#rest = rest;
    this.#complete = complete;
    this.#send(sink.view());
  }

  // The answer being written by #send: its sink, what follows the sink, whether it is whole.
  #sink: ByteSink | null = null;
  #rest: Uint8Array | null = null;
  #complete = false;
  #out: Uint8Array | null = null;

  /** Writes `bytes`, then #rest, then ends the answer (callbacks, not an async function). */
  #send(bytes: Uint8Array): void {
    this.#out = bytes;
    this.#writeBy = Date.now() + this.#ctx.idleTimeout;
    this.#conn.write(bytes).then(this.#onSent, this.#onSendFailed);
  }

  #onSent = (n: number): void => {
    const out = this.#out!;
    if (n < out.length) return this.#send(out.subarray(n));
    const rest = this.#rest;
    if (rest !== null) {
      this.#rest = null;
      return this.#send(rest);
    }
    this.#sent(this.#complete);
  };

  #onSendFailed = (): void => {
    this.#rest = null;
    this.#sent(false);
  };

  #sent(complete: boolean): void {
    this.#writeBy = 0;
    this.#out = null;
    giveSink(this.#sink!);
    this.#sink = null;
    this.#answered(complete);
  }

  /** An answer whose body streams: read chunk by chunk, each written as it comes. */
  async #respondStreaming(
    response: Response,
    status: number,
    context: ResponseContext,
    sink: ByteSink,
  ): Promise<void> {
    let complete = false;
    try {
      let body: ReadableStream<Uint8Array> | null = response.body;
      // A body the app gave whole (a string, bytes) is sent with a content-length, as
      // Deno.serve does: the client can keep the connection, an HTTP/1.0 client too.
      // A tunnel's bodies are not waited for: they stream, or came whole already.
      if (
        body !== null && !hasOwnedChunks(body) && !response.headers.has("content-length") &&
        !NULL_BODY.has(status) && context.method !== "HEAD"
      ) {
        const whole = await wholeOrStream(body);
        if (whole instanceof Uint8Array) {
          return this.#respondWhole(response, status, context, sink, whole);
        }
        body = whole;
      }
      const framing = responseHead(sink, status, response.headers, body !== null, context);
      if (framing.close) this.#keepAlive = false;
      complete = await this.#writeBody(sink, framing.noBody ? null : body, framing);
      if (framing.noBody) body?.cancel().catch(nothing);
    } catch {
      complete = false;
    }
    giveSink(sink);
    this.#answered(complete);
  }

  /**
   * Writes the head in `sink` and the body; returns whether the message was
   * complete (else the connection must close, so the client sees it cut).
   */
  async #writeBody(
    sink: ByteSink,
    body: ReadableStream<Uint8Array> | null,
    framing: { length: number; chunked: boolean },
  ): Promise<boolean> {
    const { length, chunked } = framing;
    if (body === null) {
      await this.#writeAll(sink.view());
      return length <= 0;
    }
    const reader = body.getReader();
    const owned = hasOwnedChunks(body);
    let sent = 0;
    let done = false;
    try {
      let next = reader.read();
      let result = await settledOrPending(next);
      if (result === PENDING) {
        // A body that starts slowly (events, long polls): its head goes now.
        await this.#writeAll(sink.view());
        sink.clear();
        result = await next;
      }
      while (true) {
        if (result.done) {
          done = true;
          if (chunked) sink.text("0\r\n\r\n");
          if (sink.length > 0) await this.#writeAll(sink.view());
          return length < 0 || sent === length;
        }
        let chunk = result.value;
        // A source longer than its content-length is cut there: more would be the next message.
        if (length >= 0 && sent + chunk.length > length) chunk = chunk.subarray(0, length - sent);
        sent += chunk.length;
        const complete = length >= 0 && sent === length;
        let after: ReadableStreamReadResult<Uint8Array> | typeof PENDING = END_OF_BODY;
        if (!complete) {
          next = reader.read();
          after = await settledOrPending(next);
        }
        const last = after !== PENDING && after.done;
        if (last && after !== END_OF_BODY) done = true;
        const size = chunk.length;
        if (chunked && size > 0) sink.text(`${size.toString(16)}\r\n`);
        if (size <= COPY_LIMIT) sink.bytes(chunk);
        else {
          await this.#writeAll(sink.view());
          sink.clear();
          await this.#writeAll(chunk);
        }
        // Copied or written: a tunnel's chunk is freed now, not at the next collection
        // (its views, `chunk` included, are empty from here on).
        if (owned) freeChunk(result.value);
        if (chunked && size > 0) sink.text("\r\n");
        if (last && chunked) sink.text("0\r\n\r\n");
        if (
          sink.length > 0 && (last || complete || after === PENDING || sink.length > COPY_LIMIT)
        ) {
          await this.#writeAll(sink.view());
          sink.clear();
        }
        if (last || complete) return true;
        result = after === PENDING ? await next : after;
      }
    } catch {
      // The source failed or the client went away: the client must not take a cut body for whole.
      if (sink.length > 0) await this.#writeAll(sink.view()).catch(nothing);
      return false;
    } finally {
      if (!done) reader.cancel().catch(nothing);
    }
  }

  /** The answer is out (or failed): the next request, or the close. */
  #answered(complete: boolean): void {
    this.#responding = false;
    this.#request = null;
    this.#interim = null;
    this.#served++;
    if (this.#closed) return;
    if (!complete || this.#eof) return this.close();
    if (!this.#keepAlive || this.#draining) return this.#linger();
    if (this.#phase === BODY) {
      // Read and drop what is left of a short body, then go on.
      this.#failBody(new Error("The answer was sent before the body was read"));
      this.#discarding = true;
      this.#wakeUp();
      return;
    }
    this.#next();
  }

  /** Ready for the next request: any pipelined one is parsed at once. */
  #next(): void {
    this.#head = null;
    this.#phase = HEAD;
    this.#idleSince = Date.now();
    this.#headBy = 0;
    this.#process();
    this.#wakeUp();
  }

  /**
   * Closes our side and reads what the client still sends for a while before
   * closing (RFC 9112 §9.6): closing with unread data would reset the
   * connection and could destroy the answer before the client read it.
   */
  #linger(): void {
    this.#phase = LINGER;
    this.#failBody(new Error("Connection closing"));
    this.#start = this.#end = 0;
    this.#lingerUntil = Date.now() + LINGER_TIME;
    this.#conn.closeWrite().catch(() => this.close());
    this.#wakeUp();
  }

  /** Writes a 101 and hands the connection to the upgrade's owner. */
  async #upgrade(response: Response, upgrade: PendingUpgrade): Promise<void> {
    const sink = takeSink();
    sink.text("HTTP/1.1 101 Switching Protocols\r\n");
    response.headers.forEach((value, name) => {
      if (name === "content-length" || name === "transfer-encoding") return;
      sink.text(`${name}: ${value}\r\n`);
    });
    sink.text("\r\n");
    try {
      if (this.#closed || this.#eof) throw new Error("Client left before the upgrade");
      await this.#writeAll(sink.view());
    } catch (error) {
      giveSink(sink);
      upgrade.refuse(error as Error);
      this.close();
      return;
    }
    giveSink(sink);
    if (this.#closed) return upgrade.refuse(new Error("Client left before the upgrade"));
    this.#responding = false;
    this.#request = null;
    this.#phase = HANDOFF;
    const prefix = this.#buf.slice(this.#start, this.#end);
    let pending: Promise<Uint8Array | null> | undefined;
    if (this.#reading) pending = new Promise((resolve) => this.#handoff = resolve);
    this.#wakeUp();
    upgrade.accept(new HandedOver(this.#conn, prefix, pending, () => this.close()));
  }
}

/** A connection after a 101: what was read ahead first, then the socket. */
class HandedOver implements UpgradedConnection {
  #conn: EdgeSocket;
  #io: PrefixedIO;
  #onClose: () => void;

  constructor(
    conn: EdgeSocket,
    prefix: Uint8Array,
    pending: Promise<Uint8Array | null> | undefined,
    onClose: () => void,
  ) {
    this.#conn = conn;
    this.#io = new PrefixedIO(conn, prefix, pending);
    this.#onClose = onClose;
  }

  read(p: Uint8Array): Promise<number | null> {
    return this.#io.read(p);
  }

  write(p: Uint8Array): Promise<number> {
    return this.#conn.write(p);
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): void {
    this.#onClose();
  }
}

/** 414 when the request line alone is over the head limit, else 431 (RFC 9110 §15.5.15). */
function overLimit(buf: Uint8Array, start: number, end: number, limit: number): Http1Error {
  const lineEnd = buf.subarray(start, end).indexOf(10);
  return lineEnd < 0 || lineEnd > limit
    ? new Http1Error(414, `Request line over the limit of ${limit} bytes`)
    : new Http1Error(431, `Header section over the limit of ${limit} bytes`);
}

/** A plain-text answer of the edge's own. */
function plain(status: number, text: string): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function concat(parts: Uint8Array[], size: number): Uint8Array<ArrayBuffer> {
  if (parts.length === 1) return parts[0]! as Uint8Array<ArrayBuffer>;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * The body whole when it is at hand at once (one chunk, then its end, as a
 * Response of a string or bytes gives them), else a stream of it from where
 * it was left: the chunks read already, then the rest.
 */
async function wholeOrStream(
  body: ReadableStream<Uint8Array>,
): Promise<Uint8Array | ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const first = reader.read();
  const a = await settledOrPending(first);
  if (a === PENDING) return resumed(reader, null, first);
  if (a.done) {
    reader.releaseLock();
    return EMPTY_BODY;
  }
  const second = reader.read();
  const b = await settledOrPending(second);
  if (b !== PENDING && b.done) {
    reader.releaseLock();
    return a.value;
  }
  return resumed(reader, a.value, second);
}

/** A stream of `chunk` (if any), then the result of `next`, then the rest of `reader`. */
function resumed(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  chunk: Uint8Array | null,
  next: Promise<ReadableStreamReadResult<Uint8Array>>,
): ReadableStream<Uint8Array> {
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = next;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (chunk !== null) {
        controller.enqueue(chunk);
        chunk = null;
        return;
      }
      const result = await (pending ?? reader.read());
      pending = null;
      if (result.done) controller.close();
      else controller.enqueue(result.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
