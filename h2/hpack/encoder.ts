/**
 * The HPACK encoder: turns header lists into header blocks (RFC 7541 §6).
 *
 * @module
 */

import {
  DEFAULT_TABLE_SIZE,
  DynamicTable,
  type DynamicTableView,
  ENTRY_OVERHEAD,
} from "./dynamic_table.ts";
import { encodeInteger } from "./integer.ts";
import { findStaticIndex, STATIC_TABLE_LENGTH } from "./static_table.ts";
import { encodeString, STRING_OVERHEAD } from "./string_literal.ts";

/** Options of {@linkcode HpackEncoder}. */
export interface HpackEncoderOptions {
  /**
   * The peer decoder's table size at the start: its SETTINGS_HEADER_TABLE_SIZE
   * if already known. If the encoder uses a different size (see
   * `maxTableSizeLimit`), its first block starts with a size update.
   *
   * @default {4096}
   */
  maxTableSize?: number;
  /**
   * Most octets of dynamic table the encoder uses, whatever the peer allows
   * (RFC 7541 §4.2 lets an encoder use less). Bounds the memory a peer's large
   * setting could make it keep per connection.
   *
   * @default {4096}
   */
  maxTableSizeLimit?: number;
}

/** Largest SETTINGS_HEADER_TABLE_SIZE a peer can send (a 32-bit setting, RFC 9113 §6.5.1). */
const MAX_SETTING = 0xffffffff;

/** How a header name is indexed; most names are {@linkcode INDEX}. */
const INDEX = 0;
/** Literal without indexing (RFC 7541 §6.2.2): values that change with every message. */
const NO_INDEX = 1;
/** Literal never indexed (RFC 7541 §6.2.3): credentials (§7.1.3). */
const NEVER_INDEX = 2;
/** Never indexed when shorter than 20 octets, which would be easy to guess (§7.1.3). */
const COOKIE = 3;
/** Not indexed with a query string, which is usually unique per request. */
const PATH = 4;
/**
 * Random per-message ids: not indexed, and sent as raw octets. Huffman codes
 * hex digits in 5 or 6 bits, a quarter off a UUID, for a table step per octet
 * at both ends on every request: not worth it.
 */
const RANDOM_ID = 5;

/**
 * Indexing policy by name. Indexing a value that never repeats only evicts
 * useful entries, so per-message values (dates, lengths, validators, request
 * ids) are sent as literals without indexing. Credentials are never indexed
 * so that an intermediary keeps them out of its tables too, and so that an
 * attacker cannot probe them through compression (RFC 7541 §7.1).
 */
const POLICY: ReadonlyMap<string, number> = new Map([
  ["authorization", NEVER_INDEX],
  ["proxy-authorization", NEVER_INDEX],
  ["set-cookie", NEVER_INDEX],
  ["cookie", COOKIE],
  [":path", PATH],
  ["age", NO_INDEX],
  ["content-length", NO_INDEX],
  ["content-range", NO_INDEX],
  ["date", NO_INDEX],
  ["etag", NO_INDEX],
  ["expires", NO_INDEX],
  ["if-modified-since", NO_INDEX],
  ["if-none-match", NO_INDEX],
  ["if-unmodified-since", NO_INDEX],
  ["last-modified", NO_INDEX],
  ["x-request-id", RANDOM_ID],
  ["x-correlation-id", RANDOM_ID],
  ["traceparent", RANDOM_ID],
]);

/** Cookies shorter than this are never indexed (RFC 7541 §7.1.3). */
const SHORT_COOKIE = 20;

/**
 * Encodes header lists into HPACK header blocks (RFC 7541). One encoder
 * serves one direction of one connection: its dynamic table mirrors the
 * peer's decoder, so blocks must be sent in the order they were encoded.
 *
 * @example Encode a request and decode it back
 * ```ts
 * import { HpackEncoder } from "./encoder.ts";
 * import { HpackDecoder } from "./decoder.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const encoder = new HpackEncoder();
 * const decoder = new HpackDecoder();
 * const headers = [":method", "GET", ":path", "/", "user-agent", "ptth"];
 * // Copy the block out: the next encode() reuses the buffer.
 * const block = encoder.encode(headers).slice();
 * deepEqual(decoder.decode(block), headers);
 * ```
 */
export class HpackEncoder {
  #table: DynamicTable;
  #limit: number;
  /** Smallest size set since the last block, or -1 when no change is pending. */
  #pendingMin = -1;
  /** Last size set since the last block. */
  #pendingFinal = -1;
  // Grows (doubling) to the largest block encoded; small to start with, since
  // once the dynamic table holds a peer's usual fields its blocks are short.
  #buffer: Uint8Array = new Uint8Array(256);
  /** Set when encode() threw midway: the table may hold fields the peer never saw. */
  #failed = false;

  /**
   * Creates an encoder.
   *
   * @param options Initial table size and the encoder's own limit.
   */
  constructor(options: HpackEncoderOptions = {}) {
    const size = checkSize(options.maxTableSize ?? DEFAULT_TABLE_SIZE, "maxTableSize");
    this.#limit = checkSize(options.maxTableSizeLimit ?? DEFAULT_TABLE_SIZE, "maxTableSizeLimit");
    this.#table = new DynamicTable({ maxSize: size, searchable: true });
    if (size > this.#limit) this.setMaxTableSize(size);
  }

  /** The encoder's dynamic table, read-only, for inspection and tests. */
  get dynamicTable(): DynamicTableView {
    return this.#table;
  }

  /**
   * Applies a new SETTINGS_HEADER_TABLE_SIZE from the peer. The next block
   * starts with the size update the change requires (RFC 7541 §4.2, §6.3):
   * when the size went down and up again between blocks, the smallest value
   * and then the final one, so the peer evicts as the encoder did.
   *
   * @param size The peer's setting; the encoder uses at most `maxTableSizeLimit`.
   * @throws {RangeError} If `size` is not an integer from 0 to 2^32-1.
   *
   * @example Shrink the table to nothing
   * ```ts
   * import { HpackEncoder } from "./encoder.ts";
   * import { deepEqual } from "node:assert/strict";
   *
   * const encoder = new HpackEncoder();
   * encoder.setMaxTableSize(0);
   * // 0x20: dynamic table size update to 0, then :method GET (index 2).
   * deepEqual(encoder.encode([":method", "GET"]), new Uint8Array([0x20, 0x82]));
   * ```
   */
  setMaxTableSize(size: number): void {
    const effective = Math.min(checkSize(size, "size"), this.#limit);
    if (this.#pendingMin < 0 || effective < this.#pendingMin) this.#pendingMin = effective;
    this.#pendingFinal = effective;
  }

  /**
   * Encodes a header list into one header block.
   *
   * @param headers Flat `[name0, value0, name1, value1, ...]`; names are
   * lowercase, and every char code is an octet (0-255).
   * @returns The header block: a view of an internal buffer, valid until the
   * next call. Copy it (or write it out) before encoding again.
   * @throws {RangeError} If `headers` has an odd length or a char code above
   * 0xff. After a char code error the table may no longer match the peer's,
   * so the encoder refuses further work and the connection must close
   * (validate header values before encoding to avoid this).
   *
   * @example Indexed and literal fields
   * ```ts
   * import { HpackEncoder } from "./encoder.ts";
   * import { deepEqual } from "node:assert/strict";
   *
   * const encoder = new HpackEncoder();
   * // RFC 7541 C.4.1: three static entries, then :authority added to the table.
   * const headers = [":method", "GET", ":scheme", "http", ":path", "/"];
   * deepEqual(
   *   encoder.encode([...headers, ":authority", "www.example.com"]),
   *   new Uint8Array([
   *     0x82, 0x86, 0x84, 0x41, 0x8c,
   *     0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
   *   ]),
   * );
   * ```
   */
  encode(headers: readonly string[]): Uint8Array {
    if (this.#failed) {
      throw new Error(
        "Cannot encode headers: an earlier encode() failed and left the table unsynced",
      );
    }
    if (headers.length % 2 !== 0) {
      throw new RangeError("Cannot encode headers: the list must alternate names and values");
    }
    let buffer = this.#buffer;
    let offset = 0;
    try {
      if (this.#pendingMin >= 0) offset = this.#writeSizeUpdates(buffer, offset);
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i]!;
        const value = headers[i + 1]!;
        // Two integers of at most 6 octets, and strings never longer than raw.
        const needed = offset + name.length + value.length + 2 * STRING_OVERHEAD;
        if (needed > buffer.length) buffer = this.#grow(needed, offset);
        offset = this.#writeField(name, value, buffer, offset);
      }
    } catch (error) {
      // Earlier fields of this block may be in the table; the peer will never see them.
      this.#failed = true;
      throw error;
    }
    return buffer.subarray(0, offset);
  }

  #writeSizeUpdates(buffer: Uint8Array, offset: number): number {
    const table = this.#table;
    if (this.#pendingMin < table.maxSize) {
      buffer[offset] = 0x20;
      offset = encodeInteger(this.#pendingMin, 5, buffer, offset);
      table.setMaxSize(this.#pendingMin);
    }
    if (this.#pendingFinal !== table.maxSize) {
      buffer[offset] = 0x20;
      offset = encodeInteger(this.#pendingFinal, 5, buffer, offset);
      table.setMaxSize(this.#pendingFinal);
    }
    this.#pendingMin = -1;
    this.#pendingFinal = -1;
    return offset;
  }

  #writeField(name: string, value: string, buffer: Uint8Array, offset: number): number {
    const table = this.#table;
    let policy = POLICY.get(name) ?? INDEX;
    if (policy === COOKIE) policy = value.length < SHORT_COOKIE ? NEVER_INDEX : INDEX;
    else if (policy === PATH) policy = value.includes("?") ? NO_INDEX : INDEX;

    const staticIndex = findStaticIndex(name, value);
    if (staticIndex > 0 && policy !== NEVER_INDEX) {
      // Indexed header field (RFC 7541 §6.1).
      buffer[offset] = 0x80;
      return encodeInteger(staticIndex, 7, buffer, offset);
    }
    const dynamicIndex = table.find(name, value);
    if (dynamicIndex > 0 && policy !== NEVER_INDEX) {
      buffer[offset] = 0x80;
      return encodeInteger(STATIC_TABLE_LENGTH + dynamicIndex, 7, buffer, offset);
    }
    // Prefer the static name: its index is small and never changes.
    // Sensitive fields can match fully and still land here: use the name only.
    const nameIndex = staticIndex !== 0
      ? Math.abs(staticIndex)
      : dynamicIndex !== 0
      ? STATIC_TABLE_LENGTH + Math.abs(dynamicIndex)
      : 0;

    // An entry over half the table would flush most of it for one field.
    const indexed = policy === INDEX &&
      name.length + value.length + ENTRY_OVERHEAD <= table.maxSize / 2;
    if (indexed) {
      // Literal with incremental indexing (RFC 7541 §6.2.1).
      buffer[offset] = 0x40;
      offset = encodeInteger(nameIndex, 6, buffer, offset);
    } else {
      // Literal never indexed (§6.2.3) or without indexing (§6.2.2).
      buffer[offset] = policy === NEVER_INDEX ? 0x10 : 0x00;
      offset = encodeInteger(nameIndex, 4, buffer, offset);
    }
    if (nameIndex === 0) offset = encodeString(name, buffer, offset);
    offset = encodeString(value, buffer, offset, policy !== RANDOM_ID);
    // Added once both strings proved to be octets; the name index above was
    // taken before the insertion, as the decoder resolves it (RFC 7541 §4.4).
    if (indexed) table.add(name, value);
    return offset;
  }

  #grow(needed: number, used: number): Uint8Array {
    let length = this.#buffer.length * 2;
    while (length < needed) length *= 2;
    const buffer = new Uint8Array(length);
    buffer.set(this.#buffer.subarray(0, used));
    this.#buffer = buffer;
    return buffer;
  }
}

function checkSize(size: number, what: string): number {
  if (!Number.isInteger(size) || size < 0 || size > MAX_SETTING) {
    throw new RangeError(`Cannot set ${what}: ${size} is not an integer in 0..${MAX_SETTING}`);
  }
  return size;
}
