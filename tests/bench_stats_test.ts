/**
 * The benchmark's statistics (bench/lib/stats.ts) and the soak's summary
 * (bench/scenarios/soak.ts): percentiles of latency samples, medians of
 * probes, the slope of RSS over requests, and which soak samples make its
 * start and end. Off by one here moves a reported p99 or judges a soak on
 * the wrong samples.
 */
import { equal } from "node:assert/strict";
import type { SoakSample } from "../bench/lib/results.ts";
import { median, percentile, slope } from "../bench/lib/stats.ts";
import { type SoakTotals, summarizeSoak } from "../bench/scenarios/soak.ts";
import { soakNoiseKiB } from "../bench/lib/targets_check.ts";

Deno.test("percentile is the nearest rank: the smallest value with p% of the samples at or below it", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
  equal(percentile(hundred, 50), 50);
  equal(percentile(hundred, 90), 90);
  equal(percentile(hundred, 99), 99);
  equal(percentile(hundred, 100), 100);
  equal(percentile(hundred, 0), 1);
  // Ten samples: p99 is the largest, p50 the fifth.
  const ten = [5, 1, 9, 3, 7, 2, 8, 4, 10, 6];
  equal(percentile(ten, 99), 10);
  equal(percentile(ten, 50), 5);
  equal(percentile(ten, 90), 9);
  equal(percentile([4], 99), 4);
  // Rank ⌈0.3 × 4⌉ = 2: rounding (1) or flooring would give the first.
  equal(percentile([40, 10, 30, 20], 30), 20);
});

Deno.test("percentile leaves out negative marks (samples a client could not take)", () => {
  equal(percentile([-1, -1, 3, 1, 2], 100), 3);
  equal(percentile([-1, -1, 3, 1, 2], 0), 1);
  equal(percentile([-1], 50), NaN);
  equal(percentile([], 99), NaN);
});

Deno.test("median takes the middle value, or the mean of the two middle ones", () => {
  equal(median([3, 1, 2]), 2);
  equal(median([10, 1, 4, 3]), 3.5);
  equal(median([7]), 7);
  equal(median([]), NaN);
  const values = [3, 1, 2];
  median(values);
  equal(values.join(), "3,1,2", "the samples are not reordered");
});

Deno.test("slope is the least-squares slope, 0 when x does not vary", () => {
  equal(slope([0, 100_000, 200_000], [80_000, 80_010, 80_020]), 0.0001);
  equal(slope([1, 2, 3, 4], [1, 3, 2, 4]), 0.8);
  equal(slope([5, 5, 5], [1, 2, 3]), 0);
  equal(slope([], []), 0);
});

const totals: SoakTotals = {
  planned: 1_000_000,
  requests: 1_000_000,
  errors: 0,
  truncatedByTimeBudget: false,
  reqPerSec: 17_000,
  routerCpuS: 40,
  backendCpuS: 20,
};

function sample(requests: number, routerAfterGcKiB: number): SoakSample {
  return {
    requests,
    routerRssKiB: routerAfterGcKiB + 50_000,
    backendRssKiB: 60_000,
    routerRssAfterGcKiB: routerAfterGcKiB,
    backendRssAfterGcKiB: 50_000,
    routerHeapKiB: 9_000,
    backendHeapKiB: 8_000,
  };
}

Deno.test("the soak's start and end are medians of three samples each, the first sample (before any batch) left out", () => {
  // Before any batch the router is small (not warmed up): it must not count as the start.
  const series = [
    sample(0, 40_000),
    ...[85_000, 86_000, 84_000, 85_500, 85_200, 86_500, 85_900, 86_100, 88_000, 85_800].map(
      (kib, i) => sample((i + 1) * 100_000, kib),
    ),
  ];
  const soak = summarizeSoak(series, totals)!;
  equal(soak.samplesPerEnd, 3);
  equal(soak.routerRssAfterGc.start, 85_000); // median of 85,000, 86,000, 84,000
  equal(soak.routerRssAfterGc.end, 86_100); // median of 86,100, 88,000, 85,800
  equal(soak.routerRssAfterGc.growth, 1_100);
  equal(soak.routerRss.growth, 1_100);
  equal(soak.backendRssAfterGc.growth, 0);
  equal(soak.series.length, 11);
  equal(soak.requests, 1_000_000);
});

Deno.test("a short soak uses fewer samples per end, and one batch is not judged", () => {
  const two = summarizeSoak([sample(0, 1), sample(1, 80_000), sample(2, 81_000)], totals)!;
  equal(two.samplesPerEnd, 1);
  equal(two.routerRssAfterGc.growth, 1_000);
  const one = summarizeSoak([sample(0, 1), sample(1, 80_000)], totals)!;
  equal(one.samplesPerEnd, 0, "one batch: reported, not judged");
  equal(summarizeSoak([sample(0, 1)], totals), undefined, "no batch: nothing to sum up");
});

Deno.test("the soak allows 4 MiB or 5% of its start, whichever is more", () => {
  equal(soakNoiseKiB(0), 4096);
  equal(soakNoiseKiB(81_920), 4096);
  equal(soakNoiseKiB(100 * 1024), 5120);
});
