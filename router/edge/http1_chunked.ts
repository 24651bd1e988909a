/**
 * The chunked transfer coding of a request body (RFC 9112 §7.1), decoded
 * incrementally from whatever bytes have arrived. Pure: no I/O.
 *
 * Sizes are hex digits only (no sign, no spaces inside), at most 13 of them
 * (2^52 octets, below what a double counts exactly); extensions are skipped
 * but bounded, and trailers are checked, counted against the header limit
 * and dropped (the router forwards no request trailers).
 *
 * @module
 */

import { Http1Error } from "./http1_head.ts";

const SIZE = 0;
const SIZE_WS = 1;
const EXTENSION = 2;
const SIZE_LF = 3;
const DATA = 4;
const DATA_CR = 5;
const DATA_LF = 6;
const TRAILER_START = 7;
const TRAILER = 8;
const TRAILER_LF = 9;
const END_LF = 10;
const DONE = 11;

/** Hex digits in a chunk size at most: 2^52 octets. */
const MAX_SIZE_DIGITS = 13;
/** Octets of chunk extensions allowed on one chunk's size line. */
const MAX_EXTENSION_BYTES = 1024;

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

function malformed(message: string): Http1Error {
  return new Http1Error(400, `Malformed chunked body: ${message}`);
}

/**
 * Decodes a chunked body step by step.
 *
 * @example
 * ```ts
 * import { ChunkedDecoder } from "./http1_chunked.ts";
 * import { equal } from "node:assert/strict";
 * const bytes = new TextEncoder().encode("3\r\nabc\r\n0\r\n\r\nNEXT");
 * const decoder = new ChunkedDecoder(1024);
 * let body = "";
 * const used = decoder.decode(bytes, 0, bytes.length, (chunk) => {
 *   body += new TextDecoder().decode(chunk);
 * });
 * equal(body, "abc");
 * equal(decoder.done, true);
 * equal(used, bytes.length - 4);
 * ```
 */
export class ChunkedDecoder {
  #state = SIZE;
  #size = 0;
  #digits = 0;
  #left = 0;
  #extension = 0;
  #trailerBytes = 0;
  #maxTrailerBytes: number;

  /**
   * @param maxTrailerBytes Octets the trailer section may take (what the
   *   header limit leaves after the head).
   */
  constructor(maxTrailerBytes: number) {
    this.#maxTrailerBytes = maxTrailerBytes;
  }

  /** Whether the last chunk and the trailer section have been read. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /**
   * Decodes `buf[start, end)`, handing each run of data to `onData` (a view
   * into `buf`: copy it to keep it), and stops at the end of the body.
   *
   * @param buf The bytes.
   * @param start Where to start.
   * @param end Where the bytes end.
   * @param onData Takes the body's octets.
   * @returns The index up to which bytes were used (`end` unless the body ended before).
   * @throws {Http1Error} 400 when the coding is malformed.
   */
  decode(
    buf: Uint8Array,
    start: number,
    end: number,
    onData: (chunk: Uint8Array) => void,
  ): number {
    let i = start;
    while (i < end && this.#state !== DONE) {
      if (this.#state === DATA) {
        const n = Math.min(this.#left, end - i);
        onData(buf.subarray(i, i + n));
        i += n;
        this.#left -= n;
        if (this.#left === 0) this.#state = DATA_CR;
        continue;
      }
      const byte = buf[i++]!;
      switch (this.#state) {
        case SIZE: {
          const digit = hexValue(byte);
          if (digit >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) throw malformed("chunk size too large");
            this.#size = this.#size * 16 + digit;
          } else if (this.#digits === 0) {
            throw malformed("chunk size is not hexadecimal");
          } else this.#afterSize(byte);
          break;
        }
        case SIZE_WS:
          // RFC 9112 §7.1.1: BWS may precede an extension's ";", nothing else.
          if (byte === 0x3b) this.#state = EXTENSION;
          else if (byte !== 32 && byte !== 9) throw malformed("whitespace in a chunk size line");
          break;
        case EXTENSION:
          if (byte === 13) this.#state = SIZE_LF;
          else if ((byte < 32 && byte !== 9) || byte === 127) {
            throw malformed("control character in a chunk extension");
          } else if (++this.#extension > MAX_EXTENSION_BYTES) {
            throw malformed("chunk extension too long");
          }
          break;
        case SIZE_LF:
          if (byte !== 10) throw malformed("bare CR after a chunk size");
          if (this.#size === 0) this.#state = TRAILER_START;
          else {
            this.#left = this.#size;
            this.#state = DATA;
          }
          this.#size = 0;
          this.#digits = 0;
          this.#extension = 0;
          break;
        case DATA_CR:
          if (byte !== 13) throw malformed("chunk longer than its size");
          this.#state = DATA_LF;
          break;
        case DATA_LF:
          if (byte !== 10) throw malformed("bare CR after chunk data");
          this.#state = SIZE;
          break;
        case TRAILER_START:
          if (byte === 13) {
            this.#state = END_LF;
            break;
          }
          // RFC 9112 §7.1.2: a trailer field line; obs-fold is as refused as in the head.
          if (byte === 32 || byte === 9) throw malformed("obsolete line folding in a trailer");
          this.#countTrailer();
          this.#checkTrailerOctet(byte);
          this.#state = TRAILER;
          break;
        case TRAILER:
          this.#countTrailer();
          if (byte === 13) this.#state = TRAILER_LF;
          else this.#checkTrailerOctet(byte);
          break;
        case TRAILER_LF:
          if (byte !== 10) throw malformed("bare CR in a trailer");
          this.#countTrailer();
          this.#state = TRAILER_START;
          break;
        case END_LF:
          if (byte !== 10) throw malformed("bare CR at the end of the body");
          this.#state = DONE;
          break;
      }
    }
    return i;
  }

  #afterSize(byte: number): void {
    if (byte === 13) this.#state = SIZE_LF;
    else if (byte === 0x3b) this.#state = EXTENSION;
    else if (byte === 32 || byte === 9) this.#state = SIZE_WS;
    else throw malformed("unexpected octet after a chunk size");
  }

  #countTrailer(): void {
    if (++this.#trailerBytes > this.#maxTrailerBytes) {
      throw new Http1Error(431, "Trailer section over the header limit");
    }
  }

  #checkTrailerOctet(byte: number): void {
    if ((byte < 32 && byte !== 9) || byte === 127) {
      throw malformed("control character in a trailer");
    }
  }
}
