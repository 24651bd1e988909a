/**
 * The open streams of a connection by identifier: a small open-addressing
 * hash table instead of a `Map`.
 *
 * Why not a `Map`: streams come and go on every request, and a `Map` under
 * that churn keeps rebuilding its backing store. V8 leaves the replaced store
 * holding its old entries; once that store has reached the old generation,
 * the young-generation collector treats those stale entries as live, so every
 * stream they name (and its request, body and callbacks) survives, gets
 * promoted, and is only freed by a full collection. Here a removed entry is
 * cleared at once and a replaced store is emptied before it is dropped.
 *
 * @module
 */

const EMPTY = 0;
const FIRST_CAPACITY = 16;
/** Only a store grown past this goes back to the first size when empty (no churn at small sizes). */
const SHRINK_ABOVE = 1024;
/**
 * The store of an empty table, shared: one EMPTY slot, so lookups end at once
 * and the first `set` grows it. Nothing is ever written into it.
 */
const NO_KEYS = new Int32Array(1);
const NO_VALUES: never[] = [];

/**
 * A table of values by positive 31-bit integer key (HTTP/2 stream
 * identifiers, RFC 9113 §5.1.1). Linear probing with backward-shift
 * deletion: no tombstones, so churn never forces a rebuild; the store grows
 * at half full and, when it grew large, drops its store once empty.
 *
 * @example
 * ```ts
 * import { StreamTable } from "./stream_table.ts";
 * import { equal } from "node:assert/strict";
 * const table = new StreamTable<string>();
 * table.set(1, "one");
 * table.set(3, "three");
 * equal(table.get(3), "three");
 * equal(table.delete(1), true);
 * equal(table.get(1), undefined);
 * equal(table.size, 1);
 * equal([...table.values()].join(), "three");
 * ```
 */
export class StreamTable<V> {
  // No store of its own until the first entry: an idle tunnel's tables cost nothing.
  #keys = NO_KEYS;
  #values: Array<V | undefined> = NO_VALUES;
  #size = 0;

  /** How many entries the table holds. */
  get size(): number {
    return this.#size;
  }

  /**
   * The value for `key`.
   *
   * @param key A positive integer below 2^31.
   * @returns The value, or `undefined`.
   */
  get(key: number): V | undefined {
    const i = this.#find(key);
    return i < 0 ? undefined : this.#values[i];
  }

  /**
   * Whether `key` is in the table.
   *
   * @param key A positive integer below 2^31.
   * @returns `true` when present.
   */
  has(key: number): boolean {
    return this.#find(key) >= 0;
  }

  /**
   * Adds or replaces the value for `key`.
   *
   * @param key A positive integer below 2^31.
   * @param value The value.
   */
  set(key: number, value: V): void {
    // 0 marks a free slot (a key 0 would count an entry no lookup finds), and
    // larger keys would wrap in the Int32Array.
    if (!(key > 0 && key <= 0x7fff_ffff)) {
      throw new RangeError(`Cannot add key ${key}: keys are integers in 1..2^31-1`);
    }
    if ((this.#size + 1) * 2 > this.#keys.length) {
      this.#resize(Math.max(FIRST_CAPACITY, this.#keys.length * 2));
    }
    const keys = this.#keys;
    const mask = keys.length - 1;
    let i = key & mask;
    while (keys[i] !== EMPTY && keys[i] !== key) i = (i + 1) & mask;
    if (keys[i] === EMPTY) this.#size++;
    keys[i] = key;
    this.#values[i] = value;
  }

  /**
   * Removes `key`.
   *
   * @param key A positive integer below 2^31.
   * @returns Whether it was present.
   */
  delete(key: number): boolean {
    let i = this.#find(key);
    if (i < 0) return false;
    this.#size--;
    if (this.#size === 0 && this.#keys.length > SHRINK_ABOVE) {
      // Empty after a large burst: back to no store.
      this.#values.fill(undefined);
      this.#keys = NO_KEYS;
      this.#values = NO_VALUES;
      return true;
    }
    const keys = this.#keys;
    const values = this.#values;
    const mask = keys.length - 1;
    // Backward shift: pull later entries of the probe run into the gap, so
    // that lookups never stop early at it.
    let j = i;
    while (true) {
      j = (j + 1) & mask;
      const k = keys[j]!;
      if (k === EMPTY) break;
      const home = k & mask;
      // Entry j may move to i only if i lies on its probe path (home .. j, cyclically).
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        keys[i] = k;
        values[i] = values[j];
        i = j;
      }
    }
    keys[i] = EMPTY;
    values[i] = undefined;
    return true;
  }

  /**
   * The values, in no particular order.
   *
   * @returns A snapshot array: safe to change the table while walking it
   * (one shared empty array when the table is empty).
   */
  values(): readonly V[] {
    if (this.#size === 0) return NO_VALUES;
    const out: V[] = [];
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] !== EMPTY) out.push(this.#values[i]!);
    }
    return out;
  }

  #find(key: number): number {
    const keys = this.#keys;
    const mask = keys.length - 1;
    let i = key & mask;
    while (true) {
      const k = keys[i]!;
      // EMPTY first: a key of 0 (not a valid one) must never match a free slot.
      if (k === EMPTY) return -1;
      if (k === key) return i;
      i = (i + 1) & mask;
    }
  }

  #resize(capacity: number): void {
    const oldKeys = this.#keys;
    const oldValues = this.#values;
    this.#keys = new Int32Array(capacity);
    this.#values = new Array(capacity);
    this.#size = 0;
    for (let i = 0; i < oldKeys.length; i++) {
      if (oldKeys[i] !== EMPTY) this.set(oldKeys[i]!, oldValues[i]!);
    }
    // The dropped store must not keep its values reachable for the young collector.
    oldValues.fill(undefined);
  }
}
