/**
 * HPACK string literals (RFC 7541 §5.2): an H bit, a 7-bit-prefix length, then
 * the octets, raw or Huffman-encoded.
 *
 * @module
 */

import { HpackError } from "./errors.ts";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "./huffman.ts";
import { type Cursor, decodeInteger, encodeInteger } from "./integer.ts";
import { decodeLatin1, encodeLatin1 } from "./latin1.ts";

/**
 * Most octets {@linkcode encodeString} writes beyond `s.length`: the length
 * prefix, at most 6 octets for a length up to 2^31-1. Huffman is only chosen
 * when shorter than the raw form, so `s.length + STRING_OVERHEAD` always fits.
 *
 * @example
 * ```ts
 * import { STRING_OVERHEAD } from "./string_literal.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(STRING_OVERHEAD, 6);
 * ```
 */
export const STRING_OVERHEAD = 6;

/**
 * Writes a string literal, Huffman-encoded when that is shorter (RFC 7541 §5.2).
 *
 * @param s The string; char codes are octets (0-255).
 * @param out The destination, with room for `s.length + STRING_OVERHEAD` octets at `offset`.
 * @param offset Where to start writing.
 * @param huffman `false` sends the octets as they are without trying Huffman.
 * @returns The offset after the literal.
 * @throws {RangeError} If a char code is above 0xff.
 *
 * @example Encode "no-cache" as in RFC 7541 C.4.2
 * ```ts
 * import { encodeString } from "./string_literal.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * const out = new Uint8Array(16);
 * const end = encodeString("no-cache", out, 0);
 * equal(end, 7);
 * deepEqual(out.subarray(0, end), new Uint8Array([0x86, 0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]));
 * ```
 */
export function encodeString(
  s: string,
  out: Uint8Array,
  offset: number,
  huffman = true,
): number {
  const huffmanLength = huffman ? huffmanEncodedLength(s) : s.length;
  if (huffmanLength < s.length) {
    out[offset] = 0x80;
    return huffmanEncode(s, out, encodeInteger(huffmanLength, 7, out, offset));
  }
  out[offset] = 0x00;
  return encodeLatin1(s, out, encodeInteger(s.length, 7, out, offset));
}

/**
 * Reads a string literal at the cursor and advances it past it (RFC 7541 §5.2).
 *
 * @param cursor The read position.
 * @returns The string; char codes are the octets.
 * @throws {HpackError} If the block ends early, the length runs past the
 * block, or the Huffman data is invalid.
 *
 * @example Decode "custom-key" as in RFC 7541 C.3.3
 * ```ts
 * import { decodeString } from "./string_literal.ts";
 * import { equal } from "node:assert/strict";
 *
 * const bytes = new Uint8Array([0x0a, ...new TextEncoder().encode("custom-key")]);
 * const cursor = { bytes, offset: 0, end: bytes.length };
 * equal(decodeString(cursor), "custom-key");
 * equal(cursor.offset, 11);
 * ```
 */
export function decodeString(cursor: Cursor): string {
  if (cursor.offset >= cursor.end) {
    throw new HpackError("Truncated header block: it ends before a string literal");
  }
  const huffman = cursor.bytes[cursor.offset]! & 0x80;
  const length = decodeInteger(cursor, 7);
  const start = cursor.offset;
  if (length > cursor.end - start) {
    throw new HpackError(
      `Invalid string literal: length ${length} runs past the end of the header block`,
    );
  }
  const end = start + length;
  cursor.offset = end;
  return huffman ? huffmanDecode(cursor.bytes, start, end) : decodeLatin1(cursor.bytes, start, end);
}
