/**
 * The few statistics the benchmark takes of its samples: percentiles of
 * latencies, medians of repeated probes, and the slope of RSS over requests.
 *
 * @module
 */

/**
 * The nearest-rank percentile `p` (0–100) of `values`; negative values (a
 * client's mark for a sample it could not take) are left out. `NaN` when none
 * is left.
 *
 * @example
 * ```ts
 * import { percentile } from "./stats.ts";
 * import { equal } from "node:assert/strict";
 * const ms = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
 * equal(percentile(ms, 50), 50);
 * equal(percentile(ms, 99), 99);
 * equal(percentile([3, -1, 1, 2], 100), 3);
 * equal(percentile([], 50), NaN);
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  const sorted = values.filter((v) => v >= 0).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/**
 * The median: the middle value, or the mean of the two middle ones; `NaN`
 * for no values.
 *
 * @example
 * ```ts
 * import { median } from "./stats.ts";
 * import { equal } from "node:assert/strict";
 * equal(median([5, 1, 3]), 3);
 * equal(median([4, 1, 3, 2]), 2.5);
 * equal(median([]), NaN);
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The least-squares slope of `ys` over `xs`; 0 when the `xs` do not vary.
 *
 * @example
 * ```ts
 * import { slope } from "./stats.ts";
 * import { equal } from "node:assert/strict";
 * equal(slope([0, 1, 2, 3], [10, 12, 14, 16]), 2);
 * equal(slope([1, 1], [3, 5]), 0);
 * ```
 */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n === 0) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
