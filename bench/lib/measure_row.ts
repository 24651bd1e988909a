/**
 * One measured row: a scenario run against a target while the router's and
 * the backends' CPU and memory are measured, its figures, and a failed row
 * (with the reason) when anything in it throws. Every scenario with a table
 * goes through here.
 *
 * @module
 */

import type { RunContext } from "./context.ts";
import type { Usage } from "./proc_stats.ts";
import { failedRow } from "./results.ts";
import type { Target } from "./targets.ts";
import type { Generator, LoadResult } from "./tools.ts";

/** The figures of a row and its load generator's CPU. */
export interface RowFigures {
  metrics: Record<string, number>;
  generator: Generator | null;
}

/**
 * Runs `run` against `target`, measuring both sides, and adds its row;
 * `figures` turns what `run` returned into the row's metrics (it may throw
 * when the run did not do what it should: a wrong status, bytes missing).
 *
 * @example
 * ```ts
 * import { measureRow } from "./measure_row.ts";
 * import { createContext } from "./context.ts";
 * import { benchConfig } from "./config.ts";
 * const ctx = createContext({
 *   suite: "bench",
 *   quick: true,
 *   config: benchConfig(true),
 *   root: new URL("../../", import.meta.url).pathname,
 *   benchDir: new URL("../", import.meta.url).pathname,
 *   tmpDir: Deno.cwd(),
 *   sink: () => {},
 * });
 * import { equal } from "node:assert/strict";
 * const target = {
 *   key: "direct", port: 0, h2cPort: 0, router: null, routerPids: [], backendPids: [Deno.pid],
 *   procs: [],
 * };
 * await measureRow(ctx, "rate", "ok", target, () => Promise.resolve(42), (n) => ({
 *   metrics: { answer: n },
 *   generator: null,
 * }));
 * await measureRow(ctx, "rate", "bad", target, () => Promise.resolve(0), () => {
 *   throw new Error("status 502");
 * });
 * equal(ctx.results.rows[0]!.metrics.answer, 42);
 * equal(ctx.results.rows[0]!.backend!.peakMiB > 0, true);
 * equal(ctx.results.rows[1]!.error, "status 502");
 * ```
 */
export async function measureRow<T>(
  ctx: RunContext,
  section: string,
  scenario: string,
  target: Target,
  run: () => Promise<T>,
  figures: (value: T, router: Usage | null) => RowFigures,
): Promise<void> {
  try {
    const m = await ctx.stats.measureSides(target.routerPids, target.backendPids, run);
    const { metrics, generator } = figures(m.value, m.usage);
    ctx.addRow({
      section,
      scenario,
      target: target.key,
      metrics,
      router: m.usage,
      backend: m.backendUsage,
      generator,
      system: m.system,
      wallS: m.wallS,
    });
  } catch (error) {
    ctx.addRow(failedRow(section, scenario, target.key, error));
  }
}

/**
 * The figures of a request-rate run (wrk or h2load) as a row's.
 *
 * @example
 * ```ts
 * import { loadFigures } from "./measure_row.ts";
 * import { equal } from "node:assert/strict";
 * const row = loadFigures({
 *   reqPerSec: 100, p50Ms: 1, p99Ms: 2, meanMs: 1.1, mbPerSec: 0.1, requests: 500, errors: 0,
 *   generatorCpuS: 0.5, generatorCpuPct: 10,
 * });
 * equal(row.metrics.requests, 500);
 * equal(row.generator!.cpuPct, 10);
 * ```
 */
export function loadFigures(r: LoadResult): RowFigures {
  return {
    metrics: {
      reqPerSec: r.reqPerSec,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      meanMs: r.meanMs,
      mbPerSec: r.mbPerSec,
      requests: r.requests,
      errors: r.errors,
    },
    generator: { cpuS: r.generatorCpuS, cpuPct: r.generatorCpuPct },
  };
}
