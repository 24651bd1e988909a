/**
 * A standard `WebSocket` object over any pair of byte streams: RFC 6455
 * messages, fragmentation, control frames and the closing handshake, with
 * the events and attributes of the WHATWG WebSocket interface. Here it runs
 * over an HTTP/2 extended CONNECT stream (RFC 8441), where the framing is
 * that of RFC 6455 unchanged (RFC 8441 §5).
 *
 * @module
 */

import {
  CloseCode,
  decodeUtf8,
  encodeClosePayload,
  encodeFrame,
  encodeFrameInto,
  frameLength,
  FrameReader,
  isValidCloseCode,
  MAX_CONTROL_PAYLOAD,
  Opcode,
  parseClosePayload,
  type WebSocketFrame,
  WebSocketProtocolError,
} from "./frame.ts";

/** The two directions of the connection a socket runs over. */
export interface WebSocketTransport {
  /** Bytes from the peer; cancelling it aborts the connection. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the peer; closing it ends our direction (END_STREAM on HTTP/2). */
  writable: WritableStream<Uint8Array>;
}

/** Options of {@linkcode StreamWebSocket}. */
export interface StreamWebSocketOptions {
  /** `"client"` masks what it sends and expects unmasked frames; `"server"` the reverse (§5.1). */
  role: "client" | "server";
  /** The `url` attribute. @default {""} */
  url?: string;
  /** The subprotocol agreed on (`protocol` attribute). @default {""} */
  protocol?: string;
  /**
   * The socket opens when this resolves (the handshake's answer went out),
   * and fails with 1006 when it rejects (the transport is then left to
   * whoever rejected it, who may still answer on it).
   * @default {opens in the next microtask}
   */
  open?: Promise<void>;
  /** The largest message received, in bytes; larger ones close with 1009. @default {67108864} */
  maxMessageSize?: number;
  /**
   * A budget shared with other sockets for the messages being received
   * (ws/message_budget.ts): a fragment that does not fit closes with 1009.
   * @default {none: only `maxMessageSize` bounds a socket}
   */
  messageBudget?: { reserve(bytes: number): boolean; release(bytes: number): void };
  /** How long the closing handshake may take before the connection is cut (ms). @default {5000} */
  closeTimeout?: number;
  /** Outgoing messages are split into frames of at most this many bytes (§5.4). @default {65536} */
  fragmentSize?: number;
  /** Send a Ping this often while open (ms), 0 for never. @default {0} */
  pingInterval?: number;
  /**
   * Awaited before each read from the transport: a relay makes the socket
   * stop reading (and the peer stop sending, by flow control) while the
   * other side is slow.
   */
  beforeRead?: () => Promise<void> | void;
  /**
   * Let `close()` send any code valid on the wire (§7.4), not only 1000 and
   * 3000-4999 as the WebSocket API allows: for relays passing a peer's code on.
   * @default {false}
   */
  anyCloseCode?: boolean;
  /**
   * Echo a peer's Close with its reason as well as its code (§5.5.1 only
   * expects the code), as Deno's own server sockets do: the peer's close
   * event then reports the reason it gave.
   * @default {false}
   */
  echoCloseReason?: boolean;
}

/** An `on…` event handler attribute's value. */
export type WebSocketEventHandler<E extends Event> = ((this: WebSocket, ev: E) => unknown) | null;
type QueuedFrame = { opcode: number; fin: boolean; payload: Uint8Array; size: number };

const CONNECTING = 0 as const;
const OPEN = 1 as const;
const CLOSING = 2 as const;
const CLOSED = 3 as const;
const utf8 = new TextEncoder();
const END = Symbol("end");
/** The most frame bytes the pump hands the transport in one write. */
const BATCH_BYTES = 256 * 1024;

// §5.3: masking keys must be unpredictable; drawn from the CSPRNG in blocks, not one call each.
const keys = new Uint8Array(4096);
let keyOffset = keys.length;

function maskKey(): Uint8Array {
  if (keyOffset === keys.length) {
    crypto.getRandomValues(keys);
    keyOffset = 0;
  }
  // A copy: the block is refilled later while the frame may still be in use.
  const key = keys.slice(keyOffset, keyOffset + 4);
  keyOffset += 4;
  return key;
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * A WebSocket over a pair of byte streams, with the API of the standard
 * `WebSocket`: `send`, `close`, `readyState`, `bufferedAmount`, `binaryType`,
 * `protocol`, and the `open`, `message`, `error` and `close` events (as
 * listeners or `on…` attributes). Beyond the standard: `ping()` and a `pong`
 * event (a `MessageEvent` carrying the payload), and `terminate()`.
 *
 * Pings are answered with pongs (§5.5.2); a Close is echoed with its code and
 * both directions are then ended (§5.5.1). Invalid frames, invalid UTF-8 and
 * messages over `maxMessageSize` fail the connection with 1002, 1007 or 1009
 * (§7.1.7), and the `close` event then reports 1006, as browsers do.
 *
 * @example Two sockets talking over in-memory streams
 * ```ts
 * import { StreamWebSocket } from "jsr:@ptth/router";
 * import { equal } from "node:assert/strict";
 * const up = new TransformStream<Uint8Array, Uint8Array>();
 * const down = new TransformStream<Uint8Array, Uint8Array>();
 * const client = new StreamWebSocket(
 *   { readable: down.readable, writable: up.writable },
 *   { role: "client" },
 * );
 * const server = new StreamWebSocket(
 *   { readable: up.readable, writable: down.writable },
 *   { role: "server" },
 * );
 * server.onmessage = (event) => server.send(`echo: ${event.data}`);
 * client.onopen = () => client.send("hi");
 * const reply = await new Promise((resolve) => client.onmessage = (e) => resolve(e.data));
 * equal(reply, "echo: hi");
 * client.close(1000, "done");
 * const closed = await new Promise<CloseEvent>((resolve) => server.onclose = resolve);
 * equal(closed.code, 1000);
 * equal(closed.reason, "done");
 * ```
 */
export class StreamWebSocket extends EventTarget implements WebSocket {
  /** The connection is not yet open. */
  static readonly CONNECTING: 0 = CONNECTING;
  /** The connection is open and ready to communicate. */
  static readonly OPEN: 1 = OPEN;
  /** The closing handshake is in progress. */
  static readonly CLOSING: 2 = CLOSING;
  /** The connection is closed. */
  static readonly CLOSED: 3 = CLOSED;
  /** The connection is not yet open. */
  readonly CONNECTING: 0 = CONNECTING;
  /** The connection is open and ready to communicate. */
  readonly OPEN: 1 = OPEN;
  /** The closing handshake is in progress. */
  readonly CLOSING: 2 = CLOSING;
  /** The connection is closed. */
  readonly CLOSED: 3 = CLOSED;
  /** The URL the connection was made to. */
  readonly url: string;
  /** The subprotocol agreed on, or `""`. */
  readonly protocol: string;
  /** The extensions agreed on: always `""` (none are negotiated). */
  readonly extensions: string = "";

  #readyState: number = CONNECTING;
  #binaryType: BinaryType = "blob";
  #bufferedAmount = 0;
  #transport: WebSocketTransport;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #frames: FrameReader;
  #client: boolean;
  #maxMessage: number;
  #closeTimeout: number;
  #fragmentSize: number;
  #beforeRead: (() => Promise<void> | void) | null;
  #anyCloseCode: boolean;
  #echoCloseReason: boolean;
  #origin: string;
  // The message being reassembled from fragments (§5.4).
  #messageOpcode = -1;
  #messageParts: Uint8Array[] = [];
  #budget: { reserve(bytes: number): boolean; release(bytes: number): void } | null;
  /** Bytes of the message being received taken from the budget. */
  #reserved = 0;
  /** The answer to the latest Ping not written yet: one is enough (RFC 6455 §5.5.3). */
  #pong: Uint8Array | null = null;
  #messageSize = 0;
  // The closing handshake (§7.1.2-7.1.4).
  #sentClose = false;
  #receivedClose: { code: number; reason: string } | null = null;
  #failed = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  // Output: control frames jump the queue (§5.4 allows them between fragments).
  #control: Uint8Array[] = [];
  #data: Array<QueuedFrame | typeof END> = [];
  #pumping = false;
  #blobChain: Promise<void> | null = null;
  #handlers = new Map<string, { fn: unknown; wrapper: EventListener }>();

  /**
   * Makes a socket over `transport`; it opens when `options.open` resolves.
   *
   * @param transport The byte streams to run over.
   * @param options Role, attributes and limits.
   */
  constructor(transport: WebSocketTransport, options: StreamWebSocketOptions) {
    super();
    this.#transport = transport;
    this.#writer = transport.writable.getWriter();
    this.#writer.closed.catch(() => {});
    this.#client = options.role === "client";
    this.url = options.url ?? "";
    this.protocol = options.protocol ?? "";
    this.#maxMessage = options.maxMessageSize ?? 64 * 1024 * 1024;
    this.#budget = options.messageBudget ?? null;
    this.#frames = new FrameReader({ masked: !this.#client, maxPayload: this.#maxMessage });
    this.#closeTimeout = options.closeTimeout ?? 5000;
    this.#fragmentSize = options.fragmentSize ?? 64 * 1024;
    this.#beforeRead = options.beforeRead ?? null;
    this.#anyCloseCode = options.anyCloseCode ?? false;
    this.#echoCloseReason = options.echoCloseReason ?? false;
    let origin = "null";
    try {
      origin = new URL(this.url).origin;
    } catch {
      // No URL: an opaque origin.
    }
    this.#origin = origin;
    const pingInterval = options.pingInterval ?? 0;
    const opened = options.open ?? Promise.resolve();
    opened.then(
      () => this.#open(pingInterval),
      (error) => this.#failBeforeOpen(error),
    );
  }

  /** `CONNECTING` (0), `OPEN` (1), `CLOSING` (2) or `CLOSED` (3). */
  get readyState(): number {
    return this.#readyState;
  }

  /** Bytes of messages queued by `send()` and not yet handed to the transport. */
  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  /** How binary messages are delivered: `"blob"` (the default) or `"arraybuffer"`. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  set binaryType(value: BinaryType) {
    // WebIDL enumeration: other values are ignored.
    if (value === "blob" || value === "arraybuffer") this.#binaryType = value;
  }

  /** Called when the connection opens. */
  get onopen(): WebSocketEventHandler<Event> {
    return this.#getHandler("open");
  }
  set onopen(fn: WebSocketEventHandler<Event>) {
    this.#setHandler("open", fn);
  }
  /** Called with each message. */
  get onmessage(): WebSocketEventHandler<MessageEvent> {
    return this.#getHandler("message");
  }
  set onmessage(fn: WebSocketEventHandler<MessageEvent>) {
    this.#setHandler("message", fn);
  }
  /** Called when the connection fails. */
  get onerror(): WebSocketEventHandler<Event> {
    return this.#getHandler("error");
  }
  set onerror(fn: WebSocketEventHandler<Event>) {
    this.#setHandler("error", fn);
  }
  /** Called once when the connection has closed. */
  get onclose(): WebSocketEventHandler<CloseEvent> {
    return this.#getHandler("close");
  }
  set onclose(fn: WebSocketEventHandler<CloseEvent>) {
    this.#setHandler("close", fn);
  }

  #getHandler<E extends Event>(type: string): WebSocketEventHandler<E> {
    return (this.#handlers.get(type)?.fn ?? null) as WebSocketEventHandler<E>;
  }

  #setHandler<E extends Event>(type: string, fn: WebSocketEventHandler<E>): void {
    const old = this.#handlers.get(type);
    if (old) this.removeEventListener(type, old.wrapper);
    this.#handlers.delete(type);
    if (typeof fn !== "function") return;
    const wrapper = (event: Event) => fn.call(this, event as E);
    this.#handlers.set(type, { fn, wrapper });
    this.addEventListener(type, wrapper);
  }

  /**
   * Queues a message: a string goes as a text message, bytes and blobs as a
   * binary one. Throws while connecting; after close, counts and discards.
   *
   * @param data The message.
   */
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (this.#readyState === CONNECTING) {
      throw new DOMException("Cannot send: the WebSocket is still connecting", "InvalidStateError");
    }
    if (data instanceof Blob) {
      this.#bufferedAmount += data.size;
      const previous = this.#blobChain ?? Promise.resolve();
      const chain: Promise<void> = previous
        .then(() => data.arrayBuffer())
        .then((buffer) => {
          this.#bufferedAmount -= data.size;
          this.#sendMessage(Opcode.BINARY, new Uint8Array(buffer));
        })
        .finally(() => {
          if (this.#blobChain === chain) this.#blobChain = null;
        });
      this.#blobChain = chain;
      return;
    }
    let opcode: number;
    let bytes: Uint8Array;
    if (typeof data === "string") {
      opcode = Opcode.TEXT;
      bytes = utf8.encode(data);
    } else if (ArrayBuffer.isView(data)) {
      opcode = Opcode.BINARY;
      // Copied: the caller may reuse its buffer once send() returns.
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    } else {
      opcode = Opcode.BINARY;
      bytes = new Uint8Array(data).slice();
    }
    const blobs = this.#blobChain;
    if (blobs === null) return this.#sendMessage(opcode, bytes);
    // Order holds across blobs still being read.
    this.#bufferedAmount += bytes.length;
    this.#blobChain = blobs.then(() => {
      this.#bufferedAmount -= bytes.length;
      this.#sendMessage(opcode, bytes);
    });
  }

  #sendMessage(opcode: number, bytes: Uint8Array): void {
    // HTML: once closing, data is counted in bufferedAmount and discarded.
    this.#bufferedAmount += bytes.length;
    if (this.#readyState !== OPEN || this.#sentClose) return;
    const size = this.#fragmentSize;
    if (bytes.length <= size) {
      this.#data.push({ opcode, fin: true, payload: bytes, size: bytes.length });
    } else {
      // §5.4: a message in fragments, the first with the opcode, the rest CONTINUATION.
      for (let offset = 0; offset < bytes.length; offset += size) {
        const payload = bytes.subarray(offset, offset + size);
        this.#data.push({
          opcode: offset === 0 ? opcode : Opcode.CONTINUATION,
          fin: offset + size >= bytes.length,
          payload,
          size: payload.length,
        });
      }
    }
    this.#pump();
  }

  /**
   * Sends a Ping (§5.5.2); the peer's Pong arrives as a `pong` event. Not in
   * the WebSocket API; Node's `ws` has the same.
   *
   * @param data Up to 125 bytes of payload.
   */
  ping(data: string | Uint8Array = new Uint8Array(0)): void {
    if (this.#readyState !== OPEN) {
      throw new DOMException("Cannot ping: the WebSocket is not open", "InvalidStateError");
    }
    const payload = typeof data === "string" ? utf8.encode(data) : data.slice();
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      throw new RangeError(`Ping payload exceeds ${MAX_CONTROL_PAYLOAD} bytes`);
    }
    this.#queueControl(Opcode.PING, payload);
  }

  /**
   * Starts the closing handshake (§7.1.2): queues a Close frame after the
   * messages already queued and ends our direction; the `close` event fires
   * when the peer has answered and ended its own, or `closeTimeout` later.
   *
   * @param code 1000 or 3000-4999 (any code valid on the wire with `anyCloseCode`).
   * @param reason At most 123 bytes of UTF-8.
   */
  close(code?: number, reason?: string): void {
    if (code !== undefined) {
      const allowed = this.#anyCloseCode
        ? isValidCloseCode(code)
        : code === CloseCode.NORMAL || (code >= 3000 && code <= 4999);
      if (!allowed) {
        throw new DOMException(
          `Cannot close: code ${code} is neither 1000 nor in 3000-4999`,
          "InvalidAccessError",
        );
      }
    }
    const payload = (() => {
      try {
        return encodeClosePayload(code ?? (reason ? CloseCode.NORMAL : undefined), reason ?? "");
      } catch (error) {
        throw new DOMException((error as Error).message, "SyntaxError");
      }
    })();
    if (this.#readyState === CLOSING || this.#readyState === CLOSED) return;
    if (this.#readyState === CONNECTING) {
      // HTML: closing before the connection is established fails it.
      this.#readyState = CLOSING;
      this.#failed = true;
      return;
    }
    this.#readyState = CLOSING;
    this.#sendClose(payload);
  }

  /**
   * Cuts the connection at once, without a closing handshake (the peer sees
   * 1006); the `close` event follows with 1006. Not in the WebSocket API.
   */
  terminate(): void {
    if (this.#readyState === CLOSED) return;
    this.#failed = true;
    this.#abortTransport(new Error("WebSocket terminated"));
    if (this.#reader === null) this.#finish(CloseCode.ABNORMAL, "", false);
  }

  // ---- opening -------------------------------------------------------------

  #open(pingInterval: number): void {
    if (this.#readyState !== CONNECTING) {
      // close() was called while connecting: fail now that we can.
      this.#abortTransport(new Error("WebSocket closed before it opened"));
      this.#dispatchError("WebSocket closed before the connection was established");
      this.#finish(CloseCode.ABNORMAL, "", false);
      return;
    }
    this.#readyState = OPEN;
    if (pingInterval > 0) {
      this.#pingTimer = setInterval(() => {
        if (this.#readyState === OPEN) this.#queueControl(Opcode.PING, new Uint8Array(0));
      }, pingInterval);
    }
    this.dispatchEvent(new Event("open"));
    this.#readLoop();
  }

  #failBeforeOpen(error: unknown): void {
    if (this.#readyState === CLOSED) return;
    // The transport stays with whoever refused the opening: it may still answer on it.
    this.#dispatchError(`WebSocket connection failed: ${(error as Error)?.message ?? error}`);
    this.#finish(CloseCode.ABNORMAL, "", false);
  }

  // ---- reading -------------------------------------------------------------

  async #readLoop(): Promise<void> {
    const reader = this.#transport.readable.getReader();
    this.#reader = reader;
    let discard = false;
    let error: unknown = null;
    try {
      while (true) {
        if (this.#beforeRead !== null && !discard) await this.#beforeRead();
        const { value, done } = await reader.read();
        if (done) break;
        if (discard || this.#readyState === CLOSED) continue;
        try {
          this.#frames.push(value);
          let frame: WebSocketFrame | null;
          while (!discard && (frame = this.#frames.next()) !== null) discard = this.#onFrame(frame);
        } catch (failure) {
          if (!(failure instanceof WebSocketProtocolError)) throw failure;
          discard = true;
          this.#fail(failure.code, failure.message);
        }
      }
    } catch (failure) {
      error = failure;
    }
    this.#onInboundEnd(error);
  }

  /** Handles one frame; returns whether nothing more should be read but the end. */
  #onFrame(frame: WebSocketFrame): boolean {
    switch (frame.opcode) {
      case Opcode.CLOSE:
        return this.#onClose(frame.payload);
      case Opcode.PING:
        // §5.5.2: answer with a Pong carrying the same payload, unless closing. §5.5.3: a
        // Pong for the latest Ping is enough, so a peer that pings and never reads holds
        // one Pong here, not one per Ping.
        if (!this.#sentClose) {
          this.#pong = encodeFrame(Opcode.PONG, frame.payload, {
            mask: this.#client ? maskKey() : false,
          });
          this.#pump();
        }
        return false;
      case Opcode.PONG:
        this.dispatchEvent(new MessageEvent("pong", { data: frame.payload }));
        return false;
      case Opcode.CONTINUATION:
        // §5.4: a continuation must follow a fragment of a started message.
        if (this.#messageOpcode < 0) {
          throw new WebSocketProtocolError(
            CloseCode.PROTOCOL_ERROR,
            "Continuation without a message",
          );
        }
        break;
      default:
        // §5.4: a new message may not start inside a fragmented one.
        if (this.#messageOpcode >= 0) {
          throw new WebSocketProtocolError(
            CloseCode.PROTOCOL_ERROR,
            "Expected a continuation frame",
          );
        }
        this.#messageOpcode = frame.opcode;
    }
    this.#messageSize += frame.payload.length;
    if (this.#messageSize > this.#maxMessage) {
      throw new WebSocketProtocolError(
        CloseCode.MESSAGE_TOO_BIG,
        `Message exceeds the limit of ${this.#maxMessage} bytes`,
      );
    }
    if (this.#budget !== null) {
      if (!this.#budget.reserve(frame.payload.length)) {
        throw new WebSocketProtocolError(
          CloseCode.MESSAGE_TOO_BIG,
          "Message does not fit in the buffers shared by this server's WebSockets now",
        );
      }
      this.#reserved += frame.payload.length;
    }
    this.#messageParts.push(frame.payload);
    if (frame.fin) this.#deliver();
    return false;
  }

  /** Gives the bytes of the message being received back to the shared budget. */
  #releaseMessage(): void {
    if (this.#reserved === 0) return;
    this.#budget?.release(this.#reserved);
    this.#reserved = 0;
  }

  #deliver(): void {
    const parts = this.#messageParts;
    const opcode = this.#messageOpcode;
    const bytes = (parts.length === 1 ? parts[0]! : concat(parts, this.#messageSize)) as Uint8Array<
      ArrayBuffer
    >;
    this.#messageParts = [];
    this.#messageSize = 0;
    this.#messageOpcode = -1;
    this.#releaseMessage();
    let data: string | ArrayBuffer | Blob;
    if (opcode === Opcode.TEXT) data = decodeUtf8(bytes); // §8.1: 1007 when invalid.
    else if (this.#binaryType === "arraybuffer") {
      data = bytes.byteLength === bytes.buffer.byteLength
        ? bytes.buffer
        : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    } else data = new Blob([bytes]);
    // HTML: messages arriving after close() are dropped.
    if (this.#readyState !== OPEN) return;
    this.dispatchEvent(new MessageEvent("message", { data, origin: this.#origin }));
  }

  /** The peer's Close (§5.5.1): echo it, end our side, wait for the peer's end. */
  #onClose(payload: Uint8Array): boolean {
    const { code, reason } = parseClosePayload(payload);
    this.#receivedClose = { code, reason };
    if (this.#readyState === OPEN) this.#readyState = CLOSING;
    if (!this.#sentClose) {
      // §5.5.1: reply with a Close, typically echoing the status code received.
      this.#sendClose(
        encodeClosePayload(
          code === CloseCode.NO_STATUS ? undefined : code,
          this.#echoCloseReason ? reason : "",
        ),
      );
    }
    return true;
  }

  #onInboundEnd(error: unknown): void {
    this.#reader = null;
    if (this.#readyState === CLOSED) return;
    const received = this.#receivedClose;
    if (received !== null && this.#sentClose && !this.#failed) {
      // §7.1.4: the closing handshake is complete.
      return this.#finish(received.code, received.reason, true);
    }
    // Ended without a Close frame (or after a failure): abnormal closure (§7.1.5).
    this.#abortTransport(error ?? new Error("Connection ended without a Close frame"));
    if (!this.#failed && error !== null && this.#readyState === OPEN) {
      this.#dispatchError(`WebSocket connection lost: ${(error as Error)?.message ?? error}`);
    }
    this.#finish(CloseCode.ABNORMAL, "", false);
  }

  /** §7.1.7: fail the connection: send a Close with `code`, then stop. */
  #fail(code: number, message: string): void {
    if (this.#failed || this.#readyState === CLOSED) return;
    this.#failed = true;
    this.#readyState = CLOSING;
    if (!this.#sentClose) {
      this.#sendClose(encodeClosePayload(code, message.slice(0, 100)));
    }
    this.#dispatchError(`WebSocket protocol error: ${message}`);
  }

  // ---- writing -------------------------------------------------------------

  #sendClose(payload: Uint8Array): void {
    this.#sentClose = true;
    this.#data.push({ opcode: Opcode.CLOSE, fin: true, payload, size: 0 }, END);
    this.#pump();
    // A peer that never answers or never ends its side is cut off.
    this.#closeTimer = setTimeout(() => {
      // Both Close frames crossed: only the end of the peer's side is missing.
      if (this.#receivedClose === null) this.#failed = true;
      this.#abortTransport(new Error("Closing handshake timed out"));
      if (this.#reader === null) this.#finish(CloseCode.ABNORMAL, "", false);
    }, this.#closeTimeout);
  }

  #queueControl(opcode: number, payload: Uint8Array): void {
    if (this.#sentClose) return; // §5.5.1: nothing follows our Close.
    this.#control.push(encodeFrame(opcode, payload, { mask: this.#client ? maskKey() : false }));
    this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    const writer = this.#writer;
    try {
      while (true) {
        const pong = this.#pong;
        if (pong !== null) {
          this.#pong = null;
          await writer.ready;
          await writer.write(pong);
          continue;
        }
        const control = this.#control.shift();
        if (control !== undefined) {
          await writer.ready;
          await writer.write(control);
          continue;
        }
        const first = this.#data[0];
        if (first === undefined) break;
        if (first === END) {
          this.#control.length = 0;
          this.#pong = null;
          this.#data.length = 0;
          await writer.close();
          break;
        }
        // Frames queued meanwhile go out as one write (up to BATCH_BYTES), encoded
        // straight into one buffer.
        let count = 0;
        let bytes = 0;
        let size = 0;
        for (const item of this.#data) {
          if (item === END || bytes >= BATCH_BYTES) break;
          bytes += frameLength(item.payload.length, this.#client);
          size += item.size;
          count++;
        }
        const batch = new Uint8Array(bytes);
        let offset = 0;
        for (const item of this.#data.splice(0, count) as QueuedFrame[]) {
          offset = encodeFrameInto(batch, offset, item.opcode, item.payload, {
            fin: item.fin,
            mask: this.#client ? maskKey() : false,
          });
        }
        await writer.ready;
        await writer.write(batch);
        this.#bufferedAmount -= size;
      }
    } catch (error) {
      // The transport failed under us (stream reset, connection lost).
      this.#control.length = 0;
      this.#pong = null;
      this.#data.length = 0;
      if (this.#readyState !== CLOSED) this.#abortTransport(error);
    } finally {
      this.#pumping = false;
    }
  }

  #abortTransport(reason: unknown): void {
    this.#writer.abort(reason).catch(() => {});
    if (this.#reader !== null) this.#reader.cancel(reason).catch(() => {});
    else this.#transport.readable.cancel(reason).catch(() => {});
  }

  // ---- events ----------------------------------------------------------------

  #dispatchError(message: string): void {
    this.dispatchEvent(new ErrorEvent("error", { message }));
  }

  #finish(code: number, reason: string, wasClean: boolean): void {
    if (this.#readyState === CLOSED) return;
    this.#readyState = CLOSED;
    // A message left unfinished holds no part of the shared budget any more.
    this.#messageParts = [];
    this.#releaseMessage();
    clearTimeout(this.#closeTimer);
    clearInterval(this.#pingTimer);
    this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean }));
  }
}
