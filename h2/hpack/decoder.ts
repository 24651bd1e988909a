/**
 * The HPACK decoder: turns header blocks into header lists (RFC 7541 §3, §6).
 *
 * @module
 */

import {
  DEFAULT_TABLE_SIZE,
  DynamicTable,
  type DynamicTableView,
  ENTRY_OVERHEAD,
} from "./dynamic_table.ts";
import { HeaderListSizeError, HpackError } from "./errors.ts";
import { type Cursor, decodeInteger } from "./integer.ts";
import { STATIC_NAMES, STATIC_TABLE_LENGTH, STATIC_VALUES } from "./static_table.ts";
import { decodeString } from "./string_literal.ts";

/** Options of {@linkcode HpackDecoder}. */
export interface HpackDecoderOptions {
  /**
   * The table size limit in effect at the start, which is also the table's
   * initial size. HTTP/2 starts at 4096 (RFC 9113 §6.5.2) and the peer may
   * encode with that until it has seen our SETTINGS, so a connection keeps
   * the default and calls {@linkcode HpackDecoder.setMaxTableSize} when the
   * peer acknowledges a different SETTINGS_HEADER_TABLE_SIZE.
   *
   * @default {4096}
   */
  maxTableSize?: number;
  /**
   * Largest header list accepted, as counted by RFC 9113 §6.5.2 (name + value
   * + 32 octets per field); usually our SETTINGS_MAX_HEADER_LIST_SIZE.
   *
   * @default {Infinity}
   */
  maxHeaderListSize?: number;
}

const EMPTY = new Uint8Array(0);

/**
 * Decodes HPACK header blocks (RFC 7541). One decoder serves one direction
 * of one connection: blocks must be decoded in the order they were received,
 * each one whole (HEADERS or PUSH_PROMISE plus its CONTINUATION frames).
 *
 * @example Decode the first request of RFC 7541 C.3.1
 * ```ts
 * import { HpackDecoder } from "./decoder.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * const decoder = new HpackDecoder();
 * const block = new Uint8Array([
 *   0x82, 0x86, 0x84, 0x41, 0x0f, ...new TextEncoder().encode("www.example.com"),
 * ]);
 * deepEqual(decoder.decode(block), [
 *   ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com",
 * ]);
 * equal(decoder.dynamicTable.size, 57);
 * ```
 */
export class HpackDecoder {
  #table: DynamicTable;
  #limit: number;
  #maxListSize: number;
  #cursor: Cursor = { bytes: EMPTY, offset: 0, end: 0 };

  /**
   * Creates a decoder.
   *
   * @param options Advertised table size and header list limit.
   */
  constructor(options: HpackDecoderOptions = {}) {
    this.#limit = checkSize(options.maxTableSize ?? DEFAULT_TABLE_SIZE);
    this.#table = new DynamicTable({ maxSize: this.#limit });
    this.#maxListSize = options.maxHeaderListSize ?? Infinity;
    if (!(this.#maxListSize >= 0)) {
      throw new RangeError(`Cannot set maxHeaderListSize: ${this.#maxListSize} is negative`);
    }
  }

  /** The decoder's dynamic table, read-only, for inspection and tests. */
  get dynamicTable(): DynamicTableView {
    return this.#table;
  }

  /**
   * Sets the table size limit we advertise (SETTINGS_HEADER_TABLE_SIZE); call
   * it when the peer acknowledges the SETTINGS frame. If the limit is now
   * below the table's size, the next block must start with a size update
   * within it (RFC 7541 §4.2).
   *
   * @param size The new limit in octets.
   * @throws {RangeError} If `size` is not an integer from 0 to 2^32-1.
   *
   * @example Require a smaller table
   * ```ts
   * import { HpackDecoder } from "./decoder.ts";
   * import { HpackError } from "./errors.ts";
   * import { equal, throws } from "node:assert/strict";
   *
   * const decoder = new HpackDecoder();
   * decoder.setMaxTableSize(100);
   * throws(() => decoder.decode(new Uint8Array([0x82])), HpackError); // no size update
   * decoder.decode(new Uint8Array([0x3f, 0x45, 0x82])); // size update to 100, :method GET
   * equal(decoder.dynamicTable.maxSize, 100);
   * ```
   */
  setMaxTableSize(size: number): void {
    this.#limit = checkSize(size);
  }

  /**
   * Decodes one complete header block, updating the dynamic table.
   *
   * @param block The header block.
   * @returns Flat `[name0, value0, name1, value1, ...]`; char codes are octets.
   * @throws {HeaderListSizeError} If the list exceeds `maxHeaderListSize`;
   * the block was still decoded to its end, so the table stays in sync.
   * @throws {HpackError} If the block is malformed; the connection must end
   * with COMPRESSION_ERROR (RFC 9113 §4.3).
   *
   * @example Decode a literal header field (RFC 7541 C.2.2)
   * ```ts
   * import { HpackDecoder } from "./decoder.ts";
   * import { deepEqual } from "node:assert/strict";
   *
   * const block = new Uint8Array([0x04, 0x0c, ...new TextEncoder().encode("/sample/path")]);
   * deepEqual(new HpackDecoder().decode(block), [":path", "/sample/path"]);
   * ```
   */
  decode(block: Uint8Array): string[] {
    const cursor = this.#cursor;
    cursor.bytes = block;
    cursor.offset = 0;
    cursor.end = block.length;
    try {
      return this.#decodeFields(cursor);
    } finally {
      cursor.bytes = EMPTY; // do not keep the block alive
    }
  }

  #decodeFields(cursor: Cursor): string[] {
    const table = this.#table;
    const block = cursor.bytes;
    const maxListSize = this.#maxListSize;
    const fields: string[] = [];
    let listSize = 0;
    let atStart = true;
    while (cursor.offset < cursor.end) {
      const first = block[cursor.offset]!;
      if ((first & 0xe0) === 0x20) {
        // Dynamic table size update (RFC 7541 §6.3).
        if (!atStart) {
          throw new HpackError(
            "Invalid dynamic table size update: not at the start of the header block",
          );
        }
        const size = decodeInteger(cursor, 5);
        if (size > this.#limit) {
          throw new HpackError(
            `Invalid dynamic table size update: ${size} exceeds the limit of ${this.#limit}`,
          );
        }
        table.setMaxSize(size);
        continue;
      }
      if (atStart) {
        atStart = false;
        this.#checkTableWithinLimit();
      }
      let name: string;
      let value: string;
      if (first & 0x80) {
        // Indexed header field (RFC 7541 §6.1).
        const index = decodeInteger(cursor, 7);
        if (index <= STATIC_TABLE_LENGTH) {
          if (index === 0) throw new HpackError("Invalid index: 0 is not used");
          name = STATIC_NAMES[index]!;
          value = STATIC_VALUES[index]!;
        } else {
          const dynamicIndex = index - STATIC_TABLE_LENGTH;
          if (dynamicIndex > table.length) throw indexError(index, table.length);
          name = table.name(dynamicIndex);
          value = table.value(dynamicIndex);
        }
      } else if (first & 0x40) {
        // Literal with incremental indexing (RFC 7541 §6.2.1).
        const index = decodeInteger(cursor, 6);
        name = index === 0 ? decodeString(cursor) : this.#name(index);
        value = decodeString(cursor);
        table.add(name, value);
      } else {
        // Literal without indexing (§6.2.2) or never indexed (§6.2.3).
        const index = decodeInteger(cursor, 4);
        name = index === 0 ? decodeString(cursor) : this.#name(index);
        value = decodeString(cursor);
      }
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      // Past the limit, keep decoding so the table matches the peer's, but
      // collect nothing: a few octets that index a large entry many times
      // must not cost memory (RFC 7541 §7.3).
      if (listSize <= maxListSize) fields.push(name, value);
    }
    if (atStart) this.#checkTableWithinLimit();
    if (listSize > maxListSize) throw new HeaderListSizeError(listSize, maxListSize);
    return fields;
  }

  /** RFC 7541 §4.2: after the limit drops below the table size, the first block must shrink it. */
  #checkTableWithinLimit(): void {
    if (this.#table.maxSize > this.#limit) {
      throw new HpackError(
        `Missing dynamic table size update: the table size ${this.#table.maxSize} exceeds ` +
          `the limit of ${this.#limit}`,
      );
    }
  }

  #name(index: number): string {
    if (index <= STATIC_TABLE_LENGTH) return STATIC_NAMES[index]!;
    const dynamicIndex = index - STATIC_TABLE_LENGTH;
    if (dynamicIndex > this.#table.length) throw indexError(index, this.#table.length);
    return this.#table.name(dynamicIndex);
  }
}

function indexError(index: number, dynamicLength: number): HpackError {
  return new HpackError(
    `Invalid index: ${index} is past the ${STATIC_TABLE_LENGTH} static and ` +
      `${dynamicLength} dynamic entries`,
  );
}

function checkSize(size: number): number {
  if (!Number.isInteger(size) || size < 0 || size > 0xffffffff) {
    throw new RangeError(`Cannot set maxTableSize: ${size} is not an integer in 0..4294967295`);
  }
  return size;
}
