/**
 * The benchmark's report (bench/lib/report.ts), on results made here: each
 * figure's ratios to direct and to the nginx hop, failed rows, the streamed
 * uploads beside the known-length ones, and the soak and edge sections.
 */
import { equal, match, ok } from "node:assert/strict";
import { benchConfig } from "../bench/lib/config.ts";
import type { Usage } from "../bench/lib/proc_stats.ts";
import { cell, type Column, renderReport, table } from "../bench/lib/report.ts";
import { type EdgeResult, newResults, type Results, type Row } from "../bench/lib/results.ts";

const TINY = "tiny GET, 50 connections";
const NAMES = {
  tiny50: TINY,
  download: "1 GiB download",
  upload: "1 GiB upload",
  streamedLength: "fetch upload 100 MiB, known length",
  streamed: "fetch upload 100 MiB, ReadableStream of 16 KiB chunks",
};

function usage(cpuS: number, peakMiB: number): Usage {
  return { cpuS, cpuPct: cpuS * 20, rssStartMiB: peakMiB - 10, rssEndMiB: peakMiB, peakMiB };
}

function row(
  scenario: string,
  target: string,
  metrics: Record<string, number>,
  sides: { router?: Usage; backend?: Usage; section?: string } = {},
): Row {
  return {
    section: sides.section ?? "rate",
    scenario,
    target,
    metrics,
    router: sides.router ?? null,
    backend: sides.backend ?? null,
    generator: { cpuS: 1, cpuPct: 20 },
    system: { busyPct: 190, idlePct: 10 },
    wallS: 5,
  };
}

/** A bench run like issue 19's side-by-side figures. */
function benchRun(): Results {
  const results = newResults("bench", false, benchConfig(false));
  results.machine = { nproc: 2, cpu: "AMD EPYC", commit: "abc1234" };
  results.targets = {
    direct: "direct Deno.serve",
    nginx: "nginx hop → direct",
    go: "Go original (router + backend)",
    tunnel1: "router + 1 backend",
    "tunnel1-logs-off": "router + 1 backend, logs off (`--log-level error`)",
  };
  const tiny = (
    target: string,
    reqPerSec: number,
    p50Ms: number,
    router?: Usage,
    backend?: Usage,
  ) =>
    row(TINY, target, { reqPerSec, p50Ms, p99Ms: p50Ms * 3, requests: reqPerSec * 5, errors: 0 }, {
      router,
      backend,
    });
  results.rows.push(
    tiny("direct", 70_611, 0.6, undefined, usage(3.5, 48)),
    tiny("nginx", 34_426, 1.2, usage(2, 10), usage(3.4, 48)),
    tiny("go", 8_937, 5, usage(4, 20), usage(3, 15)),
    tiny("tunnel1", 14_774, 3, usage(2.7, 134), usage(1.6, 70)),
    tiny("tunnel1-logs-off", 16_000, 2.8, usage(2.6, 120), usage(1.6, 70)),
    row(NAMES.download, "direct", { mbPerSec: 1040, seconds: 1.03 }, { section: "transfer" }),
    row(NAMES.download, "tunnel1", { mbPerSec: 900, seconds: 1.19, routerRssGrowthMiB: 20 }, {
      section: "transfer",
      router: usage(1, 90),
    }),
    row(NAMES.upload, "direct", { mbPerSec: 1000, seconds: 1.07 }, { section: "transfer" }),
    {
      ...row(NAMES.upload, "tunnel1", {}, { section: "transfer" }),
      error: "status 502, 0 of 1073741824 bytes",
    },
    row(NAMES.streamedLength, "direct", { mbPerSec: 400, seconds: 0.25 }, {
      section: "streamed",
    }),
    row(NAMES.streamed, "direct", { mbPerSec: 350, seconds: 0.3 }, { section: "streamed" }),
    row(NAMES.streamedLength, "tunnel1", { mbPerSec: 350, seconds: 0.3 }, {
      section: "streamed",
    }),
    row(NAMES.streamed, "tunnel1", { mbPerSec: 7.5, seconds: 14 }, { section: "streamed" }),
  );
  results.scale.idleTunnels = { tunnels: 1000, routerKiBPerTunnel: 25.1 };
  return results;
}

function edge(survived: EdgeResult["survived"]): EdgeResult {
  return {
    fdLimit: 1024,
    flags: [],
    idle: null,
    reset: null,
    during: { reqPerSec: 0, p50Ms: NaN, p99Ms: NaN, requests: 0, errors: NaN, error: "wrk failed" },
    after: null,
    survived,
    routerExit: "exit code 1: error: Uncaught (in promise) Http: Error: Too many open files",
    routerPeakMiB: 56.7,
  };
}

const rps: Column = { title: "req/s", value: (r) => r.metrics.reqPerSec };

Deno.test("a cell gives the ratio to direct, then to the nginx hop, of the same scenario", () => {
  const rows = benchRun().rows;
  const [direct, nginx, go, tunnel1] = rows;
  equal(cell(tunnel1!, rps, direct, nginx), "14,774 (0.21× · 0.43×)");
  equal(cell(go!, rps, direct, nginx), "8,937 (0.13× · 0.26×)");
  equal(cell(nginx!, rps, direct, nginx), "34,426 (0.49×)", "nginx against itself: no ratio");
  equal(cell(direct!, rps, direct, nginx), "70,611", "direct: no ratio");
  equal(cell(tunnel1!, rps, undefined, nginx), "14,774 (– · 0.43×)", "direct failed");
  equal(cell(tunnel1!, rps, direct, undefined), "14,774 (0.21×)", "no nginx row");
  equal(cell(row(TINY, "tunnel1", {}), rps, direct, nginx), "–", "no figure");
});

Deno.test("router figures compare to direct's Deno.serve process and to the nginx worker", () => {
  const results = benchRun();
  const text = table(results.rows.filter((r) => r.section === "rate"), [
    {
      title: "router peak RSS MiB",
      value: (r) => r.router?.peakMiB,
      base: (d) => d.backend?.peakMiB,
    },
  ], results.targets);
  const line = text.split("\n").find((l) => l.startsWith(`| ${TINY} | router + 1 backend |`));
  equal(line, `| ${TINY} | router + 1 backend | 134 (2.79× · 13.40×) |`);
  match(text, /\| nginx hop → direct \| 10\.0 \(0\.21×\) \|/);
  match(text, /\| direct Deno\.serve \| – \|/, "direct has no router");
});

Deno.test("a table names targets by their labels and shows a failed row's error in place of its cells", () => {
  const results = benchRun();
  const text = table(results.rows.filter((r) => r.section === "transfer"), [
    { title: "MB/s", value: (r) => r.metrics.mbPerSec },
    { title: "seconds", value: (r) => r.metrics.seconds },
  ], results.targets);
  const lines = text.split("\n");
  equal(lines[0], "| scenario | target | MB/s | seconds |");
  equal(lines[1], "| --- | --- | --- | --- |");
  equal(lines[3], "| 1 GiB download | router + 1 backend | 900 (0.87×) | 1.19 (1.16×) |");
  equal(
    lines[5],
    "| 1 GiB upload | router + 1 backend | error: status 502, 0 of 1073741824 bytes |  |",
  );
  for (const l of lines) equal(l.split("|").length, 6, `one cell per column: ${l}`);
});

Deno.test("the report sets each streamed upload beside the known-length upload of its target", () => {
  const text = renderReport({
    bench: benchRun(),
    soak: null,
    checks: [],
    streamedLength: NAMES.streamedLength,
  });
  const line = (scenario: string, label: string) =>
    text.split("\n").find((l) => l.startsWith(`| ${scenario} | ${label} |`))!;
  // The third figure is a ratio already: not compared to direct's ratio.
  match(
    line(NAMES.streamed, "router + 1 backend"),
    /\| 7\.50 \(0\.02×\) \| 14\.0 \(46\.67×\) \| 46\.7× \|/,
  );
  match(line(NAMES.streamed, "direct Deno.serve"), /\| 350 \| 0\.300 \| 1\.20× \|/);
  match(
    line(NAMES.streamedLength, "router + 1 backend"),
    /\| 350 \(0\.88×\) \| 0\.300 \(1\.20×\) \| – \|/,
  );
  match(text, /No soak run \(`deno task soak`\) to report\./);
});

Deno.test("the report's edge section says how the router ended and that wrk could not run", () => {
  const soak = newResults("soak", false, benchConfig(false));
  soak.machine = { commit: "abc1234", loadBefore: "1.00", loadAfter: "2.00" };
  soak.scale.edge = edge({ process: false, publicListener: false, tunnelListener: false });
  const text = renderReport({
    bench: null,
    soak,
    checks: [],
    streamedLength: NAMES.streamedLength,
  });
  match(text, /Survived: process \*\*died\*\*; public listener \*\*did not answer\*\*/);
  match(
    text,
    /The router ended: exit code 1: error: Uncaught \(in promise\) Http: Error: Too many open files/,
  );
  match(text, /Normal requests during the reset flood: 0\.000 req\/s, .*\(wrk failed\)/);
  match(text, /No bench run \(`deno task bench`\) to report\./);
});
