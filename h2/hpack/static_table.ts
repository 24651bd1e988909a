/**
 * The HPACK static table (RFC 7541 §2.3.1, Appendix A) and the lookups the
 * encoder and decoder need from it.
 *
 * @module
 */

/**
 * The 61 static table entries as `[name, value]`; entry `i` here has HPACK
 * index `i + 1` (RFC 7541 Appendix A).
 *
 * @example
 * ```ts
 * import { STATIC_TABLE } from "./static_table.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 *
 * equal(STATIC_TABLE.length, 61);
 * deepEqual(STATIC_TABLE[1], [":method", "GET"]); // HPACK index 2
 * ```
 */
export const STATIC_TABLE = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
] as const;

/**
 * A header name that has an entry in the static table.
 *
 * @example
 * ```ts
 * import type { StaticTableName } from "./static_table.ts";
 * import { equal } from "node:assert/strict";
 *
 * const name: StaticTableName = ":path";
 * equal(name, ":path");
 * ```
 */
export type StaticTableName = typeof STATIC_TABLE[number][0];

/**
 * Number of static entries; dynamic table indices start after it (RFC 7541 §2.3.3).
 *
 * @example
 * ```ts
 * import { STATIC_TABLE_LENGTH } from "./static_table.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(STATIC_TABLE_LENGTH + 1, 62); // the newest dynamic entry
 * ```
 */
export const STATIC_TABLE_LENGTH = 61;

/**
 * Static names by HPACK index, so `STATIC_NAMES[index]` reads like the RFC;
 * slot 0 is empty because index 0 is not used (RFC 7541 §6.1).
 *
 * @example
 * ```ts
 * import { STATIC_NAMES } from "./static_table.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(STATIC_NAMES[8], ":status");
 * ```
 */
export const STATIC_NAMES: readonly string[] = ["", ...STATIC_TABLE.map((entry) => entry[0])];

/**
 * Static values by HPACK index; slot 0 is empty (RFC 7541 §6.1).
 *
 * @example
 * ```ts
 * import { STATIC_VALUES } from "./static_table.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(STATIC_VALUES[8], "200");
 * ```
 */
export const STATIC_VALUES: readonly string[] = ["", ...STATIC_TABLE.map((entry) => entry[1])];

/**
 * Where a name sits in the static table: the lowest index carrying it, and
 * the index of each of its values.
 */
export interface StaticNameEntry {
  /** Lowest HPACK index with this name. */
  readonly index: number;
  /** HPACK index of each static value of this name. */
  readonly values: ReadonlyMap<string, number>;
  /** The value, when the name has a single static entry (most have, with ""). */
  readonly single: string | null;
}

/**
 * Encoder lookup: name → its static entries, so one map read answers both
 * "is there a name match" and (with a second read) "is there a full match".
 *
 * @example
 * ```ts
 * import { STATIC_INDEX } from "./static_table.ts";
 * import { equal } from "node:assert/strict";
 *
 * const status = STATIC_INDEX.get(":status");
 * equal(status?.index, 8);
 * equal(status?.values.get("404"), 13);
 * ```
 */
export const STATIC_INDEX: ReadonlyMap<string, StaticNameEntry> = buildStaticIndex();

function buildStaticIndex(): Map<string, StaticNameEntry> {
  const index = new Map<
    string,
    { index: number; values: Map<string, number>; single: string | null }
  >();
  for (let i = 0; i < STATIC_TABLE.length; i++) {
    const [name, value] = STATIC_TABLE[i]!;
    let entry = index.get(name);
    if (entry === undefined) {
      entry = { index: i + 1, values: new Map(), single: value };
      index.set(name, entry);
    } else entry.single = null;
    entry.values.set(value, i + 1);
  }
  return index;
}

/**
 * Finds a header field in the static table.
 *
 * @param name The header name (lowercase).
 * @param value The header value.
 * @returns The HPACK index of an entry matching name and value; otherwise the
 * negated index of the first entry matching the name; `0` when the name is
 * not in the static table.
 *
 * @example
 * ```ts
 * import { findStaticIndex } from "./static_table.ts";
 * import { equal } from "node:assert/strict";
 *
 * equal(findStaticIndex(":method", "GET"), 2);
 * equal(findStaticIndex(":method", "PUT"), -2);
 * equal(findStaticIndex("x-custom", "1"), 0);
 * equal(findStaticIndex("user-agent", ""), 58); // a name with one static value
 * equal(findStaticIndex("user-agent", "curl/8"), -58);
 * ```
 */
export function findStaticIndex(name: string, value: string): number {
  const entry = STATIC_INDEX.get(name);
  if (entry === undefined) return 0;
  // A comparison rather than a map read, which would hash the value (a user
  // agent, a cookie) for nothing: most names have one static value, "".
  if (entry.single !== null) return value === entry.single ? entry.index : -entry.index;
  return entry.values.get(value) ?? -entry.index;
}
