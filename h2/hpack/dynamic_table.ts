/**
 * The HPACK dynamic table (RFC 7541 §2.3.2, §4): a FIFO of header fields
 * bounded by size in octets, kept in a ring buffer so that insertion and
 * eviction move no entries.
 *
 * @module
 */

/**
 * Octets each entry costs on top of its name and value (RFC 7541 §4.1).
 *
 * @example
 * ```ts
 * import { ENTRY_OVERHEAD } from "./dynamic_table.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(ENTRY_OVERHEAD, 32);
 * ```
 */
export const ENTRY_OVERHEAD = 32;

/**
 * Initial SETTINGS_HEADER_TABLE_SIZE, hence the initial table size (RFC 9113 §6.5.2).
 *
 * @example
 * ```ts
 * import { DEFAULT_TABLE_SIZE } from "./dynamic_table.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(DEFAULT_TABLE_SIZE, 4096);
 * ```
 */
export const DEFAULT_TABLE_SIZE = 4096;

/**
 * A read-only view of a dynamic table, for inspection and tests.
 */
export interface DynamicTableView {
  /** Sum of the entry sizes, in octets (RFC 7541 §4.1). */
  readonly size: number;
  /** Maximum size, as last set by a size update (RFC 7541 §4.2). */
  readonly maxSize: number;
  /** Number of entries. */
  readonly length: number;
  /**
   * Name of an entry.
   *
   * @param index 1 for the newest entry up to `length` for the oldest.
   * @returns The name.
   */
  name(index: number): string;
  /**
   * Value of an entry.
   *
   * @param index 1 for the newest entry up to `length` for the oldest.
   * @returns The value.
   */
  value(index: number): string;
  /**
   * Lists the entries, newest first.
   *
   * @returns A flat `[name, value, ...]` list.
   */
  fields(): string[];
}

/** Options of {@linkcode DynamicTable}. */
export interface DynamicTableOptions {
  /**
   * Maximum size in octets.
   *
   * @default {4096}
   */
  maxSize?: number;
  /**
   * Keep maps from names and fields to entries, for {@linkcode DynamicTable.find}.
   * Only the encoder needs them.
   *
   * @default {false}
   */
  searchable?: boolean;
}

/** Entries of one name in a searchable table, by insertion number. */
interface NameEntries {
  /** Insertion number of the newest entry with this name. */
  newest: number;
  /** Insertion number of the newest entry with each value. */
  values: Map<string, number>;
}

/**
 * The dynamic table (RFC 7541 §2.3.2). Index 1 is the newest entry; adding
 * evicts from the oldest end until the new entry fits (§4.4).
 *
 * @example
 * ```ts
 * import { DynamicTable } from "./dynamic_table.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * const table = new DynamicTable({ maxSize: 100 });
 * table.add("custom-key", "custom-header"); // 10 + 13 + 32 = 55 octets
 * table.add("a", "b"); // 34 octets
 * equal(table.size, 89);
 * table.add("c", "d"); // 89 + 34 > 100: evicts custom-key
 * deepEqual(table.fields(), ["c", "d", "a", "b"]);
 * ```
 */
export class DynamicTable implements DynamicTableView {
  // Small at first: most tables of idle connections stay empty; they double as needed.
  #names: string[] = new Array<string>(4).fill("");
  #values: string[] = new Array<string>(4).fill("");
  /** Capacity - 1; the capacity is a power of two so positions wrap with `&`. */
  #mask = 3;
  /** Ring position of the oldest entry. */
  #oldest = 0;
  #length = 0;
  #size = 0;
  #maxSize: number;
  /** Entries ever added; the newest entry's insertion number is `#added - 1`. */
  #added = 0;
  #index: Map<string, NameEntries> | undefined;

  /**
   * Creates an empty table.
   *
   * @param options Maximum size and whether the table is searchable.
   */
  constructor(options: DynamicTableOptions = {}) {
    this.#maxSize = options.maxSize ?? DEFAULT_TABLE_SIZE;
    if (options.searchable) this.#index = new Map();
  }

  /** Sum of the entry sizes, in octets (RFC 7541 §4.1). */
  get size(): number {
    return this.#size;
  }

  /** Maximum size, as last set by {@linkcode DynamicTable.setMaxSize}. */
  get maxSize(): number {
    return this.#maxSize;
  }

  /** Number of entries. */
  get length(): number {
    return this.#length;
  }

  /**
   * Name of an entry; the caller checks `1 <= index <= length`.
   *
   * @param index 1 for the newest entry up to `length` for the oldest.
   * @returns The name.
   */
  name(index: number): string {
    return this.#names[(this.#oldest + this.#length - index) & this.#mask]!;
  }

  /**
   * Value of an entry; the caller checks `1 <= index <= length`.
   *
   * @param index 1 for the newest entry up to `length` for the oldest.
   * @returns The value.
   */
  value(index: number): string {
    return this.#values[(this.#oldest + this.#length - index) & this.#mask]!;
  }

  /**
   * Lists the entries, newest first.
   *
   * @returns A flat `[name, value, ...]` list.
   */
  fields(): string[] {
    const fields: string[] = [];
    for (let i = 1; i <= this.#length; i++) fields.push(this.name(i), this.value(i));
    return fields;
  }

  /**
   * Adds an entry at index 1, evicting the oldest entries to make room. An
   * entry larger than the maximum size empties the table and is not added
   * (RFC 7541 §4.4).
   *
   * @param name The header name.
   * @param value The header value.
   */
  add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.#maxSize) {
      this.#evictTo(0);
      return;
    }
    this.#evictTo(this.#maxSize - size);
    if (this.#length > this.#mask) this.#grow();
    const position = (this.#oldest + this.#length) & this.#mask;
    this.#names[position] = name;
    this.#values[position] = value;
    this.#length++;
    this.#size += size;
    const index = this.#index;
    if (index !== undefined) {
      const id = this.#added;
      const entries = index.get(name);
      if (entries === undefined) index.set(name, { newest: id, values: new Map([[value, id]]) });
      else {
        entries.newest = id;
        entries.values.set(value, id);
      }
    }
    this.#added++;
  }

  /**
   * Sets the maximum size, evicting the oldest entries until the table fits
   * (RFC 7541 §4.3).
   *
   * @param maxSize The new maximum size in octets.
   *
   * @example
   * ```ts
   * import { DynamicTable } from "./dynamic_table.ts";
   * import { deepEqual } from "node:assert/strict";
   *
   * const table = new DynamicTable();
   * table.add("x-old", "1");
   * table.add("x-new", "2");
   * table.setMaxSize(40); // room for one 38-octet entry
   * deepEqual(table.fields(), ["x-new", "2"]);
   * ```
   */
  setMaxSize(maxSize: number): void {
    this.#maxSize = maxSize;
    this.#evictTo(maxSize);
  }

  /**
   * Searches a table created with `searchable: true`.
   *
   * @param name The header name.
   * @param value The header value.
   * @returns The index (1 = newest) of the newest entry matching name and
   * value; otherwise the negated index of the newest entry with the name;
   * `0` if none has it.
   *
   * @example
   * ```ts
   * import { DynamicTable } from "./dynamic_table.ts";
   * import { equal } from "node:assert/strict";
   *
   * const table = new DynamicTable({ searchable: true });
   * table.add("x-a", "1");
   * table.add("x-b", "2");
   * equal(table.find("x-a", "1"), 2);
   * equal(table.find("x-b", "3"), -1);
   * equal(table.find("x-c", "1"), 0);
   * ```
   */
  find(name: string, value: string): number {
    const entries = this.#index?.get(name);
    if (entries === undefined) return 0;
    const id = entries.values.get(value);
    if (id !== undefined) return this.#added - id;
    return -(this.#added - entries.newest);
  }

  #evictTo(target: number): void {
    const names = this.#names;
    const values = this.#values;
    const index = this.#index;
    while (this.#size > target) {
      const position = this.#oldest;
      const name = names[position]!;
      const value = values[position]!;
      if (index !== undefined) {
        const id = this.#added - this.#length;
        const entries = index.get(name)!;
        // Evictions go oldest first: if the newest entry of a name goes, all of them are gone.
        if (entries.newest === id) index.delete(name);
        else if (entries.values.get(value) === id) entries.values.delete(value);
      }
      names[position] = ""; // let the strings be collected
      values[position] = "";
      this.#oldest = (position + 1) & this.#mask;
      this.#length--;
      this.#size -= name.length + value.length + ENTRY_OVERHEAD;
    }
  }

  #grow(): void {
    const capacity = (this.#mask + 1) * 2;
    const names = new Array<string>(capacity).fill("");
    const values = new Array<string>(capacity).fill("");
    for (let i = 0; i < this.#length; i++) {
      const position = (this.#oldest + i) & this.#mask;
      names[i] = this.#names[position]!;
      values[i] = this.#values[position]!;
    }
    this.#names = names;
    this.#values = values;
    this.#mask = capacity - 1;
    this.#oldest = 0;
  }
}
