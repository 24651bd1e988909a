/**
 * The soak: tiny GETs in batches (h2load, h2c) through a router and a
 * backend of its own, both started with the V8 inspector on, so that after
 * each batch both can be made to run a full collection (bench/full_gc.ts).
 * RSS under load swings by tens of MiB with the old generation between full
 * collections; after one, what remains is what is still referenced, where a
 * leak shows. Both figures are kept.
 *
 * @module
 */

import { collectGarbage, inspectorUrl } from "../full_gc.ts";
import type { RunContext } from "../lib/context.ts";
import { fmt } from "../lib/format.ts";
import { cpuTicks, memory } from "../lib/proc_stats.ts";
import { type Proc, sleep } from "../lib/processes.ts";
import { errorText, type Growth, type SoakResult, type SoakSample } from "../lib/results.ts";
import { median, slope } from "../lib/stats.ts";
import { startBackend, startRouter } from "../lib/targets.ts";
import { h2load } from "../lib/tools.ts";

/**
 * Runs the soak when at least `minimumMs` are left of `timeLeftMs()` (two
 * batches at least, or no growth can be seen), within `timeLeftMs()`.
 */
export async function soakScenario(
  ctx: RunContext,
  timeLeftMs: () => number,
  minimumMs = 20_000,
): Promise<void> {
  const scale = ctx.results.scale;
  if (timeLeftMs() < minimumMs) {
    scale.soakError = "no time left before the global deadline";
    ctx.log(`soak skipped: ${scale.soakError}`);
    return;
  }
  const inspect = ["--inspect=127.0.0.1:0"];
  let router: Proc | undefined;
  let backend: Proc | undefined;
  try {
    const started = await startRouter(ctx, "router-soak", { denoFlags: inspect });
    router = started.proc;
    backend = (await startBackend(ctx, "backend-soak", started.tunnelPort, [], inspect)).proc;
    await soak(ctx, started.port, router, backend, timeLeftMs);
  } catch (error) {
    scale.soakError = errorText(error);
    ctx.log(`soak failed: ${scale.soakError}`);
  } finally {
    await Promise.all([backend?.stop(), router?.stop()]);
  }
}

/** The soak's batches and samples, on a router (HTTP on `port`) and backend already up. */
async function soak(
  ctx: RunContext,
  port: number,
  router: Proc,
  backend: Proc,
  timeLeftMs: () => number,
): Promise<void> {
  const { config, stats } = ctx;
  const inspector = async (proc: Proc) =>
    inspectorUrl(await proc.waitLine("stderr", (l) => inspectorUrl(l) !== null, 5000))!;
  const routerInspector = await inspector(router);
  const backendInspector = await inspector(backend);
  const batch = Math.round(config.soakRequests / config.soakBatches);
  const budget = Math.min(config.soakBudgetMs, timeLeftMs());
  const soakStart = performance.now();
  const left = () => budget - (performance.now() - soakStart);

  const sample = async (requests: number): Promise<SoakSample> => {
    const routerRssKiB = memory(router.pid).rss;
    const backendRssKiB = memory(backend.pid).rss;
    // Within the reserve the global deadline keeps past the soak's budget.
    const timeout = Math.max(1000, Math.min(10_000, left() + 10_000));
    const [routerHeap, backendHeap] = await Promise.all([
      collectGarbage(routerInspector, timeout),
      collectGarbage(backendInspector, timeout),
    ]);
    // V8 unmaps the pages it freed on a thread of its own, just after the collection.
    await sleep(250);
    return {
      requests,
      routerRssKiB,
      backendRssKiB,
      routerRssAfterGcKiB: memory(router.pid).rss,
      backendRssAfterGcKiB: memory(backend.pid).rss,
      routerHeapKiB: routerHeap / 1024,
      backendHeapKiB: backendHeap / 1024,
    };
  };

  const series: SoakSample[] = [];
  let done = 0;
  let errors = 0;
  let seconds = 0;
  let lastBatchMs = 0;
  let stoppedByBudget = false;
  // CPU over the batches only: the forced collections are the benchmark's, not the load's.
  let routerTicks = 0;
  let backendTicks = 0;
  // Summed up after every sample, so that a run cut short by the global deadline keeps it.
  const summarize = () => {
    const result = summarizeSoak(series, {
      planned: config.soakRequests,
      requests: done,
      errors,
      truncatedByTimeBudget: stoppedByBudget,
      reqPerSec: done / seconds,
      routerCpuS: routerTicks / stats.clkTck,
      backendCpuS: backendTicks / stats.clkTck,
    });
    if (result) ctx.results.scale.soak = result;
  };
  try {
    series.push(await sample(0));
    while (done < config.soakRequests) {
      if (lastBatchMs * 1.1 > left()) {
        stoppedByBudget = true;
        break;
      }
      const t = performance.now();
      const routerCpu0 = cpuTicks(router.pid);
      const backendCpu0 = cpuTicks(backend.pid);
      const r = await h2load(ctx, `http://127.0.0.1:${port}/tiny`, {
        clients: 50,
        streams: 10,
        requests: batch,
      }, Math.max(10_000, left() + 10_000));
      routerTicks += cpuTicks(router.pid) - routerCpu0;
      backendTicks += cpuTicks(backend.pid) - backendCpu0;
      if (r.requests === 0) throw new Error(`a batch answered no request (${r.errors} errors)`);
      done += r.requests;
      errors += r.errors;
      seconds += r.seconds;
      series.push(await sample(done));
      lastBatchMs = performance.now() - t;
      summarize();
      const last = series.at(-1)!;
      ctx.log(
        `soak: ${done.toLocaleString("en-US")} requests, router RSS ${last.routerRssKiB} KiB, ` +
          `after a full collection ${last.routerRssAfterGcKiB} KiB (heap ${
            fmt(last.routerHeapKiB)
          } KiB)`,
      );
    }
  } catch (error) {
    ctx.results.scale.soakError = errorText(error);
    ctx.log(`soak stopped: ${ctx.results.scale.soakError}`);
  }
  summarize();
}

/** The soak's totals, as {@linkcode summarizeSoak} takes them. */
export type SoakTotals = Pick<
  SoakResult,
  | "planned"
  | "requests"
  | "errors"
  | "truncatedByTimeBudget"
  | "reqPerSec"
  | "routerCpuS"
  | "backendCpuS"
>;

/**
 * Sums up the soak's samples (the first is taken before any batch): the
 * start is the median of the samples after the first three batches, the end
 * of those after the last three (fewer when there are fewer batches; with
 * one batch, `samplesPerEnd` is 0: reported, not judged). `undefined` before
 * any batch.
 *
 * @example
 * ```ts
 * import { summarizeSoak } from "./soak.ts";
 * import { equal } from "node:assert/strict";
 * const at = (requests: number, kib: number) => ({
 *   requests,
 *   routerRssKiB: kib,
 *   backendRssKiB: kib,
 *   routerRssAfterGcKiB: kib,
 *   backendRssAfterGcKiB: kib,
 *   routerHeapKiB: 1,
 *   backendHeapKiB: 1,
 * });
 * const totals = {
 *   planned: 4, requests: 4, errors: 0, truncatedByTimeBudget: false,
 *   reqPerSec: 1, routerCpuS: 1, backendCpuS: 1,
 * };
 * const soak = summarizeSoak([at(0, 50), at(1, 80), at(2, 81), at(3, 82), at(4, 84)], totals)!;
 * equal(soak.samplesPerEnd, 2);
 * equal(soak.routerRssAfterGc.start, 80.5);
 * equal(soak.routerRssAfterGc.end, 83);
 * ```
 */
export function summarizeSoak(
  series: SoakSample[],
  totals: SoakTotals,
): SoakResult | undefined {
  const after = series.slice(1);
  if (after.length === 0) return undefined;
  const third = Math.min(3, Math.floor(after.length / 2));
  const ends = Math.max(1, third);
  const growth = (key: Exclude<keyof SoakSample, "requests">): Growth => {
    const start = median(after.slice(0, ends).map((x) => x[key]));
    const end = median(after.slice(-ends).map((x) => x[key]));
    return { start, end, growth: end - start };
  };
  return {
    ...totals,
    samplesPerEnd: third,
    series,
    routerRssAfterGcSlopeKiBPer100k:
      slope(after.map((x) => x.requests), after.map((x) => x.routerRssAfterGcKiB)) * 100_000,
    routerRssAfterGc: growth("routerRssAfterGcKiB"),
    routerHeap: growth("routerHeapKiB"),
    routerRss: growth("routerRssKiB"),
    backendRssAfterGc: growth("backendRssAfterGcKiB"),
    backendHeap: growth("backendHeapKiB"),
    backendRss: growth("backendRssKiB"),
  };
}
