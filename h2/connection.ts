/**
 * What both HTTP/2 roles share: the read loop that parses every complete frame
 * in its buffer before awaiting again, the write queue that sends everything
 * queued in one turn as one write (sooner once 512 bytes wait), SETTINGS,
 * PING, GOAWAY, flow control and the stream table. The client and server
 * roles sit on top through {@linkcode ConnectionHooks}.
 *
 * @module
 */

import {
  CLIENT_PREFACE,
  DEFAULT_HEADER_TABLE_SIZE,
  DEFAULT_INITIAL_WINDOW_SIZE,
  DEFAULT_MAX_FRAME_SIZE,
  ErrorCode,
  errorCodeName,
  FRAME_HEADER_LENGTH,
  FrameType,
  MAX_WINDOW_SIZE,
  SettingId,
} from "./constants.ts";
import { ConnectionError, Http2Error, StreamError } from "./errors.ts";
import {
  type Frame,
  type FrameHeader,
  FrameWriter,
  parseFrame,
  readFrameHeader,
  ShrinkRule,
} from "./frame.ts";
import type { BufferMeter } from "./buffer_meter.ts";
import { ReceiveWindow, SendWindow } from "./flow.ts";
import { HeaderListSizeError, HpackDecoder, HpackEncoder, HpackError } from "./hpack/mod.ts";
import { StreamTable } from "./stream_table.ts";
import { everyTick } from "./ticker.ts";
import { Http2Stream, type StreamHost } from "./stream.ts";

/**
 * The byte stream a connection runs over. `Deno.Conn` fits as it is; tests
 * and other transports (TLS, WebSocket) implement these three methods.
 */
export interface ByteIO {
  /** Reads into `p`; resolves to the count, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to the count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes both directions. */
  close(): void;
  /** Turns Nagle's algorithm off, where the transport has it (TCP). */
  setNoDelay?(noDelay: boolean): void;
}

/** The settings this endpoint advertises (RFC 9113 §6.5.2). */
export interface LocalSettings {
  /** SETTINGS_HEADER_TABLE_SIZE for our HPACK decoder. @default {4096} */
  headerTableSize?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS the peer may open. @default {1024} */
  maxConcurrentStreams?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE for streams. @default {1048576} */
  initialWindowSize?: number;
  /** SETTINGS_MAX_FRAME_SIZE. @default {16384} */
  maxFrameSize?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE. @default {65536} */
  maxHeaderListSize?: number;
  /** SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), server role only. @default {false} */
  enableConnectProtocol?: boolean;
}

/** Options of a {@linkcode Connection}. */
export interface ConnectionOptions {
  /** What we advertise. */
  settings?: LocalSettings;
  /** The connection-level receive window. @default {16777216} */
  connectionWindowSize?: number;
  /**
   * When the connection-level receive window is given back (RFC 9113 §6.9.1):
   * `"read"`, as the application reads each stream's DATA, so that the
   * connection window bounds what all streams hold together; or `"arrival"`,
   * as DATA arrives, so that streams whose readers stopped hold only their own
   * stream windows and never stall the other streams (bound what they hold
   * together with `bufferMeter`).
   * @default {"read"}
   */
  connectionCredit?: "read" | "arrival";
  /** Counts the inbound octets streams hold for their readers; may be shared by connections. */
  bufferMeter?: BufferMeter;
  /**
   * Liveness: PING a connection that has been silent (or unable to write) for
   * `interval` ms, and close it when no PING ACK arrives within `timeout` ms,
   * even if TCP has not noticed. Off when omitted.
   */
  keepalive?: { interval: number; timeout: number };
  /** Bytes to send before the connection preface, in the same write. */
  prelude?: Uint8Array;
  /**
   * Runs the flush of queued frames. The default, a microtask, writes as soon
   * as the current job ends; a runtime's "after I/O" hook (Node's and Deno's
   * `setImmediate`) coalesces the frames of every event handled in one turn
   * of the event loop into one write.
   * @default {queueMicrotask}
   */
  schedule?: (task: () => void) => void;
  /** Told the round-trip time of each keepalive PING (ms). */
  onRtt?: (ms: number) => void;
}

/** How a role reacts to what the read loop sees. */
export interface ConnectionHooks {
  /** The peer opened a stream (server role) with this decoded header block. */
  onStream?(stream: Http2Stream, fields: string[] | null, endStream: boolean): void;
  /**
   * A header block arrived on a stream we opened (client role), or trailers on
   * any stream. Return `false` for an interim (1xx) head that does not count as
   * the message head.
   */
  onHeaders?(stream: Http2Stream, fields: string[], endStream: boolean): boolean | void;
  /** The peer sent GOAWAY. */
  onGoaway?(lastStreamId: number, errorCode: number, debug: string): void;
  /** The peer's SETTINGS were applied (its limits may have changed). */
  onSettings?(): void;
  /** A stream-level protocol problem we answered with RST_STREAM, or a connection error. */
  onProtocolError?(error: Http2Error): void;
}

/** The largest output backlog before senders wait for the socket (bytes). */
const WRITE_HIGH_WATER = 256 * 1024;
/** Output backlog at which we stop answering PING/SETTINGS of a peer that does not read. */
const CONTROL_BACKLOG_LIMIT = 4 * 1024 * 1024;
/**
 * Frames that cost work but carry no request (PING, SETTINGS, PRIORITY, empty
 * DATA, unknown types, RST_STREAM and stream errors on streams already closed)
 * are limited by a token bucket: this many at once, refilled at FLOOD_RATE per
 * second. Beyond it the peer is flooding (ping, settings and reset floods,
 * CVE-2019-9512/9514/9515; empty frames, CVE-2019-9518) and gets GOAWAY
 * ENHANCE_YOUR_CALM (§10.5). Resetting an open stream, or provoking its reset,
 * is not counted: it is how a proxy passes a client's cancellation on, and the
 * work a reset stream may still cause (rapid reset, CVE-2023-44487; MadeYouReset,
 * CVE-2025-8671) is bounded where it is done, by the server role counting the
 * handlers that still run (server.ts).
 */
const FLOOD_BURST = 5000;
const FLOOD_RATE = 1000;
/** How many closed stream identifiers we remember, to tell closed from idle (§5.1). */
const CLOSED_MEMORY = 1024;
/**
 * The read buffer starts small, so that an idle tunnel costs little memory,
 * and doubles (up to READ_BUFFER_MAX) whenever a read fills it: busy
 * connections then read in large chunks, with fewer system calls. After
 * a run of reads that used little of a grown buffer (ShrinkRule), it goes
 * back to the small size, so a tunnel that carried one bulk transfer does
 * not keep a megabyte for good.
 */
const READ_BUFFER_SIZE = 1024;
const READ_BUFFER_MAX = 64 * 1024;
/**
 * A DATA payload of which at least this much has still to arrive is read
 * straight into a buffer of its own (see the read loop): bulk transfers then
 * cost the kernel's copy only. Less than that is cheaper to copy than to read
 * on its own.
 */
const DIRECT_READ_MIN = 32 * 1024;
/**
 * Frames queued in one turn of the event loop leave in one write, but once
 * this many bytes wait they leave without waiting for the turn to end. Else
 * a batch travels as a convoy: the peer idles until we have prepared all of
 * it, and we idle while it answers all of it. Writing the first part early
 * lets both ends work at once. About ten small requests or responses fill it.
 */
const EARLY_WRITE_BYTES = 512;

const EMPTY_IDS = new Int32Array(0);
const EMPTY_HOW = new Uint8Array(0);

/** The payload of our next PING, filled in and copied out by each {@linkcode Connection.ping}. */
const PING_PAYLOAD = new Uint8Array(8);

/**
 * Recently closed streams and how each closed, in fixed typed arrays indexed
 * by id: ids only grow, so recent ids land in distinct slots and an old id
 * is simply overwritten (no allocation per stream).
 */
class ClosedStreams {
  // Allocated on the first close: an idle tunnel should cost little memory.
  #ids: Int32Array = EMPTY_IDS;
  #how: Uint8Array = EMPTY_HOW;
  #size: number;
  #mask: number;
  constructor(size: number) {
    this.#size = size;
    this.#mask = size - 1; // size is a power of two
  }
  #slot(id: number): number {
    // A connection's streams mostly share one parity (§5.1.1): halve first, or half the slots idle.
    return (id >>> 1) & this.#mask;
  }
  set(id: number, how: Closed): void {
    if (this.#ids.length === 0) {
      this.#ids = new Int32Array(this.#size);
      this.#how = new Uint8Array(this.#size);
    }
    const slot = this.#slot(id);
    this.#ids[slot] = id;
    this.#how[slot] = how;
  }
  get(id: number): Closed | undefined {
    if (this.#ids.length === 0) return undefined;
    const slot = this.#slot(id);
    return this.#ids[slot] === id ? this.#how[slot] as Closed : undefined;
  }
  has(id: number): boolean {
    return this.get(id) !== undefined;
  }
}

/** How a remembered stream closed: after our RST_STREAM, late frames are ignored (§5.1). */
const Closed = { NORMALLY: 0, RESET_BY_US: 1, RESET_BY_PEER: 2 } as const;
type Closed = typeof Closed[keyof typeof Closed];

/**
 * One HTTP/2 connection in either role. It owns the stream table, the HPACK
 * contexts, the windows and the socket; roles act on it through hooks and
 * {@linkcode Http2Stream} methods.
 *
 * @example Wire a client and a server connection together in memory
 * ```ts
 * import { Connection } from "./connection.ts";
 * import { memoryPipe } from "./memory_pipe.ts";
 * import { equal } from "node:assert/strict";
 * const [a, b] = memoryPipe();
 * const client = new Connection(a, "client", {});
 * const server = new Connection(b, "server", {});
 * client.start();
 * server.start();
 * equal(typeof await client.ping(), "number");
 * client.close();
 * await server.closed;
 * ```
 */
export class Connection implements StreamHost {
  /** `"client"` opens odd streams and sends the preface; `"server"` answers. */
  readonly role: "client" | "server";
  /** Resolves when the socket is closed and every stream has ended. */
  readonly closed: Promise<void>;
  /** Resolves when the peer's first SETTINGS arrived (its limits are known). */
  readonly ready: Promise<void>;
  /** Resolves when the peer acknowledged our SETTINGS (it has read our preface). */
  readonly acknowledged: Promise<void>;
  /** Where streams count the inbound octets they hold for their readers, if anywhere. */
  readonly bufferMeter: BufferMeter | null;

  #io: ByteIO;
  #hooks: ConnectionHooks = {};
  #encoder = new HpackEncoder();
  #decoder: HpackDecoder;
  // Not a Map: see stream_table.ts for why churn in a Map costs the garbage collector.
  #streams = new StreamTable<Http2Stream>();
  #recentlyClosed = new ClosedStreams(CLOSED_MEMORY);
  #nextStreamId: number;
  #lastPeerStreamId = 0;
  #activePeerStreams = 0;
  #activeLocalStreams = 0;
  #local: Required<LocalSettings>;
  // The peer's settings, defaults until its SETTINGS frame (§6.5.2).
  #peerInitialWindow = DEFAULT_INITIAL_WINDOW_SIZE;
  #peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  #peerMaxConcurrent = Infinity;
  #peerMaxHeaderListSize = Infinity;
  #peerConnectProtocol = false;
  #sendWindow = new SendWindow(DEFAULT_INITIAL_WINDOW_SIZE);
  #receiveWindow = new ReceiveWindow(DEFAULT_INITIAL_WINDOW_SIZE);
  #connectionWindowSize: number;
  #creditOnArrival: boolean;
  #sawSettings = false;
  #resolveReady!: () => void;
  #resolveAcknowledged!: () => void;
  #resolveClosed!: () => void;
  // Header block being assembled across CONTINUATION frames (§6.10).
  #blockStream = 0;
  #blockEndStream = false;
  #blockDependency = -1;
  // Made on first use: most header blocks fit one frame and are decoded in place.
  #block = new Uint8Array(0);
  #blockLength = 0;
  // Output: frames queued in one turn go out in one write (sooner once
  // EARLY_WRITE_BYTES wait); two buffers alternate.
  #out = new FrameWriter(256);
  #spare = new FrameWriter(256);
  #writing = false;
  #flushQueued = false;
  #drainWaiters: Array<() => void> = [];
  #windowWaiters = new Set<Http2Stream>();
  #pings = new Map<
    number,
    { start: number; resolve: (rtt: number) => void; reject: (error: Error) => void }
  >();
  #pingCounter = 0;
  #goawaySent = false;
  #goawayReceived = false;
  #peerGoaway: { code: number; debug: string } | null = null;
  #peerLastStreamId = 0x7fff_ffff;
  #closing = false;
  #ioClosed = false;
  #error: Error | null = null;
  // Liveness (keepalive option).
  #lastRead = Date.now();
  #writeStarted = 0;
  #pingSentAt = 0;
  #stopKeepalive: (() => void) | null = null;
  #keepalive: { interval: number; timeout: number } | null;
  #prelude: Uint8Array | null;
  #schedule: (task: () => void) => void;
  #onRtt: ((ms: number) => void) | null;
  // Flood guards: frames that cost us work but carry no request (RFC 9113 §10.5).
  #budget = FLOOD_BURST;
  #budgetAt = Date.now();

  /**
   * @param io The byte stream.
   * @param role Which end we are.
   * @param options Settings and windows.
   */
  constructor(io: ByteIO, role: "client" | "server", options: ConnectionOptions = {}) {
    this.#io = io;
    // A response's HEADERS and DATA leave in separate writes: with Nagle's algorithm on,
    // the second waits for the peer's delayed ACK. Go does the same.
    try {
      io.setNoDelay?.(true);
    } catch {
      // Not a TCP socket after all, or already closed.
    }
    this.role = role;
    this.#nextStreamId = role === "client" ? 1 : 2;
    const s = options.settings ?? {};
    this.#local = {
      headerTableSize: s.headerTableSize ?? 4096,
      maxConcurrentStreams: s.maxConcurrentStreams ?? 1024,
      initialWindowSize: s.initialWindowSize ?? 1024 * 1024,
      maxFrameSize: s.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
      maxHeaderListSize: s.maxHeaderListSize ?? 65_536,
      enableConnectProtocol: s.enableConnectProtocol ?? false,
    };
    this.#connectionWindowSize = options.connectionWindowSize ?? 16 * 1024 * 1024;
    this.#creditOnArrival = options.connectionCredit === "arrival";
    this.bufferMeter = options.bufferMeter ?? null;
    this.#keepalive = options.keepalive ?? null;
    this.#prelude = options.prelude ?? null;
    this.#schedule = options.schedule ?? queueMicrotask;
    this.#onRtt = options.onRtt ?? null;
    this.#decoder = new HpackDecoder({
      // Until the peer acknowledges our SETTINGS it may use the default table size (§6.5.3).
      maxTableSize: Math.max(this.#local.headerTableSize, DEFAULT_HEADER_TABLE_SIZE),
      maxHeaderListSize: this.#local.maxHeaderListSize,
    });
    this.ready = new Promise((resolve) => this.#resolveReady = resolve);
    this.acknowledged = new Promise((resolve) => this.#resolveAcknowledged = resolve);
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** The settings we advertised. */
  get localSettings(): Readonly<Required<LocalSettings>> {
    return this.#local;
  }

  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (Infinity until it says). */
  get peerMaxConcurrentStreams(): number {
    return this.#peerMaxConcurrent;
  }

  /** The peer's SETTINGS_MAX_HEADER_LIST_SIZE (Infinity until it says). */
  get peerMaxHeaderListSize(): number {
    return this.#peerMaxHeaderListSize;
  }

  /** Whether the peer allows extended CONNECT (RFC 8441). */
  get peerEnablesConnectProtocol(): boolean {
    return this.#peerConnectProtocol;
  }

  /** Streams we opened that are not closed yet. */
  get activeLocalStreams(): number {
    return this.#activeLocalStreams;
  }

  /** Streams the peer opened that are not closed yet. */
  get activePeerStreams(): number {
    return this.#activePeerStreams;
  }

  /** Whether new streams may be opened: not closing, no GOAWAY either way, ids left. */
  get canOpenStream(): boolean {
    return !this.#closing && !this.#goawaySent && !this.#goawayReceived &&
      this.#nextStreamId <= 0x7fff_ffff && !this.#ioClosed;
  }

  /** Whether the socket is still open. */
  get isOpen(): boolean {
    return !this.#ioClosed && !this.#closing;
  }

  /** Why the connection ended, if it ended with an error. */
  get error(): Error | null {
    return this.#error;
  }

  /** The peer's GOAWAY, once one arrived: its error code and debug data (RFC 9113 §6.8). */
  get peerGoaway(): { code: number; debug: string } | null {
    return this.#peerGoaway;
  }

  /**
   * Sends our preface and starts the read loop.
   *
   * @param hooks What the role does with streams and events.
   */
  start(hooks: ConnectionHooks = {}): void {
    this.#hooks = hooks;
    // §3.4: the client preface, then SETTINGS (the server's preface is its SETTINGS).
    // Bytes owed to the transport before HTTP/2 (a tunnel handshake's answer)
    // leave in the same write as the preface.
    if (this.#prelude !== null) this.#out.append(this.#prelude);
    if (this.role === "client") this.#out.append(CLIENT_PREFACE);
    const settings: Array<[number, number]> = [
      [SettingId.HEADER_TABLE_SIZE, this.#local.headerTableSize],
      [SettingId.MAX_CONCURRENT_STREAMS, this.#local.maxConcurrentStreams],
      [SettingId.INITIAL_WINDOW_SIZE, this.#local.initialWindowSize],
      [SettingId.MAX_FRAME_SIZE, this.#local.maxFrameSize],
      [SettingId.MAX_HEADER_LIST_SIZE, this.#local.maxHeaderListSize],
    ];
    if (this.role === "client") settings.push([SettingId.ENABLE_PUSH, 0]);
    if (this.role === "server" && this.#local.enableConnectProtocol) {
      settings.push([SettingId.ENABLE_CONNECT_PROTOCOL, 1]);
    }
    this.#out.settings(settings);
    const increment = this.#receiveWindow.grow(this.#connectionWindowSize);
    if (increment > 0) this.#out.windowUpdate(0, increment);
    this.#scheduleFlush();
    this.#readLoop();
    const keepalive = this.#keepalive;
    if (keepalive) {
      this.#stopKeepalive = everyTick(
        Math.max(10, Math.min(keepalive.interval, keepalive.timeout) / 4),
        () => this.#checkLiveness(keepalive.interval, keepalive.timeout),
      );
    }
  }

  #checkLiveness(interval: number, timeout: number): void {
    const now = Date.now();
    if (this.#pingSentAt !== 0) {
      if (now - this.#pingSentAt > timeout) {
        this.#error ??= new ConnectionError(
          ErrorCode.NO_ERROR,
          `Peer did not answer PING within ${timeout} ms`,
        );
        this.close(this.#error);
      }
      return;
    }
    // Silent peer, or a peer that stopped reading (our write does not complete).
    const silent = now - this.#lastRead >= interval;
    const stuck = this.#writing && this.#writeStarted !== 0 && now - this.#writeStarted >= interval;
    if (silent || stuck) {
      this.#pingSentAt = now;
      this.ping().then((rtt) => {
        this.#pingSentAt = 0;
        this.#onRtt?.(rtt);
      }, () => {});
    }
  }

  /** Takes one unit of the flood budget; throws ENHANCE_YOUR_CALM when it runs out. */
  #spend(what: string): void {
    if (--this.#budget >= 0) return;
    const now = Date.now();
    this.#budget = Math.min(
      FLOOD_BURST,
      this.#budget + ((now - this.#budgetAt) * FLOOD_RATE) / 1000,
    );
    this.#budgetAt = now;
    if (this.#budget < 0) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `Flood of ${what} frames`);
    }
  }

  /**
   * Opens a stream of our own (client role) and sends its header block.
   *
   * @param fields The flat field list, pseudo-headers first.
   * @param endStream Whether no body follows.
   * @returns The new stream.
   * @throws {ConnectionError} REFUSED_STREAM-like when no stream may be opened.
   */
  openStream(fields: string[], endStream: boolean): Http2Stream {
    if (!this.canOpenStream) {
      throw new ConnectionError(
        ErrorCode.REFUSED_STREAM,
        "Cannot open stream: connection is closing",
      );
    }
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = new Http2Stream(
      id,
      this,
      this.#peerInitialWindow,
      this.#local.initialWindowSize,
    );
    this.#streams.set(id, stream);
    this.#activeLocalStreams++;
    stream.sendHeaders(fields, endStream);
    return stream;
  }

  /**
   * Resets every stream whose body has not moved since `before` (CANCEL), so
   * a stalled peer cannot hold a stream open forever.
   *
   * @param before A time in ms since the epoch.
   * @returns How many streams were reset.
   */
  resetIdleStreams(before: number): number {
    let reset = 0;
    for (const stream of this.#streams.values()) {
      if (stream.lastActivity < before) {
        stream.reset(ErrorCode.CANCEL, new Error("Stream idle timeout"));
        reset++;
      }
    }
    return reset;
  }

  /**
   * Sends PING and measures the round trip (RFC 9113 §6.7).
   *
   * @returns The round-trip time in milliseconds.
   */
  ping(): Promise<number> {
    // Our PINGs carry a counter in their last four octets; the ACK echoes it (§6.7).
    const id = this.#pingCounter = (this.#pingCounter + 1) >>> 0;
    PING_PAYLOAD[4] = id >>> 24;
    PING_PAYLOAD[5] = id >>> 16;
    PING_PAYLOAD[6] = id >>> 8;
    PING_PAYLOAD[7] = id;
    return new Promise((resolve, reject) => {
      if (this.#ioClosed) return reject(this.#error ?? new Error("Cannot ping: connection closed"));
      this.#pings.set(id, { start: performance.now(), resolve, reject });
      this.#out.ping(false, PING_PAYLOAD);
      this.#scheduleFlush();
    });
  }

  /**
   * Starts a graceful shutdown: sends GOAWAY with the last stream we accepted,
   * refuses new streams, and closes once the open ones finish (RFC 9113 §6.8).
   *
   * @param code The error code to send.
   * @param debug Diagnostic text for the peer.
   */
  goaway(code: number = ErrorCode.NO_ERROR, debug = ""): void {
    if (this.#goawaySent || this.#ioClosed) return;
    this.#goawaySent = true;
    this.#out.goaway(this.#lastPeerStreamId, code, new TextEncoder().encode(debug));
    this.#scheduleFlush();
    this.#closeIfIdle();
  }

  #shutdownTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Shuts down gracefully in two steps (RFC 9113 §6.8): a GOAWAY with the
   * highest stream id stops the peer from opening streams without refusing
   * those already on their way; once a PING round trip shows the peer has seen
   * it (or after `wait` ms), {@linkcode Connection.goaway} names the last
   * stream accepted, and the connection closes when the open streams are done.
   * Closing right after a single GOAWAY would reset streams the peer sent
   * meanwhile, and those it cannot tell were never processed.
   *
   * @param wait The longest wait for the PING round trip (ms).
   */
  shutdown(wait = 1000): void {
    if (this.#goawaySent || this.#ioClosed || this.#shutdownTimer !== undefined) return;
    this.#out.goaway(0x7fff_ffff, ErrorCode.NO_ERROR);
    const final = () => {
      clearTimeout(this.#shutdownTimer);
      this.goaway();
    };
    this.#shutdownTimer = setTimeout(final, wait);
    this.ping().then(final, final);
  }

  /**
   * Closes the connection now: GOAWAY if not sent yet, then the socket; open
   * streams fail with `error` (or a plain "connection closed").
   *
   * @param error Why; a {@linkcode ConnectionError} sets GOAWAY's code.
   */
  close(error?: Error): void {
    if (this.#closing) return;
    this.#closing = true;
    if (error) this.#error = error;
    if (!this.#goawaySent && !this.#ioClosed) {
      this.#goawaySent = true;
      const code = error instanceof Http2Error ? error.code : ErrorCode.NO_ERROR;
      const debug = error ? new TextEncoder().encode(error.message.slice(0, 256)) : undefined;
      this.#out.goaway(this.#lastPeerStreamId, code, debug);
    }
    this.#failStreams(error ?? new ConnectionError(ErrorCode.CANCEL, "Connection closed"));
    // Let the final frames out, then close the socket; a peer that does not
    // read cannot hold the close up for longer than a second.
    this.#scheduleFlush();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, 1000));
    Promise.race([this.#afterFlush(), timeout]).then(() => {
      clearTimeout(timer);
      this.#closeIo();
    });
  }

  #closeIo(): void {
    if (this.#ioClosed) return;
    this.#ioClosed = true;
    this.#stopKeepalive?.();
    this.#stopKeepalive = null;
    clearTimeout(this.#shutdownTimer);
    try {
      this.#io.close();
    } catch {
      // Already closed by the peer.
    }
    this.#failStreams(this.#error ?? new ConnectionError(ErrorCode.CANCEL, "Connection closed"));
    // PINGs still waiting for their ACK will not get one.
    for (const ping of this.#pings.values()) {
      ping.reject(this.#error ?? new Error("Cannot ping: connection closed"));
    }
    this.#pings.clear();
    for (const wake of this.#drainWaiters.splice(0)) wake();
    // Whoever waits for the peer's SETTINGS or ACK must not wait forever.
    this.#resolveReady();
    this.#resolveAcknowledged();
    this.#resolveClosed();
  }

  #failStreams(error: Error): void {
    for (const stream of this.#streams.values()) stream.receiveReset(error);
  }

  #closeIfIdle(): void {
    if (this.#streams.size === 0 && (this.#goawaySent || this.#goawayReceived)) this.close();
  }

  // ---- read side -------------------------------------------------------------

  async #readLoop(): Promise<void> {
    let buf = new Uint8Array(READ_BUFFER_SIZE);
    let start = 0;
    let end = 0;
    let prefaceLeft = this.role === "server" ? CLIENT_PREFACE.length : 0;
    const header: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
    try {
      let filled = false;
      const shrink = new ShrinkRule();
      // Large DATA frames are arriving (a bulk transfer): between frames, read no
      // further than the next frame header, so that a large payload after it is read
      // straight into a buffer of its own. A read that took the whole frame would
      // have to copy it out.
      let bulk = false;
      reading: while (!this.#ioClosed) {
        if (filled && buf.length < READ_BUFFER_MAX) {
          // The last read filled the buffer: more is coming, read more at once.
          buf = regrow(buf, start, end, buf.length * 2);
          end -= start;
          start = 0;
        } else if (end === buf.length) {
          // Make room: move the partial frame to the front, or grow for a large frame.
          if (start > 0) buf.copyWithin(0, start, end);
          else buf = regrow(buf, 0, end, buf.length * 2);
          end -= start;
          start = 0;
        }
        const headerOnly = bulk && end - start < FRAME_HEADER_LENGTH &&
          start + FRAME_HEADER_LENGTH <= buf.length;
        const room = headerOnly ? start + FRAME_HEADER_LENGTH - end : buf.length - end;
        // The read is awaited here rather than in a helper: one promise per read, not two.
        let n: number | null;
        try {
          n = await this.#io.read(
            end === 0 && !headerOnly ? buf : buf.subarray(end, end + room),
          );
        } catch (error) {
          this.#readFailed(error);
          break;
        }
        if (n === null) break;
        this.#lastRead = Date.now();
        filled = !headerOnly && n === room;
        end += n;
        if (prefaceLeft > 0) {
          // §3.4: the server first reads the 24-octet client preface.
          const take = Math.min(prefaceLeft, end - start);
          const offset = CLIENT_PREFACE.length - prefaceLeft;
          for (let i = 0; i < take; i++) {
            if (buf[start + i] !== CLIENT_PREFACE[offset + i]) {
              throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "Invalid connection preface");
            }
          }
          start += take;
          prefaceLeft -= take;
          if (prefaceLeft > 0) continue;
        }
        // Parse every complete frame in the buffer without awaiting between them.
        while (end - start >= FRAME_HEADER_LENGTH) {
          readFrameHeader(buf, start, header);
          // §4.2: a frame larger than our SETTINGS_MAX_FRAME_SIZE is FRAME_SIZE_ERROR.
          if (header.length > this.#local.maxFrameSize) {
            throw new ConnectionError(
              ErrorCode.FRAME_SIZE_ERROR,
              `Frame of ${header.length} bytes exceeds SETTINGS_MAX_FRAME_SIZE`,
            );
          }
          const frameEnd = start + FRAME_HEADER_LENGTH + header.length;
          if (
            header.type === FrameType.DATA && frameEnd - end >= DIRECT_READ_MIN
          ) {
            // A large DATA payload is read straight into a buffer of its own, which
            // then becomes the body chunk: no copy out of the read buffer. The buffer
            // has room for the next frame's header too, so that the read that ends
            // the payload usually brings it: one read per frame in a bulk transfer,
            // not two. The chunk is a view; its `.buffer` may end with the next
            // frame's header (its length, type, flags and stream), never with data.
            const length = header.length;
            const own = new Uint8Array(length + FRAME_HEADER_LENGTH);
            own.set(buf.subarray(start + FRAME_HEADER_LENGTH, end));
            const got = await this.#readAtLeast(own, end - start - FRAME_HEADER_LENGTH, length);
            if (got < 0) break reading;
            // Whatever came after the payload (at most a frame header) starts the buffer.
            buf.set(own.subarray(length, got), 0);
            start = 0;
            end = got - length;
            bulk = true;
            this.#onFrame(header, own.subarray(0, length), true);
            if (this.#ioClosed || this.#closing) return;
            continue;
          }
          if (frameEnd > end) {
            if (frameEnd - start > buf.length) {
              // Doubling stops at the largest frame allowed: one must fit, no more.
              const largest = this.#local.maxFrameSize + FRAME_HEADER_LENGTH;
              const size = Math.max(Math.min(buf.length * 2, largest), frameEnd - start);
              buf = regrow(buf, start, end, size);
              end -= start;
              start = 0;
            }
            break;
          }
          bulk = header.type === FrameType.DATA && header.length >= DIRECT_READ_MIN;
          this.#onFrame(header, buf.subarray(start + FRAME_HEADER_LENGTH, frameEnd));
          start = frameEnd;
          if (this.#ioClosed || this.#closing) return;
        }
        if (start === end) {
          start = end = 0;
          // A grown buffer that recent reads barely used goes back to the small size.
          if (shrink.shrink(buf.length, READ_BUFFER_SIZE, n)) {
            buf = new Uint8Array(READ_BUFFER_SIZE);
          }
        }
      }
      if (!this.#closing) {
        this.#closing = true;
        this.#failStreams(this.#error ?? new ConnectionError(ErrorCode.CANCEL, "Connection lost"));
        this.#closeIo();
      }
    } catch (error) {
      this.#connectionError(error);
    }
  }

  /** A failed read ends the connection; the error is kept as the reason unless we were closing. */
  #readFailed(error: unknown): void {
    if (!this.#closing) this.#error ??= error as Error;
  }

  /**
   * Reads into `buffer` from `offset` until at least `min` octets are in it,
   * taking what else one read brings up to the buffer's end. Bytes arriving
   * count as life for keepalive.
   *
   * @returns The octets now in `buffer`, or -1 when the connection ended first.
   */
  async #readAtLeast(buffer: Uint8Array, offset: number, min: number): Promise<number> {
    while (offset < min) {
      let n: number | null;
      try {
        n = await this.#io.read(buffer.subarray(offset));
      } catch (error) {
        this.#readFailed(error);
        return -1;
      }
      if (n === null) return -1;
      this.#lastRead = Date.now();
      offset += n;
    }
    return offset;
  }

  #connectionError(error: unknown): void {
    const connectionError = error instanceof ConnectionError ? error : new ConnectionError(
      ErrorCode.INTERNAL_ERROR,
      `Internal error: ${(error as Error)?.message ?? error}`,
      { cause: error },
    );
    this.#hooks.onProtocolError?.(connectionError);
    this.close(connectionError);
  }

  /**
   * @param owned Whether `payload` is a buffer of its own (not a view of the
   *   read buffer, which is reused): DATA in it is kept without a copy.
   */
  #onFrame(header: FrameHeader, payload: Uint8Array, owned = false): void {
    // §6.10: inside a header block only CONTINUATION of the same stream may come.
    if (
      this.#blockStream !== 0 &&
      (header.type !== FrameType.CONTINUATION || header.streamId !== this.#blockStream)
    ) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "Expected CONTINUATION frame");
    }
    // §3.4: the peer's preface must start with SETTINGS; checked before parsing so that
    // a malformed first frame is still an invalid preface, not a mere stream error.
    if (!this.#sawSettings && header.type !== FrameType.SETTINGS) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "First frame is not SETTINGS");
    }
    let frame: Frame;
    try {
      frame = parseFrame(header, payload) as Frame;
    } catch (error) {
      if (error instanceof StreamError) return this.#streamError(error);
      throw error;
    }
    try {
      switch (frame.type) {
        case FrameType.DATA:
          // Padding-only DATA is as empty as a zero-length frame: it delivers nothing.
          if (frame.data.length === 0 && !frame.endStream) this.#spend("empty DATA");
          return this.#onData(
            frame.streamId,
            frame.data,
            frame.flowLength,
            frame.endStream,
            owned,
          );
        case FrameType.HEADERS:
          this.#blockStream = frame.streamId;
          this.#blockEndStream = frame.endStream;
          this.#blockDependency = frame.dependency;
          this.#blockLength = 0;
          return this.#appendBlock(frame.fragment, frame.endHeaders);
        case FrameType.CONTINUATION:
          if (this.#blockStream === 0) {
            throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without HEADERS");
          }
          // Empty fragments never grow the block, so its size limit would never end them.
          if (frame.fragment.length === 0) this.#spend("empty CONTINUATION");
          return this.#appendBlock(frame.fragment, frame.endHeaders);
        case FrameType.PRIORITY:
          return this.#spend("PRIORITY"); // §5.3.2: parsed above, otherwise ignored.
        case FrameType.RST_STREAM:
          // Budgeted in #onRstStream: cancelling an open stream is no flood.
          return this.#onRstStream(frame.streamId, frame.errorCode);
        case FrameType.SETTINGS:
          if (!frame.ack) this.#spend("SETTINGS");
          return this.#onSettings(frame.ack, frame.settings);
        case FrameType.PUSH_PROMISE:
          // §8.4: a client cannot push; we disable push as client (§6.6).
          throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE not allowed");
        case FrameType.PING:
          if (!frame.ack) this.#spend("PING");
          return this.#onPing(frame.ack, frame.data);
        case FrameType.GOAWAY:
          return this.#onGoaway(frame.lastStreamId, frame.errorCode, frame.debugData);
        case FrameType.WINDOW_UPDATE:
          return this.#onWindowUpdate(frame.streamId, frame.increment);
        default:
          return this.#spend("unknown"); // §4.1: unknown frame types are ignored.
      }
    } catch (error) {
      if (error instanceof StreamError) return this.#streamError(error);
      throw error;
    }
  }

  #streamError(error: StreamError): void {
    if (!this.#streams.has(error.streamId) && this.#isIdle(error.streamId)) {
      // §6.4: RST_STREAM must not be sent for an idle stream (and the peer could open it
      // later as if nothing happened); §5.1 makes most frames there a connection error.
      throw new ConnectionError(error.code, error.message, { cause: error });
    }
    this.#hooks.onProtocolError?.(error);
    const stream = this.#streams.get(error.streamId);
    // A frame that provokes a RST_STREAM on a stream already closed does nothing else:
    // in a loop it is a flood (CVE-2019-9514). The reset of an open stream ends a
    // request the peer made, however it provoked it: what the request set running is
    // bounded by the server role (MadeYouReset, CVE-2025-8671: see FLOOD_BURST).
    if (stream === undefined) this.#spend("stream error");
    // A peer that does not read must not grow our backlog of RST_STREAM frames.
    if (this.#out.length > CONTROL_BACKLOG_LIMIT) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "Peer does not read our RST_STREAM");
    }
    if (stream) {
      stream.reset(error.code, error);
    } else if (this.#recentlyClosed.get(error.streamId) !== Closed.RESET_BY_US) {
      // §5.1: a stream we reset is closed; later frames on it get no second RST_STREAM.
      this.#out.rstStream(error.streamId, error.code);
      this.#recentlyClosed.set(error.streamId, Closed.RESET_BY_US);
      this.#scheduleFlush();
    }
  }

  /** Whether `id` belongs to the peer's numbering (odd for clients, §5.1.1). */
  #isPeerStream(id: number): boolean {
    return (id & 1) === (this.role === "server" ? 1 : 0);
  }

  /** Whether a stream not in the table is idle (never opened) rather than closed. */
  #isIdle(id: number): boolean {
    return this.#isPeerStream(id) ? id > this.#lastPeerStreamId : id >= this.#nextStreamId;
  }

  #onData(
    id: number,
    data: Uint8Array,
    flowLength: number,
    endStream: boolean,
    owned: boolean,
  ): void {
    // §6.9: DATA counts against the connection window whatever its stream's state.
    if (!this.#receiveWindow.receive(flowLength)) {
      throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "DATA exceeds connection window");
    }
    // Given back now: only the stream's own window holds what its reader has not taken.
    if (this.#creditOnArrival) this.#grantConnection(flowLength);
    const stream = this.#streams.get(id);
    if (stream === undefined) {
      if (this.#isIdle(id)) {
        // §5.1: DATA on an idle stream is a connection error PROTOCOL_ERROR.
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      }
      this.#releaseConnection(flowLength);
      const how = this.#recentlyClosed.get(id);
      if (how === Closed.RESET_BY_US) return; // §5.1: ignore after our RST.
      if (how === undefined && !this.#isPeerStream(id)) return this.#forgotten(id, "DATA");
      throw new StreamError(id, ErrorCode.STREAM_CLOSED, `DATA on closed stream ${id}`);
    }
    if (!stream.remoteOpen || !stream.headReceived) {
      this.#releaseConnection(flowLength);
      if (!stream.headReceived) {
        throw new StreamError(id, ErrorCode.PROTOCOL_ERROR, "DATA before HEADERS");
      }
      // §5.1 half-closed (remote): STREAM_CLOSED.
      throw new StreamError(id, ErrorCode.STREAM_CLOSED, `DATA after END_STREAM on ${id}`);
    }
    if (!stream.receiveWindow.receive(flowLength)) {
      this.#releaseConnection(flowLength);
      throw new StreamError(id, ErrorCode.FLOW_CONTROL_ERROR, "DATA exceeds stream window");
    }
    // Padding is never delivered: credit it back at once.
    const padding = flowLength - data.length;
    if (padding > 0) this.release(stream, padding);
    stream.receiveData(data, endStream, owned);
  }

  /**
   * A frame on a stream we opened and closed longer ago than we remember (see
   * #onNewStreamHeaders): ignored as after our RST_STREAM, which the stream is
   * remembered by again, and counted as a frame that only costs us.
   */
  #forgotten(id: number, what: string): void {
    this.#recentlyClosed.set(id, Closed.RESET_BY_US);
    this.#spend(`${what} on a forgotten stream`);
  }

  #appendBlock(fragment: Uint8Array, endHeaders: boolean): void {
    if (endHeaders && this.#blockLength === 0) {
      // The whole block in one frame: decode it where it lies, no copy.
      const id = this.#blockStream;
      this.#blockStream = 0;
      return this.#onHeaderBlock(id, fragment, this.#blockEndStream);
    }
    const need = this.#blockLength + fragment.length;
    // A block far beyond the header list size we advertised is a CONTINUATION flood.
    if (need > this.#local.maxHeaderListSize * 2 + 16_384) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "Header block too large");
    }
    if (need > this.#block.length) {
      const next = new Uint8Array(Math.max(need, this.#block.length * 2));
      next.set(this.#block.subarray(0, this.#blockLength));
      this.#block = next;
    }
    this.#block.set(fragment, this.#blockLength);
    this.#blockLength = need;
    if (endHeaders) {
      const id = this.#blockStream;
      this.#blockStream = 0;
      this.#onHeaderBlock(id, this.#block.subarray(0, this.#blockLength), this.#blockEndStream);
    }
  }

  #onHeaderBlock(id: number, block: Uint8Array, endStream: boolean): void {
    // Decode first, whatever happens to the stream: the HPACK context is shared (§4.3).
    let fields: string[] | null;
    try {
      fields = this.#decoder.decode(block);
    } catch (error) {
      if (error instanceof HeaderListSizeError) fields = null;
      else if (error instanceof HpackError) {
        throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, `HPACK: ${error.message}`, {
          cause: error,
        });
      } else throw error;
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) return this.#onNewStreamHeaders(id, fields, endStream);
    if (this.#blockDependency === id) {
      throw new StreamError(id, ErrorCode.PROTOCOL_ERROR, "Stream depends on itself");
    }
    if (!stream.remoteOpen) {
      // §5.1 half-closed (remote): frames other than WINDOW_UPDATE, PRIORITY, RST_STREAM.
      throw new StreamError(id, ErrorCode.STREAM_CLOSED, `HEADERS after END_STREAM on ${id}`);
    }
    if (fields === null) {
      throw new StreamError(id, ErrorCode.PROTOCOL_ERROR, "Header list exceeds our limit");
    }
    // §8.1: a header block after the head must end the stream (trailers). On the client,
    // interim (1xx) heads do not count as the head.
    if (stream.headReceived && !endStream) {
      throw new StreamError(id, ErrorCode.PROTOCOL_ERROR, "Trailers without END_STREAM");
    }
    if (this.#hooks.onHeaders?.(stream, fields, endStream) !== false) {
      stream.receiveHeaders(endStream);
    } else {
      this.#spend("interim HEADERS"); // 1xx heads move nothing forward: endless ones are a flood.
    }
  }

  #onNewStreamHeaders(id: number, fields: string[] | null, endStream: boolean): void {
    if (!this.#isPeerStream(id) || this.role === "client") {
      // §5.1.1: the peer may open only streams of its own parity; a server opens none.
      if (this.#isIdle(id)) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on unexpected stream ${id}`);
      }
      if (!this.#recentlyClosed.has(id)) {
        // A stream we opened and closed longer ago than we remember: a response that
        // crossed our RST_STREAM while we opened a thousand more, as a proxy does whose
        // clients cancel in bulk. §5.1 lets us ignore frames after our RST_STREAM for
        // as long as we choose: ignored, as a frame that only costs us.
        if (!this.#isPeerStream(id)) return this.#forgotten(id, "HEADERS");
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on unexpected stream ${id}`);
      }
    }
    if (!this.#isIdle(id)) {
      const how = this.#recentlyClosed.get(id);
      if (how === Closed.RESET_BY_US) return; // §5.1: ignored for a while after our RST.
      // §5.1.1: a new stream id must exceed every earlier one.
      if (how === undefined) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `Stream id ${id} went backwards`);
      }
      // §5.1: a frame other than PRIORITY after the peer's RST_STREAM is a stream error.
      if (how === Closed.RESET_BY_PEER) {
        throw new StreamError(id, ErrorCode.STREAM_CLOSED, `HEADERS after RST_STREAM on ${id}`);
      }
      throw new ConnectionError(ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
    }
    this.#lastPeerStreamId = id;
    if (this.#blockDependency === id) {
      throw new StreamError(id, ErrorCode.PROTOCOL_ERROR, "Stream depends on itself");
    }
    if (this.#goawaySent) {
      // §6.8: streams above our GOAWAY's last id are not processed.
      throw new StreamError(id, ErrorCode.REFUSED_STREAM, "Connection is going away");
    }
    if (this.#activePeerStreams >= this.#local.maxConcurrentStreams) {
      // §5.1.2: beyond SETTINGS_MAX_CONCURRENT_STREAMS: PROTOCOL_ERROR or REFUSED_STREAM.
      throw new StreamError(id, ErrorCode.REFUSED_STREAM, "Too many concurrent streams");
    }
    const stream = new Http2Stream(
      id,
      this,
      this.#peerInitialWindow,
      this.#local.initialWindowSize,
    );
    this.#streams.set(id, stream);
    this.#activePeerStreams++;
    this.#hooks.onStream?.(stream, fields, endStream);
    stream.receiveHeaders(endStream);
  }

  #onRstStream(id: number, code: number): void {
    const stream = this.#streams.get(id);
    if (stream === undefined) {
      if (this.#isIdle(id)) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
      }
      // Closed already: nothing to do. The peer's first reset of a stream it had not
      // reset yet crossed our end of it on the wire (a cancel meeting a complete
      // response); any other is a frame that only costs us.
      const how = this.#recentlyClosed.get(id);
      if (how === undefined || how === Closed.RESET_BY_PEER) this.#spend("RST_STREAM");
      else this.#recentlyClosed.set(id, Closed.RESET_BY_PEER);
      return;
    }
    this.#recentlyClosed.set(id, Closed.RESET_BY_PEER);
    stream.receiveReset(
      new StreamError(id, code, `Stream reset by peer: ${errorCodeName(code)}`),
    );
  }

  #onSettings(ack: boolean, settings: Array<[number, number]>): void {
    if (ack) {
      // §6.5.3: our settings bind the peer from its ACK on; only the HPACK table
      // limit needed waiting for it (windows and limits are checked against what we sent).
      this.#decoder.setMaxTableSize(this.#local.headerTableSize);
      this.#resolveAcknowledged();
      return;
    }
    // §6.9.2: INITIAL_WINDOW_SIZE changes every open stream's window. It is applied once,
    // after the loop, so that a frame repeating it thousands of times costs O(streams) and
    // not O(entries × streams); in order (§6.5.3), some entry overflows a window exactly
    // when the highest one does.
    let initialWindow = -1;
    let highestWindow = -1;
    for (const [id, value] of settings) {
      switch (id) {
        case SettingId.HEADER_TABLE_SIZE:
          // The encoder uses at most its own limit (4 KiB): memory per tunnel stays small.
          this.#encoder.setMaxTableSize(value);
          break;
        case SettingId.ENABLE_PUSH:
          // RFC 9113 §6.5.2: a client MUST treat ENABLE_PUSH = 1 from a server as PROTOCOL_ERROR.
          if (this.role === "client" && value !== 0) {
            throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "Server sent ENABLE_PUSH");
          }
          break;
        case SettingId.MAX_CONCURRENT_STREAMS:
          this.#peerMaxConcurrent = value;
          break;
        case SettingId.INITIAL_WINDOW_SIZE:
          initialWindow = value;
          highestWindow = Math.max(highestWindow, value);
          break;
        case SettingId.MAX_FRAME_SIZE:
          this.#peerMaxFrameSize = value;
          break;
        case SettingId.MAX_HEADER_LIST_SIZE:
          this.#peerMaxHeaderListSize = value;
          break;
        case SettingId.ENABLE_CONNECT_PROTOCOL:
          this.#peerConnectProtocol = value === 1;
          break;
      }
    }
    if (initialWindow >= 0) {
      const rise = highestWindow - this.#peerInitialWindow;
      const delta = initialWindow - this.#peerInitialWindow;
      this.#peerInitialWindow = initialWindow;
      for (const stream of this.#streams.values()) {
        if (stream.sendWindow.size + rise > MAX_WINDOW_SIZE) {
          throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "Window overflow by SETTINGS");
        }
        stream.sendWindow.add(delta);
        if (delta > 0) stream.wakeWriter();
      }
    }
    if (this.#out.length > CONTROL_BACKLOG_LIMIT) {
      throw new ConnectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        "Peer does not read our SETTINGS ACKs",
      );
    }
    this.#out.settingsAck();
    this.#scheduleFlush();
    if (!this.#sawSettings) {
      this.#sawSettings = true;
      this.#resolveReady();
    }
    this.#hooks.onSettings?.();
  }

  #onPing(ack: boolean, data: Uint8Array): void {
    if (ack) {
      // Not one of ours unless the first four octets are zero, as we send them.
      if ((data[0]! | data[1]! | data[2]! | data[3]!) !== 0) return;
      const id = ((data[4]! << 24) | (data[5]! << 16) | (data[6]! << 8) | data[7]!) >>> 0;
      const pending = this.#pings.get(id);
      if (pending) {
        this.#pings.delete(id);
        pending.resolve(performance.now() - pending.start);
      }
      return;
    }
    // A peer that floods PINGs without reading our answers gets cut off.
    if (this.#out.length > CONTROL_BACKLOG_LIMIT) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "Peer does not read our PING ACKs");
    }
    this.#out.ping(true, data);
    this.#scheduleFlush();
  }

  #onGoaway(lastStreamId: number, code: number, debugData: Uint8Array): void {
    this.#goawayReceived = true;
    this.#peerLastStreamId = Math.min(this.#peerLastStreamId, lastStreamId);
    const debug = new TextDecoder().decode(debugData);
    this.#peerGoaway = { code, debug };
    // §6.8: streams we opened above lastStreamId were not processed: safe to retry.
    for (const stream of this.#streams.values()) {
      if (!this.#isPeerStream(stream.id) && stream.id > this.#peerLastStreamId) {
        stream.receiveReset(
          new StreamError(stream.id, ErrorCode.REFUSED_STREAM, "Stream refused by GOAWAY"),
        );
      }
    }
    this.#hooks.onGoaway?.(lastStreamId, code, debug);
    if (code !== ErrorCode.NO_ERROR) {
      this.#error ??= new ConnectionError(
        code,
        `Peer sent GOAWAY ${errorCodeName(code)}: ${debug}`,
      );
    }
    this.#closeIfIdle();
  }

  #onWindowUpdate(id: number, increment: number): void {
    if (id === 0) {
      if (!this.#sendWindow.add(increment)) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "Connection window overflow");
      }
      for (const stream of this.#windowWaiters) stream.wakeWriter();
      this.#windowWaiters.clear();
      return;
    }
    const stream = this.#streams.get(id);
    if (stream === undefined) {
      if (this.#isIdle(id)) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
      }
      // §5.1: only PRIORITY may follow the peer's own RST_STREAM.
      if (this.#recentlyClosed.get(id) === Closed.RESET_BY_PEER) {
        throw new StreamError(
          id,
          ErrorCode.STREAM_CLOSED,
          `WINDOW_UPDATE after RST_STREAM on ${id}`,
        );
      }
      return; // §5.1: may arrive shortly after the stream closed.
    }
    if (!stream.sendWindow.add(increment)) {
      throw new StreamError(id, ErrorCode.FLOW_CONTROL_ERROR, "Stream window overflow");
    }
    stream.wakeWriter();
  }

  // ---- StreamHost: what streams ask of the connection -------------------------

  /** @inheritdoc */
  sendCapacity(stream: Http2Stream): number {
    const n = Math.min(stream.sendWindow.size, this.#sendWindow.size, this.#peerMaxFrameSize);
    if (n <= 0 && this.#sendWindow.size <= 0) this.#windowWaiters.add(stream);
    return Math.max(n, 0);
  }

  /** @inheritdoc */
  writeData(stream: Http2Stream, data: Uint8Array, endStream: boolean): void {
    if (this.#ioClosed) return;
    stream.sendWindow.consume(data.length);
    this.#sendWindow.consume(data.length);
    this.#out.data(stream.id, data, endStream);
    this.#scheduleFlush();
  }

  /** @inheritdoc */
  writeHeaders(stream: Http2Stream, fields: string[], endStream: boolean): void {
    if (this.#ioClosed) return;
    let block: Uint8Array;
    try {
      block = this.#encoder.encode(fields);
    } catch (error) {
      // A field that is not octets (RFC 7541 §5.2) may have left the HPACK context out
      // of step with the peer's (§2.2): no later block could be trusted. The stream
      // fails with the connection.
      this.close(
        new ConnectionError(ErrorCode.INTERNAL_ERROR, `Cannot encode header block: ${error}`, {
          cause: error,
        }),
      );
      return;
    }
    // The block is copied into the output at once, so the encoder's buffer can be reused.
    this.#out.headers(stream.id, block, endStream, this.#peerMaxFrameSize);
    this.#scheduleFlush();
  }

  /** @inheritdoc */
  writeReset(stream: Http2Stream, code: number): void {
    this.#recentlyClosed.set(stream.id, Closed.RESET_BY_US);
    if (this.#ioClosed) return;
    this.#out.rstStream(stream.id, code);
    this.#scheduleFlush();
  }

  /** @inheritdoc */
  release(stream: Http2Stream, n: number): void {
    this.#releaseConnection(n);
    if (!stream.remoteOpen) return; // No more DATA will come: no point in granting more.
    const increment = stream.receiveWindow.release(n);
    if (increment > 0 && !this.#ioClosed) {
      this.#out.windowUpdate(stream.id, increment);
      this.#scheduleFlush();
    }
  }

  /** Gives the connection window back for octets consumed, unless it was given on arrival. */
  #releaseConnection(n: number): void {
    if (!this.#creditOnArrival) this.#grantConnection(n);
  }

  #grantConnection(n: number): void {
    const increment = this.#receiveWindow.release(n);
    if (increment > 0 && !this.#ioClosed) {
      this.#out.windowUpdate(0, increment);
      this.#scheduleFlush();
    }
  }

  /** @inheritdoc */
  writable(): Promise<void> | null {
    if (this.#out.length < WRITE_HIGH_WATER || this.#ioClosed) return null;
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** @inheritdoc */
  streamClosed(stream: Http2Stream): void {
    if (!this.#streams.delete(stream.id)) return;
    if (!this.#recentlyClosed.has(stream.id)) this.#recentlyClosed.set(stream.id, Closed.NORMALLY);
    if (this.#isPeerStream(stream.id)) this.#activePeerStreams--;
    else this.#activeLocalStreams--;
    this.#windowWaiters.delete(stream);
    this.#onStreamClosed?.();
    if (this.#goawaySent || this.#goawayReceived) this.#closeIfIdle();
  }

  #onStreamClosed: (() => void) | null = null;

  /**
   * Registers a callback run whenever a stream closes (the client role uses it
   * to admit queued requests under SETTINGS_MAX_CONCURRENT_STREAMS).
   *
   * @param callback Called after each stream leaves the table.
   */
  onStreamClosed(callback: () => void): void {
    this.#onStreamClosed = callback;
  }

  // ---- write side ------------------------------------------------------------

  #scheduleFlush(): void {
    // A write in flight takes everything queued meanwhile when it completes.
    if (this.#writing) return;
    if (this.#out.length >= EARLY_WRITE_BYTES) {
      // Enough for the peer to start on: out as soon as the current job ends.
      if (!this.#earlyQueued) {
        this.#earlyQueued = true;
        queueMicrotask(this.#flushEarly);
      }
      return;
    }
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    this.#schedule(this.#flushNow);
  }

  async #flush(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#out.length > 0 && !this.#ioClosed) {
        // Swap buffers: frames queued while this write is in flight go to the other one.
        const out = this.#out;
        this.#out = this.#spare;
        this.#spare = out;
        let bytes = out.bytes();
        this.#writeStarted = Date.now();
        for (;;) {
          const n = await this.#io.write(bytes);
          if (n === bytes.length) break;
          bytes = bytes.subarray(n);
        }
        this.#writeStarted = 0;
        out.reset();
        if (this.#out.length < WRITE_HIGH_WATER && this.#drainWaiters.length > 0) {
          for (const wake of this.#drainWaiters.splice(0)) wake();
        }
      }
    } catch (error) {
      this.#error ??= error as Error;
      this.#closing = true;
      this.#closeIo();
    } finally {
      this.#writing = false;
      if (this.#flushWaiters.length > 0) {
        for (const wake of this.#flushWaiters.splice(0)) wake();
      }
    }
  }

  #flushWaiters: Array<() => void> = [];
  // The scheduled flush clears its own flag, not an early one that ran before it:
  // frames queued after the early write then ride on the flush already scheduled
  // instead of scheduling a second.
  #flushNow = () => {
    this.#flushQueued = false;
    this.#flush();
  };
  #earlyQueued = false;
  #flushEarly = () => {
    this.#earlyQueued = false;
    this.#flush();
  };

  /** Resolves once everything queued so far has been written (or the socket failed). */
  #afterFlush(): Promise<void> {
    if (!this.#writing && !this.#flushQueued && !this.#earlyQueued) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }
}

/** A new read buffer of `size` octets that starts with `buf[start, end)`: a partial frame. */
function regrow(
  buf: Uint8Array,
  start: number,
  end: number,
  size: number,
): Uint8Array<ArrayBuffer> {
  const next = new Uint8Array(size);
  next.set(buf.subarray(start, end));
  return next;
}
