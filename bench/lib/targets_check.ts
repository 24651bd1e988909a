/**
 * The targets judged: those of the earlier rounds (the Go original's rate,
 * a share of direct Deno.serve's, p99, transfer rates and RSS, RSS per idle
 * tunnel, no growth over the soak). Each is met, not met, or not judged
 * (`null`: its figure is missing, or its run was not clean). Pure: it reads
 * the results of a bench run and of the soak.
 *
 * @module
 */

import { fmt, fmtMiB, signedMiB } from "./format.ts";
import { type Check, findRow, type Results } from "./results.ts";
import { TARGET } from "./targets.ts";

/** The scenario names the checks read (kept in step with the scenarios by their callers). */
export interface CheckedScenarios {
  tiny50: string;
  download: string;
  upload: string;
  streamedLength: string;
  streamed: string;
}

/**
 * The growth allowed over the soak, in RSS after a forced full collection:
 * allocator and code-space noise, 4 MiB or 5% of the start, whichever is more.
 *
 * @example
 * ```ts
 * import { soakNoiseKiB } from "./targets_check.ts";
 * import { equal } from "node:assert/strict";
 * equal(soakNoiseKiB(40 * 1024), 4096);
 * equal(soakNoiseKiB(200 * 1024), 10240);
 * ```
 */
export function soakNoiseKiB(startKiB: number): number {
  return Math.max(4 * 1024, startKiB * 0.05);
}

/**
 * Judges the targets on a bench run's results and the soak's (either may be missing).
 *
 * @example
 * ```ts
 * import { checkTargets } from "./targets_check.ts";
 * import { equal } from "node:assert/strict";
 * const names = {
 *   tiny50: "tiny GET, 50 connections", download: "1 GiB download", upload: "1 GiB upload",
 *   streamedLength: "known", streamed: "stream",
 * };
 * const checks = checkTargets(null, null, names);
 * equal(checks.every((c) => c.met === null), true);
 * ```
 */
export function checkTargets(
  bench: Results | null,
  soak: Results | null,
  names: CheckedScenarios,
): Check[] {
  const checks: Check[] = [];
  const row = (scenario: string, target: string) =>
    bench ? findRow(bench, scenario, target) : undefined;
  const t1 = row(names.tiny50, TARGET.tunnel1);
  const d = row(names.tiny50, TARGET.direct);
  const rps = t1?.metrics.reqPerSec;
  const go = row(names.tiny50, TARGET.go)?.metrics.reqPerSec;
  const ofGo = rps !== undefined && go ? rps / go : undefined;
  checks.push({
    target: "Tiny GET, 50 connections, one tunnel: ≥ 2.5× the Go original (same run)",
    figure: `${fmt(rps)} against ${fmt(go)} req/s: ${fmt(ofGo)}×`,
    threshold: "≥ 2.5×",
    met: ofGo === undefined ? null : ofGo >= 2.5,
  });
  const share = rps !== undefined && d ? rps / d.metrics.reqPerSec! : undefined;
  checks.push({
    target: "Tiny GET, 50 connections, one tunnel: ≥ 30% of direct Deno.serve (same run)",
    figure: share === undefined
      ? "–"
      : `${(100 * share).toFixed(1)}% of ${fmt(d!.metrics.reqPerSec)}`,
    threshold: "≥ 30%",
    met: share === undefined ? null : share >= 0.3,
  });
  const p99 = t1?.metrics.p99Ms;
  checks.push({
    target: "p99 latency at 50 connections, one tunnel",
    figure: `${fmt(p99)} ms (direct ${fmt(d?.metrics.p99Ms)} ms)`,
    threshold: "≤ 2 ms",
    met: p99 === undefined ? null : p99 <= 2,
  });
  for (const kind of ["download", "upload"] as const) {
    const r = row(names[kind], TARGET.tunnel1);
    checks.push({
      target: `${names[kind]} through one tunnel: rate`,
      figure: `${fmt(r?.metrics.mbPerSec)} MB/s`,
      threshold: "≥ 1,500 MB/s",
      met: r ? r.metrics.mbPerSec! >= 1500 : null,
    });
    checks.push({
      target: `${names[kind]} through one tunnel: router RSS growth`,
      figure: `${fmt(r?.metrics.routerRssGrowthMiB)} MiB`,
      threshold: "< 64 MiB",
      met: r ? r.metrics.routerRssGrowthMiB! < 64 : null,
    });
  }
  const idle = bench?.scale.idleTunnels as Record<string, number> | undefined;
  checks.push({
    target: `Router RSS per idle tunnel at ${fmt(idle?.tunnels)} tunnels`,
    figure: `${fmt(idle?.routerKiBPerTunnel)} KiB settled (${
      fmt(idle?.routerKiBPerTunnelAtConnect)
    } right after connecting)`,
    threshold: "< 32 KiB",
    met: idle ? idle.routerKiBPerTunnel! < 32 : null,
  });
  const s = soak?.scale.soak;
  checks.push({
    target: `No router RSS growth over the soak beyond noise (${
      s?.requests.toLocaleString("en-US") ?? "–"
    } requests; RSS after a forced full collection)`,
    figure: s
      ? `${fmtMiB(s.routerRssAfterGc.start)} → ${fmtMiB(s.routerRssAfterGc.end)} MiB (${
        signedMiB(s.routerRssAfterGc.growth)
      } MiB; V8 heap ${signedMiB(s.routerHeap.growth)} MiB)`
      : "–",
    threshold: s ? `growth ≤ ${fmtMiB(soakNoiseKiB(s.routerRssAfterGc.start))} MiB` : "–",
    // Reported, not judged: a soak that stopped on an error or had failed requests, or
    // one too short to have a start and an end.
    met: s && !soak?.scale.soakError && s.errors === 0 && s.samplesPerEnd > 0
      ? s.routerRssAfterGc.growth <= soakNoiseKiB(s.routerRssAfterGc.start)
      : null,
  });
  return checks;
}
