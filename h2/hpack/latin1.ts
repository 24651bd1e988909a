/**
 * Octets ↔ strings for header names and values. HPACK carries octets
 * (RFC 7541 §5.2); the codec maps each octet to the char code of the same
 * value (Latin-1), so a string's length is its size in octets (§4.1).
 * TextDecoder's "latin1" is windows-1252 and remaps 0x80-0x9f, so it is not used.
 *
 * @module
 */

/** Longest run handed to `String.fromCharCode.apply`, well under engine argument limits. */
const CHUNK = 8192;

/** Below this length a char-by-char loop beats creating a subarray view. */
const SHORT = 16;

/**
 * Reads octets as a string whose char codes are the octet values.
 *
 * @param bytes The source buffer.
 * @param start Index of the first octet.
 * @param end Index after the last octet.
 * @returns The string of `end - start` chars.
 *
 * @example
 * ```ts
 * import { decodeLatin1 } from "./latin1.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(decodeLatin1(new Uint8Array([0x61, 0x62, 0xe9]), 0, 3), "ab\u00e9");
 * ```
 */
export function decodeLatin1(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= SHORT) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  let s = "";
  for (let i = start; i < end; i += CHUNK) {
    const chunk = bytes.subarray(i, Math.min(i + CHUNK, end));
    // apply() accepts any array-like at run time; the cast only satisfies its signature.
    s += String.fromCharCode.apply(null, chunk as unknown as number[]);
  }
  return s;
}

/**
 * Writes a string's char codes as octets.
 *
 * @param s The string; every char code must be at most 0xff.
 * @param out The destination, with room for `s.length` octets at `offset`.
 * @param offset Where to start writing.
 * @returns The offset after the last octet written.
 * @throws {RangeError} If a char code is above 0xff (not an octet).
 *
 * @example
 * ```ts
 * import { encodeLatin1 } from "./latin1.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * const out = new Uint8Array(3);
 * equal(encodeLatin1("ab\u00e9", out, 0), 3);
 * deepEqual(out, new Uint8Array([0x61, 0x62, 0xe9]));
 * ```
 */
export function encodeLatin1(s: string, out: Uint8Array, offset: number): number {
  let seen = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    seen |= c;
    out[offset++] = c;
  }
  // One check after the loop keeps the hot path branch-free.
  if (seen > 0xff) throw new RangeError("Cannot encode header: a char code is above 0xff");
  return offset;
}
