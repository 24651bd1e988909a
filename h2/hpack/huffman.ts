/**
 * Huffman coding of HPACK string literals (RFC 7541 §5.2, Appendix B), over
 * the generated tables of `huffman_table.ts`.
 *
 * @module
 */

import { HpackError } from "./errors.ts";
import {
  HUFFMAN_ACCEPT,
  HUFFMAN_CODES,
  HUFFMAN_DECODE,
  HUFFMAN_EMIT,
  HUFFMAN_FAIL,
  HUFFMAN_LENGTHS,
  HUFFMAN_ONES,
} from "./huffman_table.ts";
import { decodeLatin1 } from "./latin1.ts";

/** Output of {@linkcode huffmanDecode}, reused and grown on demand: only the string is new. */
let scratch = new Uint8Array(256);

/**
 * Counts the octets the Huffman encoding of a string takes, padding included.
 *
 * @param s The string; char codes are octets (0-255).
 * @returns The encoded length in octets.
 * @throws {RangeError} If a char code is above 0xff.
 *
 * @example
 * ```ts
 * import { huffmanEncodedLength } from "./huffman.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(huffmanEncodedLength("www.example.com"), 12); // RFC 7541 C.4.1
 * ```
 */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  let seen = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    seen |= c;
    bits += HUFFMAN_LENGTHS[c & 0xff]!;
  }
  if (seen > 0xff) throw new RangeError("Cannot encode header: a char code is above 0xff");
  return (bits + 7) >>> 3;
}

/**
 * Writes the Huffman encoding of a string, padded with the most significant
 * bits of EOS (all ones) to an octet boundary (RFC 7541 §5.2).
 *
 * @param s The string; char codes are octets (0-255).
 * @param out The destination, with room for `huffmanEncodedLength(s)` octets at `offset`.
 * @param offset Where to start writing.
 * @returns The offset after the last octet written.
 *
 * @example
 * ```ts
 * import { huffmanEncode } from "./huffman.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * const out = new Uint8Array(6);
 * equal(huffmanEncode("no-cache", out, 0), 6);
 * deepEqual(out, new Uint8Array([0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf])); // RFC 7541 C.4.2
 * ```
 */
export function huffmanEncode(s: string, out: Uint8Array, offset: number): number {
  // `acc` holds `n` < 8 pending bits between symbols; codes reach 30 bits, so
  // long ones go in two parts to keep `acc` within 31 bits.
  let acc = 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    let code = HUFFMAN_CODES[c]!;
    let length = HUFFMAN_LENGTHS[c]!;
    if (length > 24) {
      const high = length - 16;
      acc = (acc << high) | (code >>> 16);
      n += high;
      while (n >= 8) {
        n -= 8;
        out[offset++] = acc >>> n;
      }
      acc &= (1 << n) - 1;
      code &= 0xffff;
      length = 16;
    }
    acc = (acc << length) | code;
    n += length;
    while (n >= 8) {
      n -= 8;
      out[offset++] = acc >>> n; // the typed array keeps the low 8 bits
    }
    acc &= (1 << n) - 1;
  }
  if (n > 0) out[offset++] = (acc << (8 - n)) | (0xff >>> n);
  return offset;
}

/**
 * Decodes a Huffman-encoded string literal, 4 bits per table step.
 *
 * @param src The header block.
 * @param start Index of the first encoded octet.
 * @param end Index after the last encoded octet.
 * @returns The decoded string; char codes are the decoded octets.
 * @throws {HpackError} If the data contains EOS, or its padding is longer than
 * 7 bits or not all ones (RFC 7541 §5.2).
 *
 * @example
 * ```ts
 * import { huffmanDecode } from "./huffman.ts";
 * import { equal } from "node:assert/strict";
 *
 * const encoded = new Uint8Array([0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f]);
 * equal(huffmanDecode(encoded, 0, encoded.length), "custom-key"); // RFC 7541 C.4.3
 * ```
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number): string {
  // The shortest code is 5 bits, which bounds the symbol count; +1 leaves room
  // for the unconditional store below.
  const bound = ((((end - start) * 8) / 5) | 0) + 1;
  if (bound > scratch.length) scratch = new Uint8Array(Math.max(bound, scratch.length * 2));
  const out = scratch;
  let o = 0;
  let state = 0;
  let step = HUFFMAN_ACCEPT; // the empty string is valid
  for (let i = start; i < end; i++) {
    const octet = src[i]!;
    step = HUFFMAN_DECODE[(state << 4) | (octet >>> 4)]!;
    if (step & HUFFMAN_FAIL) throw eosError();
    // Store unconditionally, advance only on EMIT: no branch per nibble.
    out[o] = step;
    o += (step & HUFFMAN_EMIT) >>> 16;
    state = (step >>> 8) & 0xff;
    step = HUFFMAN_DECODE[(state << 4) | (octet & 0x0f)]!;
    if (step & HUFFMAN_FAIL) throw eosError();
    out[o] = step;
    o += (step & HUFFMAN_EMIT) >>> 16;
    state = (step >>> 8) & 0xff;
  }
  if ((step & HUFFMAN_ACCEPT) === 0) {
    throw new HpackError(
      step & HUFFMAN_ONES
        ? "Invalid Huffman string: padding is longer than 7 bits"
        : "Invalid Huffman string: padding is not all ones",
    );
  }
  return decodeLatin1(out, 0, o);
}

function eosError(): HpackError {
  return new HpackError("Invalid Huffman string: contains the EOS symbol");
}
