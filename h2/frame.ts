/**
 * The HTTP/2 wire format (RFC 9113 §4, §6): parsing every frame type with the
 * checks the RFC demands, and encoding frames into a reusable output buffer.
 * Nothing here knows about streams or connections beyond one frame.
 *
 * @module
 */

import { ErrorCode, Flag, FRAME_HEADER_LENGTH, FrameType, SettingId } from "./constants.ts";
import { MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE } from "./constants.ts";
import { ConnectionError, StreamError } from "./errors.ts";

/** The fixed nine-byte header every frame starts with (RFC 9113 §4.1). */
export interface FrameHeader {
  /** Payload length in bytes. */
  length: number;
  /** Frame type code. */
  type: number;
  /** Type-specific flags. */
  flags: number;
  /** Stream identifier, the reserved bit cleared. */
  streamId: number;
}

/** A DATA frame (§6.1); `data` is a view into the read buffer, valid only during dispatch. */
export interface DataFrame {
  type: typeof FrameType.DATA;
  streamId: number;
  endStream: boolean;
  data: Uint8Array;
  /** The whole payload length, padding included: what flow control counts. */
  flowLength: number;
}
/** A HEADERS frame (§6.2); `fragment` is a view into the read buffer. */
export interface HeadersFrame {
  type: typeof FrameType.HEADERS;
  streamId: number;
  endStream: boolean;
  endHeaders: boolean;
  fragment: Uint8Array;
  /** The PRIORITY dependency when the flag is set, else -1; checked after HPACK decoding. */
  dependency: number;
}
/** A PRIORITY frame (§6.3), parsed and then ignored (RFC 9113 deprecates the scheme). */
export interface PriorityFrame {
  type: typeof FrameType.PRIORITY;
  streamId: number;
  dependency: number;
  exclusive: boolean;
  weight: number;
}
/** A RST_STREAM frame (§6.4). */
export interface RstStreamFrame {
  type: typeof FrameType.RST_STREAM;
  streamId: number;
  errorCode: number;
}
/** A SETTINGS frame (§6.5); `settings` lists identifier/value pairs in order. */
export interface SettingsFrame {
  type: typeof FrameType.SETTINGS;
  ack: boolean;
  settings: Array<[number, number]>;
}
/** A PUSH_PROMISE frame (§6.6). */
export interface PushPromiseFrame {
  type: typeof FrameType.PUSH_PROMISE;
  streamId: number;
  promisedStreamId: number;
  endHeaders: boolean;
  fragment: Uint8Array;
}
/** A PING frame (§6.7); `data` is a view into the read buffer. */
export interface PingFrame {
  type: typeof FrameType.PING;
  ack: boolean;
  data: Uint8Array;
}
/** A GOAWAY frame (§6.8). */
export interface GoawayFrame {
  type: typeof FrameType.GOAWAY;
  lastStreamId: number;
  errorCode: number;
  debugData: Uint8Array;
}
/** A WINDOW_UPDATE frame (§6.9). */
export interface WindowUpdateFrame {
  type: typeof FrameType.WINDOW_UPDATE;
  streamId: number;
  increment: number;
}
/** A CONTINUATION frame (§6.10). */
export interface ContinuationFrame {
  type: typeof FrameType.CONTINUATION;
  streamId: number;
  endHeaders: boolean;
  fragment: Uint8Array;
}
/** A frame of a type this codec does not know; RFC 9113 §4.1 says to ignore it. */
export interface UnknownFrame {
  type: number;
  streamId: number;
  flags: number;
  payload: Uint8Array;
}

/** Every frame {@linkcode parseFrame} returns. */
export type Frame =
  | DataFrame
  | HeadersFrame
  | PriorityFrame
  | RstStreamFrame
  | SettingsFrame
  | PushPromiseFrame
  | PingFrame
  | GoawayFrame
  | WindowUpdateFrame
  | ContinuationFrame;

/**
 * Reads the nine-byte frame header at `offset` into `out` (reused by the read loop
 * so parsing allocates nothing).
 *
 * @param buf Bytes holding at least nine bytes from `offset`.
 * @param offset Where the frame starts.
 * @param out The header object to fill.
 *
 * @example
 * ```ts
 * import { readFrameHeader, type FrameHeader } from "./frame.ts";
 * import { deepEqual } from "node:assert/strict";
 * const out: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
 * readFrameHeader(new Uint8Array([0, 0, 8, 6, 1, 0, 0, 0, 0]), 0, out);
 * deepEqual(out, { length: 8, type: 6, flags: 1, streamId: 0 });
 * ```
 */
export function readFrameHeader(buf: Uint8Array, offset: number, out: FrameHeader): void {
  out.length = (buf[offset]! << 16) | (buf[offset + 1]! << 8) | buf[offset + 2]!;
  out.type = buf[offset + 3]!;
  out.flags = buf[offset + 4]!;
  // §4.1: the reserved bit MUST be ignored when receiving.
  out.streamId = readUint31(buf, offset + 5);
}

function readUint31(buf: Uint8Array, offset: number): number {
  return ((buf[offset]! & 0x7f) * 0x1000000) +
    ((buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!);
}

function readUint32(buf: Uint8Array, offset: number): number {
  return (buf[offset]! * 0x1000000) +
    ((buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!);
}

function protocolError(message: string): ConnectionError {
  return new ConnectionError(ErrorCode.PROTOCOL_ERROR, message);
}

function frameSizeError(message: string): ConnectionError {
  return new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, message);
}

/** Strips padding (§6.1, §6.2): returns [start, end] of the content within payload. */
function unpad(header: FrameHeader, payload: Uint8Array, start: number): [number, number] {
  if ((header.flags & Flag.PADDED) === 0) return [start, payload.length];
  if (payload.length < start + 1) throw frameSizeError("Invalid frame: padded frame too short");
  const padLength = payload[start]!;
  // §6.1: "If the length of the padding is the length of the frame payload or
  // greater, the recipient MUST treat this as a connection error of type PROTOCOL_ERROR."
  if (padLength >= payload.length - start) {
    throw protocolError("Invalid frame: padding is as long as the payload");
  }
  return [start + 1, payload.length - padLength];
}

/**
 * Parses a frame payload and applies every per-frame check of RFC 9113 §6.
 * Violations throw a {@linkcode ConnectionError} or {@linkcode StreamError}
 * with the code the RFC names. Views in the result point into `payload`.
 *
 * @param header The frame header, as read by {@linkcode readFrameHeader}.
 * @param payload Exactly `header.length` bytes.
 * @returns The frame, or an {@linkcode UnknownFrame} for unknown types (to be ignored).
 *
 * @example Parse a PING
 * ```ts
 * import { parseFrame } from "./frame.ts";
 * import { equal } from "node:assert/strict";
 * const frame = parseFrame(
 *   { length: 8, type: 6, flags: 0, streamId: 0 },
 *   new Uint8Array(8),
 * );
 * equal(frame.type, 6);
 * ```
 */
export function parseFrame(header: FrameHeader, payload: Uint8Array): Frame | UnknownFrame {
  const { type, flags, streamId } = header;
  switch (type) {
    case FrameType.DATA: {
      // §6.1: DATA on stream 0 is a connection error PROTOCOL_ERROR.
      if (streamId === 0) throw protocolError("Invalid frame: DATA on stream 0");
      const [start, end] = unpad(header, payload, 0);
      return {
        type,
        streamId,
        endStream: (flags & Flag.END_STREAM) !== 0,
        data: payload.subarray(start, end),
        flowLength: payload.length,
      };
    }
    case FrameType.HEADERS: {
      if (streamId === 0) throw protocolError("Invalid frame: HEADERS on stream 0");
      let [start, end] = unpad(header, payload, 0);
      let dependency = -1;
      if ((flags & Flag.PRIORITY) !== 0) {
        // §4.2: too short for the priority fields is FRAME_SIZE_ERROR; padding that
        // leaves them no room is §6.2's PROTOCOL_ERROR, caught by the check below.
        if (payload.length < start + 5) {
          throw frameSizeError("Invalid frame: HEADERS priority truncated");
        }
        // §5.3.1's self-dependency is a stream error; the connection checks it after
        // decoding the block, so the HPACK state stays in step with the peer.
        dependency = readUint31(payload, start);
        start += 5;
      }
      if (start > end) throw protocolError("Invalid frame: HEADERS padding exceeds payload");
      return {
        type,
        streamId,
        endStream: (flags & Flag.END_STREAM) !== 0,
        endHeaders: (flags & Flag.END_HEADERS) !== 0,
        fragment: payload.subarray(start, end),
        dependency,
      };
    }
    case FrameType.PRIORITY: {
      if (streamId === 0) throw protocolError("Invalid frame: PRIORITY on stream 0");
      // §6.3: a length other than 5 is a stream error FRAME_SIZE_ERROR.
      if (payload.length !== 5) {
        throw new StreamError(streamId, ErrorCode.FRAME_SIZE_ERROR, "PRIORITY length is not 5");
      }
      const dependency = readUint31(payload, 0);
      if (dependency === streamId) {
        throw new StreamError(streamId, ErrorCode.PROTOCOL_ERROR, "Stream depends on itself");
      }
      return {
        type,
        streamId,
        dependency,
        exclusive: (payload[0]! & 0x80) !== 0,
        weight: payload[4]! + 1,
      };
    }
    case FrameType.RST_STREAM: {
      if (streamId === 0) throw protocolError("Invalid frame: RST_STREAM on stream 0");
      if (payload.length !== 4) throw frameSizeError("Invalid frame: RST_STREAM length is not 4");
      return { type, streamId, errorCode: readUint32(payload, 0) };
    }
    case FrameType.SETTINGS:
      return parseSettings(header, payload);
    case FrameType.PUSH_PROMISE: {
      if (streamId === 0) throw protocolError("Invalid frame: PUSH_PROMISE on stream 0");
      const [start, end] = unpad(header, payload, 0);
      if (end - start < 4) throw frameSizeError("Invalid frame: PUSH_PROMISE truncated");
      return {
        type,
        streamId,
        promisedStreamId: readUint31(payload, start),
        endHeaders: (flags & Flag.END_HEADERS) !== 0,
        fragment: payload.subarray(start + 4, end),
      };
    }
    case FrameType.PING:
      if (streamId !== 0) throw protocolError("Invalid frame: PING on a stream");
      if (payload.length !== 8) throw frameSizeError("Invalid frame: PING length is not 8");
      return { type, ack: (flags & Flag.ACK) !== 0, data: payload };
    case FrameType.GOAWAY:
      if (streamId !== 0) throw protocolError("Invalid frame: GOAWAY on a stream");
      if (payload.length < 8) throw frameSizeError("Invalid frame: GOAWAY shorter than 8");
      return {
        type,
        lastStreamId: readUint31(payload, 0),
        errorCode: readUint32(payload, 4),
        debugData: payload.subarray(8),
      };
    case FrameType.WINDOW_UPDATE: {
      if (payload.length !== 4) {
        throw frameSizeError("Invalid frame: WINDOW_UPDATE length is not 4");
      }
      const increment = readUint31(payload, 0);
      // §6.9: an increment of 0 is a PROTOCOL_ERROR, stream or connection by where it is.
      if (increment === 0) {
        if (streamId === 0) throw protocolError("Invalid frame: WINDOW_UPDATE of 0");
        throw new StreamError(streamId, ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      }
      return { type, streamId, increment };
    }
    case FrameType.CONTINUATION:
      if (streamId === 0) throw protocolError("Invalid frame: CONTINUATION on stream 0");
      return {
        type,
        streamId,
        endHeaders: (flags & Flag.END_HEADERS) !== 0,
        fragment: payload,
      };
    default:
      return { type, streamId, flags, payload };
  }
}

function parseSettings(header: FrameHeader, payload: Uint8Array): SettingsFrame {
  if (header.streamId !== 0) throw protocolError("Invalid frame: SETTINGS on a stream");
  const ack = (header.flags & Flag.ACK) !== 0;
  // §6.5: an ACK with a payload, or a length not a multiple of 6, is FRAME_SIZE_ERROR.
  if (ack && payload.length !== 0) throw frameSizeError("Invalid frame: SETTINGS ACK with payload");
  if (payload.length % 6 !== 0) throw frameSizeError("Invalid frame: SETTINGS length not 6n");
  const settings: Array<[number, number]> = [];
  for (let i = 0; i < payload.length; i += 6) {
    const id = (payload[i]! << 8) | payload[i + 1]!;
    const value = readUint32(payload, i + 2);
    switch (id) {
      case SettingId.ENABLE_PUSH:
      case SettingId.ENABLE_CONNECT_PROTOCOL:
        if (value > 1) throw protocolError(`Invalid setting: 0x${id.toString(16)} = ${value}`);
        break;
      case SettingId.INITIAL_WINDOW_SIZE:
        // §6.5.2: above 2^31-1 is a connection error FLOW_CONTROL_ERROR.
        if (value > MAX_WINDOW_SIZE) {
          throw new ConnectionError(
            ErrorCode.FLOW_CONTROL_ERROR,
            `Invalid setting: INITIAL_WINDOW_SIZE = ${value}`,
          );
        }
        break;
      case SettingId.MAX_FRAME_SIZE:
        if (value < 16_384 || value > MAX_MAX_FRAME_SIZE) {
          throw protocolError(`Invalid setting: MAX_FRAME_SIZE = ${value}`);
        }
        break;
    }
    settings.push([id, value]);
  }
  return { type: FrameType.SETTINGS, ack, settings };
}

/** How many small uses in a row shrink a grown buffer back to its first size. */
const SHRINK_AFTER = 64;

/**
 * When a buffer that a burst grew goes back to its first size: after
 * SHRINK_AFTER uses in a row that filled less than a sixteenth of it. A burst
 * then does not keep its memory for good, and steady traffic does not
 * reallocate. Shared by {@linkcode FrameWriter} and the connection's read buffer.
 *
 * @example
 * ```ts
 * import { ShrinkRule } from "./frame.ts";
 * import { equal } from "node:assert/strict";
 * const rule = new ShrinkRule();
 * let shrunk = false;
 * for (let i = 0; i < 64; i++) shrunk = rule.shrink(65_536, 1024, 100);
 * equal(shrunk, true);
 * equal(rule.shrink(1024, 1024, 100), false); // at its first size already
 * ```
 */
export class ShrinkRule {
  #smallUses = 0;

  /**
   * Counts one use of the buffer.
   *
   * @param size The buffer's size now.
   * @param first Its first size.
   * @param used The bytes this use filled.
   * @returns Whether to go back to the first size now.
   */
  shrink(size: number, first: number, used: number): boolean {
    if (size <= first || used >= size / 16) {
      this.#smallUses = 0;
      return false;
    }
    if (++this.#smallUses < SHRINK_AFTER) return false;
    this.#smallUses = 0;
    return true;
  }
}

/**
 * A growable output buffer that frames are encoded into; the connection hands
 * its bytes to the socket in one write per flush and then reuses it.
 *
 * @example Encode a PING and read the exact bytes
 * ```ts
 * import { FrameWriter } from "./frame.ts";
 * import { deepEqual } from "node:assert/strict";
 * const writer = new FrameWriter();
 * writer.ping(false, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
 * deepEqual(
 *   [...writer.bytes()],
 *   [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8],
 * );
 * ```
 */
export class FrameWriter {
  #buf: Uint8Array;
  #length = 0;
  #capacity: number;
  #shrink = new ShrinkRule();

  /** @param capacity Initial capacity in bytes. */
  constructor(capacity = 16_384) {
    this.#capacity = capacity;
    this.#buf = new Uint8Array(capacity);
  }

  /** Bytes encoded so far. */
  get length(): number {
    return this.#length;
  }

  /** @returns A view of the encoded bytes, valid until the next write or {@linkcode FrameWriter.reset}. */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#length);
  }

  /**
   * Forgets the encoded bytes and keeps the memory for reuse; a buffer that a
   * burst grew goes back to its first size (see {@linkcode ShrinkRule}).
   */
  reset(): void {
    if (this.#shrink.shrink(this.#buf.length, this.#capacity, this.#length)) {
      this.#buf = new Uint8Array(this.#capacity);
    }
    this.#length = 0;
  }

  #reserve(n: number): void {
    const need = this.#length + n;
    if (need <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#length));
    this.#buf = next;
  }

  /**
   * Writes a frame header; the caller writes `length` payload bytes next.
   *
   * @param length Payload length.
   * @param type Frame type.
   * @param flags Flags.
   * @param streamId Stream identifier.
   */
  header(length: number, type: number, flags: number, streamId: number): void {
    this.#reserve(FRAME_HEADER_LENGTH + length);
    const b = this.#buf;
    const o = this.#length;
    b[o] = length >>> 16;
    b[o + 1] = length >>> 8;
    b[o + 2] = length;
    b[o + 3] = type;
    b[o + 4] = flags;
    this.#writeUint32At(o + 5, streamId);
    this.#length = o + FRAME_HEADER_LENGTH;
  }

  #writeUint32At(o: number, value: number): void {
    const b = this.#buf;
    b[o] = value >>> 24;
    b[o + 1] = value >>> 16;
    b[o + 2] = value >>> 8;
    b[o + 3] = value;
  }

  #uint32(value: number): void {
    this.#writeUint32At(this.#length, value);
    this.#length += 4;
  }

  #raw(bytes: Uint8Array): void {
    this.#buf.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /**
   * Appends bytes that are not a frame (the client connection preface, §3.4).
   *
   * @param bytes The bytes.
   */
  append(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#raw(bytes);
  }

  /**
   * Writes one DATA frame (§6.1).
   *
   * @param streamId The stream.
   * @param data The payload; at most the peer's SETTINGS_MAX_FRAME_SIZE.
   * @param endStream Sets END_STREAM.
   * @param padLength Adds PADDED with this many zero bytes of padding.
   */
  data(streamId: number, data: Uint8Array, endStream: boolean, padLength = 0): void {
    const flags = (endStream ? Flag.END_STREAM : 0) | (padLength > 0 ? Flag.PADDED : 0);
    const length = data.length + (padLength > 0 ? padLength + 1 : 0);
    this.header(length, FrameType.DATA, flags, streamId);
    if (padLength > 0) this.#buf[this.#length++] = padLength;
    this.#raw(data);
    if (padLength > 0) {
      this.#buf.fill(0, this.#length, this.#length + padLength);
      this.#length += padLength;
    }
  }

  /**
   * Writes a header block as HEADERS followed by as many CONTINUATION frames as
   * `maxFrameSize` requires (§6.2, §6.10); frames of one block are written back
   * to back, as §4.3 demands.
   *
   * @param streamId The stream.
   * @param block The HPACK-encoded field block.
   * @param endStream Sets END_STREAM on the HEADERS frame.
   * @param maxFrameSize The peer's SETTINGS_MAX_FRAME_SIZE.
   */
  headers(streamId: number, block: Uint8Array, endStream: boolean, maxFrameSize: number): void {
    let first = Math.min(block.length, maxFrameSize);
    let flags = endStream ? Flag.END_STREAM : 0;
    if (first === block.length) flags |= Flag.END_HEADERS;
    this.header(first, FrameType.HEADERS, flags, streamId);
    this.#raw(block.subarray(0, first));
    while (first < block.length) {
      const size = Math.min(block.length - first, maxFrameSize);
      const end = first + size === block.length;
      this.header(size, FrameType.CONTINUATION, end ? Flag.END_HEADERS : 0, streamId);
      this.#raw(block.subarray(first, first + size));
      first += size;
    }
  }

  /**
   * Writes a PRIORITY frame (§6.3).
   *
   * @param streamId The stream.
   * @param dependency The stream it depends on.
   * @param weight 1 to 256.
   * @param exclusive Sets the exclusive bit.
   */
  priority(streamId: number, dependency: number, weight: number, exclusive = false): void {
    this.header(5, FrameType.PRIORITY, 0, streamId);
    this.#uint32((exclusive ? 0x8000_0000 : 0) + dependency);
    this.#buf[this.#length++] = weight - 1;
  }

  /**
   * Writes a RST_STREAM frame (§6.4).
   *
   * @param streamId The stream to reset.
   * @param errorCode Why.
   */
  rstStream(streamId: number, errorCode: number): void {
    this.header(4, FrameType.RST_STREAM, 0, streamId);
    this.#uint32(errorCode);
  }

  /**
   * Writes a SETTINGS frame (§6.5).
   *
   * @param settings Identifier/value pairs.
   */
  settings(settings: ReadonlyArray<readonly [number, number]>): void {
    this.header(settings.length * 6, FrameType.SETTINGS, 0, 0);
    for (const [id, value] of settings) {
      this.#buf[this.#length++] = id >>> 8;
      this.#buf[this.#length++] = id;
      this.#uint32(value);
    }
  }

  /** Writes a SETTINGS frame with ACK (§6.5.3). */
  settingsAck(): void {
    this.header(0, FrameType.SETTINGS, Flag.ACK, 0);
  }

  /**
   * Writes a PUSH_PROMISE frame (§6.6); this codec never pushes, but tests do.
   *
   * @param streamId The associated stream.
   * @param promisedStreamId The reserved stream.
   * @param block The field block (must fit one frame).
   */
  pushPromise(streamId: number, promisedStreamId: number, block: Uint8Array): void {
    this.header(4 + block.length, FrameType.PUSH_PROMISE, Flag.END_HEADERS, streamId);
    this.#uint32(promisedStreamId);
    this.#raw(block);
  }

  /**
   * Writes a PING frame (§6.7).
   *
   * @param ack Sets ACK.
   * @param data Eight opaque bytes.
   */
  ping(ack: boolean, data: Uint8Array): void {
    this.header(8, FrameType.PING, ack ? Flag.ACK : 0, 0);
    this.#raw(data);
  }

  /**
   * Writes a GOAWAY frame (§6.8).
   *
   * @param lastStreamId The last peer-initiated stream processed.
   * @param errorCode Why.
   * @param debugData Opaque diagnostic bytes.
   */
  goaway(lastStreamId: number, errorCode: number, debugData?: Uint8Array): void {
    this.header(8 + (debugData?.length ?? 0), FrameType.GOAWAY, 0, 0);
    this.#uint32(lastStreamId);
    this.#uint32(errorCode);
    if (debugData) this.#raw(debugData);
  }

  /**
   * Writes a WINDOW_UPDATE frame (§6.9).
   *
   * @param streamId The stream, or 0 for the connection.
   * @param increment 1 to 2^31-1.
   */
  windowUpdate(streamId: number, increment: number): void {
    this.header(4, FrameType.WINDOW_UPDATE, 0, streamId);
    this.#uint32(increment);
  }

  /**
   * Writes a frame with arbitrary content (tests use it to send malformed frames).
   *
   * @param type Frame type.
   * @param flags Flags.
   * @param streamId Stream identifier.
   * @param payload Payload bytes.
   */
  raw(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    this.header(payload.length, type, flags, streamId);
    this.#raw(payload);
  }
}
