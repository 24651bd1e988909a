/**
 * The HTTP/2 client role: sends requests as streams and turns response
 * streams into Web `Response`s, never opening more streams than the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS allows (RFC 9113 §5.1.2).
 *
 * @module
 */

import { type ByteIO, Connection, type ConnectionOptions } from "./connection.ts";
import { ErrorCode } from "./constants.ts";
import { ConnectionError, type Http2Error, StreamError } from "./errors.ts";
import { type FieldPairs, NULL_BODY_STATUS, parseResponseHead, parseTrailers } from "./message.ts";
import type { Http2Stream } from "./stream.ts";
import { WaitQueue } from "./wait_queue.ts";

/** One request to send. */
export interface ClientRequest {
  /** `:method`. */
  method: string;
  /** `:scheme`. */
  scheme: string;
  /** `:authority`. */
  authority: string;
  /** `:path`, with the query. */
  path: string;
  /** `:protocol` for an extended CONNECT (RFC 8441). */
  protocol?: string;
  /** Regular fields as a flat list `[name, value, …]`, names in lower case. */
  headers?: string[];
  /** The body; a `Uint8Array` is sent without a reader. */
  body?: ReadableStream<Uint8Array> | Uint8Array | null;
  /** The body's length when known; lets the last DATA frame carry END_STREAM. */
  contentLength?: number;
  /** Cancels the request (RST_STREAM CANCEL). */
  signal?: AbortSignal;
  /**
   * Told once the stream has closed (response body complete, or failed), with
   * the DATA bytes each way and, when it failed other than by our own cancel,
   * why: for logs and metrics.
   */
  onClose?: (bytesSent: number, bytesReceived: number, failure: Error | null) => void;
}

/**
 * A bound on the requests that wait for a stream slot, which several
 * sessions may share (a router bounds each service's queue across its
 * tunnels).
 */
export interface QueueLimit {
  /** Takes a place in the queue; `false` when none is left. */
  enter(): boolean;
  /** Gives a place back. */
  leave(): void;
}

/**
 * Why a request was not sent: it would have waited for a stream slot, and
 * its session's {@linkcode QueueLimit} had no place left. Never processed,
 * but retrying at once elsewhere would only queue it again.
 *
 * @example
 * ```ts
 * import { QueueFullError } from "./client.ts";
 * import { equal } from "node:assert/strict";
 * equal(new QueueFullError().name, "QueueFullError");
 * ```
 */
export class QueueFullError extends Error {
  /** @param message What was full. */
  constructor(message = "Too many requests wait for a stream slot") {
    super(message);
    this.name = "QueueFullError";
  }
}

/** Options of a {@linkcode ClientSession}. */
export interface ClientSessionOptions extends ConnectionOptions {
  /** Told of every protocol error the peer caused (for logs). */
  onProtocolError?: (error: Http2Error) => void;
  /** Told when the peer sends GOAWAY. */
  onGoaway?: (lastStreamId: number, errorCode: number, debug: string) => void;
  /** Opens at most this many streams, even if the peer allows more. @default {Infinity} */
  maxConcurrentStreams?: number;
  /**
   * Bounds the requests waiting for a stream slot: one that finds no place
   * fails at once with {@linkcode QueueFullError}. @default {no bound}
   */
  queueLimit?: QueueLimit;
}

/**
 * A response as it arrives, before any Web `Response` is made of it: a
 * caller that adds fields (a proxy) builds its `Response` once, with all of
 * them, instead of changing one afterwards.
 */
export interface ClientResponse {
  /** `:status` (a final one: 200-599). */
  status: number;
  /** The regular fields; the caller may add to them. */
  headers: FieldPairs;
  /**
   * The body: `null` when there is none (HEAD, 204, 304 or END_STREAM on the
   * head), the bytes when all of it had arrived with the head, else a stream.
   */
  body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null;
}

/**
 * One request on its way: its response, and a way to cancel it without an
 * `AbortController` per request. See {@linkcode ClientSession.send}.
 */
export interface ClientExchange {
  /**
   * Resolves once the response head arrives (the body streams after).
   * Rejects with a {@linkcode StreamError} or {@linkcode ConnectionError} when
   * the stream or connection fails first; see {@linkcode isUnprocessed}.
   */
  readonly response: Promise<ClientResponse>;
  /**
   * Resets the stream (RST_STREAM CANCEL, RFC 9113 §8.4); before the head
   * arrives `response` rejects with a {@linkcode StreamError} CANCEL whose
   * `cause` is `reason`. A request still waiting for a stream slot is never
   * sent.
   */
  cancel(reason?: Error): void;
}

const noop = (): void => {};

/**
 * A {@linkcode ClientExchange}: the stream, once open, and a cancel that
 * reaches it; kept on the stream (`owner`). Once `settled`, a further header
 * block on the stream is its trailers.
 */
class Exchange implements ClientExchange {
  response!: Promise<ClientResponse>;
  stream: Http2Stream | null = null;
  method = "";
  resolve: (response: ClientResponse) => void = noop;
  /** Whether `response` has resolved or failed. */
  settled = false;
  cancelled: Error | null = null;
  /** Set while the request waits for a stream slot: takes it out of the queue. */
  leaveQueue: (() => void) | null = null;

  cancel(reason?: Error): void {
    if (this.cancelled !== null) return;
    this.cancelled = reason ?? new Error("Request cancelled");
    this.stream?.reset(ErrorCode.CANCEL, this.cancelled);
    this.leaveQueue?.();
  }

  /** What a request cancelled before its stream opened fails with (as `reset` would). */
  notSent(): StreamError {
    const cause = this.cancelled!;
    return new StreamError(0, ErrorCode.CANCEL, `Request cancelled: ${cause.message}`, { cause });
  }
}

/**
 * Whether a failed request was certainly not processed by the peer and may be
 * retried anywhere, whatever its method (REFUSED_STREAM or a GOAWAY that
 * excluded it, RFC 9113 §8.7).
 *
 * @param error The error a request failed with.
 * @returns `true` when retrying is safe.
 *
 * @example
 * ```ts
 * import { isUnprocessed } from "./client.ts";
 * import { StreamError } from "./errors.ts";
 * import { equal } from "node:assert/strict";
 * equal(isUnprocessed(new StreamError(1, 0x7, "refused")), true);
 * equal(isUnprocessed(new StreamError(1, 0x8, "cancel")), false);
 * ```
 */
export function isUnprocessed(error: unknown): boolean {
  return (error instanceof StreamError || error instanceof ConnectionError) &&
    error.code === ErrorCode.REFUSED_STREAM;
}

/**
 * An HTTP/2 connection in the client role.
 *
 * @example Send a request to an in-memory server
 * ```ts
 * import { ClientSession } from "./client.ts";
 * import { serveConnection } from "./server.ts";
 * import { memoryPipe } from "./memory_pipe.ts";
 * import { equal } from "node:assert/strict";
 * const [a, b] = memoryPipe();
 * serveConnection(b, (request) => new Response(new URL(request.url).pathname));
 * const client = new ClientSession(a);
 * const response = await client.request({
 *   method: "GET", scheme: "http", authority: "example.com", path: "/hello",
 * });
 * equal(await response.text(), "/hello");
 * client.close();
 * await client.closed;
 * ```
 */
export class ClientSession {
  /** The underlying connection. */
  readonly connection: Connection;
  // A linked queue: a cancelled request leaves it at once, without a scan.
  #slotWaiters = new WaitQueue<{ resolve: () => void; reject: (error: Error) => void }>();
  #ready = false;
  #maxConcurrentStreams: number;
  #queueLimit: QueueLimit | null;

  /**
   * @param io The byte stream.
   * @param options Settings and callbacks.
   */
  constructor(io: ByteIO, options: ClientSessionOptions = {}) {
    this.connection = new Connection(io, "client", options);
    this.#maxConcurrentStreams = options.maxConcurrentStreams ?? Infinity;
    this.#queueLimit = options.queueLimit ?? null;
    this.connection.ready.then(() => this.#ready = true);
    this.connection.onStreamClosed(() => this.#admit());
    this.connection.closed.then(() => this.#rejectWaiters());
    this.connection.start({
      onHeaders: (stream, fields, endStream) => this.#onHeaders(stream, fields, endStream),
      onGoaway: (lastStreamId, code, debug) => {
        this.#rejectWaiters();
        options.onGoaway?.(lastStreamId, code, debug);
      },
      // §5.1.2: a raised SETTINGS_MAX_CONCURRENT_STREAMS frees slots for waiting requests.
      onSettings: () => this.#admit(),
      onProtocolError: options.onProtocolError,
    });
  }

  /** Resolves when the connection has ended. */
  get closed(): Promise<void> {
    return this.connection.closed;
  }

  /** How many streams may be open at once: the peer's limit, capped by ours. */
  get capacity(): number {
    return Math.min(this.connection.peerMaxConcurrentStreams, this.#maxConcurrentStreams);
  }

  /** Streams open now plus requests waiting for a stream slot. */
  get inFlight(): number {
    return this.connection.activeLocalStreams + this.#slotWaiters.size;
  }

  /** Requests waiting for a stream slot. */
  get queued(): number {
    return this.#slotWaiters.size;
  }

  /** Whether new requests can be sent on this connection. */
  get available(): boolean {
    return this.connection.canOpenStream;
  }

  /**
   * Sends a request and resolves with the response once its head arrives; the
   * body streams after. Waits for a stream slot when the peer's concurrency
   * limit is reached.
   *
   * @param request What to send.
   * @returns The response.
   * @throws {StreamError | ConnectionError} When the stream or connection fails
   *   before the response head; see {@linkcode isUnprocessed}.
   */
  async request(request: ClientRequest): Promise<Response> {
    const signal = request.signal;
    signal?.throwIfAborted();
    const exchange = this.send(request);
    // The caller's signal cancels the stream until the response head arrives;
    // after that, cancelling the response body does (RST_STREAM CANCEL either way).
    const onAbort = () => exchange.cancel(signal!.reason as Error);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const head = await exchange.response;
      return new Response(head.body, { status: head.status, headers: head.headers });
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Sends a request like {@linkcode ClientSession.request}, without making a
   * `Response` or needing an `AbortSignal`: the router's path, where both
   * would cost on every request.
   *
   * @param request What to send (its `signal` is not read: use `cancel`).
   * @returns The exchange: its response head and a way to cancel it.
   *
   * @example Add a field to a response before making it
   * ```ts
   * import { ClientSession } from "./client.ts";
   * import { serveConnection } from "./server.ts";
   * import { memoryPipe } from "./memory_pipe.ts";
   * import { equal } from "node:assert/strict";
   * const [a, b] = memoryPipe();
   * serveConnection(b, () => new Response("hi"));
   * const client = new ClientSession(a);
   * const head = await client.send({
   *   method: "GET", scheme: "http", authority: "example.com", path: "/",
   * }).response;
   * head.headers.push(["via", "2 example"]);
   * const response = new Response(head.body, { status: head.status, headers: head.headers });
   * equal(response.headers.get("via"), "2 example");
   * equal(await response.text(), "hi");
   * client.close();
   * await client.closed;
   * ```
   */
  send(request: ClientRequest): ClientExchange {
    const exchange = new Exchange();
    exchange.response = this.#ready && this.connection.activeLocalStreams < this.capacity
      ? new Promise((resolve, reject) => this.#open(exchange, request, resolve, reject))
      : this.#sendLater(exchange, request);
    return exchange;
  }

  /** Waits for the connection's SETTINGS and a stream slot, then opens the stream. */
  async #sendLater(exchange: Exchange, request: ClientRequest): Promise<ClientResponse> {
    if (!this.#ready) await this.connection.ready;
    while (this.connection.activeLocalStreams >= this.capacity) {
      if (exchange.cancelled !== null) throw exchange.notSent();
      if (this.#queueLimit !== null && !this.#queueLimit.enter()) throw new QueueFullError();
      await new Promise<void>((resolve, reject) => {
        const entry = this.#slotWaiters.push({ resolve, reject });
        // Cancelled, it fails at once and leaves its place to the next in line.
        exchange.leaveQueue = () => {
          if (this.#slotWaiters.remove(entry)) this.#queueLimit?.leave();
          reject(exchange.notSent());
        };
      });
      exchange.leaveQueue = null;
      if (exchange.cancelled !== null) {
        // Cancelled after it was given a slot: pass the slot on.
        this.#admit();
        throw exchange.notSent();
      }
    }
    return new Promise((resolve, reject) => this.#open(exchange, request, resolve, reject));
  }

  #open(
    exchange: Exchange,
    request: ClientRequest,
    resolve: (response: ClientResponse) => void,
    reject: (error: Error) => void,
  ): void {
    if (exchange.cancelled !== null) return reject(exchange.notSent());
    const fields = [
      ":method",
      request.method,
      ":scheme",
      request.scheme,
      ":authority",
      request.authority,
      ":path",
      request.path,
    ];
    if (request.protocol !== undefined) fields.push(":protocol", request.protocol);
    if (request.headers) { for (const field of request.headers) fields.push(field); }
    const limit = this.connection.peerMaxHeaderListSize;
    if (limit !== Infinity && fieldListSize(fields) > limit) {
      return reject(
        new StreamError(0, ErrorCode.REFUSED_STREAM, "Request headers exceed the peer's limit", {
          cause: "header-list-size",
        }),
      );
    }
    const body = request.body ?? null;
    let stream: Http2Stream;
    try {
      stream = this.connection.openStream(fields, body === null);
    } catch (error) {
      return reject(error as Error);
    }
    // Failed already (its header block could not be encoded): no callback would tell.
    if (stream.error !== null) return reject(stream.error);
    exchange.stream = stream;
    const onClose = request.onClose;
    // `failure`: the stream ended by an error that was not our own cancel (a reset by the
    // peer, a lost connection), such as a response cut off mid-body.
    if (onClose) {
      stream.onClose = () =>
        onClose(
          stream.bytesSent,
          stream.bytesReceived,
          exchange.cancelled === null ? stream.error : null,
        );
    }
    exchange.method = request.method;
    exchange.resolve = resolve;
    stream.owner = exchange;
    // A callback, not an abort listener: no AbortController per request.
    stream.onFail = (error) => {
      if (!exchange.settled) {
        exchange.settled = true;
        reject(error);
      }
    };
    if (body !== null) stream.sendBody(body, request.contentLength ?? -1);
  }

  #onHeaders(stream: Http2Stream, fields: string[], endStream: boolean): boolean {
    // Streams are ours (no push): each has its exchange.
    const exchange = stream.owner as Exchange;
    if (exchange.settled) {
      // A second block is the trailers (RFC 9113 §8.1); the connection made sure they end
      // the stream.
      stream.trailers = parseTrailers(stream.id, fields);
      return true;
    }
    const head = parseResponseHead(stream.id, fields);
    if (head.status < 200) {
      // §8.1: an interim response ending the stream is malformed; no final one can follow.
      if (endStream) {
        throw new StreamError(
          stream.id,
          ErrorCode.PROTOCOL_ERROR,
          "Interim response ends the stream",
        );
      }
      return false; // Interim response (§8.1): wait for the final one.
    }
    exchange.settled = true;
    const noBody = endStream || exchange.method === "HEAD" || NULL_BODY_STATUS.has(head.status);
    // A HEAD response's content-length describes the body it did not send.
    if (exchange.method !== "HEAD") stream.expectedLength = head.contentLength;
    if (noBody) {
      if (!endStream) stream.discardBody(false);
      exchange.resolve({ status: head.status, headers: head.headers, body: null });
      return true;
    }
    // Let the read loop finish its buffer first: a small body that came with the
    // headers is then complete and goes out as bytes, not as a ReadableStream.
    queueMicrotask(() => {
      const body = stream.takeCompleteBody() ?? stream.body;
      exchange.resolve({ status: head.status, headers: head.headers, body });
    });
    return true;
  }

  #admit(): void {
    const free = this.capacity - this.connection.activeLocalStreams;
    for (let i = 0; i < free; i++) {
      const waiter = this.#slotWaiters.shift();
      if (waiter === undefined) return;
      this.#queueLimit?.leave();
      waiter.resolve();
    }
  }

  #rejectWaiters(): void {
    const error = new ConnectionError(ErrorCode.REFUSED_STREAM, "Connection is closing");
    while (this.#slotWaiters.size > 0) {
      this.#queueLimit?.leave();
      this.#slotWaiters.shift()!.reject(error);
    }
  }

  /**
   * Measures the round trip with PING.
   *
   * @returns Milliseconds.
   */
  ping(): Promise<number> {
    return this.connection.ping();
  }

  /** Stops new requests and closes once the open ones finish (GOAWAY). */
  shutdown(): void {
    this.connection.goaway();
  }

  /**
   * Closes at once; open requests fail.
   *
   * @param error Why.
   */
  close(error?: Error): void {
    this.connection.close(error);
  }
}

/** RFC 9113 §6.5.2: name + value + 32 octets per field. */
function fieldListSize(fields: string[]): number {
  let size = 0;
  for (let i = 0; i < fields.length; i += 2) size += fields[i]!.length + fields[i + 1]!.length + 32;
  return size;
}
