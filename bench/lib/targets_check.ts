/**
 * The targets judged: issue 19's (the router's cost per request near
 * Deno.serve's, the nginx hop as the yardstick), issue 16's (the edge
 * survives), and those of earlier rounds not superseded. Each is met, not
 * met, or not judged (`null`: its figure is missing, or its run was not
 * clean). Pure: it reads the results of a bench run and of a soak run.
 *
 * @module
 */

import { fmt, fmtMiB, signedMiB } from "./format.ts";
import { type Check, findRow, type Results, type Row } from "./results.ts";
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

/** CPU µs per request of one side of a row. */
function perRequest(row: Row | undefined, side: "router" | "backend"): number | undefined {
  const usage = row?.[side];
  const requests = row?.metrics.requests;
  return usage && requests ? (usage.cpuS * 1e6) / requests : undefined;
}

/** `a / b`, or undefined when either is missing. */
function over(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || !b ? undefined : a / b;
}

/**
 * Judges the targets on a bench run's results and a soak run's (either may be missing).
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
  const judge = (
    source: string,
    target: string,
    figure: string,
    threshold: string,
    met: boolean | undefined | null,
  ) => checks.push({ source, target, figure, threshold, met: met ?? null });
  const ratioText = (r: number | undefined) => r === undefined ? "–" : `${r.toFixed(2)}×`;

  const t1 = row(names.tiny50, TARGET.tunnel1);
  const direct = row(names.tiny50, TARGET.direct);
  const nginx = row(names.tiny50, TARGET.nginx);
  const go = row(names.tiny50, TARGET.go);
  const quiet = row(names.tiny50, TARGET.logsOff);
  const rps = t1?.metrics.reqPerSec;

  // Issue 19.
  const ofNginx = over(rps, nginx?.metrics.reqPerSec);
  judge(
    "19",
    "Tiny GET, 50 connections: router + 1 backend against the nginx hop",
    `${fmt(rps)} against ${fmt(nginx?.metrics.reqPerSec)} req/s: ${ratioText(ofNginx)}`,
    "≥ 0.75×",
    ofNginx === undefined ? null : ofNginx >= 0.75,
  );
  const ofDirect = over(rps, direct?.metrics.reqPerSec);
  judge(
    "19",
    "Tiny GET, 50 connections: router + 1 backend against direct Deno.serve",
    `${fmt(rps)} against ${fmt(direct?.metrics.reqPerSec)} req/s: ${ratioText(ofDirect)}`,
    "≥ 0.35×",
    ofDirect === undefined ? null : ofDirect >= 0.35,
  );
  const p50 = over(t1?.metrics.p50Ms, nginx?.metrics.p50Ms);
  judge(
    "19",
    "Tiny GET, 50 connections: p50 against the nginx hop's",
    `${fmt(t1?.metrics.p50Ms)} against ${fmt(nginx?.metrics.p50Ms)} ms: ${ratioText(p50)}`,
    "≤ 1.5×",
    p50 === undefined ? null : p50 <= 1.5,
  );
  // Direct's only process is its "backend": the Deno.serve process.
  const directUs = perRequest(direct, "backend");
  for (const [side, limit] of [["router", 2], ["backend", 1.5]] as const) {
    const us = perRequest(t1, side);
    const r = over(us, directUs);
    judge(
      "19",
      `Tiny GET, 50 connections: ${side} CPU per request against direct Deno.serve's`,
      `${fmt(us)} against ${fmt(directUs)} µs: ${ratioText(r)}`,
      `≤ ${limit}×`,
      r === undefined ? null : r <= limit,
    );
  }
  for (const kind of ["download", "upload"] as const) {
    const scenario = names[kind];
    const through = row(scenario, TARGET.tunnel1)?.metrics.mbPerSec;
    const base = row(scenario, TARGET.direct)?.metrics.mbPerSec;
    const r = over(through, base);
    judge(
      "19",
      `${scenario} through one tunnel against direct`,
      `${fmt(through)} against ${fmt(base)} MB/s: ${ratioText(r)}`,
      "≥ 0.8×",
      r === undefined ? null : r >= 0.8,
    );
  }
  const streamed = row(names.streamed, TARGET.tunnel1)?.metrics.seconds;
  const known = row(names.streamedLength, TARGET.tunnel1)?.metrics.seconds;
  const slower = over(streamed, known);
  judge(
    "19",
    "Streamed upload of unknown length through one tunnel, time against the known-length upload",
    `${fmt(streamed)} against ${fmt(known)} s: ${ratioText(slower)}`,
    "≤ 1.5×",
    slower === undefined ? null : slower <= 1.5,
  );
  const logged = over(rps, quiet?.metrics.reqPerSec);
  judge(
    "19",
    "Tiny GET, 50 connections: default logging (info) against logs off",
    `${fmt(rps)} against ${fmt(quiet?.metrics.reqPerSec)} req/s: ${ratioText(logged)}`,
    "≥ 0.9× (costs ≤ 10%)",
    logged === undefined ? null : logged >= 0.9,
  );
  for (const side of ["router", "backend"] as const) {
    const peak = t1?.[side]?.peakMiB;
    judge(
      "19",
      `Peak RSS of the ${side} under the 50-connection load`,
      `${fmt(peak)} MiB`,
      "≤ 80 MiB",
      peak === undefined ? null : peak <= 80,
    );
  }
  const idle = soak?.scale.idleTunnels as Record<string, number> | undefined;
  const perTunnel = idle?.routerKiBPerTunnel;
  judge(
    "19",
    `Router RSS per idle tunnel at ${fmt(idle?.tunnels)} tunnels (settled)`,
    `${fmt(perTunnel)} KiB (${fmt(idle?.routerKiBPerTunnelAtConnect)} right after connecting)`,
    "≤ 16 KiB",
    perTunnel === undefined ? null : perTunnel <= 16,
  );
  const s = soak?.scale.soak;
  judge(
    "19",
    `No router RSS growth over the soak beyond noise (${
      s?.requests.toLocaleString("en-US") ?? "–"
    } requests; RSS after a forced full collection)`,
    s
      ? `${fmtMiB(s.routerRssAfterGc.start)} → ${fmtMiB(s.routerRssAfterGc.end)} MiB (${
        signedMiB(s.routerRssAfterGc.growth)
      } MiB; V8 heap ${signedMiB(s.routerHeap.growth)} MiB)`
      : "–",
    s ? `growth ≤ ${fmtMiB(soakNoiseKiB(s.routerRssAfterGc.start))} MiB` : "–",
    // Reported, not judged: a soak that stopped on an error or had failed requests, or
    // one too short to have a start and an end.
    s && !soak?.scale.soakError && s.errors === 0 && s.samplesPerEnd > 0
      ? s.routerRssAfterGc.growth <= soakNoiseKiB(s.routerRssAfterGc.start)
      : null,
  );

  // Issue 16.
  const edge = soak?.scale.edge;
  const alive = edge?.survived;
  judge(
    "16",
    `Edge: a router with ${edge?.fdLimit ?? "–"} file descriptors survives idle and reset floods`,
    edge
      ? `process ${alive!.process ? "lived" : "died"}; public listener ${
        alive!.publicListener ? "answered" : "did not answer"
      }; tunnel listener ${alive!.tunnelListener ? "registered a backend" : "did not"}`
      : "–",
    "all three",
    edge && !edge.error ? alive!.process && alive!.publicListener && alive!.tunnelListener : null,
  );

  // Earlier rounds, not superseded.
  const ofGo = over(rps, go?.metrics.reqPerSec);
  judge(
    "earlier",
    "Tiny GET, 50 connections, one tunnel: against the Go original (same run)",
    `${fmt(rps)} against ${fmt(go?.metrics.reqPerSec)} req/s: ${ratioText(ofGo)}`,
    "≥ 2.5×",
    ofGo === undefined ? null : ofGo >= 2.5,
  );
  judge(
    "earlier",
    "p99 latency at 50 connections, one tunnel",
    `${fmt(t1?.metrics.p99Ms)} ms (direct ${fmt(direct?.metrics.p99Ms)} ms)`,
    "≤ 2 ms",
    t1 ? t1.metrics.p99Ms! <= 2 : null,
  );
  for (const kind of ["download", "upload"] as const) {
    const r = row(names[kind], TARGET.tunnel1);
    judge(
      "earlier",
      `${names[kind]} through one tunnel: router RSS growth`,
      `${fmt(r?.metrics.routerRssGrowthMiB)} MiB`,
      "< 64 MiB",
      r ? r.metrics.routerRssGrowthMiB! < 64 : null,
    );
  }
  return checks;
}
