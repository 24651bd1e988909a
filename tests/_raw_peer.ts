/**
 * A raw-frame HTTP/2 peer for conformance tests: it writes arbitrary (also
 * malformed) frames with {@linkcode FrameWriter} over a real socket and reads
 * the answers with {@linkcode readFrameHeader} and {@linkcode parseFrame}.
 * Header blocks it receives are decoded as they arrive, in wire order, so its
 * HPACK context stays in step with the endpoint under test (RFC 7541 §2.2).
 *
 * @module
 */

import { equal, fail } from "node:assert/strict";
import {
  CLIENT_PREFACE,
  errorCodeName,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
} from "../h2/constants.ts";
import {
  type Frame,
  type FrameHeader,
  FrameWriter,
  type GoawayFrame,
  parseFrame,
  readFrameHeader,
  type UnknownFrame,
} from "../h2/frame.ts";
import { HpackDecoder, HpackEncoder } from "../h2/hpack/mod.ts";

/** How long any expectation waits before it fails the test. */
export const TIMEOUT_MS = 2000;

/** One frame the raw peer read. */
export interface ReceivedFrame {
  /** A copy of the frame header. */
  header: FrameHeader;
  /** A copy of the payload. */
  payload: Uint8Array;
  /** The parsed frame; views point into `payload`. */
  frame: Frame | UnknownFrame;
  /** On the frame that ends a header block: the decoded field list. */
  fields?: string[];
}

/** A response as the raw client saw it. */
export interface RawResponse {
  /** `:status`. */
  status: number;
  /** Fields of the final head, pseudo-headers included, as `[name, value, …]`. */
  fields: string[];
  /** The body, DATA payloads concatenated. */
  body: Uint8Array;
  /** Each DATA frame's data length, in order. */
  dataLengths: number[];
  /** Trailer fields, if any. */
  trailers: string[] | null;
}

/** Options of {@linkcode RawPeer}. */
export interface RawPeerOptions {
  /** Read and check the 24-octet client preface first (the peer plays a server). */
  readPreface?: boolean;
}

/** The flags each frame type defines (RFC 9113 §6); others must be sent as 0 (§4.1). */
const DEFINED_FLAGS: ReadonlyMap<number, number> = new Map([
  [FrameType.DATA, Flag.END_STREAM | Flag.PADDED],
  [FrameType.HEADERS, Flag.END_STREAM | Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY],
  [FrameType.PRIORITY, 0],
  [FrameType.RST_STREAM, 0],
  [FrameType.SETTINGS, Flag.ACK],
  [FrameType.PUSH_PROMISE, Flag.END_HEADERS | Flag.PADDED],
  [FrameType.PING, Flag.ACK],
  [FrameType.GOAWAY, 0],
  [FrameType.WINDOW_UPDATE, 0],
  [FrameType.CONTINUATION, Flag.END_HEADERS],
]);

function typeName(type: number): string {
  return Object.entries(FrameType).find(([, v]) => v === type)?.[0] ??
    `UNKNOWN_0x${type.toString(16)}`;
}

/** Looks a field up in a flat `[name, value, …]` list. */
export function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** The name of an error code, so that failures read `PROTOCOL_ERROR` rather than `1`. */
function codeName(code: number): string {
  return errorCodeName(code);
}

/** Describes a received frame for failure messages. */
export function describeFrame(received: ReceivedFrame): string {
  const { header, frame } = received;
  const names = typeName(header.type);
  let detail = "";
  if (frame.type === FrameType.RST_STREAM && "errorCode" in frame) {
    detail = ` ${codeName(frame.errorCode)}`;
  } else if (frame.type === FrameType.GOAWAY && "lastStreamId" in frame) {
    detail = ` last=${frame.lastStreamId} ${codeName(frame.errorCode)} ` +
      JSON.stringify(new TextDecoder().decode(frame.debugData));
  }
  return `${names} stream=${header.streamId} flags=0x${header.flags.toString(16)} ` +
    `length=${header.length}${detail}`;
}

/**
 * A raw HTTP/2 endpoint over a `Deno.Conn`. A background loop reads frames
 * into a queue; `nextFrame` takes them with a timeout. `close` ends the loop
 * and the socket, so test sanitizers see no pending operation.
 */
export class RawPeer {
  /** The socket. */
  readonly conn: Deno.Conn;
  /** Frames are encoded here, then written by {@linkcode RawPeer.flush}. */
  readonly out: FrameWriter = new FrameWriter();
  /** Encodes the header blocks this peer sends. */
  readonly encoder: HpackEncoder = new HpackEncoder();
  /** Decodes the header blocks this peer receives. */
  readonly decoder: HpackDecoder = new HpackDecoder();
  /** Every frame received so far, in order (for assertions about what did not come). */
  readonly log: ReceivedFrame[] = [];
  /** Sender rules the endpoint broke; {@linkcode RawPeer.close} fails the test if any. */
  readonly violations: string[] = [];
  /** The SETTINGS_MAX_FRAME_SIZE this peer advertised: larger frames are violations. */
  maxFrameSize = 16_384;
  // Streams the endpoint ended (END_STREAM) or reset (RST_STREAM), for §5.1 checks.
  #endedByEndpoint = new Set<number>();
  #resetByEndpoint = new Set<number>();
  #queue: ReceivedFrame[] = [];
  #eof = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #loop: Promise<void>;
  #closed = false;
  #reset = false;
  #blockStream = 0;
  #block: number[] = [];

  /**
   * @param conn The connected socket.
   * @param options Whether to expect the client preface.
   */
  constructor(conn: Deno.Conn, options: RawPeerOptions = {}) {
    this.conn = conn;
    this.#loop = this.#readLoop(options.readPreface ?? false);
  }

  /**
   * Whether the connection ended with a TCP reset rather than an orderly close.
   * An endpoint that closes while input it did not read is still queued makes
   * the kernel send a reset, which may destroy the GOAWAY it sent just before.
   */
  get wasReset(): boolean {
    return this.#reset;
  }

  async #readLoop(readPreface: boolean): Promise<void> {
    let buf = new Uint8Array(0);
    let prefaceLeft = readPreface ? CLIENT_PREFACE.length : 0;
    const chunk = new Uint8Array(64 * 1024);
    try {
      while (true) {
        let n: number | null;
        try {
          n = await this.conn.read(chunk);
        } catch (error) {
          // A reset after the endpoint closed counts as the end of the stream.
          if (this.#closed || error instanceof Deno.errors.ConnectionReset) n = null;
          else throw error;
          if (!this.#closed) this.#reset = true;
        }
        if (n === null) break;
        const next = new Uint8Array(buf.length + n);
        next.set(buf);
        next.set(chunk.subarray(0, n), buf.length);
        buf = next;
        if (prefaceLeft > 0) {
          const take = Math.min(prefaceLeft, buf.length);
          const offset = CLIENT_PREFACE.length - prefaceLeft;
          for (let i = 0; i < take; i++) {
            if (buf[i] !== CLIENT_PREFACE[offset + i]) throw new Error("Invalid client preface");
          }
          prefaceLeft -= take;
          buf = buf.slice(take);
        }
        while (buf.length >= FRAME_HEADER_LENGTH) {
          const header: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
          readFrameHeader(buf, 0, header);
          if (buf.length < FRAME_HEADER_LENGTH + header.length) break;
          const payload = buf.slice(FRAME_HEADER_LENGTH, FRAME_HEADER_LENGTH + header.length);
          const reservedBit = (buf[5]! & 0x80) !== 0;
          buf = buf.slice(FRAME_HEADER_LENGTH + header.length);
          this.#check(header, payload, reservedBit);
          this.#receive(header, payload);
        }
      }
      // A reset may cut the last frame short; an orderly close must not.
      if (buf.length > 0 && !this.#reset) {
        throw new Error(`Connection ended inside a frame (${buf.length} bytes)`);
      }
    } catch (error) {
      this.#error = error as Error;
    } finally {
      this.#eof = true;
      this.#notify();
    }
  }

  /** Records every sender rule of RFC 9113 the endpoint's frame breaks. */
  #check(header: FrameHeader, payload: Uint8Array, reservedBit: boolean): void {
    const { type, flags, streamId, length } = header;
    const what = `${typeName(type)} on stream ${streamId}`;
    const violate = (rule: string) => this.violations.push(`${what}: ${rule}`);
    // §4.1: the reserved bit and undefined flags MUST be left unset when sending.
    if (reservedBit) violate("reserved bit of the stream id set (§4.1)");
    const defined = DEFINED_FLAGS.get(type);
    if (defined !== undefined && (flags & ~defined) !== 0) {
      violate(`undefined flags 0x${(flags & ~defined).toString(16)} set (§4.1)`);
    }
    if ((type === FrameType.WINDOW_UPDATE || type === FrameType.GOAWAY) && (payload[0]! & 0x80)) {
      violate("reserved bit of the payload set (§6.8, §6.9)");
    }
    // §4.2: never larger than the SETTINGS_MAX_FRAME_SIZE we advertised.
    if (length > this.maxFrameSize) violate(`${length} octets exceed ${this.maxFrameSize} (§4.2)`);
    // §4.3: the frames of a field block are contiguous.
    if (
      this.#blockStream !== 0 && (type !== FrameType.CONTINUATION || streamId !== this.#blockStream)
    ) {
      violate(`interleaved in the field block of stream ${this.#blockStream} (§4.3)`);
    }
    if (streamId === 0) return;
    // §5.1: after its RST_STREAM only PRIORITY; after its END_STREAM no DATA or HEADERS.
    if (this.#resetByEndpoint.has(streamId) && type !== FrameType.PRIORITY) {
      violate("sent after the endpoint's own RST_STREAM (§5.1)");
    } else if (
      this.#endedByEndpoint.has(streamId) &&
      (type === FrameType.DATA || type === FrameType.HEADERS)
    ) {
      violate("sent after the endpoint's END_STREAM (§5.1)");
    }
    if (type === FrameType.RST_STREAM) this.#resetByEndpoint.add(streamId);
    if (
      (type === FrameType.DATA || type === FrameType.HEADERS) && (flags & Flag.END_STREAM) !== 0
    ) {
      this.#endedByEndpoint.add(streamId);
    }
  }

  #receive(header: FrameHeader, payload: Uint8Array): void {
    // The endpoint under test must never send a malformed frame: parse errors fail the test.
    const frame = parseFrame(header, payload);
    const received: ReceivedFrame = { header, payload, frame };
    if (header.type === FrameType.HEADERS || header.type === FrameType.CONTINUATION) {
      if (header.type === FrameType.HEADERS) {
        this.#blockStream = header.streamId;
        this.#block = [];
      }
      const fragment = (frame as { fragment: Uint8Array }).fragment;
      for (const byte of fragment) this.#block.push(byte);
      if ((header.flags & Flag.END_HEADERS) !== 0) {
        received.fields = this.decoder.decode(new Uint8Array(this.#block));
        this.#blockStream = 0;
      }
    }
    this.log.push(received);
    this.#queue.push(received);
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Writes everything encoded in {@linkcode RawPeer.out}, then empties it. */
  async flush(): Promise<void> {
    let bytes = this.out.bytes();
    while (bytes.length > 0) bytes = bytes.subarray(await this.conn.write(bytes));
    this.out.reset();
  }

  /** Writes raw bytes that need not be frames. */
  async writeRaw(bytes: Uint8Array): Promise<void> {
    while (bytes.length > 0) bytes = bytes.subarray(await this.conn.write(bytes));
  }

  /** Encodes a field list with this peer's HPACK context; the result is a copy. */
  encode(fields: readonly string[]): Uint8Array {
    return this.encoder.encode(fields).slice();
  }

  /**
   * The next frame, or `null` once the endpoint closed the connection.
   *
   * @throws When nothing arrives within `timeoutMs`, or the endpoint sent garbage.
   */
  async nextFrame(timeoutMs = TIMEOUT_MS): Promise<ReceivedFrame | null> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const received = this.#queue.shift();
      if (received !== undefined) return received;
      if (this.#eof) {
        if (this.#error !== null) throw this.#error;
        return null;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) fail(`Timed out after ${timeoutMs} ms waiting for a frame`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await new Promise<void>((resolve, reject) => {
          this.#wake = resolve;
          timer = setTimeout(
            () => reject(new Error(`Timed out after ${timeoutMs} ms waiting for a frame`)),
            remaining,
          );
        });
      } finally {
        clearTimeout(timer);
        this.#wake = null;
      }
    }
  }

  /**
   * Reads until a frame matches `accept`; frames for which `reject` returns a
   * message fail the test with it.
   */
  async expectFrame(
    what: string,
    accept: (received: ReceivedFrame) => boolean,
    reject: (received: ReceivedFrame) => string | null = () => null,
  ): Promise<ReceivedFrame> {
    while (true) {
      let received: ReceivedFrame | null;
      try {
        received = await this.nextFrame();
      } catch (error) {
        const recent = this.log.slice(-8).map(describeFrame).join("\n  ");
        throw new Error(
          `While waiting for ${what}: ${(error as Error).message}; last frames:\n  ${recent}`,
          {
            cause: error,
          },
        );
      }
      if (received === null) fail(`Connection closed while waiting for ${what}`);
      if (accept(received)) return received;
      const message = reject(received);
      if (message !== null) fail(`Expected ${what}, got ${message}`);
    }
  }

  /**
   * Expects a connection error: GOAWAY with `code` (RFC 9113 §5.4.1), then the
   * end of the connection. Other frames before it are skipped, except RST_STREAM.
   *
   * @param code The expected error code.
   * @param lastStreamId The expected last-stream-id, when given.
   */
  async expectGoaway(code: number, lastStreamId?: number): Promise<GoawayFrame> {
    const received = await this.expectFrame(
      `GOAWAY ${codeName(code)}`,
      (r) => r.header.type === FrameType.GOAWAY,
      (r) => r.header.type === FrameType.RST_STREAM ? describeFrame(r) : null,
    );
    const goaway = received.frame as GoawayFrame;
    equal(
      codeName(goaway.errorCode),
      codeName(code),
      `GOAWAY code (debug: ${new TextDecoder().decode(goaway.debugData)})`,
    );
    if (lastStreamId !== undefined) equal(goaway.lastStreamId, lastStreamId, "last-stream-id");
    await this.expectClosed();
    return goaway;
  }

  /** Expects the endpoint to close the connection; frames before the end are skipped. */
  async expectClosed(): Promise<void> {
    while (await this.nextFrame() !== null);
  }

  /**
   * Expects a stream error: RST_STREAM on `streamId` with `code` (RFC 9113
   * §5.4.2). GOAWAY or a reset of another stream fails the test.
   */
  async expectReset(streamId: number, code: number): Promise<void> {
    const received = await this.expectFrame(
      `RST_STREAM ${codeName(code)} on stream ${streamId}`,
      (r) => r.header.type === FrameType.RST_STREAM && r.header.streamId === streamId,
      (r) =>
        r.header.type === FrameType.GOAWAY || r.header.type === FrameType.RST_STREAM
          ? describeFrame(r)
          : null,
    );
    const frame = received.frame as { errorCode: number };
    equal(codeName(frame.errorCode), codeName(code), `RST_STREAM code on stream ${streamId}`);
  }

  /**
   * Reads a whole response on `streamId`: the final head, DATA until
   * END_STREAM, trailers. A reset of that stream or GOAWAY fails the test.
   */
  async expectResponse(streamId: number): Promise<RawResponse> {
    const what = `a response on stream ${streamId}`;
    const failure = (r: ReceivedFrame) =>
      r.header.type === FrameType.GOAWAY ||
        (r.header.type === FrameType.RST_STREAM && r.header.streamId === streamId)
        ? describeFrame(r)
        : null;
    let fields: string[] | null = null;
    let trailers: string[] | null = null;
    const chunks: Uint8Array[] = [];
    const dataLengths: number[] = [];
    while (true) {
      const received = await this.expectFrame(
        what,
        (r) =>
          r.header.streamId === streamId &&
          (r.fields !== undefined || r.header.type === FrameType.DATA ||
            r.header.type === FrameType.CONTINUATION),
        failure,
      );
      let ended = false;
      if (received.fields !== undefined) {
        const status = Number(field(received.fields, ":status"));
        if (fields === null && status >= 100 && status < 200) continue;
        if (fields === null) fields = received.fields;
        else trailers = received.fields;
        ended = this.#blockEndedStream(streamId);
      } else if (received.header.type === FrameType.DATA) {
        if (fields === null) fail(`DATA before HEADERS on stream ${streamId}`);
        const frame = received.frame as { data: Uint8Array; endStream: boolean };
        chunks.push(frame.data.slice());
        dataLengths.push(frame.data.length);
        ended = frame.endStream;
      }
      if (ended) {
        const length = chunks.reduce((sum, c) => sum + c.length, 0);
        const body = new Uint8Array(length);
        let offset = 0;
        for (const c of chunks) {
          body.set(c, offset);
          offset += c.length;
        }
        return {
          status: Number(field(fields!, ":status")),
          fields: fields!,
          body,
          dataLengths,
          trailers,
        };
      }
    }
  }

  /** Whether the HEADERS frame that opened the last block on `streamId` had END_STREAM. */
  #blockEndedStream(streamId: number): boolean {
    for (let i = this.log.length - 1; i >= 0; i--) {
      const { header } = this.log[i]!;
      if (header.streamId === streamId && header.type === FrameType.HEADERS) {
        return (header.flags & Flag.END_STREAM) !== 0;
      }
    }
    return false;
  }

  /**
   * Sends PING with `data` and reads until its ACK; returns the frames that
   * came before it. Proves the endpoint processed everything sent earlier.
   */
  async sync(
    data = new Uint8Array([0x73, 0x79, 0x6e, 0x63, 0, 0, 0, 1]),
  ): Promise<ReceivedFrame[]> {
    this.out.ping(false, data);
    await this.flush();
    const before: ReceivedFrame[] = [];
    const key = data.join(",");
    await this.expectFrame(
      "PING ACK",
      (r) => {
        const ack = r.header.type === FrameType.PING && (r.header.flags & Flag.ACK) !== 0 &&
          r.payload.join(",") === key;
        if (!ack) before.push(r);
        return ack;
      },
      (r) => r.header.type === FrameType.GOAWAY ? describeFrame(r) : null,
    );
    return before;
  }

  /**
   * Closes the socket and waits for the read loop to end.
   *
   * @throws When the endpoint broke a sender rule during the test.
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.conn.close();
      } catch {
        // Already closed.
      }
    }
    await this.#loop;
    if (this.violations.length > 0) {
      fail(`The endpoint broke RFC 9113 sender rules:\n  ${this.violations.join("\n  ")}`);
    }
  }
}

/** A connected pair of loopback TCP sockets: the dialing side and the accepted side. */
export async function loopbackPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  return await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
}

/** `promise`'s value, or `"timeout"` when it takes longer than `ms`. */
export async function settle<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(resolve, ms, "timeout"));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `r` is a SETTINGS frame with ACK. */
export function isSettingsAck(r: ReceivedFrame): boolean {
  return r.header.type === FrameType.SETTINGS && (r.header.flags & Flag.ACK) !== 0;
}

/** Whether `r` is a PING frame with ACK. */
export function isPingAck(r: ReceivedFrame): boolean {
  return r.header.type === FrameType.PING && (r.header.flags & Flag.ACK) !== 0;
}

/** For {@linkcode RawPeer.expectFrame}: GOAWAY and RST_STREAM fail the expectation. */
export function rejectErrors(r: ReceivedFrame): string | null {
  return r.header.type === FrameType.GOAWAY || r.header.type === FrameType.RST_STREAM
    ? describeFrame(r)
    : null;
}

/**
 * Acknowledges the endpoint's SETTINGS and waits for its ACK of the peer's
 * own (RFC 9113 §6.5.3): the end of the handshake.
 */
export async function ackSettings(peer: RawPeer): Promise<void> {
  peer.out.settingsAck();
  await peer.flush();
  await peer.expectFrame("SETTINGS ACK", isSettingsAck, rejectErrors);
}

/** The bytes of `parts`, one after another, in one new array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
