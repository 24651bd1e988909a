/**
 * The WebSocket wire format (RFC 6455 §5): frame headers, masking, control
 * frames and close codes. Bytes in, frames out, and back; knows nothing of
 * sockets, events or HTTP/2.
 *
 * @module
 */

/** Frame opcodes (RFC 6455 §5.2, §11.8). */
export const Opcode = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;
/** One of {@linkcode Opcode}. */
export type Opcode = typeof Opcode[keyof typeof Opcode];

/** Close codes (RFC 6455 §7.4.1, and the IANA registry of §11.7). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Never sent: the Close frame had no code. */
  NO_STATUS: 1005,
  /** Never sent: the connection ended without a Close frame. */
  ABNORMAL: 1006,
  INVALID_DATA: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  BAD_GATEWAY: 1014,
} as const;
/** One of {@linkcode CloseCode}. */
export type CloseCode = typeof CloseCode[keyof typeof CloseCode];

/** One frame as read from the wire, payload unmasked. */
export interface WebSocketFrame {
  /** FIN: the last fragment of its message (§5.4). */
  fin: boolean;
  /** The opcode. */
  opcode: number;
  /** The payload, unmasked. */
  payload: Uint8Array;
}

/**
 * A peer broke RFC 6455: the connection must be failed (§7.1.7) with a Close
 * frame carrying `code`.
 *
 * @example
 * ```ts
 * import { WebSocketProtocolError } from "./frame.ts";
 * import { equal } from "node:assert/strict";
 * equal(new WebSocketProtocolError(1009, "Message too big").code, 1009);
 * ```
 */
export class WebSocketProtocolError extends Error {
  /** The close code to fail the connection with (1002, 1007 or 1009). */
  readonly code: number;
  /**
   * @param code The close code.
   * @param message What went wrong.
   */
  constructor(code: number, message: string) {
    super(message);
    this.name = "WebSocketProtocolError";
    this.code = code;
  }
}

/** The most a control frame may carry (§5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/**
 * XORs `data` in place with the 4-byte masking key (§5.3), starting at key
 * position `offset`.
 *
 * @param data The bytes to mask or unmask.
 * @param key The masking key.
 * @param offset Which key byte applies to `data[0]` (the payload position mod 4).
 *
 * @example Masking twice gives the original back
 * ```ts
 * import { applyMask } from "./frame.ts";
 * import { deepEqual } from "node:assert/strict";
 * const key = new Uint8Array([1, 2, 3, 4]);
 * const data = new Uint8Array([10, 20, 30, 40, 50]);
 * applyMask(data, key);
 * applyMask(data, key);
 * deepEqual([...data], [10, 20, 30, 40, 50]);
 * ```
 */
export function applyMask(data: Uint8Array, key: Uint8Array, offset = 0): void {
  const n = data.length;
  let i = 0;
  // Bytes up to a 4-byte boundary one at a time, then whole words: the mask repeats
  // every four bytes, so a word XOR applies it four bytes at once.
  const head = Math.min(n, (4 - (data.byteOffset & 3)) & 3);
  for (; i < head; i++) data[i] = data[i]! ^ key[(offset + i) & 3]!;
  const words = (n - i) >>> 2;
  if (words > 0) {
    const k = (offset + i) & 3;
    const word = LITTLE_ENDIAN
      ? key[k]! | (key[(k + 1) & 3]! << 8) | (key[(k + 2) & 3]! << 16) | (key[(k + 3) & 3]! << 24)
      : (key[k]! << 24) | (key[(k + 1) & 3]! << 16) | (key[(k + 2) & 3]! << 8) | key[(k + 3) & 3]!;
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    for (let w = 0; w < words; w++) view[w] = view[w]! ^ word;
    i += words * 4;
  }
  for (; i < n; i++) data[i] = data[i]! ^ key[(offset + i) & 3]!;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Options of {@linkcode encodeFrame}. */
export interface EncodeFrameOptions {
  /** FIN. @default {true} */
  fin?: boolean;
  /**
   * Mask the payload (clients MUST, servers MUST NOT: §5.1): `true` draws a
   * fresh key from `crypto.getRandomValues` (§5.3), or pass the key.
   * @default {false}
   */
  mask?: boolean | Uint8Array;
}

/**
 * The size of a frame (§5.2): header, optional masking key, payload.
 *
 * @param payloadLength The payload's length.
 * @param masked Whether a masking key is included.
 * @returns Octets.
 *
 * @example
 * ```ts
 * import { frameLength } from "./frame.ts";
 * import { equal } from "node:assert/strict";
 * equal(frameLength(5, true), 11);
 * equal(frameLength(70_000, false), 70_010);
 * ```
 */
export function frameLength(payloadLength: number, masked: boolean): number {
  const extended = payloadLength < 126 ? 0 : payloadLength < 65_536 ? 2 : 8;
  return 2 + extended + (masked ? 4 : 0) + payloadLength;
}

/**
 * Encodes one frame (§5.2) into `out` at `offset`: header, optional masking
 * key, payload. Several frames can so share one buffer, and one write.
 *
 * @param out Where to write; {@linkcode frameLength} octets must fit.
 * @param offset Where the frame starts.
 * @param opcode The opcode.
 * @param payload The payload (not modified).
 * @param options FIN and masking.
 * @returns The offset after the frame.
 *
 * @example
 * ```ts
 * import { encodeFrameInto, frameLength, Opcode } from "./frame.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 * const payload = new TextEncoder().encode("Hi");
 * const out = new Uint8Array(2 * frameLength(2, false));
 * const middle = encodeFrameInto(out, 0, Opcode.TEXT, payload);
 * equal(encodeFrameInto(out, middle, Opcode.TEXT, payload), out.length);
 * deepEqual([...out], [0x81, 2, 0x48, 0x69, 0x81, 2, 0x48, 0x69]);
 * ```
 */
export function encodeFrameInto(
  out: Uint8Array,
  offset: number,
  opcode: number,
  payload: Uint8Array,
  options: EncodeFrameOptions = {},
): number {
  const length = payload.length;
  const masked = options.mask !== undefined && options.mask !== false;
  const extended = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const start = offset + 2 + extended + (masked ? 4 : 0);
  out[offset] = (options.fin === false ? 0 : 0x80) | (opcode & 0x0f);
  const maskBit = masked ? 0x80 : 0;
  if (extended === 0) out[offset + 1] = maskBit | length;
  else if (extended === 2) {
    out[offset + 1] = maskBit | 126;
    out[offset + 2] = length >>> 8;
    out[offset + 3] = length & 0xff;
  } else {
    // §5.2: a 64-bit length whose most significant bit is 0.
    out[offset + 1] = maskBit | 127;
    new DataView(out.buffer, out.byteOffset).setBigUint64(offset + 2, BigInt(length));
  }
  out.set(payload, start);
  if (masked) {
    const key = options.mask instanceof Uint8Array
      ? options.mask
      : crypto.getRandomValues(new Uint8Array(4));
    out.set(key, start - 4);
    applyMask(out.subarray(start, start + length), key);
  }
  return start + length;
}

/**
 * Encodes one frame (§5.2): header, optional masking key, payload.
 *
 * @param opcode The opcode.
 * @param payload The payload (not modified).
 * @param options FIN and masking.
 * @returns The frame's bytes.
 *
 * @example A masked "Hello" as RFC 6455 §5.7 shows it
 * ```ts
 * import { encodeFrame, Opcode } from "./frame.ts";
 * import { deepEqual } from "node:assert/strict";
 * const frame = encodeFrame(Opcode.TEXT, new TextEncoder().encode("Hello"), {
 *   mask: new Uint8Array([0x37, 0xfa, 0x21, 0x3d]),
 * });
 * deepEqual([...frame], [
 *   0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
 * ]);
 * ```
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: EncodeFrameOptions = {},
): Uint8Array<ArrayBuffer> {
  const masked = options.mask !== undefined && options.mask !== false;
  const frame = new Uint8Array(frameLength(payload.length, masked));
  encodeFrameInto(frame, 0, opcode, payload, options);
  return frame;
}

/**
 * Whether `code` may appear in a Close frame on the wire (§7.4.1, §7.4.2):
 * 1000-1003, 1007-1014 (1012-1014 from the IANA registry), and 3000-4999
 * for libraries and applications. 1004-1006 and 1015 are never sent.
 *
 * @param code A close code.
 * @returns Whether it is valid on the wire.
 *
 * @example
 * ```ts
 * import { isValidCloseCode } from "./frame.ts";
 * import { equal } from "node:assert/strict";
 * equal(isValidCloseCode(1000), true);
 * equal(isValidCloseCode(1006), false);
 * equal(isValidCloseCode(4000), true);
 * ```
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes UTF-8 strictly (§8.1: invalid UTF-8 fails the connection with 1007).
 *
 * @param bytes The bytes.
 * @returns The text.
 * @throws {WebSocketProtocolError} 1007 when the bytes are not valid UTF-8.
 *
 * @example
 * ```ts
 * import { decodeUtf8 } from "./frame.ts";
 * import { equal, throws } from "node:assert/strict";
 * equal(decodeUtf8(new Uint8Array([0x68, 0x69])), "hi");
 * throws(() => decodeUtf8(new Uint8Array([0xff])), { code: 1007 });
 * ```
 */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new WebSocketProtocolError(CloseCode.INVALID_DATA, "Text is not valid UTF-8");
  }
}

/**
 * Encodes a Close frame's payload (§5.5.1): the code in two bytes, then the
 * UTF-8 reason; no code gives an empty payload.
 *
 * @param code The close code, or `undefined` for none.
 * @param reason The reason (at most 123 bytes of UTF-8).
 * @returns The payload.
 * @throws {RangeError} When the reason is too long for a control frame.
 *
 * @example
 * ```ts
 * import { encodeClosePayload } from "./frame.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual([...encodeClosePayload(1000, "ok")], [0x03, 0xe8, 0x6f, 0x6b]);
 * ```
 */
export function encodeClosePayload(code: number | undefined, reason = ""): Uint8Array {
  if (code === undefined) return new Uint8Array(0);
  const text = utf8.encode(reason);
  if (text.length > MAX_CONTROL_PAYLOAD - 2) {
    throw new RangeError(`Close reason exceeds ${MAX_CONTROL_PAYLOAD - 2} bytes`);
  }
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}

/**
 * Parses a Close frame's payload (§5.5.1, §7.1.5).
 *
 * @param payload The payload.
 * @returns The code (1005 when absent) and the reason.
 * @throws {WebSocketProtocolError} 1002 for a one-byte payload or an invalid
 *   code, 1007 for a reason that is not UTF-8.
 *
 * @example
 * ```ts
 * import { parseClosePayload } from "./frame.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(parseClosePayload(new Uint8Array([0x03, 0xe8, 0x6f, 0x6b])), { code: 1000, reason: "ok" });
 * deepEqual(parseClosePayload(new Uint8Array(0)), { code: 1005, reason: "" });
 * ```
 */
export function parseClosePayload(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length === 0) return { code: CloseCode.NO_STATUS, reason: "" };
  if (payload.length === 1) {
    throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, "Close frame of one byte");
  }
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) {
    throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, `Invalid close code ${code}`);
  }
  return { code, reason: decodeUtf8(payload.subarray(2)) };
}

/** Options of {@linkcode FrameReader}. */
export interface FrameReaderOptions {
  /**
   * Whether frames must be masked: a server requires masked frames from its
   * client, a client requires unmasked ones from its server (§5.1).
   */
  masked: boolean;
  /** The largest payload of one frame; larger ones fail with 1009. @default {67108864} */
  maxPayload?: number;
}

/** The reader's first buffer; it grows for larger frames. */
const FIRST_BUFFER = 16 * 1024;
/** A buffer larger than this goes back to FIRST_BUFFER once empty. */
const KEEP_BUFFER = 1024 * 1024;

/**
 * Splits a byte stream into frames (§5.2), checking what a frame alone can
 * break: reserved bits without an extension, unknown opcodes, masking, control
 * frame size and fragmentation (§5.5). Message-level rules (continuation
 * order, UTF-8 of whole messages) belong to the socket.
 *
 * @example Two frames split across reads
 * ```ts
 * import { encodeFrame, FrameReader, Opcode } from "./frame.ts";
 * import { equal } from "node:assert/strict";
 * const bytes = new Uint8Array([
 *   ...encodeFrame(Opcode.TEXT, new TextEncoder().encode("hi"), { mask: true }),
 *   ...encodeFrame(Opcode.PING, new Uint8Array(0), { mask: true }),
 * ]);
 * const reader = new FrameReader({ masked: true });
 * reader.push(bytes.subarray(0, 3));
 * equal(reader.next(), null);
 * reader.push(bytes.subarray(3));
 * equal(new TextDecoder().decode(reader.next()!.payload), "hi");
 * equal(reader.next()!.opcode, Opcode.PING);
 * equal(reader.next(), null);
 * ```
 */
export class FrameReader {
  #masked: boolean;
  #maxPayload: number;
  #buf = new Uint8Array(FIRST_BUFFER);
  #start = 0;
  #end = 0;

  /** @param options Masking rule and size limit. */
  constructor(options: FrameReaderOptions) {
    this.#masked = options.masked;
    this.#maxPayload = options.maxPayload ?? 64 * 1024 * 1024;
  }

  /** Bytes received and not yet returned as frames. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Appends received bytes (copied).
   *
   * @param chunk The bytes.
   */
  push(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buf.length) {
      const used = this.#end - this.#start;
      if (used + chunk.length <= this.#buf.length) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const next = new Uint8Array(Math.max(this.#buf.length * 2, used + chunk.length));
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      }
      this.#start = 0;
      this.#end = used;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /**
   * Takes the next complete frame, or `null` until more bytes arrive.
   *
   * @returns The frame (payload unmasked, a copy), or `null`.
   * @throws {WebSocketProtocolError} When the frame breaks §5.
   */
  next(): WebSocketFrame | null {
    const buf = this.#buf;
    const start = this.#start;
    const available = this.#end - start;
    if (available < 2) return null;
    const b0 = buf[start]!;
    const b1 = buf[start + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    // §5.2: RSV1-3 MUST be 0 unless an extension defines them; we negotiate none.
    if ((b0 & 0x70) !== 0) {
      throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, "Reserved bits set");
    }
    const control = (opcode & 0x08) !== 0;
    // §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
    if ((opcode > Opcode.BINARY && !control) || opcode > Opcode.PONG) {
      throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, `Reserved opcode ${opcode}`);
    }
    const masked = (b1 & 0x80) !== 0;
    // §5.1: a server MUST fail on an unmasked client frame, a client on a masked server frame.
    if (masked !== this.#masked) {
      throw new WebSocketProtocolError(
        CloseCode.PROTOCOL_ERROR,
        masked ? "Masked frame from a server" : "Unmasked frame from a client",
      );
    }
    let length = b1 & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (available < 4) return null;
      length = (buf[start + 2]! << 8) | buf[start + 3]!;
      offset = 4;
    } else if (length === 127) {
      if (available < 10) return null;
      const view = new DataView(buf.buffer, buf.byteOffset + start + 2, 8);
      // §5.2: the most significant bit MUST be 0; anything past 2^53 is far past our limit anyway.
      const high = view.getUint32(0);
      if (high >= 0x20_0000) {
        throw new WebSocketProtocolError(CloseCode.MESSAGE_TOO_BIG, "Frame length too large");
      }
      length = high * 0x1_0000_0000 + view.getUint32(4);
      offset = 10;
    }
    if (control) {
      // §5.5: control frames carry at most 125 bytes and are never fragmented.
      if (length > MAX_CONTROL_PAYLOAD) {
        throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, "Control frame too long");
      }
      if (!fin) {
        throw new WebSocketProtocolError(CloseCode.PROTOCOL_ERROR, "Fragmented control frame");
      }
    }
    if (length > this.#maxPayload) {
      throw new WebSocketProtocolError(
        CloseCode.MESSAGE_TOO_BIG,
        `Frame of ${length} bytes exceeds the limit of ${this.#maxPayload}`,
      );
    }
    const keyAt = offset;
    if (masked) offset += 4;
    if (available < offset + length) return null;
    const payload = buf.slice(start + offset, start + offset + length);
    if (masked) applyMask(payload, buf.subarray(start + keyAt, start + keyAt + 4));
    this.#start = start + offset + length;
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      // A buffer grown for a large message is not kept for the socket's life.
      if (buf.length > KEEP_BUFFER) this.#buf = new Uint8Array(FIRST_BUFFER);
    }
    return { fin, opcode, payload };
  }
}
