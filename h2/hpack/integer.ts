/**
 * HPACK integers with an N-bit prefix (RFC 7541 §5.1), and the read cursor
 * that the decoding primitives advance.
 *
 * @module
 */

import { HpackError } from "./errors.ts";

/**
 * Largest integer the codec reads or writes. RFC 7541 §5.1 leaves the limit
 * to implementations; 2^31-1 covers any table size, index or string length a
 * 32-bit setting allows, and keeps arithmetic exact.
 *
 * @example
 * ```ts
 * import { MAX_INTEGER } from "./integer.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(MAX_INTEGER, 2 ** 31 - 1);
 * ```
 */
export const MAX_INTEGER = 0x7fffffff;

/** 2^31-1 needs ceil(31 / 7) = 5 continuation octets; more can only be zero padding. */
const MAX_CONTINUATION = 5;

/**
 * A read position in a header block, advanced in place by the decoding
 * functions so that reading allocates nothing.
 */
export interface Cursor {
  /** The header block. */
  bytes: Uint8Array;
  /** Index of the next octet to read. */
  offset: number;
  /** Index after the last octet of the block. */
  end: number;
}

/**
 * Counts the octets an integer takes with an N-bit prefix.
 *
 * @param value The integer, 0 to {@linkcode MAX_INTEGER}.
 * @param prefixBits N, 1 to 8.
 * @returns The encoded length in octets.
 *
 * @example
 * ```ts
 * import { integerLength } from "./integer.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(integerLength(10, 5), 1);
 * equal(integerLength(1337, 5), 3); // RFC 7541 C.1.2
 * ```
 */
export function integerLength(value: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) return 1;
  let length = 2;
  for (let rest = value - max; rest >= 0x80; rest = Math.floor(rest / 0x80)) length++;
  return length;
}

/**
 * Writes an integer with an N-bit prefix (RFC 7541 §5.1). The bits of
 * `out[offset]` above the prefix are kept: callers write the
 * representation's pattern there first.
 *
 * @param value The integer, 0 to {@linkcode MAX_INTEGER}.
 * @param prefixBits N, 1 to 8.
 * @param out The destination, with room for `integerLength(value, prefixBits)` octets.
 * @param offset Where the prefix octet is.
 * @returns The offset after the last octet written.
 * @throws {RangeError} If `value` is not an integer from 0 to {@linkcode MAX_INTEGER}.
 *
 * @example Encode 1337 with a 5-bit prefix (RFC 7541 C.1.2)
 * ```ts
 * import { encodeInteger } from "./integer.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * const out = new Uint8Array(3);
 * equal(encodeInteger(1337, 5, out, 0), 3);
 * deepEqual(out, new Uint8Array([0x1f, 0x9a, 0x0a]));
 * ```
 */
export function encodeInteger(
  value: number,
  prefixBits: number,
  out: Uint8Array,
  offset: number,
): number {
  if (!(value >= 0 && value <= MAX_INTEGER) || value !== Math.floor(value)) {
    throw new RangeError(`Cannot encode integer: ${value} is not in 0..${MAX_INTEGER}`);
  }
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[offset] = (out[offset]! & ~max) | value;
    return offset + 1;
  }
  out[offset] = out[offset]! | max;
  offset++;
  value -= max;
  while (value >= 0x80) {
    out[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[offset++] = value;
  return offset;
}

/**
 * Reads an integer with an N-bit prefix at the cursor and advances it
 * (RFC 7541 §5.1). Bits above the prefix are ignored.
 *
 * @param cursor The read position; moved past the integer.
 * @param prefixBits N, 1 to 8.
 * @returns The integer.
 * @throws {HpackError} If the block ends inside the integer, the value exceeds
 * {@linkcode MAX_INTEGER}, or it has more than 5 continuation octets.
 *
 * @example Decode 1337 with a 5-bit prefix (RFC 7541 C.1.2)
 * ```ts
 * import { decodeInteger } from "./integer.ts";
 * import { equal } from "node:assert/strict";
 *
 * const cursor = { bytes: new Uint8Array([0x1f, 0x9a, 0x0a]), offset: 0, end: 3 };
 * equal(decodeInteger(cursor, 5), 1337);
 * equal(cursor.offset, 3);
 * ```
 */
export function decodeInteger(cursor: Cursor, prefixBits: number): number {
  const { bytes, end } = cursor;
  let offset = cursor.offset;
  if (offset >= end) throw truncated();
  const max = (1 << prefixBits) - 1;
  let value = bytes[offset++]! & max;
  if (value === max) {
    let multiplier = 1;
    for (let count = 0;; count++) {
      if (offset >= end) throw truncated();
      if (count === MAX_CONTINUATION) {
        throw new HpackError("Invalid integer: too many continuation octets");
      }
      const octet = bytes[offset++]!;
      // Multiply, not shift: shifts are 32-bit signed and would wrap.
      value += (octet & 0x7f) * multiplier;
      if (value > MAX_INTEGER) throw new HpackError(`Invalid integer: exceeds ${MAX_INTEGER}`);
      if ((octet & 0x80) === 0) break;
      multiplier *= 0x80;
    }
  }
  cursor.offset = offset;
  return value;
}

function truncated(): HpackError {
  return new HpackError("Truncated header block: it ends inside an integer");
}
