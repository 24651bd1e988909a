/**
 * How figures are written, in the progress log and in the Markdown report
 * alike: about three significant digits, thousands separated, and "–" for a
 * figure that is missing.
 *
 * @module
 */

/**
 * A figure with three or four significant digits: `14,774`, `123`, `12.3`,
 * `1.23`, `0.123`; "–" for `undefined`, `null` and `NaN`.
 *
 * @example
 * ```ts
 * import { fmt } from "./format.ts";
 * import { equal } from "node:assert/strict";
 * equal(fmt(14774.4), "14,774");
 * equal(fmt(123.4), "123");
 * equal(fmt(12.34), "12.3");
 * equal(fmt(1.234), "1.23");
 * equal(fmt(0.1234), "0.123");
 * equal(fmt(NaN), "–");
 * ```
 */
export function fmt(v: number | undefined | null): string {
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

/**
 * KiB as MiB, with {@linkcode fmt}.
 *
 * @example
 * ```ts
 * import { fmtMiB } from "./format.ts";
 * import { equal } from "node:assert/strict";
 * equal(fmtMiB(85 * 1024 + 512), "85.5");
 * ```
 */
export function fmtMiB(kib: number): string {
  return fmt(kib / 1024);
}

/**
 * KiB as MiB with a sign: a growth.
 *
 * @example
 * ```ts
 * import { signedMiB } from "./format.ts";
 * import { equal } from "node:assert/strict";
 * equal(signedMiB(2560), "+2.50");
 * equal(signedMiB(-512), "-0.500");
 * ```
 */
export function signedMiB(kib: number): string {
  return `${kib >= 0 ? "+" : ""}${fmtMiB(kib)}`;
}

/**
 * A count with thousands separators, "–" when missing (`NaN` becomes `null`
 * in a results file).
 *
 * @example
 * ```ts
 * import { count } from "./format.ts";
 * import { equal } from "node:assert/strict";
 * equal(count(1_000_000), "1,000,000");
 * equal(count(undefined), "–");
 * equal(count(null), "–");
 * ```
 */
export function count(n: number | undefined | null): string {
  return n === undefined || n === null || Number.isNaN(n) ? "–" : n.toLocaleString("en-US");
}
