/**
 * The Markdown report (BENCHMARKS.md for full runs): the machine, the
 * method, a table per section with each figure's ratios to the direct
 * baseline and to the nginx hop of the same run, the scale, soak and edge
 * findings, the targets judged, and the CPU share of each process. Pure: it
 * reads the results of a bench run and of a soak run (either may be missing).
 *
 * @module
 */

import { count, fmt, fmtMiB, signedMiB } from "./format.ts";
import type { Usage } from "./proc_stats.ts";
import type { Check, Growth, Results, Row, SoakSample } from "./results.ts";
import { TARGET, TARGET_LABELS } from "./targets.ts";

/** A column of a table: its title, the figure of a row, and what it is compared to. */
export interface Column {
  title: string;
  /** The figure of a row. */
  value: (row: Row) => number | undefined;
  /**
   * The figure of the direct row it is compared to, when not the same
   * column's (direct has no router: router figures compare to its Deno.serve process).
   */
  base?: (direct: Row) => number | undefined;
  /** Text after the figure, before the ratios (`s · 45%`). */
  suffix?: (row: Row) => string;
  /** Not compared to other targets (a figure that is itself a ratio). */
  alone?: boolean;
}

/**
 * One cell: the figure, then its ratios to direct and to the nginx hop of
 * the same scenario, `(0.21× · 0.43×)`; a row of direct has none, a row of
 * the nginx hop only the first.
 *
 * @example
 * ```ts
 * import { cell, type Column } from "./report.ts";
 * import { equal } from "node:assert/strict";
 * const rps: Column = { title: "req/s", value: (r) => r.metrics.reqPerSec };
 * const row = (target: string, reqPerSec: number) => ({
 *   section: "rate", scenario: "tiny", target, metrics: { reqPerSec },
 *   router: null, backend: null, generator: null, wallS: 5,
 * });
 * const direct = row("direct", 70611);
 * const nginx = row("nginx", 34426);
 * equal(cell(row("tunnel1", 14774), rps, direct, nginx), "14,774 (0.21× · 0.43×)");
 * equal(cell(nginx, rps, direct, nginx), "34,426 (0.49×)");
 * equal(cell(direct, rps, direct, nginx), "70,611");
 * ```
 */
export function cell(
  row: Row,
  column: Column,
  direct: Row | undefined,
  nginx: Row | undefined,
): string {
  const v = column.value(row);
  if (v === undefined || Number.isNaN(v)) return "–";
  const text = `${fmt(v)}${column.suffix?.(row) ?? ""}`;
  if (row.target === TARGET.direct || column.alone) return text;
  const ratio = (base: number | undefined) =>
    base === undefined || !base || Number.isNaN(base) ? undefined : `${(v / base).toFixed(2)}×`;
  const toDirect = direct ? ratio((column.base ?? column.value)(direct)) : undefined;
  const toNginx = nginx && row.target !== TARGET.nginx ? ratio(column.value(nginx)) : undefined;
  if (toNginx === undefined) return toDirect === undefined ? text : `${text} (${toDirect})`;
  return `${text} (${toDirect ?? "–"} · ${toNginx})`;
}

/**
 * A Markdown table of `rows`, a line each: scenario, target (by its label in
 * `labels`), then one cell per column; a failed row shows its error.
 *
 * @example
 * ```ts
 * import { table } from "./report.ts";
 * import type { Row } from "./results.ts";
 * import { equal } from "node:assert/strict";
 * const rows: Row[] = [
 *   { section: "rate", scenario: "tiny", target: "direct", metrics: { reqPerSec: 1000 },
 *     router: null, backend: null, generator: null, wallS: 5 },
 *   { section: "rate", scenario: "tiny", target: "tunnel1", metrics: {},
 *     router: null, backend: null, generator: null, wallS: 0, error: "wrk failed | 1" },
 * ];
 * const text = table(rows, [{ title: "req/s", value: (r) => r.metrics.reqPerSec }], {
 *   direct: "direct Deno.serve",
 *   tunnel1: "router + 1 backend",
 * });
 * equal(text.split("\n")[0], "| scenario | target | req/s |");
 * equal(text.split("\n")[2], "| tiny | direct Deno.serve | 1,000 |");
 * equal(text.split("\n")[3], "| tiny | router + 1 backend | error: wrk failed / 1 |");
 * ```
 */
export function table(
  rows: readonly Row[],
  columns: readonly Column[],
  labels: Record<string, string>,
): string {
  const head = ["scenario", "target", ...columns.map((c) => c.title)];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => " --- ").join("|")}|`];
  for (const r of rows) {
    const same = (target: string) =>
      rows.find((x) => x.scenario === r.scenario && x.target === target && !x.error);
    const cells = r.error
      ? [
        `error: ${r.error.replace(/\|/g, "/").replace(/\n/g, " ")}`,
        ...columns.slice(1).map(() => ""),
      ]
      : columns.map((c) => cell(r, c, same(TARGET.direct), same(TARGET.nginx)));
    lines.push(`| ${[r.scenario, labels[r.target] ?? r.target, ...cells].join(" | ")} |`);
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------- columns

const cpuPct = (usage: Usage | null) => usage ? ` s · ${Math.round(usage.cpuPct)}%` : "";
const routerCpu: Column = {
  title: "router CPU (% of a core)",
  value: (r) => r.router?.cpuS,
  base: (d) => d.backend?.cpuS,
  suffix: (r) => cpuPct(r.router),
};
const backendCpu: Column = {
  title: "backend CPU (% of a core)",
  value: (r) => r.backend?.cpuS,
  suffix: (r) => cpuPct(r.backend),
};
/** CPU per request (µs): less sensitive than req/s to other processes taking the cores. */
const perRequest = (usage: Usage | null | undefined, r: Row) =>
  usage && r.metrics.requests ? (usage.cpuS * 1e6) / r.metrics.requests : undefined;
const routerPerRequest: Column = {
  title: "router CPU µs/req",
  value: (r) => perRequest(r.router, r),
  base: (d) => perRequest(d.backend, d),
};
const backendPerRequest: Column = {
  title: "backend CPU µs/req",
  value: (r) => perRequest(r.backend, r),
};
const routerPeak: Column = {
  title: "router peak RSS MiB",
  value: (r) => r.router?.peakMiB,
  base: (d) => d.backend?.peakMiB,
};
const backendPeak: Column = {
  title: "backend peak RSS MiB",
  value: (r) => r.backend?.peakMiB,
};
/** What each process took: the last columns of the SSE and WebSocket tables. */
const USAGE_COLUMNS: Column[] = [routerCpu, backendCpu, routerPeak, backendPeak];
const metric = (title: string, key: string): Column => ({ title, value: (r) => r.metrics[key] });

// ---------------------------------------------------------------- sections

function machineSection(out: string[], results: Results): void {
  const m = results.machine;
  out.push(`- CPU: ${m.cpu} × ${m.nproc} (nproc)`);
  out.push(`- Memory: ${m.memory}`);
  out.push(`- Kernel: ${m.kernel}`);
  out.push(`- Code: commit ${m.commit}`);
  out.push(`- Deno: ${m.deno}`);
  out.push(`- Load generators: ${m.wrk}; ${m.h2load}; ${m.curl}; Node.js ${m.node ?? "–"}`);
  out.push(`- Baselines: nginx ${m.nginx ?? "–"}; Go ${m.go ?? "–"}`);
  out.push(
    `- Date: ${results.startedAt}; run time ${fmt(results.durationS)} s (${results.mode} mode)`,
  );
  out.push(`- Load average before / after: ${m.loadBefore} / ${m.loadAfter}`);
  out.push(
    `- CPU actually available (${m.nproc} busy loops for 1 s, in cores) before / after: ${
      m.coresAvailableBefore ?? "–"
    } / ${m.coresAvailableAfter ?? "–"}`,
  );
  const us = (key: string) => fmt(m[key] as number | undefined);
  const probe =
    "bench/pingpong.ts: one octet there and back over loopback TCP, two handoffs, Deno at both ends";
  out.push(
    m.roundTripPinned !== "yes"
      ? `- Round trip between two processes (${probe}; unpinned), µs before / after: ${
        us("roundTripUnpinnedBeforeUs")
      } / ${us("roundTripUnpinnedAfterUs")}`
      : `- Round trip between two processes (${probe}), µs with both on one core / on two cores (taskset), before: ${
        us("roundTripOneCoreBeforeUs")
      } / ${us("roundTripTwoCoresBeforeUs")}; after: ${us("roundTripOneCoreAfterUs")} / ${
        us("roundTripTwoCoresAfterUs")
      }`,
  );
}

function methodSection(out: string[], results: Results): void {
  const c = results.config;
  const peakResetWorks = results.machine.peakResetWorks !== "no";
  out.push(
    `- Request rates: \`wrk -t1 -d${c.duration}s --latency\` (p50/p99 from wrk's latency distribution), HTTP/1.1;`,
    `  POST echo with bench/post.lua (1 KiB body); second opinion \`h2load -t1 -c${c.h2load.clients} -m${c.h2load.streams}\``,
    "  over h2c (prior knowledge), mean latency only. One 1 s warm-up per target first.",
    "- MB/s is 10^6 bytes per second (response bytes read, headers included, for request rates).",
    "- CPU: utime + stime from /proc/PID/stat over the scenario, with its share of one core.",
    `- Peak RSS: VmHWM from /proc/PID/status, reset at the start of each scenario through`,
    `  /proc/PID/clear_refs (${
      peakResetWorks ? "worked" : "not permitted: sampled VmRSS every 50 ms instead"
    }).`,
    "- For four backends, CPU and RSS are summed over the four processes.",
    "- Router CPU and RSS ratios compare the router to the direct `Deno.serve` process, and to",
    "  the nginx worker; CPU µs per request (CPU time over requests answered) varies less than",
    "  req/s when other processes take the cores.",
    "- The nginx hop: Debian's nginx, one worker, `proxy_pass` to the direct `Deno.serve` process",
    "  through an upstream keepalive pool (`keepalive 64`, HTTP/1.1), the access log on through a",
    "  64 KiB buffer, bodies streamed both ways (`proxy_buffering off`,",
    "  `proxy_request_buffering off`); its router columns are its worker, its backend columns the",
    "  Deno.serve process.",
    "- The Go original: bench/go_original/ (the kevin-cantwell/ptth design on",
    "  golang.org/x/net/http2: `httputil.ReverseProxy` over an `http2.Transport` whose pool picks a",
    "  tunnel at random; the backend serves with `http2.Server.ServeConn` on the connection it",
    "  dialed), built in GOPATH mode with Debian's golang-golang-x-net-dev. It logs no request.",
    "- The ptth routers log at their default level (`info`, a line per request) to a file; one",
    "  row at 50 connections has them off (`--log-level error`).",
    `- Transfers: \`curl -o /dev/null\` (download) and \`curl -T\` of a sparse file (upload); RSS growth = peak − RSS at the start.`,
    "",
  );
}

function scaleSection(out: string[], soakRun: Results): void {
  const s = soakRun.scale;
  const idle = s.idleTunnels as Record<string, number> | undefined;
  if (idle) {
    out.push(
      `- **${
        idle.tunnels!.toLocaleString("en-US")
      } idle tunnels** (one backend process, one \`serveReverse\` each):`,
      `  router RSS ${fmt(idle.routerRssBeforeKiB! / 1024)} → ${
        fmt(idle.routerRssAfterKiB! / 1024)
      } MiB 1.5 s after they connected (${
        fmt(idle.routerKiBPerTunnelAtConnect)
      } KiB per tunnel, V8's young generation`,
      `  still sized for the burst), ${
        fmt(idle.routerRssSettledKiB! / 1024)
      } MiB settled (median of the last ${idle.settledSamples} of ${idle.watchS} one-second samples; peak ${
        fmt(idle.routerRssPeakKiB! / 1024)
      } MiB):`,
      `  **${fmt(idle.routerKiBPerTunnel)} KiB per tunnel**; backend ${
        fmt(idle.backendRssKiB! / 1024)
      } MiB in all`,
      `  (${fmt(idle.backendKiBPerTunnel)} KiB per tunnel); all connected in ${
        fmt(idle.connectAllMs! / 1000)
      } s`,
      "  (dialing 50 at a time).",
    );
  }
  const sif = s.streamsInFlight;
  if (sif && !sif.error) {
    const r = sif.router as Usage | null;
    const b = sif.backend as Usage | null;
    out.push(
      `- **${
        Number(sif.streams).toLocaleString("en-US")
      } streams in flight** across them (h2load \`-c ${sif.clients}\`,`,
      `  h2c to the router; the backend holds every request until that many are held at once): peak`,
      `  ${Number(sif.peakHeld).toLocaleString("en-US")} held (${sif.release}, after ${
        fmt(Number(sif.msToReachPeak))
      } ms), ${Number(sif.succeeded).toLocaleString("en-US")} answered,`,
      `  ${sif.errors} errors in ${fmt(Number(sif.seconds))} s; router RSS ${
        fmt(r?.rssStartMiB)
      } → peak ${fmt(r?.peakMiB)} MiB`,
      `  (${fmt(Number(sif.routerKiBPerStream))} KiB per stream), router CPU ${
        fmt(r?.cpuS)
      } s; backend peak ${fmt(b?.peakMiB)} MiB, CPU ${fmt(b?.cpuS)} s.`,
    );
  } else if (sif) out.push(`- Streams in flight: error: ${sif.error}`);
}

function soakSection(out: string[], soakRun: Results): void {
  const soak = soakRun.scale.soak;
  if (soak) {
    const span = (g: Growth) =>
      `${fmtMiB(g.start)} → ${fmtMiB(g.end)} MiB (${signedMiB(g.growth)})`;
    const list = (key: keyof SoakSample) => soak.series.map((x) => fmtMiB(x[key])).join(", ");
    const n = soak.samplesPerEnd;
    out.push(
      `- **Soak**: ${soak.requests.toLocaleString("en-US")} tiny GETs${
        soak.truncatedByTimeBudget
          ? ` (of ${soak.planned.toLocaleString("en-US")} planned: stopped by the time budget)`
          : ""
      } through one tunnel`,
      `  (a router and backend of their own, started with \`--inspect\`; h2load \`-c 50 -m 10\`, h2c,`,
      `  in batches), ${fmt(soak.reqPerSec)} req/s, ${soak.errors} errors; CPU over the batches`,
      `  (the forced collections left out): router ${fmt(soak.routerCpuS)} s, backend ${
        fmt(soak.backendCpuS)
      } s.`,
      `  After each batch both processes run a full collection, forced through the V8 inspector`,
      `  (bench/full_gc.ts), and RSS is read 250 ms later: the V8 heap is then what is still`,
      `  referenced, and RSS is free of the tens of MiB the old generation gathers between`,
      n === 0
        ? `  collections. One batch only: no start and end to compare.`
        : `  collections. Start: the median of the samples after batches 1-${n}; end: after the last ${n}.`,
      `  After a full collection: router RSS ${span(soak.routerRssAfterGc)}, V8 heap ${
        span(soak.routerHeap)
      };`,
      `  backend RSS ${span(soak.backendRssAfterGc)}, V8 heap ${
        span(soak.backendHeap)
      }. Right after`,
      `  each batch (before its collection): router RSS ${span(soak.routerRss)}.`,
      `  Router RSS (MiB) before the soak, then right after each batch: ${list("routerRssKiB")};`,
      `  after each batch's full collection: ${list("routerRssAfterGcKiB")} (least-squares slope ${
        fmt(soak.routerRssAfterGcSlopeKiBPer100k)
      } KiB per 100,000`,
      `  requests); V8 heap: ${list("routerHeapKiB")}.`,
    );
  }
  if (soakRun.scale.soakError) out.push(`- Soak not completed: ${soakRun.scale.soakError}`);
}

function edgeSection(out: string[], soakRun: Results): void {
  const e = soakRun.scale.edge;
  if (!e) {
    out.push("Not run.");
    return;
  }
  const c = soakRun.config.edge;
  const yes = (v: boolean, good: string, bad: string) => v ? good : `**${bad}**`;
  out.push(
    `A router started under \`ulimit -n ${e.fdLimit}\` with ${
      e.flags.length
        ? `\`${e.flags.join(" ")}\``
        : "no limit flags (its `--help` lists none of them)"
    }, and one backend. From 127.0.0.2,`,
    `${
      c.idlePublic.toLocaleString("en-US")
    } idle connections to its public port and ${c.idleTunnel} to its tunnel port (no byte sent, dialed`,
    "again a second after the router closes one), held to the end; then from 127.0.0.3 an h2c client",
    `opening streams and resetting each at once (bench/edge_flood.mjs: HEADERS, then RST_STREAM`,
    `CANCEL, written by hand) at ${c.resetRate.toLocaleString("en-US")} a second for`,
    `${c.resetSeconds} s, while wrk (\`-c50\`, 127.0.0.1) sends tiny GETs; then wrk alone for ${soakRun.config.duration} s.`,
    "",
  );
  if (e.error) out.push(`- The scenario stopped: ${e.error}`);
  const s = e.survived;
  out.push(
    `- Survived: process ${yes(s.process, "lived", "died")}; public listener ${
      yes(s.publicListener, "answered a request", "did not answer")
    }; tunnel listener ${
      yes(s.tunnelListener, "registered a new backend", "did not register one")
    }.`,
  );
  if (e.routerExit) out.push(`- The router ended: ${e.routerExit.replace(/\|/g, "/")}`);
  out.push(
    `- Router peak RSS ${fmt(e.routerPeakMiB)} MiB; open file descriptors at the end ${
      fmt(e.routerOpenFiles)
    }.`,
  );
  if (e.idle) {
    const { opened } = e.idle;
    out.push(
      `- Idle connections open once dialed: ${count(opened.public)} public, ${
        count(opened.tunnel)
      } tunnel; over the scenario ${count(e.idle.failedConnects)} attempts failed, the router`,
      `  closed ${count(e.idle.closedByPeer)}, ${count(e.idle.openAtEnd)} open at the end.`,
    );
  }
  if (e.reset) {
    const r = e.reset;
    out.push(
      `- Reset flood: ${count(r.streams)} streams opened and reset in ${fmt(r.seconds)} s (${
        fmt(r.perSec)
      } a second), ${count(r.answered)} answered all the same; ${count(r.connections)}`,
      `  connections, ${count(r.goaways)} GOAWAYs received, ${
        count(r.sessionErrors)
      } connection errors (refused or reset).`,
    );
  }
  const load = (name: string, l: typeof e.during) =>
    l
      ? `- Normal requests ${name}: ${fmt(l.reqPerSec)} req/s, p50 ${fmt(l.p50Ms)} ms, p99 ${
        fmt(l.p99Ms)
      } ms, ${count(l.requests)} answered, ${count(l.errors)} errors${
        l.error ? ` (${l.error})` : ""
      }.`
      : `- Normal requests ${name}: not run.`;
  out.push(load("during the reset flood", e.during), load("after it", e.after));
}

function cpuShareSection(out: string[], bench: Results): void {
  const m = bench.machine;
  out.push(
    `% of one core during each run (the machine has ${m.nproc} cores: ${
      Number(m.nproc) * 100
    }% at most). "others" is`,
    "the rest of the machine's busy time (/proc/stat) meanwhile: other engineers' processes and this",
    "script. Load generator CPU is sampled every 50 ms.",
    "",
    "| scenario | target | router | backend(s) | load generator | others | idle | reading |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const r of bench.rows) {
    if (r.error || (!r.router && !r.backend)) continue;
    const parts = [r.router?.cpuPct, r.backend?.cpuPct, r.generator?.cpuPct];
    const ours = parts.reduce((a: number, v) => a + (v ?? 0), 0);
    const pct = (v: number | undefined) =>
      v === undefined || Number.isNaN(v) ? "–" : `${Math.round(v)}%`;
    const names = [
      "router",
      r.target === TARGET.tunnel4 ? "backends" : "backend",
      "load generator",
    ];
    const busiest = parts.reduce(
      (best: number, v, i) => (v ?? 0) > (parts[best] ?? 0) ? i : best,
      0,
    );
    const idle = r.system?.idlePct ?? NaN;
    const reading = (parts[busiest] ?? 0) >= 90
      ? `${names[busiest]} CPU-bound`
      : idle < 15
      ? `machine saturated (${names[busiest]} busiest of ours)`
      : "no process saturated: waiting";
    out.push(
      `| ${r.scenario} | ${bench.targets[r.target] ?? r.target} | ${pct(parts[0])} | ${
        pct(parts[1])
      } | ${pct(parts[2])} | ${pct(Math.max(0, (r.system?.busyPct ?? NaN) - ours))} | ${
        pct(idle)
      } | ${reading} |`,
    );
  }
  out.push("");
}

/** How the streamed uploads' table sets each upload beside the known-length one of its target. */
function streamedColumns(rows: readonly Row[], knownScenario: string): Column[] {
  const known = (r: Row) =>
    rows.find((x) => x.scenario === knownScenario && x.target === r.target && !x.error);
  return [
    metric("MB/s", "mbPerSec"),
    metric("seconds", "seconds"),
    {
      title: "time against known length (same target)",
      value: (r) =>
        r.scenario === knownScenario
          ? undefined
          : r.metrics.seconds! / (known(r)?.metrics.seconds ?? NaN),
      suffix: () => "×",
      alone: true,
    },
    routerCpu,
    backendCpu,
    routerPeak,
  ];
}

/** What the report is made of. */
export interface ReportInput {
  /** The bench run's results, if there is one. */
  bench: Results | null;
  /** The soak run's results, if there is one. */
  soak: Results | null;
  /** The targets judged on both. */
  checks: readonly Check[];
  /** The scenario name of the known-length streamed upload. */
  streamedLength: string;
}

/**
 * The whole report.
 *
 * @example
 * ```ts
 * import { renderReport } from "./report.ts";
 * import { newResults } from "./results.ts";
 * import { benchConfig } from "./config.ts";
 * import { equal } from "node:assert/strict";
 * const bench = newResults("bench", true, benchConfig(true));
 * const text = renderReport({
 *   bench, soak: null, checks: [], streamedLength: "known",
 * });
 * equal(text.startsWith("# ptth benchmarks (quick smoke run)"), true);
 * equal(text.includes("## Request rates"), true);
 * ```
 */
export function renderReport(input: ReportInput): string {
  const { bench, soak } = input;
  const first = bench ?? soak;
  const out: string[] = [];
  const quick = first?.mode === "quick";
  out.push(`# ptth benchmarks${quick ? " (quick smoke run)" : ""}`, "");
  out.push(
    "Generated by `deno task bench` and `deno task soak` (bench/run.ts); do not edit by hand, run",
    "them again. Every figure of a target is followed by its ratios to the direct `Deno.serve`",
    "baseline and to the nginx hop of the same run, `(to direct · to nginx)`: the baseline serves",
    "the same handler (bench/handlers.ts) in its own process, and nginx proxies to that process.",
    "Router and backends run as separate processes (`deno run -A mod.ts`, bench/backend.ts).",
    "",
  );
  if (bench) {
    out.push("## Machine", "");
    machineSection(out, bench);
    out.push("");
    out.push(
      "The machine is shared: other engineers' tests may have been running at the same time",
      "(see the load average), and the load generator shares the cores with the router and the",
      "backends. Absolute figures are therefore noisy; the ratios to the same-run baselines are",
      "what count. A tunnel adds a round trip between processes (router to backend and back) to every",
      "batch of requests, which direct serving does not: where one across cores costs much more than",
      "on one core (as waking an idle virtual CPU can), the tunnel's ratios move with it.",
      "",
    );
    out.push("## Method", "");
    methodSection(out, bench);
    const rows = (section: string) => bench.rows.filter((r) => r.section === section);
    const labels = bench.targets;
    out.push(
      "## Request rates",
      "",
      table(rows("rate"), [
        metric("req/s", "reqPerSec"),
        metric("p50 ms", "p50Ms"),
        metric("p99 ms", "p99Ms"),
        metric("MB/s", "mbPerSec"),
        routerCpu,
        backendCpu,
        routerPerRequest,
        backendPerRequest,
        routerPeak,
        backendPeak,
      ], labels),
      "",
    );
    const errors = rows("rate").filter((r) => (r.metrics.errors ?? 0) > 0);
    if (errors.length) {
      out.push(
        `Errors (non-2xx or socket errors): ${
          errors.map((r) => `${r.scenario} [${r.target}]: ${r.metrics.errors}`).join("; ")
        }`,
        "",
      );
    }
    out.push(
      "h2load (mean latency, no percentiles):",
      "",
      table(rows("h2load"), [
        metric("req/s", "reqPerSec"),
        metric("mean ms", "meanMs"),
        routerCpu,
        backendCpu,
        routerPerRequest,
        backendPerRequest,
        routerPeak,
        backendPeak,
      ], labels),
      "",
    );
    out.push(
      "## Transfers",
      "",
      table(rows("transfer"), [
        metric("MB/s", "mbPerSec"),
        metric("seconds", "seconds"),
        { title: "router RSS start MiB", value: (r) => r.router?.rssStartMiB, alone: true },
        routerPeak,
        metric("router RSS growth MiB", "routerRssGrowthMiB"),
        routerCpu,
        backendCpu,
        backendPeak,
      ], labels),
      "",
    );
    const su = bench.config.streamedUpload;
    out.push(
      "## Streamed uploads",
      "",
      `bench/upload_client.ts: Deno's \`fetch\` uploads ${
        su.bytes / (1024 * 1024)
      } MiB to \`/upload\`, once with a body of known length (a`,
      "`Blob`: `content-length`), once as a `ReadableStream` body pulled in",
      `${
        su.chunk / 1024
      } KiB chunks (no length: chunked), each after a 1 MiB warm-up the same way.`,
      "",
      table(rows("streamed"), streamedColumns(rows("streamed"), input.streamedLength), labels),
      "",
    );
    const c = bench.config;
    out.push(
      "## Server-sent events",
      "",
      `${c.sse.streams} streams at once, one HTTP/1.1 connection each. Flood: each stream's`,
      `${c.sse.floodEvents} events sent as fast as the reader takes them, read by h2load (events/s`,
      "counted from the body bytes). Paced: bench/sse_client.ts (Deno `fetch`), one event per",
      `${c.sse.interval} ms on every stream: time from the request to the first event, delivery`,
      "latency of every event (stamped by the handler, read by the client; same clock), and the time",
      "to first event of a single-event stream opened alone (median of 20).",
      "",
      table(rows("sse"), [
        metric("events/s", "eventsPerSec"),
        metric("MB/s", "mbPerSec"),
        metric("first event p50 ms", "firstEventP50Ms"),
        metric("first event p99 ms", "firstEventP99Ms"),
        metric("delivery p50 ms", "deliveryP50Ms"),
        metric("delivery p99 ms", "deliveryP99Ms"),
        metric("first event alone p50 ms", "aloneFirstEventP50Ms"),
        ...USAGE_COLUMNS,
      ], labels),
      "",
    );
    out.push(
      "## WebSocket echo",
      "",
      `bench/ws_client.ts (Deno's WebSocket client) against the \`/ws\` echo route: ${c.ws.sockets}`,
      `sockets at once, each sending a 64-byte message and waiting for its echo, for ${c.ws.seconds} s`,
      `(messages/s, round-trip latency); then one socket echoing ${c.ws.bulkMiB} MiB in 64 KiB`,
      "messages with at most 4 MiB unanswered (MB/s of echoed payload). Through the router each socket",
      "is an RFC 8441 extended CONNECT stream on the tunnel; the direct target is `Deno.upgradeWebSocket`.",
      "",
      table(rows("ws"), [
        metric("messages/s", "messagesPerSec"),
        metric("RTT p50 ms", "rttP50Ms"),
        metric("RTT p99 ms", "rttP99Ms"),
        metric("bulk MB/s", "bulkMBps"),
        metric("open all ms", "openMs"),
        ...USAGE_COLUMNS,
      ], labels),
      "",
    );
  } else {
    out.push("No bench run (`deno task bench`) to report.", "");
  }

  out.push("## Scale, soak and edge (`deno task soak`)", "");
  if (soak) {
    const m = soak.machine;
    out.push(
      `A run of its own: ${soak.startedAt}, commit ${m.commit}, run time ${
        fmt(soak.durationS)
      } s (${soak.mode} mode), load average before / after ${m.loadBefore} / ${m.loadAfter}.`,
      "",
      "### Tunnel establishment",
      "",
      "From calling `serveReverse()` (a request to the router fired at the same moment, held by the",
      "router until a tunnel is up) to that request's response, against a router with no other",
      "tunnel (bench/connect.ts). Direct: a new TCP connection's first response from `Deno.serve`.",
      "",
      table(soak.rows.filter((r) => r.section === "connect"), [
        metric("connected p50 ms", "connectedP50Ms"),
        metric("first response p50 ms", "firstResponseP50Ms"),
        metric("first response p90 ms", "firstResponseP90Ms"),
      ], TARGET_LABELS),
      "",
      "### Scale",
      "",
    );
    scaleSection(out, soak);
    out.push("", "### Soak", "");
    soakSection(out, soak);
    out.push("", "### Edge (issue 16)", "");
    edgeSection(out, soak);
  } else {
    out.push("No soak run (`deno task soak`) to report.");
  }
  out.push("");

  out.push(
    "## Targets",
    "",
    "| issue | target | figure | threshold | met |",
    "| --- | --- | --- | --- | --- |",
  );
  for (const check of input.checks) {
    const met = check.met === null ? "n/a" : check.met ? "**met**" : "**not met**";
    out.push(
      `| ${check.source} | ${check.target} | ${check.figure} | ${check.threshold} | ${met} |`,
    );
  }
  out.push("");
  if (bench) {
    out.push("## CPU share per process", "");
    cpuShareSection(out, bench);
  }
  const soakNotes = (soak?.notes ?? []).filter((n) => !bench?.notes.includes(n));
  const notes = [...(bench?.notes ?? []), ...soakNotes.map((n) => `Soak run: ${n}`)];
  if (notes.length) out.push("## Notes", "", ...notes.map((n) => `- ${n}`), "");
  return out.join("\n");
}
