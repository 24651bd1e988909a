/**
 * One HTTP/2 stream: its state machine (RFC 9113 §5.1), its flow-control
 * windows, the inbound body as a pull-driven `ReadableStream` (the peer gets
 * WINDOW_UPDATE only as the application reads), and the outbound body pump.
 *
 * @module
 */

import type { BufferMeter, MeteredBuffer } from "./buffer_meter.ts";
import { ErrorCode } from "./constants.ts";
import { StreamError } from "./errors.ts";
import { ReceiveWindow, SendWindow } from "./flow.ts";

const EMPTY = new Uint8Array(0);
const PENDING = Symbol("pending");
const END_OF_BODY: ReadableStreamReadDoneResult<Uint8Array> = { done: true, value: undefined };

/**
 * Bodies at least this long are read into reused buffers when their source is
 * a byte stream; the buffers start at this size too.
 */
const BYOB_MIN_LENGTH = 64 * 1024;
/**
 * The most those buffers grow to, doubling while reads fill them (they do not
 * shrink again): an upload that never has 64 KiB waiting, such as a phone's,
 * holds two buffers of 64 KiB, a fast one reads frames of the size a tunnel
 * takes, so that a fast upload costs four times fewer frames to allocate and
 * collect than with 64 KiB buffers.
 */
const BYOB_MAX_CHUNK = 256 * 1024;

/** A reader that fills buffers we hand it, or `null` when `source` is not a byte stream. */
function byobReader(source: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | null {
  try {
    return source.getReader({ mode: "byob" });
  } catch {
    return null;
  }
}

/**
 * Resolves to the promise's value if it is fulfilled now or by a microtask
 * already queued (at most one hop late), else to PENDING; a failure then
 * surfaces where the caller awaits the promise itself. The check runs two hops
 * after the call, not one: the stream Deno 2.x makes of a Response's string or
 * bytes settles its first read a microtask after the call, and that body is
 * ready at once; with one hop its head would leave alone, and an early flush
 * could split it from its DATA into another write. Cheaper than
 * `Promise.race`, which iterates an array and makes resolving functions for
 * both entries; paid once per chunk of a streamed body, plus once.
 */
function settledOrPending<T>(promise: Promise<T>): Promise<T | typeof PENDING> {
  let settled: T | typeof PENDING = PENDING;
  promise.then((value) => settled = value, nothing);
  return Promise.resolve().then(nothing).then(() => settled);
}

/** A reaction that does nothing: one microtask hop, or a rejection marked handled. */
function nothing(): void {}

/** Stream states (RFC 9113 §5.1); this codec never reserves streams (no push). */
export const StreamState = {
  IDLE: 0,
  OPEN: 1,
  HALF_CLOSED_LOCAL: 2,
  HALF_CLOSED_REMOTE: 3,
  CLOSED: 4,
} as const;
/** One of {@linkcode StreamState}. */
export type StreamState = typeof StreamState[keyof typeof StreamState];

/** What a stream needs from its connection; implemented by `Connection`. */
export interface StreamHost {
  /** Bytes of DATA this stream may send now (windows and frame size), 0 to wait. */
  sendCapacity(stream: Http2Stream): number;
  /**
   * Queues one DATA frame and charges the windows. The octets are copied: the
   * caller may reuse `data`'s buffer once this returns.
   */
  writeData(stream: Http2Stream, data: Uint8Array, endStream: boolean): void;
  /** Queues a header block. */
  writeHeaders(stream: Http2Stream, fields: string[], endStream: boolean): void;
  /** Queues RST_STREAM. */
  writeReset(stream: Http2Stream, code: number): void;
  /** The application consumed `n` inbound bytes: maybe send WINDOW_UPDATE. */
  release(stream: Http2Stream, n: number): void;
  /** Resolves when the output backlog is small again, or `null` when it already is. */
  writable(): Promise<void> | null;
  /** The stream reached CLOSED. */
  streamClosed(stream: Http2Stream): void;
  /** Where streams count the inbound octets they hold for their readers, if anywhere. */
  readonly bufferMeter: BufferMeter | null;
}

/**
 * One stream of a connection. The connection drives it with `receive*`
 * calls from its read loop; roles use `sendHeaders`, `sendBody`, `reset` and `body`.
 *
 * @example Streams are made by connections
 * ```ts
 * import { StreamState } from "./stream.ts";
 * import { equal } from "node:assert/strict";
 * equal(StreamState.OPEN, 1);
 * ```
 */
export class Http2Stream implements MeteredBuffer {
  /** The stream identifier. */
  readonly id: number;
  /** Window for DATA we send. */
  readonly sendWindow: SendWindow;
  /** Window for DATA we receive. */
  readonly receiveWindow: ReceiveWindow;
  /** Called once when the stream ends abnormally, before `signal` aborts. */
  onFail: ((error: Error) => void) | null = null;
  /** Called once when the stream reaches CLOSED, normally or not. */
  onClose: (() => void) | null = null;
  /** DATA payload bytes sent so far. */
  bytesSent = 0;
  /** The declared content-length of the inbound message, or -1 (RFC 9113 §8.1.1). */
  expectedLength = -1;
  /** Whether the inbound message's first header block arrived. */
  headReceived = false;
  /** The trailers the peer sent, if any. */
  trailers: Headers | null = null;
  /** What the role that opened the stream keeps with it (the client: the request waiting for its response). */
  owner: unknown = null;
  /** When body bytes last moved either way (ms since the epoch), for idle timeouts. */
  lastActivity: number = Date.now();
  /** When the reader of the inbound body last took octets, or when the stream was made. */
  lastRead: number = this.lastActivity;
  /** Where the connection's {@linkcode BufferMeter} lists this stream; -1 while it holds nothing. */
  meterSlot = -1;

  #host: StreamHost;
  #state: StreamState = StreamState.IDLE;
  #abort: AbortController | null = null;
  #error: Error | null = null;
  #received = 0;
  // Inbound body: chunks wait here until the reader pulls them.
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #body: ReadableStream<Uint8Array> | null = null;
  #bodyWanted = true;
  #meter: BufferMeter | null;
  #wakeReader: (() => void) | null = null;
  // Outbound: woken by WINDOW_UPDATE, SETTINGS or reset.
  #wakeWriter: (() => void) | null = null;
  // Cancels the body source sendBody() is reading, when the stream fails.
  #stopSource: (() => void) | null = null;

  /**
   * @param id The stream identifier.
   * @param host The owning connection.
   * @param sendWindow The peer's SETTINGS_INITIAL_WINDOW_SIZE.
   * @param receiveWindow Our SETTINGS_INITIAL_WINDOW_SIZE.
   */
  constructor(id: number, host: StreamHost, sendWindow: number, receiveWindow: number) {
    this.id = id;
    this.#host = host;
    this.#meter = host.bufferMeter;
    this.sendWindow = new SendWindow(sendWindow);
    this.receiveWindow = new ReceiveWindow(receiveWindow);
  }

  /**
   * Aborted when the stream ends abnormally (RST_STREAM either way, connection
   * loss). Made on first use: most streams never need one.
   */
  get signal(): AbortSignal {
    if (this.#abort === null) {
      this.#abort = new AbortController();
      if (this.#error !== null) this.#abort.abort(this.#error);
    }
    return this.#abort.signal;
  }

  /** The current state. */
  get state(): StreamState {
    return this.#state;
  }

  /** Why the stream failed, once it has. */
  get error(): Error | null {
    return this.#error;
  }

  /** DATA payload bytes received so far. */
  get bytesReceived(): number {
    return this.#received;
  }

  /** Inbound body octets received and not taken by the reader yet. */
  get unreadBytes(): number {
    return this.#queued;
  }

  #closed(): void {
    this.#host.streamClosed(this);
    this.onClose?.();
  }

  /** Whether the peer may still send DATA on this stream. */
  get remoteOpen(): boolean {
    return this.#state === StreamState.OPEN || this.#state === StreamState.HALF_CLOSED_LOCAL;
  }

  /** Whether we may still send on this stream. */
  get localOpen(): boolean {
    return this.#state === StreamState.OPEN || this.#state === StreamState.HALF_CLOSED_REMOTE ||
      this.#state === StreamState.IDLE;
  }

  // §5.1: the only place that changes state.
  #transition(localEnd: boolean, remoteEnd: boolean): void {
    let state = this.#state;
    if (state === StreamState.IDLE) state = StreamState.OPEN;
    if (localEnd) {
      state = state === StreamState.HALF_CLOSED_REMOTE
        ? StreamState.CLOSED
        : StreamState.HALF_CLOSED_LOCAL;
    }
    if (remoteEnd) {
      state = state === StreamState.HALF_CLOSED_LOCAL
        ? StreamState.CLOSED
        : StreamState.HALF_CLOSED_REMOTE;
    }
    this.#state = state;
    if (state === StreamState.CLOSED) this.#closed();
  }

  /**
   * The inbound message body, created on first use. Reading it grants the peer
   * flow-control credit; cancelling it resets the stream with CANCEL.
   */
  get body(): ReadableStream<Uint8Array> {
    this.#body ??= new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: () => this.discardBody(),
    }, { highWaterMark: 0 });
    return this.#body;
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    while (true) {
      const chunk = this.#chunks.shift();
      if (chunk !== undefined) {
        this.#queued -= chunk.length;
        this.#meter?.remove(this, chunk.length);
        this.lastRead = Date.now();
        controller.enqueue(chunk);
        this.#host.release(this, chunk.length);
        return;
      }
      if (this.#ended) return controller.close();
      if (this.#error !== null) return controller.error(this.#error);
      await new Promise<void>((resolve) => this.#wakeReader = resolve);
    }
  }

  /**
   * Stops reading the inbound body: queued bytes are credited back and later
   * DATA is dropped.
   *
   * @param stopPeer Also ask a peer that is still sending to stop (RST_STREAM CANCEL).
   */
  discardBody(stopPeer = true): void {
    this.#bodyWanted = false;
    this.#dropQueued();
    if (stopPeer && this.remoteOpen) this.reset(ErrorCode.CANCEL);
  }

  /**
   * Drops the inbound octets nobody read: the reader fails with `reason`
   * (what was dropped never arrives, so the body never passes for whole),
   * and a stream still open is reset with CANCEL. What a budget for unread
   * data does to a reader that stopped.
   *
   * @param reason What the reader fails with.
   */
  abandon(reason: Error): void {
    if (this.#state !== StreamState.CLOSED) this.reset(ErrorCode.CANCEL, reason);
    // A body that had ended may still hold octets: they go too, and so does its end.
    this.#dropQueued();
    this.#ended = false;
    this.#error ??= reason;
    this.#wake();
  }

  /** Credits back and forgets the queued inbound octets. */
  #dropQueued(): void {
    const queued = this.#queued;
    if (queued === 0) return;
    this.#chunks.length = 0;
    this.#queued = 0;
    this.#meter?.remove(this, queued);
    this.#host.release(this, queued);
  }

  /** Records the peer's header block (head or trailers); `endStream` ends the inbound side. */
  receiveHeaders(endStream: boolean): void {
    this.headReceived = true;
    if (this.#state === StreamState.IDLE) this.#transition(false, false);
    if (endStream) this.receiveEnd();
  }

  /**
   * Takes one DATA payload: copied, since the read buffer is reused, unless
   * `owned` says it is a buffer of its own.
   *
   * @throws {StreamError} PROTOCOL_ERROR when more arrives than content-length said.
   */
  receiveData(data: Uint8Array, endStream: boolean, owned = false): void {
    this.lastActivity = Date.now();
    this.#received += data.length;
    if (data.length > 0) {
      if (this.#bodyWanted) {
        this.#chunks.push(owned ? data : data.slice());
        this.#queued += data.length;
        this.#meter?.add(this, data.length);
      } else {
        this.#host.release(this, data.length);
      }
    }
    // §8.1.1: checked after queueing, so that the reset that follows credits these
    // octets back to the connection window (§6.9) instead of losing them for good.
    if (this.expectedLength >= 0 && this.#received > this.expectedLength) {
      throw new StreamError(this.id, ErrorCode.PROTOCOL_ERROR, "DATA exceeds content-length");
    }
    if (endStream) this.receiveEnd();
    else this.#wake();
  }

  /** The peer ended its side (END_STREAM). */
  receiveEnd(): void {
    // §8.1.1: a content-length that does not match the DATA received is malformed.
    if (this.expectedLength >= 0 && this.#received !== this.expectedLength) {
      throw new StreamError(this.id, ErrorCode.PROTOCOL_ERROR, "DATA shorter than content-length");
    }
    this.#ended = true;
    this.#wake();
    this.#transition(false, true);
  }

  /** The peer reset the stream, or the connection went away. */
  receiveReset(error: Error): void {
    this.#fail(error);
    this.#setClosed();
  }

  #fail(error: Error): void {
    if (this.#error !== null || this.#state === StreamState.CLOSED) return;
    this.#error = error;
    // Queued bytes were counted against the connection window: give them back.
    if (!this.#ended) this.#dropQueued();
    this.onFail?.(error);
    this.#abort?.abort(error);
    this.#wake();
    this.wakeWriter();
    this.#stopSource?.();
  }

  #setClosed(): void {
    if (this.#state === StreamState.CLOSED) return;
    this.#state = StreamState.CLOSED;
    this.#closed();
  }

  #wake(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = null;
    wake?.();
  }

  /** Wakes a sender waiting for window or backlog. */
  wakeWriter(): void {
    const wake = this.#wakeWriter;
    this.#wakeWriter = null;
    wake?.();
  }

  /**
   * Sends a header block (head or trailers).
   *
   * @param fields Flat field list, pseudo-headers first.
   * @param endStream Ends our side.
   */
  sendHeaders(fields: string[], endStream: boolean): void {
    if (!this.localOpen || this.#error !== null) return;
    this.#host.writeHeaders(this, fields, endStream);
    if (this.#error !== null) return; // The block could not be sent: the connection closed.
    this.#transition(endStream, false);
  }

  /**
   * Sends a body, respecting both flow-control windows and the output backlog,
   * then ends our side. Stops early (and cancels the source) if the stream fails.
   *
   * A chunk that is already the last one (the source's next read settles
   * within the peek of `settledOrPending`, and is done) goes out with
   * END_STREAM, and `head`, when given, goes out in the same turn as the
   * first chunk: a small complete response is one HEADERS and one DATA frame
   * in one write, yet a streaming body's head is never held back waiting for
   * its first chunk.
   *
   * @param source The body; a `Uint8Array` is sent without a reader.
   * @param knownLength When the byte count is known, the last DATA frame carries
   *   END_STREAM even if the source has not said it is done.
   * @param head A header block to send first (flat field list), if not sent yet.
   * @returns Resolves when everything was queued, or the stream failed.
   */
  async sendBody(
    source: ReadableStream<Uint8Array> | Uint8Array | null,
    knownLength = -1,
    head?: string[],
  ): Promise<void> {
    if (source === null || source instanceof Uint8Array) {
      const body = source ?? EMPTY;
      if (head) this.sendHeaders(head, body.length === 0);
      if (!head || body.length > 0) await this.#sendChunk(body, true);
      return;
    }
    // A long body from a byte stream (an upload reaching the router through
    // Deno.serve, a fetch() response) is read into two buffers that take turns
    // (new ones when they grow), since #sendChunk copies each chunk out: no fresh
    // buffer per chunk for the garbage collector. Deno.serve took uploads half
    // again as fast this way. Only long bodies try: refusing a stream that is not
    // a byte stream costs an exception.
    const byob = knownLength >= BYOB_MIN_LENGTH ? byobReader(source) : null;
    // The second buffer is made when a read finds none free (the look-ahead read).
    let size = BYOB_MIN_LENGTH;
    const free = byob === null ? null : [new ArrayBuffer(size)];
    const reader = byob ?? source.getReader();
    let sent = 0;
    // A read never asks for more than the declared length leaves: a source that
    // has more is not read past it (the body ends there, the rest is cancelled).
    const read = (): Promise<ReadableStreamReadResult<Uint8Array>> =>
      byob === null ? (reader as ReadableStreamDefaultReader<Uint8Array>).read() : byob.read(
        new Uint8Array(free!.pop() ?? new ArrayBuffer(size), 0, Math.min(size, knownLength - sent)),
      );
    // The source is cancelled once, unless it ran to its end: by #fail at once (a
    // reset must not wait for the source's next chunk to be noticed), or below
    // when we stop sending early.
    let released = false;
    const stop = () => {
      if (released) return;
      released = true;
      reader.cancel(this.#error).catch(() => {});
    };
    this.#stopSource = stop;
    if (this.#error !== null) stop();
    let pendingHead = head ?? null;
    try {
      let next = read();
      let result = await settledOrPending(next);
      if (result === PENDING) {
        // Nothing to send yet (a stream that starts slowly): the head goes now.
        if (pendingHead) this.sendHeaders(pendingHead, false);
        pendingHead = null;
        result = await next;
      }
      while (true) {
        if (result.done) {
          released = true;
          if (pendingHead) this.sendHeaders(pendingHead, true);
          else if (sent !== knownLength) await this.#sendChunk(EMPTY, true);
          return;
        }
        const chunk = result.value;
        sent += chunk.length;
        if (
          free !== null && chunk.length === size && size < BYOB_MAX_CHUNK &&
          knownLength - sent > size
        ) {
          // The source had more than the buffer held, and more than that is to come:
          // the next reads take larger buffers.
          size = Math.min(size * 2, BYOB_MAX_CHUNK);
          free.length = 0;
        }
        // At the known length the body is complete: nothing more to read.
        let after: ReadableStreamReadResult<Uint8Array> | typeof PENDING = END_OF_BODY;
        if (sent !== knownLength) {
          next = read();
          after = await settledOrPending(next);
        }
        const last = after !== PENDING && after.done;
        // At the known length `after` only stands for the end: the source may go on.
        if (last && after !== END_OF_BODY) released = true;
        if (pendingHead) this.sendHeaders(pendingHead, false);
        pendingHead = null;
        // An empty chunk moves nothing: as a DATA frame without END_STREAM it would
        // count against the peer's flood guard for empty frames (RFC 9113 §10.5).
        if (chunk.length > 0 || last) await this.#sendChunk(chunk, last);
        // Its octets were copied into the output: the buffer takes a later read.
        if (free !== null && chunk.buffer.byteLength === size) {
          free.push(chunk.buffer as ArrayBuffer);
        }
        if (last || this.#error !== null || !this.localOpen) return;
        result = after === PENDING ? await next : after;
      }
    } catch (error) {
      // The source failed: the peer must not take a truncated body as complete.
      if (pendingHead) this.sendHeaders(pendingHead, false);
      this.reset(ErrorCode.INTERNAL_ERROR, error as Error);
    } finally {
      this.#stopSource = null;
      // No releaseLock(): nobody reads the source after us, and releasing builds
      // a TypeError with a stack trace for every response. A source read to its
      // end was released above; any other is cancelled.
      stop();
    }
  }

  /**
   * Takes the whole inbound body when it has already arrived (END_STREAM
   * seen), so the caller can skip a `ReadableStream`; credits the windows.
   *
   * @returns The body bytes, or `null` when more may still come.
   */
  takeCompleteBody(): Uint8Array<ArrayBuffer> | null {
    if (!this.#ended || this.#body !== null || this.#error !== null) return null;
    const chunks = this.#chunks;
    let body: Uint8Array<ArrayBuffer>;
    if (chunks.length === 1) body = chunks[0]! as Uint8Array<ArrayBuffer>;
    else {
      body = new Uint8Array(this.#queued);
      let offset = 0;
      for (const chunk of chunks) {
        body.set(chunk, offset);
        offset += chunk.length;
      }
    }
    const queued = this.#queued;
    this.#chunks = [];
    this.#queued = 0;
    this.#bodyWanted = false;
    if (queued > 0) {
      this.#meter?.remove(this, queued);
      this.#host.release(this, queued);
    }
    return body;
  }

  async #sendChunk(chunk: Uint8Array, endStream: boolean): Promise<void> {
    this.lastActivity = Date.now();
    let offset = 0;
    // Each turn sends one frame; an empty chunk still sends one (END_STREAM).
    while (true) {
      if (this.#error !== null || !this.localOpen) return;
      // Wait for the socket before queueing, not only after: one drain wakes every
      // waiting stream, and each must look again, or the backlog would reach one
      // frame per stream (16 streams of 256 KiB frames pass the 4 MiB at which the
      // connection stops answering PINGs of a peer that does not read).
      const before = this.#host.writable();
      if (before !== null) {
        await before;
        continue;
      }
      const remaining = chunk.length - offset;
      const n = remaining === 0 ? 0 : Math.min(remaining, this.#host.sendCapacity(this));
      if (n === 0 && remaining > 0) {
        await new Promise<void>((resolve) => this.#wakeWriter = resolve);
        continue;
      }
      const last = offset + n === chunk.length;
      this.#host.writeData(this, chunk.subarray(offset, offset + n), endStream && last);
      this.bytesSent += n;
      offset += n;
      if (endStream && last) this.#transition(true, false);
      if (last) {
        // The caller reads on from its source only once the socket takes more.
        const backlog = this.#host.writable();
        if (backlog !== null) await backlog;
        return;
      }
    }
  }

  /**
   * Resets the stream with RST_STREAM (RFC 9113 §6.4); pending reads and writes fail.
   *
   * @param code The error code sent.
   * @param cause Why, for the local error.
   */
  reset(code: number, cause?: Error): void {
    if (this.#state === StreamState.CLOSED) return;
    const error = new StreamError(this.id, code, `Stream reset by us: ${cause?.message ?? code}`, {
      cause,
    });
    this.#fail(error);
    this.#host.writeReset(this, code);
    this.#setClosed();
  }
}
