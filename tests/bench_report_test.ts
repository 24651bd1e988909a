/**
 * The benchmark's report (bench/lib/report.ts) and the targets it judges
 * (bench/lib/targets_check.ts), on results made here: each figure's ratios to
 * direct and to the nginx hop, failed rows, the streamed uploads beside the
 * known-length ones, the soak and edge sections, and each target met, not
 * met, or not judged.
 */
import { equal, match, ok } from "node:assert/strict";
import { benchConfig } from "../bench/lib/config.ts";
import { fmt } from "../bench/lib/format.ts";
import type { Usage } from "../bench/lib/proc_stats.ts";
import { cell, type Column, renderReport, table } from "../bench/lib/report.ts";
import { type EdgeResult, newResults, type Results, type Row } from "../bench/lib/results.ts";
import { type CheckedScenarios, checkTargets } from "../bench/lib/targets_check.ts";

const TINY = "tiny GET, 50 connections";
const NAMES: CheckedScenarios = {
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

Deno.test("the targets are judged against the same run's direct, nginx, Go and logs-off rows", () => {
  // The scale runs are the soak suite's.
  const soak = newResults("soak", false, benchConfig(false));
  soak.scale.idleTunnels = { tunnels: 1000, routerKiBPerTunnel: 25.1 };
  const checks = checkTargets(benchRun(), soak, NAMES);
  const find = (part: string) => {
    const found = checks.find((c) => c.target.includes(part));
    ok(found, `a check on ${part}`);
    return found;
  };
  const nginx = find("against the nginx hop");
  equal(nginx.figure, "14,774 against 34,426 req/s: 0.43×");
  equal(nginx.met, false);
  equal(find("against direct Deno.serve").met, false); // 0.21 < 0.35
  equal(find("p50 against").figure, "3.00 against 1.20 ms: 2.50×");
  // Router 2.7 s over 73,870 requests against direct's 3.5 s over 353,055.
  const routerCpu = find("router CPU per request");
  equal(routerCpu.met, false);
  equal(routerCpu.figure, `${fmt(2.7e6 / 73_870)} against ${fmt(3.5e6 / 353_055)} µs: 3.69×`);
  equal(find("default logging").figure, "14,774 against 16,000 req/s: 0.92×");
  equal(find("default logging").met, true);
  equal(find("Peak RSS of the router").met, false);
  equal(find("Peak RSS of the backend").met, true);
  equal(find("1 GiB download through one tunnel against direct").met, true); // 0.87
  equal(find("1 GiB upload through one tunnel against direct").met, null, "failed row: not judged");
  equal(find("Streamed upload").met, false); // 14 s against 0.3 s
  equal(find("against the Go original").figure, "14,774 against 8,937 req/s: 1.65×");
  equal(find("idle tunnel").met, false); // 25.1 KiB > 16
  equal(find("soak").met, null, "no soak in the soak run");
  equal(find("Edge").met, null, "no edge scenario in the soak run");
});

Deno.test("the edge target is met only when the process, the public and the tunnel listener all survived", () => {
  const soak = newResults("soak", false, benchConfig(false));
  soak.machine = { commit: "abc1234" };
  soak.scale.edge = edge({ process: false, publicListener: false, tunnelListener: false });
  const died = checkTargets(null, soak, NAMES).find((c) => c.target.startsWith("Edge"))!;
  equal(died.met, false);
  match(died.figure, /process died/);
  soak.scale.edge = edge({ process: true, publicListener: true, tunnelListener: false });
  equal(checkTargets(null, soak, NAMES).find((c) => c.target.startsWith("Edge"))!.met, false);
  soak.scale.edge = edge({ process: true, publicListener: true, tunnelListener: true });
  equal(checkTargets(null, soak, NAMES).find((c) => c.target.startsWith("Edge"))!.met, true);
  soak.scale.edge = {
    ...edge({ process: true, publicListener: true, tunnelListener: true }),
    error: "node is needed",
  };
  equal(checkTargets(null, soak, NAMES).find((c) => c.target.startsWith("Edge"))!.met, null);
});

Deno.test("the report's edge section says how the router ended and that wrk could not run", () => {
  const soak = newResults("soak", false, benchConfig(false));
  soak.machine = { commit: "abc1234", loadBefore: "1.00", loadAfter: "2.00" };
  soak.scale.edge = edge({ process: false, publicListener: false, tunnelListener: false });
  const text = renderReport({
    bench: null,
    // As read back from its file: NaN is null there.
    soak: JSON.parse(JSON.stringify(soak)),
    checks: checkTargets(null, soak, NAMES),
    streamedLength: NAMES.streamedLength,
  });
  match(text, /Survived: process \*\*died\*\*; public listener \*\*did not answer\*\*/);
  match(
    text,
    /The router ended: exit code 1: error: Uncaught \(in promise\) Http: Error: Too many open files/,
  );
  match(text, /Normal requests during the reset flood: 0\.000 req\/s, .*\(wrk failed\)/);
  match(text, /No bench run \(`deno task bench`\) to report\./);
  match(text, /\| 16 \| Edge: a router with 1024 file descriptors .* \| \*\*not met\*\* \|/);
});
