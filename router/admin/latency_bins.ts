/**
 * Latency percentiles in constant memory: durations counted into bins whose
 * bounds grow by 20% each (0.1 ms to about 5 minutes), so that any percentile
 * is known within 10% however many requests there were.
 *
 * @module
 */

/** The first bin's upper bound (ms). */
const FIRST = 0.1;
/** Each bin's upper bound is this much the previous one's. */
const GROWTH = 1.2;
/** Bins up to FIRST * GROWTH^(BINS-1), about 5 minutes; slower requests share the last. */
const BINS = 82;

const LOG_GROWTH = Math.log(GROWTH);

/** The bin a duration (ms) falls in, 0 to `BINS - 1`. */
function binOf(ms: number): number {
  if (!(ms > FIRST)) return 0;
  return Math.min(BINS - 1, Math.ceil(Math.log(ms / FIRST) / LOG_GROWTH));
}

/**
 * Durations counted into log-scale bins; add bins of several periods
 * together with {@linkcode LatencyBins.merge}.
 *
 * @example
 * ```ts
 * import { LatencyBins } from "./latency_bins.ts";
 * import { ok } from "node:assert/strict";
 * const bins = new LatencyBins();
 * for (let ms = 1; ms <= 100; ms++) bins.add(ms);
 * const p50 = bins.percentile(0.5)!;
 * ok(p50 > 45 && p50 < 55, `p50 ${p50}`);
 * ```
 */
export class LatencyBins {
  /** Counts per bin. */
  readonly counts: Uint32Array = new Uint32Array(BINS);
  /** How many durations were added. */
  count = 0;

  /**
   * Counts one duration.
   *
   * @param ms The duration (ms).
   */
  add(ms: number): void {
    this.counts[binOf(ms)]!++;
    this.count++;
  }

  /**
   * Adds another set of bins to these.
   *
   * @param other The bins to add.
   */
  merge(other: LatencyBins): void {
    for (let i = 0; i < BINS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
  }

  /** Forgets every duration. */
  clear(): void {
    this.counts.fill(0);
    this.count = 0;
  }

  /**
   * Estimates a percentile: the geometric middle of the bin it falls in.
   *
   * @param q The quantile, 0 to 1 (0.99 for p99).
   * @returns The duration (ms), or `null` with no durations.
   */
  percentile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BINS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const upper = FIRST * GROWTH ** i;
        return i === 0 ? FIRST / 2 : upper / Math.sqrt(GROWTH);
      }
    }
    return FIRST * GROWTH ** (BINS - 1);
  }
}
