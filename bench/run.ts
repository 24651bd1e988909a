/**
 * The benchmark suite (`deno task bench [--quick] [--json FILE] [--md FILE]`).
 *
 * In one run it starts, each as its own process:
 *
 * - `direct`: the benchmark handler on plain `Deno.serve` (bench/direct.ts), the baseline;
 * - `tunnel1`: a router (`deno run -A mod.ts`) and one backend (bench/backend.ts);
 * - `tunnel4`: a second router and four backend processes;
 * - for the scale scenarios, a third router and one backend process holding
 *   1,000 tunnels;
 * - for the soak, a fourth router and one backend, with the V8 inspector on
 *   so that the soak can force full collections in them (bench/full_gc.ts);
 *
 * all serving the same handler (bench/handlers.ts), and drives them with
 * Debian's wrk, h2load and curl (installed with apt-get when missing). It
 * reports requests/s, p50/p99 latency, MB/s (10^6 bytes/s), and the router's
 * and backends' CPU time and peak RSS per scenario, each with its ratio to
 * the direct baseline of the same run; checks the targets; prints Markdown
 * tables, writes them with the machine's description to BENCHMARKS.md (full
 * runs only, or `--md FILE`) and everything as JSON to bench/results.json
 * (`--quick`: bench/results-quick.json, or `--json FILE`).
 *
 * `--quick` is a smoke run: shorter runs, 64 MiB transfers, 100 tunnels,
 * 1,000 streams, 50,000 soak requests. `--deadline SECONDS` changes the global
 * deadline (290 s; 170 s with `--quick`).
 *
 * Every child process is stopped at the end, on failure, on SIGINT/SIGTERM,
 * and when the global deadline (under 5 minutes) passes.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { collectGarbage, inspectorUrl } from "./full_gc.ts";

// ---------------------------------------------------------------- settings

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "string" },
    md: { type: "string" },
    deadline: { type: "string" },
  },
});
const QUICK = flags.quick === true;
const ROOT = new URL("..", import.meta.url).pathname;
const BENCH = new URL(".", import.meta.url).pathname;
const JSON_PATH = flags.json ?? `${BENCH}${QUICK ? "results-quick.json" : "results.json"}`;
const MD_PATH = flags.md ?? (QUICK ? null : `${ROOT}BENCHMARKS.md`);

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const CONFIG = QUICK
  ? {
    duration: 2,
    warmup: 1,
    connections: [1, 50, 256],
    postConnections: 50,
    h2load: { clients: 50, streams: 10 },
    transferBytes: 64 * MiB,
    sse: { streams: 100, floodEvents: 200, pacedEvents: 50, interval: 10 },
    ws: { sockets: 100, seconds: 2, bulkMiB: 64 },
    connectRuns: 5,
    pingPongRounds: 2_000,
    tunnels: 100,
    idleWatch: { seconds: 8, settledSamples: 3 },
    streams: 1_000,
    streamClients: 10,
    soakRequests: 50_000,
    soakBatches: 5,
    soakBudgetMs: 40_000,
    deadlineMs: 170_000,
  }
  : {
    duration: 5,
    warmup: 1,
    connections: [1, 50, 256],
    postConnections: 50,
    h2load: { clients: 50, streams: 10 },
    transferBytes: GiB,
    sse: { streams: 100, floodEvents: 1000, pacedEvents: 100, interval: 10 },
    ws: { sockets: 100, seconds: 5, bulkMiB: 256 },
    connectRuns: 20,
    pingPongRounds: 10_000,
    tunnels: 1000,
    idleWatch: { seconds: 50, settledSamples: 10 },
    streams: 10_000,
    streamClients: 100,
    soakRequests: 1_000_000,
    soakBatches: 10,
    soakBudgetMs: 175_000,
    deadlineMs: 290_000,
  };

if (flags.deadline !== undefined) CONFIG.deadlineMs = Number(flags.deadline) * 1000;

/** The targets of the issue (checked in the benchmark, never as timed tests). */
const GO_ORIGINAL_RPS = 15_700;
const TARGETS = {
  tinyRps: 2.5 * GO_ORIGINAL_RPS,
  tinyShareOfDirect: 0.3,
  p99Ms: 2,
  transferMBps: 1500,
  transferRssGrowthMiB: 64,
  idleTunnelKiB: 32,
};

const T0 = performance.now();
const elapsedMs = () => performance.now() - T0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function log(line: string): void {
  console.error(`[${(elapsedMs() / 1000).toFixed(1).padStart(5)} s] ${line}`);
}

// ---------------------------------------------------------------- processes

const live = new Set<Proc>();
/** Set when the run is being stopped: no process may start any more. */
let aborting = false;

/** A child process whose output is read line by line, so it never blocks on a full pipe. */
class Proc {
  readonly name: string;
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly status: Promise<Deno.CommandStatus>;
  readonly done: Promise<void>;
  exited = false;
  #waiters = new Set<() => void>();

  constructor(name: string, command: string, args: string[]) {
    if (aborting) throw new Error(`Not starting ${name}: the run is being stopped`);
    this.name = name;
    this.child = new Deno.Command(command, {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).spawn();
    this.pid = this.child.pid;
    live.add(this);
    const out = this.#pump(this.child.stdout, this.stdout);
    const err = this.#pump(this.child.stderr, this.stderr);
    this.status = this.child.status.then((status) => {
      this.exited = true;
      live.delete(this);
      this.#notify();
      return status;
    });
    this.done = Promise.all([this.status, out, err]).then(() => {});
  }

  async #pump(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
    let rest = "";
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        rest += text;
        const parts = rest.split("\n");
        rest = parts.pop()!;
        lines.push(...parts);
        if (lines.length > 20_000) lines.splice(0, lines.length - 10_000);
        this.#notify();
      }
    } catch {
      // The process was killed.
    }
    if (rest !== "") lines.push(rest);
    this.#notify();
  }

  #notify(): void {
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /** Resolves with the first line of `which` (from index `from`) that `test` accepts. */
  async waitLine(
    which: "stdout" | "stderr",
    test: (line: string) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    let i = from;
    while (true) {
      const lines = this[which];
      for (; i < lines.length; i++) if (test(lines[i]!)) return lines[i]!;
      if (this.exited) {
        await this.done;
        const again = this[which].slice(i).find(test);
        if (again !== undefined) return again;
        throw new Error(`${this.name} exited: ${this.tail()}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${this.name}: timed out waiting for output; ${this.tail()}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.add(resolve);
        timer = setTimeout(resolve, Math.min(left, 1000));
      });
      clearTimeout(timer);
    }
  }

  /** Waits for a JSON line on stdout with `event` equal to `name`. */
  async waitEvent(name: string, timeoutMs: number, from = 0): Promise<Record<string, unknown>> {
    const line = await this.waitLine(
      "stdout",
      (l) => {
        try {
          return JSON.parse(l).event === name;
        } catch {
          return false;
        }
      },
      timeoutMs,
      from,
    );
    return JSON.parse(line);
  }

  tail(n = 5): string {
    return [...this.stderr.slice(-n), ...this.stdout.slice(-n)].join(" | ") || "(no output)";
  }

  kill(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    await this.status;
    clearTimeout(timer);
  }
}

function deno(name: string, ...args: string[]): Proc {
  return new Proc(name, Deno.execPath(), ["run", "-A", ...args]);
}

async function stopAll(graceMs = 1500): Promise<void> {
  await Promise.all([...live].map((proc) => proc.stop(graceMs)));
}

function killAllNow(): void {
  for (const proc of live) proc.kill("SIGKILL");
}

/** Runs a tool to completion (killed after `timeoutMs`), sampling its CPU time while it runs. */
async function runTool(
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string; cpuS: number; wallS: number }> {
  const start = performance.now();
  const proc = new Proc(command, command, args);
  sampler.watch(proc.pid);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const status = await proc.status;
  clearTimeout(timer);
  await proc.done;
  const cpuS = sampler.forget(proc.pid);
  return {
    code: status.code,
    stdout: proc.stdout.join("\n"),
    stderr: proc.stderr.join("\n"),
    cpuS,
    wallS: (performance.now() - start) / 1000,
  };
}

// ---------------------------------------------------------------- /proc

let CLK_TCK = 100;

/** CPU time (utime + stime) in clock ticks, or -1 when the process is gone. */
function cpuTicks(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return -1;
  }
}

/** VmRSS and VmHWM in KiB (0 when the process is gone). */
function memory(pid: number): { rss: number; hwm: number } {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return {
      rss: Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1] ?? 0),
      hwm: Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? 0),
    };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

let peakResetWorks = true;

/** Resets the peak RSS (VmHWM) to the current RSS (Linux ≥ 4.0, `clear_refs` 5). */
function resetPeak(pid: number): void {
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
  } catch {
    peakResetWorks = false;
  }
}

/** Samples RSS and CPU of watched processes every 50 ms (peak fallback, tools' CPU). */
class Sampler {
  #watched = new Map<number, { maxRss: number; ticks: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  watch(pid: number): void {
    this.#watched.set(pid, { maxRss: memory(pid).rss, ticks: Math.max(0, cpuTicks(pid)) });
    this.#timer ??= setInterval(() => this.#sample(), 50);
  }

  #sample(): void {
    for (const [pid, entry] of this.#watched) {
      const ticks = cpuTicks(pid);
      if (ticks >= 0) entry.ticks = ticks;
      entry.maxRss = Math.max(entry.maxRss, memory(pid).rss);
    }
  }

  /** Stops watching; returns the last CPU time seen (s). */
  forget(pid: number): number {
    const entry = this.#watched.get(pid);
    this.#watched.delete(pid);
    if (this.#watched.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    return (entry?.ticks ?? 0) / CLK_TCK;
  }

  maxRss(pid: number): number {
    this.#sample();
    return this.#watched.get(pid)?.maxRss ?? 0;
  }
}
const sampler = new Sampler();

/** CPU and memory of one process (or a group, summed) during one scenario. */
interface Usage {
  /** CPU seconds (user + system). */
  cpuS: number;
  /** CPU seconds over wall seconds, in % of one core. */
  cpuPct: number;
  /** RSS at the start and end, and the peak during the scenario (MiB). */
  rssStartMiB: number;
  rssEndMiB: number;
  peakMiB: number;
}

/** The machine's busy and idle CPU time so far (all cores), in clock ticks, from /proc/stat. */
function systemTicks(): { busy: number; idle: number } {
  try {
    const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/)
      .slice(1).map(Number) as number[];
    return {
      busy: user! + nice! + system! + irq! + softirq! + (steal ?? 0),
      idle: idle! + iowait!,
    };
  } catch {
    return { busy: NaN, idle: NaN };
  }
}

/** The whole machine during a scenario, in % of one core (so up to nproc × 100). */
interface SystemUsage {
  busyPct: number;
  idlePct: number;
}

/** Runs `fn`, measuring the CPU time and RSS of `procs` (summed) and the machine's CPU meanwhile. */
async function measure<T>(
  procs: Proc[],
  fn: () => Promise<T>,
): Promise<{ value: T; wallS: number; usage: Usage | null; system: SystemUsage }> {
  const system0 = systemTicks();
  const before = procs.map((p) => {
    resetPeak(p.pid);
    sampler.watch(p.pid);
    return { ticks: cpuTicks(p.pid), rss: memory(p.pid).rss };
  });
  const start = performance.now();
  try {
    const value = await fn();
    const wallS = (performance.now() - start) / 1000;
    const system1 = systemTicks();
    const system = {
      busyPct: (100 * (system1.busy - system0.busy)) / CLK_TCK / wallS,
      idlePct: (100 * (system1.idle - system0.idle)) / CLK_TCK / wallS,
    };
    if (procs.length === 0) return { value, wallS, usage: null, system };
    const usage: Usage = { cpuS: 0, cpuPct: 0, rssStartMiB: 0, rssEndMiB: 0, peakMiB: 0 };
    procs.forEach((p, i) => {
      const m = memory(p.pid);
      const sampled = sampler.maxRss(p.pid);
      usage.cpuS += (cpuTicks(p.pid) - before[i]!.ticks) / CLK_TCK;
      usage.rssStartMiB += before[i]!.rss / 1024;
      usage.rssEndMiB += m.rss / 1024;
      usage.peakMiB += Math.max(peakResetWorks ? m.hwm : 0, sampled, m.rss) / 1024;
    });
    usage.cpuPct = (100 * usage.cpuS) / wallS;
    return { value, wallS, usage, system };
  } finally {
    for (const p of procs) sampler.forget(p.pid);
  }
}

/**
 * {@link measure} of `fn` nested twice: the router's processes outside, the
 * backends' inside, so each side gets its own usage.
 */
async function measureRouterAndBackends<T>(
  router: Proc[],
  backends: Proc[],
  fn: () => Promise<T>,
): Promise<
  { value: T; wallS: number; usage: Usage | null; backendUsage: Usage | null; system: SystemUsage }
> {
  let backendUsage: Usage | null = null;
  const outer = await measure(router, async () => {
    const inner = await measure(backends, fn);
    backendUsage = inner.usage;
    return inner.value;
  });
  return { ...outer, backendUsage };
}

// ---------------------------------------------------------------- tools

async function sh(command: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", command], stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

async function ensureTools(): Promise<void> {
  const missing: string[] = [];
  for (const [tool, pkg] of [["wrk", "wrk"], ["h2load", "nghttp2-client"], ["curl", "curl"]]) {
    if ((await sh(`command -v ${tool}`)) === "") missing.push(pkg!);
  }
  if (missing.length === 0) return;
  if (Deno.uid() !== 0) {
    throw new Error(`Missing ${missing.join(", ")}: run apt-get install -y ${missing.join(" ")}`);
  }
  log(`installing ${missing.join(", ")} with apt-get`);
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", ...missing]]) {
    const out = await new Deno.Command("apt-get", {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`apt-get ${args.join(" ")} failed`);
  }
}

/** Converts `123.4us`, `1.2ms`, `3s`, `1m` to ms. */
function toMs(text: string): number {
  const m = text.match(/^([\d.]+)(us|ms|s|m|h)$/);
  if (!m) return NaN;
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "us"];
  return Number(m[1]) * scale;
}

/** Converts wrk's `12.34MB` (powers of 1024) to bytes. */
function toBytes(text: string): number {
  const m = text.match(/^([\d.]+)([KMGT]?B)$/);
  if (!m) return NaN;
  const scale = { B: 1, KB: 1024, MB: MiB, GB: GiB, TB: 1024 * GiB }[m[2] as "B"];
  return Number(m[1]) * scale;
}

interface LoadResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  mbPerSec: number;
  requests: number;
  errors: number;
  generatorCpuS: number;
  generatorCpuPct: number;
}

async function wrk(url: string, connections: number, seconds: number, script?: string) {
  const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", "--timeout", "5s"];
  if (script) args.push("-s", script);
  const run = await runTool("wrk", [...args, url], (seconds + 30) * 1000);
  const out = run.stdout;
  if (run.code !== 0) throw new Error(`wrk failed (${run.code}): ${run.stderr || out}`);
  const done = out.match(/(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/);
  if (!done) throw new Error(`Cannot parse wrk output: ${out}`);
  const requests = Number(done[1]);
  const duration = toMs(done[2]!) / 1000;
  const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const socket = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  const result: LoadResult = {
    reqPerSec: Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1]),
    p50Ms: toMs(out.match(/^\s+50%\s+(\S+)/m)?.[1] ?? ""),
    p99Ms: toMs(out.match(/^\s+99%\s+(\S+)/m)?.[1] ?? ""),
    meanMs: toMs(out.match(/Latency\s+(\S+)/)?.[1] ?? ""),
    mbPerSec: toBytes(done[3]!) / duration / 1e6,
    requests,
    errors: non2xx + socketErrors,
    generatorCpuS: run.cpuS,
    generatorCpuPct: (100 * run.cpuS) / run.wallS,
  };
  return result;
}

async function h2load(
  url: string,
  options: { clients: number; streams: number; seconds?: number; requests?: number },
  timeoutMs: number,
) {
  const args = ["-t1", "-c", String(options.clients), "-m", String(options.streams)];
  if (options.seconds !== undefined) args.push("-D", String(options.seconds));
  else args.push("-n", String(options.requests));
  const run = await runTool("h2load", [...args, url], timeoutMs);
  const out = run.stdout;
  const finished = out.match(/finished in ([\d.]+\w+), ([\d.]+) req\/s/);
  if (run.code !== 0 || !finished) {
    throw new Error(`h2load failed (${run.code}): ${run.stderr || out}`);
  }
  const counts = out.match(/requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded/);
  const traffic = Number(out.match(/traffic: \S+ \((\d+)\) total/)?.[1] ?? 0);
  const perRequest = out.match(/time for request:\s+(\S+)\s+(\S+)\s+(\S+)/);
  const seconds = toMs(finished[1]!) / 1000;
  const total = Number(counts?.[1] ?? 0);
  const succeeded = Number(counts?.[3] ?? 0);
  const result: LoadResult & { seconds: number; maxMs: number } = {
    reqPerSec: Number(finished[2]),
    p50Ms: NaN,
    p99Ms: NaN,
    meanMs: toMs(perRequest?.[3] ?? ""),
    maxMs: toMs(perRequest?.[2] ?? ""),
    mbPerSec: traffic / seconds / 1e6,
    requests: succeeded,
    errors: total - succeeded,
    seconds,
    generatorCpuS: run.cpuS,
    generatorCpuPct: (100 * run.cpuS) / run.wallS,
  };
  return result;
}

/** Runs h2load with these arguments as they are; returns its output and CPU time. */
async function h2loadRaw(args: string[], timeoutMs: number) {
  const run = await runTool("h2load", args, timeoutMs);
  if (run.code !== 0 || !/finished in/.test(run.stdout)) {
    throw new Error(`h2load failed (${run.code}): ${run.stderr || run.stdout}`);
  }
  return run;
}

async function curl(args: string[], timeoutMs: number) {
  const format =
    "\n%{http_code} %{size_download} %{size_upload} %{time_total} %{time_starttransfer}";
  const run = await runTool("curl", ["-sS", "-w", format, ...args], timeoutMs);
  if (run.code !== 0) throw new Error(`curl failed (${run.code}): ${run.stderr}`);
  const lines = run.stdout.trim().split("\n");
  const [status, down, up, total, ttfb] = lines.pop()!.split(" ").map(Number);
  return {
    status: status!,
    download: down!,
    upload: up!,
    seconds: total!,
    ttfbMs: ttfb! * 1000,
    body: lines.join("\n"),
    cpuS: run.cpuS,
    cpuPct: (100 * run.cpuS) / run.wallS,
  };
}

// ---------------------------------------------------------------- targets under test

type TargetKey = "direct" | "tunnel1" | "tunnel4";
const TARGET_LABEL: Record<TargetKey, string> = {
  direct: "direct Deno.serve",
  tunnel1: "router + 1 backend",
  tunnel4: "router + 4 backends",
};

interface Target {
  key: TargetKey;
  port: number;
  /** The router process (none for direct). */
  router: Proc | null;
  /** The backend processes (for direct, the Deno.serve process). */
  backends: Proc[];
}

/** Flags every router gets besides the ports (see {@linkcode routerFlags}). */
const ROUTER_FLAGS: string[] = [];

/**
 * Routers that have an admin listener (default port 8889) get it on a free port instead, so
 * that several routers can run at once; it stays on, as in the default configuration. Routers
 * that log a line per request at the default level log warnings only.
 */
async function routerFlags(): Promise<void> {
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "mod.ts", "--help"],
    cwd: ROOT,
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(help.stdout);
  if (text.includes("--admin-port")) {
    ROUTER_FLAGS.push("--admin-port", "0");
    results.notes.push(
      "The routers run with `--admin-port 0`: their admin listener (on by default) on a free port.",
    );
  }
  if (text.includes("--log-level")) {
    ROUTER_FLAGS.push("--log-level", "warn");
    results.notes.push(
      "The routers run with `--log-level warn`: the default `info` writes a line per request to " +
        "stderr (here a pipe to this script), which would be measured along with the proxying.",
    );
  }
}

async function startRouter(name: string, extra: string[] = [], denoFlags: string[] = []) {
  const proc = deno(
    name,
    ...denoFlags,
    "mod.ts",
    "--hostname",
    "127.0.0.1",
    "--port",
    "0",
    "--tunnel-port",
    "0",
    ...ROUTER_FLAGS,
    ...extra,
  );
  let http: string, tunnel: string;
  try {
    http = await proc.waitLine("stderr", (l) => /HTTP traffic on \S+:\d+/.test(l), 30_000);
    tunnel = await proc.waitLine("stderr", (l) => /reverse tunnels on \S+:\d+/.test(l), 5_000);
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return {
    proc,
    port: Number(http.match(/:(\d+)\s*$/)![1]),
    tunnelPort: Number(tunnel.match(/:(\d+)\s*$/)![1]),
  };
}

async function startBackend(
  name: string,
  tunnelPort: number,
  extra: string[] = [],
  denoFlags: string[] = [],
) {
  const proc = deno(
    name,
    ...denoFlags,
    "bench/backend.ts",
    "--router",
    `127.0.0.1:${tunnelPort}`,
    ...extra,
  );
  try {
    return { proc, ready: await proc.waitEvent("ready", 120_000) };
  } catch (error) {
    await proc.stop();
    throw error;
  }
}

async function startDirect(): Promise<Target> {
  const proc = deno("direct", "bench/direct.ts");
  const event = await proc.waitEvent("listening", 30_000);
  return { key: "direct", port: Number(event.port), router: null, backends: [proc] };
}

async function startTunnel(key: "tunnel1" | "tunnel4", backends: number): Promise<Target> {
  const router = await startRouter(`router-${key}`);
  const procs = await Promise.all(
    Array.from(
      { length: backends },
      (_, i) => startBackend(`backend-${key}-${i + 1}`, router.tunnelPort),
    ),
  );
  return { key, port: router.port, router: router.proc, backends: procs.map((b) => b.proc) };
}

// ---------------------------------------------------------------- results

interface Row {
  section: string;
  scenario: string;
  target: TargetKey | string;
  metrics: Record<string, number>;
  router: Usage | null;
  backend: Usage | null;
  generator: { cpuS: number; cpuPct: number } | null;
  /** The whole machine meanwhile (other engineers' processes included). */
  system?: SystemUsage;
  wallS: number;
  error?: string;
}

interface Check {
  target: string;
  figure: string;
  threshold: string;
  met: boolean | null;
}

const results = {
  mode: QUICK ? "quick" : "full",
  startedAt: new Date().toISOString(),
  durationS: 0,
  complete: false,
  machine: {} as Record<string, string | number>,
  config: CONFIG,
  notes: [] as string[],
  rows: [] as Row[],
  scale: {} as Record<string, unknown>,
  checks: [] as Check[],
};

function addRow(row: Row): Row {
  results.rows.push(row);
  const m = Object.entries(row.metrics).map(([k, v]) => `${k}=${fmt(v)}`).join(" ");
  log(`${row.scenario} [${row.target}] ${row.error ? `ERROR ${row.error}` : m}`);
  return row;
}

function fmt(v: number | undefined | null): string {
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString("en-US");
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

// ---------------------------------------------------------------- scenarios

type Generator = { cpuS: number; cpuPct: number };

/**
 * Runs one scenario against one target while measuring the router's and the
 * backends' CPU and memory, and adds its row; a failure adds a failed row.
 * `report` turns what `run` returned into the row's metrics (it may throw
 * when the run did not do what it should).
 */
async function measureRow<T>(
  section: string,
  scenario: string,
  target: Target,
  run: () => Promise<T>,
  report: (
    value: T,
    router: Usage | null,
  ) => { metrics: Record<string, number>; generator: Generator },
): Promise<void> {
  try {
    const outer = await measureRouterAndBackends(
      target.router ? [target.router] : [],
      target.backends,
      run,
    );
    const { metrics, generator } = report(outer.value, outer.usage);
    addRow({
      section,
      scenario,
      target: target.key,
      metrics,
      router: outer.usage,
      backend: outer.backendUsage,
      generator,
      system: outer.system,
      wallS: outer.wallS,
    });
  } catch (error) {
    addRow(failed(section, scenario, target.key, error));
  }
}

/** Runs a Deno client script of bench/; its last stdout line is its JSON result. */
async function runDenoClient<T>(
  script: string,
  args: string[],
  timeoutMs: number,
): Promise<{ result: T; generator: Generator }> {
  const run = await runTool(Deno.execPath(), ["run", "-A", script, ...args], timeoutMs);
  if (run.code !== 0) throw new Error(`${script} failed: ${run.stderr}`);
  return {
    result: JSON.parse(run.stdout.trim().split("\n").pop()!) as T,
    generator: { cpuS: run.cpuS, cpuPct: (100 * run.cpuS) / run.wallS },
  };
}

async function rateScenario(
  section: string,
  scenario: string,
  targets: Target[],
  load: (target: Target) => Promise<LoadResult>,
): Promise<void> {
  for (const target of targets) {
    await measureRow(section, scenario, target, () => load(target), (r) => ({
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
    }));
  }
}

function failed(section: string, scenario: string, target: string, error: unknown): Row {
  return {
    section,
    scenario,
    target,
    metrics: {},
    router: null,
    backend: null,
    generator: null,
    wallS: 0,
    error: String((error as Error)?.message ?? error).slice(0, 300),
  };
}

async function transferScenario(
  kind: "download" | "upload",
  targets: Target[],
  uploadFile: string,
): Promise<void> {
  const bytes = CONFIG.transferBytes;
  const scenario = `${bytes / MiB >= 1024 ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`} ${kind}`;
  for (const target of targets) {
    const base = `http://127.0.0.1:${target.port}`;
    try {
      // Warm up (JIT, buffers) with 32 MiB the same way, unmeasured; and bring the upload file
      // back into the page cache, which this machine reclaims after a while (DAMON).
      await sh(`cat '${uploadFile}' > /dev/null`);
      if (kind === "download") {
        await curl(["-o", "/dev/null", `${base}/download?bytes=${32 * MiB}`], 60_000);
      } else {
        await curl(["-T", `${uploadFile}.warm`, "-H", "Expect:", `${base}/upload`], 60_000);
      }
    } catch (error) {
      addRow(failed("transfer", scenario, target.key, error));
      continue;
    }
    await measureRow("transfer", scenario, target, () => {
      if (kind === "download") {
        return curl(["-o", "/dev/null", `${base}/download?bytes=${bytes}`], 120_000);
      }
      return curl([
        "-T",
        uploadFile,
        "-H",
        "Expect:",
        "-H",
        "content-type: application/octet-stream",
        `${base}/upload`,
      ], 120_000);
    }, (r, router) => {
      const moved = kind === "download" ? r.download : Number(JSON.parse(r.body).bytes);
      if (r.status !== 200 || moved !== bytes) {
        throw new Error(`status ${r.status}, ${moved} of ${bytes} bytes`);
      }
      return {
        metrics: {
          mbPerSec: bytes / r.seconds / 1e6,
          seconds: r.seconds,
          ttfbMs: r.ttfbMs,
          routerRssGrowthMiB: router ? router.peakMiB - router.rssStartMiB : NaN,
        },
        generator: { cpuS: r.cpuS, cpuPct: r.cpuPct },
      };
    });
  }
}

function percentile(values: number[], p: number): number {
  const sorted = values.filter((v) => v >= 0).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function sseScenario(targets: Target[]): Promise<void> {
  const { streams, floodEvents, pacedEvents, interval } = CONFIG.sse;
  // Flood: every stream's events as fast as the reader takes them; h2load (C, HTTP/1.1, one
  // connection per stream) reads them, so the client is not what limits the rate.
  const flood = `SSE flood: ${streams} streams × ${floodEvents} events (h2load --h1)`;
  const eventBytes = (i: number) => `id: ${i}\ndata: `.length + 17 + 2; // a 17-character stamp
  let expectedBytes = 0;
  for (let i = 0; i < floodEvents; i++) expectedBytes += eventBytes(i);
  for (const target of targets) {
    await measureRow("sse", flood, target, () =>
      h2loadRaw([
        "--h1",
        "-c",
        String(streams),
        "-n",
        String(streams),
        `http://127.0.0.1:${target.port}/sse?events=${floodEvents}`,
      ], 60_000), (r) => {
      const data = Number(r.stdout.match(/\((\d+)\) data/)?.[1] ?? 0);
      const seconds = toMs(r.stdout.match(/finished in (\S+),/)?.[1] ?? "") / 1000;
      const succeeded = Number(r.stdout.match(/(\d+) succeeded/)?.[1] ?? 0);
      // Stamps are 13 digits, a dot and 3 decimals: count events from the body bytes.
      const events = Math.round((data / (streams * expectedBytes)) * streams * floodEvents);
      return {
        metrics: {
          eventsPerSec: events / seconds,
          mbPerSec: data / seconds / 1e6,
          seconds,
          errors: streams - succeeded,
        },
        generator: { cpuS: r.cpuS, cpuPct: (100 * r.cpuS) / r.wallS },
      };
    });
  }

  // Paced: events every `interval` ms, as SSE is used; the latency of each event.
  const paced = `SSE paced: ${streams} streams × ${pacedEvents} events, one per ${interval} ms`;
  for (const target of targets) {
    await measureRow(
      "sse",
      paced,
      target,
      () =>
        runDenoClient<{
          received: number;
          failed: number;
          wallMs: number;
          firstEventMs: number[];
          deliveryMs: number[];
          aloneFirstEventMs: number[];
        }>("bench/sse_client.ts", [
          `http://127.0.0.1:${target.port}/sse`,
          String(streams),
          String(pacedEvents),
          String(interval),
        ], 60_000),
      ({ result: r, generator }) => ({
        metrics: {
          eventsPerSec: r.received / (r.wallMs / 1000),
          firstEventP50Ms: percentile(r.firstEventMs, 50),
          firstEventP99Ms: percentile(r.firstEventMs, 99),
          deliveryP50Ms: percentile(r.deliveryMs, 50),
          deliveryP99Ms: percentile(r.deliveryMs, 99),
          aloneFirstEventP50Ms: percentile(r.aloneFirstEventMs, 50),
          errors: r.failed,
        },
        generator,
      }),
    );
  }
}

/** WebSocket echo (the `/ws` route) with Deno's client: ping-pong on many sockets, then bulk. */
async function wsScenario(targets: Target[]): Promise<void> {
  const { sockets, seconds, bulkMiB } = CONFIG.ws;
  const scenario =
    `WebSocket echo: ${sockets} sockets ping-pong ${seconds} s, then ${bulkMiB} MiB bulk`;
  for (const target of targets) {
    await measureRow(
      "ws",
      scenario,
      target,
      () =>
        runDenoClient<{
          messagesPerSec: number;
          rttP50Ms: number;
          rttP99Ms: number;
          bulkMBps: number;
          openMs: number;
          failed: number;
        }>("bench/ws_client.ts", [
          `ws://127.0.0.1:${target.port}/ws`,
          String(sockets),
          String(seconds),
          String(bulkMiB),
        ], (seconds + 60) * 1000),
      ({ result: r, generator }) => ({
        metrics: {
          messagesPerSec: r.messagesPerSec,
          rttP50Ms: r.rttP50Ms,
          rttP99Ms: r.rttP99Ms,
          bulkMBps: r.bulkMBps,
          openMs: r.openMs,
          errors: r.failed,
        },
        generator,
      }),
    );
  }
}

async function connectScenario(routerPort: number, tunnelPort: number, directPort: number) {
  const scenario = `time to first response (median of ${CONFIG.connectRuns})`;
  try {
    const run = await runTool(Deno.execPath(), [
      "run",
      "-A",
      "bench/connect.ts",
      String(tunnelPort),
      String(routerPort),
      String(directPort),
      String(CONFIG.connectRuns),
    ], 60_000);
    if (run.code !== 0) throw new Error(`connect client failed: ${run.stderr}`);
    const r = JSON.parse(run.stdout.trim().split("\n").pop()!) as {
      connected: number[];
      firstResponse: number[];
      direct: number[];
    };
    results.scale.establishment = r;
    addRow({
      section: "connect",
      scenario,
      target: "direct",
      metrics: {
        firstResponseP50Ms: percentile(r.direct, 50),
        firstResponseP90Ms: percentile(r.direct, 90),
      },
      router: null,
      backend: null,
      generator: null,
      wallS: 0,
    });
    addRow({
      section: "connect",
      scenario,
      target: "tunnel1",
      metrics: {
        connectedP50Ms: percentile(r.connected, 50),
        firstResponseP50Ms: percentile(r.firstResponse, 50),
        firstResponseP90Ms: percentile(r.firstResponse, 90),
      },
      router: null,
      backend: null,
      generator: null,
      wallS: 0,
    });
  } catch (error) {
    addRow(failed("connect", scenario, "tunnel1", error));
  }
}

// ---------------------------------------------------------------- scale

async function scaleScenarios(direct: Target): Promise<void> {
  const scale = results.scale;
  const router = await startRouter("router-scale", ["--max-tunnels-per-service", "1000000"]);
  await connectScenario(router.port, router.tunnelPort, direct.port);

  // Idle tunnels: the router's RSS before and after N tunnels connect.
  await sleep(500);
  const rssBefore = memory(router.proc.pid).rss;
  const n = CONFIG.tunnels;
  const started = performance.now();
  const backend = await startBackend("backend-scale", router.tunnelPort, [
    "--tunnels",
    String(n),
    "--hold",
    String(CONFIG.streams),
  ]);
  const connectMs = performance.now() - started;
  await sleep(1500); // Let both settle (SETTINGS exchanged, buffers allocated).
  const rssAfter = memory(router.proc.pid).rss;
  const backendRss = memory(backend.proc.pid).rss;
  // Right after the burst V8's young generation is still sized for it: it grows with the
  // bytes that survive its collections, here every new tunnel's state, and V8's memory
  // reducer gives the room back only after some 30 s of little allocation. The idle
  // figure is the router's RSS once that has happened: the median of the last samples.
  const watch = CONFIG.idleWatch;
  const samples = [rssAfter];
  while (samples.length < watch.seconds - 1) {
    await sleep(1000);
    samples.push(memory(router.proc.pid).rss);
  }
  const rssSettled = median(samples.slice(-watch.settledSamples));
  scale.idleTunnels = {
    tunnels: n,
    routerRssBeforeKiB: rssBefore,
    routerRssAfterKiB: rssAfter,
    routerKiBPerTunnelAtConnect: (rssAfter - rssBefore) / n,
    routerRssSettledKiB: rssSettled,
    routerRssPeakKiB: Math.max(...samples),
    routerKiBPerTunnel: (rssSettled - rssBefore) / n,
    watchS: watch.seconds,
    settledSamples: watch.settledSamples,
    routerRssSamplesKiB: samples,
    backendRssKiB: backendRss,
    backendKiBPerTunnel: backendRss / n,
    connectAllMs: connectMs,
    backendReadyMs: Number(backend.ready.ms),
  };
  log(
    `idle tunnels: ${n}, router ${fmt((rssSettled - rssBefore) / n)} KiB per tunnel settled, ${
      fmt((rssAfter - rssBefore) / n)
    } right after connecting`,
  );

  // Streams in flight: /hold answers only once CONFIG.streams requests are held at once.
  try {
    const streams = CONFIG.streams;
    const clients = CONFIG.streamClients;
    const from = backend.proc.stdout.length;
    const outer = await measureRouterAndBackends([router.proc], [backend.proc], () =>
      h2load(
        `http://127.0.0.1:${router.port}/hold`,
        { clients, streams: Math.ceil(streams / clients), requests: streams },
        60_000,
      ));
    const released = await backend.proc.waitEvent("released", 5000, from);
    scale.streamsInFlight = {
      streams,
      clients,
      peakHeld: released.peak,
      release: released.reason,
      msToReachPeak: released.ms,
      succeeded: outer.value.requests,
      errors: outer.value.errors,
      seconds: outer.value.seconds,
      router: outer.usage,
      backend: outer.backendUsage,
      routerKiBPerStream: outer.usage
        ? ((outer.usage.peakMiB - outer.usage.rssStartMiB) * 1024) / streams
        : NaN,
    };
    log(`streams in flight: peak ${released.peak} of ${streams} (${released.reason})`);
  } catch (error) {
    scale.streamsInFlight = { error: String((error as Error)?.message ?? error) };
    log(`streams in flight failed: ${error}`);
  }
  await backend.proc.stop();
  await router.proc.stop();
}

/** One sample of the soak: RSS right after a batch, then heap and RSS after a full collection. */
interface SoakSample {
  requests: number;
  /** RSS right after the batch: where the sawtooth of collections happens to be. */
  routerRssKiB: number;
  backendRssKiB: number;
  /** After a forced full collection: what is still referenced. */
  routerRssAfterGcKiB: number;
  backendRssAfterGcKiB: number;
  routerHeapKiB: number;
  backendHeapKiB: number;
}

/** What the soak found: `results.scale.soak`. */
interface SoakResult {
  planned: number;
  requests: number;
  errors: number;
  truncatedByTimeBudget: boolean;
  reqPerSec: number;
  routerCpuS: number;
  backendCpuS: number;
  /** Samples at each end (medians of); 0 when one batch ran: reported, not judged. */
  samplesPerEnd: number;
  series: SoakSample[];
  routerRssAfterGcSlopeKiBPer100k: number;
  routerRssAfterGc: Growth;
  routerHeap: Growth;
  routerRss: Growth;
  backendRssAfterGc: Growth;
  backendHeap: Growth;
  backendRss: Growth;
}

/**
 * The soak: tiny GETs in batches through a router and a backend of its own, both started with
 * the V8 inspector on, so that after each batch both can be made to run a full collection
 * (bench/full_gc.ts). RSS under load swings by tens of MiB with the old generation between full
 * collections; after one, what remains is what is still referenced, where a leak shows. Both
 * figures are kept.
 */
async function soakScenario(): Promise<void> {
  // Two batches at least, or no growth can be seen: skip rather than run into the deadline.
  if (soakTimeLeft() < 20_000) {
    results.scale.soakError = "no time left before the global deadline";
    log(`soak skipped: ${results.scale.soakError}`);
    return;
  }
  const inspect = ["--inspect=127.0.0.1:0"];
  let router: Proc | undefined;
  let backend: Proc | undefined;
  try {
    const started = await startRouter("router-soak", [], inspect);
    router = started.proc;
    backend = (await startBackend("backend-soak", started.tunnelPort, [], inspect)).proc;
    await soak(started.port, router, backend);
  } catch (error) {
    results.scale.soakError = String((error as Error)?.message ?? error);
    log(`soak failed: ${results.scale.soakError}`);
  } finally {
    await Promise.all([backend?.stop(), router?.stop()]);
  }
}

/** Time the soak may take: up to the global deadline, less 20 s for stopping and writing. */
function soakTimeLeft(): number {
  return CONFIG.deadlineMs - 20_000 - elapsedMs();
}

/** The soak's batches and samples, on a router (HTTP on `port`) and backend already up. */
async function soak(port: number, router: Proc, backend: Proc): Promise<void> {
  const inspector = async (proc: Proc) =>
    inspectorUrl(await proc.waitLine("stderr", (l) => inspectorUrl(l) !== null, 5000))!;
  const routerInspector = await inspector(router);
  const backendInspector = await inspector(backend);
  const batch = Math.round(CONFIG.soakRequests / CONFIG.soakBatches);
  const budget = Math.min(CONFIG.soakBudgetMs, soakTimeLeft());
  const soakStart = performance.now();
  const left = () => budget - (performance.now() - soakStart);

  const sample = async (requests: number): Promise<SoakSample> => {
    const routerRssKiB = memory(router.pid).rss;
    const backendRssKiB = memory(backend.pid).rss;
    // Within the 20 s the global deadline keeps in reserve past the soak's budget.
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
    // Start: the median of the samples after the first three batches; end: after the last three.
    // With one batch only (samplesPerEnd 0) it is reported, not judged.
    const after = series.slice(1);
    if (after.length === 0) return;
    const third = Math.min(3, Math.floor(after.length / 2));
    const ends = Math.max(1, third);
    const growth = (key: Exclude<keyof SoakSample, "requests">): Growth => {
      const start = median(after.slice(0, ends).map((x) => x[key]));
      const end = median(after.slice(-ends).map((x) => x[key]));
      return { start, end, growth: end - start };
    };
    const result: SoakResult = {
      planned: CONFIG.soakRequests,
      requests: done,
      errors,
      truncatedByTimeBudget: stoppedByBudget,
      reqPerSec: done / seconds,
      routerCpuS: routerTicks / CLK_TCK,
      backendCpuS: backendTicks / CLK_TCK,
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
    results.scale.soak = result;
  };
  try {
    series.push(await sample(0));
    while (done < CONFIG.soakRequests) {
      if (lastBatchMs * 1.1 > left()) {
        stoppedByBudget = true;
        break;
      }
      const t = performance.now();
      const routerCpu0 = cpuTicks(router.pid);
      const backendCpu0 = cpuTicks(backend.pid);
      const r = await h2load(`http://127.0.0.1:${port}/tiny`, {
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
      log(
        `soak: ${done.toLocaleString("en-US")} requests, router RSS ${last.routerRssKiB} KiB, ` +
          `after a full collection ${last.routerRssAfterGcKiB} KiB (heap ${
            fmt(last.routerHeapKiB)
          } KiB)`,
      );
    }
  } catch (error) {
    results.scale.soakError = String((error as Error)?.message ?? error);
    log(`soak stopped: ${results.scale.soakError}`);
  }
  summarize();
}

// ---------------------------------------------------------------- checks

function row(scenario: string, target: string): Row | undefined {
  return results.rows.find((r) => r.scenario === scenario && r.target === target && !r.error);
}

/** A soak figure at its start and end (KiB). */
interface Growth {
  start: number;
  end: number;
  growth: number;
}

/**
 * Growth allowed over the soak, in RSS after a forced full collection: allocator and
 * code-space noise. After such collections the router's RSS stayed within 2.8 MiB over a
 * million requests (81.9-84.7 MiB); under load, without them, it swings by tens of MiB.
 */
function soakNoiseKiB(startKiB: number): number {
  return Math.max(4 * 1024, startKiB * 0.05);
}

function fmtMiB(kib: number): string {
  return fmt(kib / 1024);
}

function signedMiB(kib: number): string {
  return `${kib >= 0 ? "+" : ""}${fmtMiB(kib)}`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
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

function checkTargets(): void {
  const checks: Check[] = [];
  const tiny50 = "tiny GET, 50 connections";
  const t1 = row(tiny50, "tunnel1");
  const d = row(tiny50, "direct");
  const rps = t1?.metrics.reqPerSec;
  checks.push({
    target: "Tiny GET, 50 connections, one tunnel: ≥ 2.5× the Go original (15,700 req/s)",
    figure: `${fmt(rps)} req/s (${fmt(rps === undefined ? NaN : rps / GO_ORIGINAL_RPS)}× Go)`,
    threshold: `≥ ${fmt(TARGETS.tinyRps)} req/s`,
    met: rps === undefined ? null : rps >= TARGETS.tinyRps,
  });
  const share = rps !== undefined && d ? rps / d.metrics.reqPerSec! : undefined;
  checks.push({
    target: "Tiny GET, 50 connections, one tunnel: ≥ 30% of direct Deno.serve (same run)",
    figure: share === undefined
      ? "–"
      : `${(100 * share).toFixed(1)}% of ${fmt(d!.metrics.reqPerSec)}`,
    threshold: "≥ 30%",
    met: share === undefined ? null : share >= TARGETS.tinyShareOfDirect,
  });
  const p99 = t1?.metrics.p99Ms;
  checks.push({
    target: "p99 latency at 50 connections, one tunnel",
    figure: `${fmt(p99)} ms (direct ${fmt(d?.metrics.p99Ms)} ms)`,
    threshold: "≤ 2 ms",
    met: p99 === undefined ? null : p99 <= TARGETS.p99Ms,
  });
  for (const kind of ["download", "upload"]) {
    const r = results.rows.find((x) =>
      x.section === "transfer" && x.scenario.endsWith(kind) && x.target === "tunnel1" && !x.error
    );
    const size = QUICK ? `${CONFIG.transferBytes / MiB} MiB (quick)` : "1 GiB";
    checks.push({
      target: `${size} ${kind} through one tunnel: rate`,
      figure: `${fmt(r?.metrics.mbPerSec)} MB/s`,
      threshold: "≥ 1,500 MB/s",
      met: r ? r.metrics.mbPerSec! >= TARGETS.transferMBps : null,
    });
    checks.push({
      target: `${size} ${kind} through one tunnel: router RSS growth`,
      figure: `${fmt(r?.metrics.routerRssGrowthMiB)} MiB`,
      threshold: "< 64 MiB",
      met: r ? r.metrics.routerRssGrowthMiB! < TARGETS.transferRssGrowthMiB : null,
    });
  }
  const idle = results.scale.idleTunnels as
    | { tunnels: number; routerKiBPerTunnel: number; routerKiBPerTunnelAtConnect: number }
    | undefined;
  checks.push({
    target: `Router RSS per idle tunnel at ${CONFIG.tunnels.toLocaleString("en-US")} tunnels`,
    figure: `${fmt(idle?.routerKiBPerTunnel)} KiB settled (${
      fmt(idle?.routerKiBPerTunnelAtConnect)
    } right after connecting)`,
    threshold: "< 32 KiB",
    met: idle ? idle.routerKiBPerTunnel < TARGETS.idleTunnelKiB : null,
  });
  const soak = results.scale.soak as SoakResult | undefined;
  checks.push({
    target: `No router RSS growth over the soak beyond noise (${
      soak?.requests.toLocaleString("en-US") ?? "–"
    } requests; RSS after a forced full collection)`,
    figure: soak
      ? `${fmtMiB(soak.routerRssAfterGc.start)} → ${fmtMiB(soak.routerRssAfterGc.end)} MiB (${
        signedMiB(soak.routerRssAfterGc.growth)
      } MiB; V8 heap ${signedMiB(soak.routerHeap.growth)} MiB)`
      : "–",
    threshold: soak ? `growth ≤ ${fmtMiB(soakNoiseKiB(soak.routerRssAfterGc.start))} MiB` : "–",
    // Reported, not judged: a soak that stopped on an error or had failed requests, or
    // one too short to have a start and an end.
    met: soak && !results.scale.soakError && soak.errors === 0 && soak.samplesPerEnd > 0
      ? soak.routerRssAfterGc.growth <= soakNoiseKiB(soak.routerRssAfterGc.start)
      : null,
  });
  results.checks = checks;
}

// ---------------------------------------------------------------- report

interface Column {
  title: string;
  value: (row: Row) => number | undefined;
  /** Compared to which figure of the direct row (default: the same). */
  base?: (direct: Row) => number | undefined;
  unit?: string;
}

const routerCpu: Column = {
  title: "router CPU (% of a core)",
  value: (r) => r.router?.cpuS,
  base: (d) => d.backend?.cpuS,
};
const backendCpu: Column = {
  title: "backend CPU (% of a core)",
  value: (r) => r.backend?.cpuS,
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

function cell(row: Row, column: Column, direct: Row | undefined): string {
  const v = column.value(row);
  if (v === undefined || Number.isNaN(v)) return "–";
  let text = fmt(v);
  if (column === routerCpu) text += ` s · ${Math.round(row.router!.cpuPct)}%`;
  if (column === backendCpu) text += ` s · ${Math.round(row.backend!.cpuPct)}%`;
  if (row.target === "direct" || !direct) return text;
  const base = (column.base ?? column.value)(direct);
  if (base === undefined || !base) return text;
  return `${text} (${(v / base).toFixed(2)}×)`;
}

function table(rows: Row[], columns: Column[]): string {
  const head = ["scenario", "target", ...columns.map((c) => c.title)];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => " --- ").join("|")}|`];
  for (const r of rows) {
    const direct = results.rows.find((x) => x.scenario === r.scenario && x.target === "direct");
    const cells = r.error
      ? [
        `error: ${r.error.replace(/\|/g, "/").replace(/\n/g, " ")}`,
        ...columns.slice(1).map(() => ""),
      ]
      : columns.map((c) => cell(r, c, direct));
    lines.push(
      `| ${[r.scenario, TARGET_LABEL[r.target as TargetKey] ?? r.target, ...cells].join(" | ")} |`,
    );
  }
  return lines.join("\n");
}

function report(): string {
  const m = results.machine;
  const rows = (section: string) => results.rows.filter((r) => r.section === section);
  const out: string[] = [];
  const title = QUICK ? "ptth benchmarks (quick smoke run)" : "ptth benchmarks";
  out.push(`# ${title}`, "");
  out.push(
    "Generated by `deno task bench` (bench/run.ts); do not edit by hand, run it again.",
    "Every figure of a tunnel is followed by its ratio to the direct `Deno.serve` baseline of the",
    "same run, `(n×)`: the baseline serves the same handler (bench/handlers.ts) in its own process.",
    "Router and backends run as separate processes (`deno run -A mod.ts`, bench/backend.ts).",
    "",
  );
  out.push("## Machine", "");
  out.push(`- CPU: ${m.cpu} × ${m.nproc} (nproc)`);
  out.push(`- Memory: ${m.memory}`);
  out.push(`- Kernel: ${m.kernel}`);
  out.push(`- Code: commit ${m.commit}`);
  out.push(`- Deno: ${m.deno}`);
  out.push(`- Load generators: ${m.wrk}; ${m.h2load}; ${m.curl}`);
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
  out.push(
    !probePinned()
      ? `- Round trip between two processes (bench/pingpong.ts: one octet there and back over loopback TCP, two handoffs, Deno at both ends; unpinned), µs before / after: ${
        us("roundTripUnpinnedBeforeUs")
      } / ${us("roundTripUnpinnedAfterUs")}`
      : `- Round trip between two processes (bench/pingpong.ts: one octet there and back over loopback TCP, two handoffs, Deno at both ends), µs with both on one core / on two cores (taskset), before: ${
        us("roundTripOneCoreBeforeUs")
      } / ${us("roundTripTwoCoresBeforeUs")}; after: ${us("roundTripOneCoreAfterUs")} / ${
        us("roundTripTwoCoresAfterUs")
      }`,
  );
  out.push("");
  out.push(
    "The machine is shared: other engineers' tests may have been running at the same time",
    "(see the load average), and the load generator shares the 2 cores with the router and the",
    "backends. Absolute figures are therefore noisy; the ratios to the same-run baseline are",
    "what count. A tunnel adds a round trip between processes (router to backend and back) to every",
    "batch of requests, which direct serving does not: where one across cores costs much more than",
    "on one core (as waking an idle virtual CPU can), the tunnel's ratios move with it.",
    "",
  );
  out.push("## Method", "");
  out.push(
    `- Request rates: \`wrk -t1 -d${CONFIG.duration}s --latency\` (p50/p99 from wrk's latency distribution), HTTP/1.1;`,
    `  POST echo with bench/post.lua (1 KiB body); second opinion \`h2load -t1 -c${CONFIG.h2load.clients} -m${CONFIG.h2load.streams}\``,
    "  over h2c (prior knowledge), mean latency only. One 1 s warm-up per target first.",
    "- MB/s is 10^6 bytes per second (response bytes read, headers included, for request rates).",
    "- CPU: utime + stime from /proc/PID/stat over the scenario, with its share of one core.",
    `- Peak RSS: VmHWM from /proc/PID/status, reset at the start of each scenario through`,
    `  /proc/PID/clear_refs (${
      peakResetWorks ? "worked" : "not permitted: sampled VmRSS every 50 ms instead"
    }).`,
    "- For four backends, CPU and RSS are summed over the four processes.",
    "- Router CPU and RSS ratios compare the router to the direct `Deno.serve` process; CPU µs per",
    "  request (CPU time over requests answered) varies less than req/s when other processes take",
    "  the cores.",
    `- Transfers: \`curl -o /dev/null\` (download) and \`curl -T\` of a sparse file (upload); RSS growth = peak − RSS at the start.`,
    "",
  );
  const rateColumns: Column[] = [
    { title: "req/s", value: (r) => r.metrics.reqPerSec },
    { title: "p50 ms", value: (r) => r.metrics.p50Ms },
    { title: "p99 ms", value: (r) => r.metrics.p99Ms },
    { title: "MB/s", value: (r) => r.metrics.mbPerSec },
    routerCpu,
    backendCpu,
    routerPerRequest,
    backendPerRequest,
    routerPeak,
    backendPeak,
  ];
  out.push("## Request rates", "", table(rows("rate"), rateColumns), "");
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
      { title: "req/s", value: (r) => r.metrics.reqPerSec },
      { title: "mean ms", value: (r) => r.metrics.meanMs },
      routerCpu,
      backendCpu,
      routerPerRequest,
      backendPerRequest,
      routerPeak,
      backendPeak,
    ]),
    "",
  );
  out.push(
    "## Transfers",
    "",
    table(rows("transfer"), [
      { title: "MB/s", value: (r) => r.metrics.mbPerSec },
      { title: "seconds", value: (r) => r.metrics.seconds },
      { title: "router RSS start MiB", value: (r) => r.router?.rssStartMiB },
      routerPeak,
      { title: "router RSS growth MiB", value: (r) => r.metrics.routerRssGrowthMiB },
      routerCpu,
      backendCpu,
      backendPeak,
    ]),
    "",
  );
  out.push(
    "## Server-sent events",
    "",
    `${CONFIG.sse.streams} streams at once, one HTTP/1.1 connection each. Flood: each stream's`,
    `${CONFIG.sse.floodEvents} events sent as fast as the reader takes them, read by h2load (events/s`,
    "counted from the body bytes). Paced: bench/sse_client.ts (Deno `fetch`), one event per",
    `${CONFIG.sse.interval} ms on every stream: time from the request to the first event, delivery`,
    "latency of every event (stamped by the handler, read by the client; same clock), and the time",
    "to first event of a single-event stream opened alone (median of 20).",
    "",
    table(rows("sse"), [
      { title: "events/s", value: (r) => r.metrics.eventsPerSec },
      { title: "MB/s", value: (r) => r.metrics.mbPerSec },
      { title: "first event p50 ms", value: (r) => r.metrics.firstEventP50Ms },
      { title: "first event p99 ms", value: (r) => r.metrics.firstEventP99Ms },
      { title: "delivery p50 ms", value: (r) => r.metrics.deliveryP50Ms },
      { title: "delivery p99 ms", value: (r) => r.metrics.deliveryP99Ms },
      { title: "first event alone p50 ms", value: (r) => r.metrics.aloneFirstEventP50Ms },
      ...USAGE_COLUMNS,
    ]),
    "",
  );
  out.push(
    "## WebSocket echo",
    "",
    `bench/ws_client.ts (Deno's WebSocket client) against the \`/ws\` echo route: ${CONFIG.ws.sockets}`,
    `sockets at once, each sending a 64-byte message and waiting for its echo, for ${CONFIG.ws.seconds} s`,
    `(messages/s, round-trip latency); then one socket echoing ${CONFIG.ws.bulkMiB} MiB in 64 KiB`,
    "messages with at most 4 MiB unanswered (MB/s of echoed payload). Through the router each socket",
    "is an RFC 8441 extended CONNECT stream on the tunnel; the direct target is `Deno.upgradeWebSocket`.",
    "",
    table(rows("ws"), [
      { title: "messages/s", value: (r) => r.metrics.messagesPerSec },
      { title: "RTT p50 ms", value: (r) => r.metrics.rttP50Ms },
      { title: "RTT p99 ms", value: (r) => r.metrics.rttP99Ms },
      { title: "bulk MB/s", value: (r) => r.metrics.bulkMBps },
      { title: "open all ms", value: (r) => r.metrics.openMs },
      ...USAGE_COLUMNS,
    ]),
    "",
  );
  out.push(
    "## Tunnel establishment",
    "",
    "From calling `serveReverse()` (a request to the router fired at the same moment, held by the",
    "router until a tunnel is up) to that request's response, against a router with no other",
    "tunnel (bench/connect.ts). Direct: a new TCP connection's first response from `Deno.serve`.",
    "",
    table(rows("connect"), [
      { title: "connected p50 ms", value: (r) => r.metrics.connectedP50Ms },
      { title: "first response p50 ms", value: (r) => r.metrics.firstResponseP50Ms },
      { title: "first response p90 ms", value: (r) => r.metrics.firstResponseP90Ms },
    ]),
    "",
  );
  out.push("## Scale", "");
  const s = results.scale as Record<string, Record<string, unknown> | undefined>;
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
  const sif = s.streamsInFlight as Record<string, unknown> | undefined;
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
  const soak = s.soak as SoakResult | undefined;
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
  if (s.soakError) out.push(`- Soak not completed: ${s.soakError}`);
  out.push("");
  out.push("## Targets", "", "| target | figure | threshold | met |", "| --- | --- | --- | --- |");
  for (const c of results.checks) {
    const met = c.met === null ? "n/a" : c.met ? "**met**" : "**not met**";
    out.push(`| ${c.target} | ${c.figure} | ${c.threshold} | ${met} |`);
  }
  out.push("");
  out.push(
    "## CPU share per process",
    "",
    `% of one core during each run (the machine has ${m.nproc} cores: ${
      Number(m.nproc) * 100
    }% at most). "others" is`,
    "the rest of the machine's busy time (/proc/stat) meanwhile: other engineers' processes and this",
    "script. Load generator CPU is sampled every 50 ms.",
    "",
    "| scenario | target | router | backend(s) | load generator | others | idle | reading |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const r of results.rows) {
    if (r.error || (!r.router && !r.backend)) continue;
    const parts = [r.router?.cpuPct, r.backend?.cpuPct, r.generator?.cpuPct];
    const ours = parts.reduce((a: number, v) => a + (v ?? 0), 0);
    const pct = (v: number | undefined) =>
      v === undefined || Number.isNaN(v) ? "–" : `${Math.round(v)}%`;
    const names = ["router", r.target === "tunnel4" ? "backends" : "backend", "load generator"];
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
      `| ${r.scenario} | ${TARGET_LABEL[r.target as TargetKey] ?? r.target} | ${pct(parts[0])} | ${
        pct(parts[1])
      } | ${pct(parts[2])} | ${pct(Math.max(0, (r.system?.busyPct ?? NaN) - ours))} | ${
        pct(idle)
      } | ${reading} |`,
    );
  }
  out.push("");
  if (results.notes.length) out.push("## Notes", "", ...results.notes.map((n) => `- ${n}`), "");
  return out.join("\n");
}

/**
 * How much CPU the machine gives right now: two busy loops (one per core of a
 * 2-core machine, `nproc` in general) for one second; returns cores' worth.
 */
async function cpuAvailable(): Promise<number> {
  const n = Number(results.machine.nproc) || 2;
  const loops = Array.from(
    { length: n },
    (_, i) => new Proc(`busy-${i}`, "sh", ["-c", "while :; do :; done"]),
  );
  const before = loops.map((p) => cpuTicks(p.pid));
  const start = performance.now();
  await sleep(1000);
  const after = loops.map((p) => cpuTicks(p.pid));
  const wall = (performance.now() - start) / 1000;
  await Promise.all(loops.map((p) => p.stop(100)));
  return after.reduce((sum, t, i) => sum + (t - before[i]!), 0) / CLK_TCK / wall;
}

/** Whether taskset (util-linux) is there to pin the round-trip probe's two ends to cores. */
let HAS_TASKSET = false;
/** The cores this process may run on (Cpus_allowed_list), the first two of which the probe uses. */
let ALLOWED_CORES: number[] = [];

/** Parses a kernel CPU list such as "0-1" or "0,2-3". */
function cpuList(text: string): number[] {
  const cores: number[] = [];
  for (const part of text.trim().split(",")) {
    const [from, to = from] = part.split("-").map(Number);
    if (!Number.isInteger(from) || !Number.isInteger(to)) continue;
    for (let core = from!; core <= to! && cores.length < 64; core++) cores.push(core);
  }
  return cores;
}

/**
 * Round-trip time (µs) of bench/pingpong.ts between two processes, each pinned
 * to the core given (not pinned for null), or null when the probe fails. At
 * most about 16 s: 5 s for the echo end to listen, 10 s for the rounds.
 */
async function roundTrip(echoCore: number | null, pingCore: number | null): Promise<number | null> {
  const script = [Deno.execPath(), "run", "-A", `${BENCH}pingpong.ts`];
  const pinned = (core: number | null, args: string[]) =>
    core === null ? args : ["taskset", "-c", String(core), ...args];
  const [echoCommand, ...echoArgs] = pinned(echoCore, [...script, "echo"]);
  const echo = new Proc("pingpong-echo", echoCommand!, echoArgs);
  let ping: Proc | null = null;
  try {
    const { port } = await echo.waitEvent("listening", 5_000);
    const rounds = String(CONFIG.pingPongRounds);
    const [pingCommand, ...pingArgs] = pinned(pingCore, [...script, "ping", String(port), rounds]);
    ping = new Proc("pingpong-ping", pingCommand!, pingArgs);
    const { rttUs } = await ping.waitEvent("result", 10_000);
    return typeof rttUs === "number" && rttUs > 0 ? rttUs : null;
  } catch (error) {
    log(`round-trip probe failed: ${error}`);
    return null;
  } finally {
    await Promise.all([ping?.stop(500), echo.stop(500)]);
  }
}

/**
 * The round-trip probe with both ends on one core and on two, recorded in
 * results.machine under `prefix` (µs); one unpinned run without taskset.
 */
async function probeRoundTrips(prefix: "Before" | "After"): Promise<void> {
  const record = (key: string, value: number | null) => {
    if (value !== null) results.machine[`roundTrip${key}${prefix}Us`] = value;
  };
  const [first, second] = ALLOWED_CORES;
  if (!probePinned()) {
    record("Unpinned", await roundTrip(null, null));
    return;
  }
  record("OneCore", await roundTrip(first!, first!));
  if (second !== undefined) record("TwoCores", await roundTrip(first!, second));
}

/** Whether the probe pins its ends: taskset is there, and the cores allowed are known. */
function probePinned(): boolean {
  return HAS_TASKSET && ALLOWED_CORES.length > 0;
}

async function describeMachine(): Promise<void> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(meminfo.match(/MemTotal:\s+(\d+)/)?.[1] ?? 0);
  results.machine = {
    nproc: Number(await sh("nproc")) || navigator.hardwareConcurrency,
    cpu: cpuinfo.match(/model name\s*:\s*(.*)/)?.[1]?.trim() ?? "unknown",
    memory: `${(memKiB / 1024 / 1024).toFixed(1)} GiB`,
    kernel: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    wrk: (await sh("wrk -v 2>&1 | head -n 1")).replace(/\s+Copyright.*/, ""),
    h2load: await sh("h2load --version | head -n 1"),
    curl: (await sh("curl --version | head -n 1")).split(" ").slice(0, 2).join(" "),
    loadBefore: Deno.loadavg().map((v) => v.toFixed(2)).join(", "),
    commit: `${(await sh(`git -C '${ROOT}' rev-parse --short HEAD`)) || "unknown"}${
      (await sh(`git -C '${ROOT}' status --porcelain --untracked-files=no`))
        ? " with uncommitted changes"
        : ""
    }`,
  };
  CLK_TCK = Number(await sh("getconf CLK_TCK")) || 100;
  results.machine.coresAvailableBefore = Number((await cpuAvailable()).toFixed(2));
  HAS_TASKSET = (await sh("command -v taskset")) !== "";
  const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
  ALLOWED_CORES = cpuList(status.match(/Cpus_allowed_list:\s*(\S+)/)?.[1] ?? "");
  await probeRoundTrips("Before");
}

async function writeResults(): Promise<void> {
  results.machine.loadAfter = Deno.loadavg().map((v) => v.toFixed(2)).join(", ");
  if (results.machine.coresAvailableAfter === undefined && !aborting) {
    results.machine.coresAvailableAfter = Number((await cpuAvailable()).toFixed(2));
    // The global deadline is off by now: the probe (at most about 32 s) runs only
    // when it cannot take the run past it.
    if (elapsedMs() + 35_000 < CONFIG.deadlineMs) await probeRoundTrips("After");
  }
  results.durationS = elapsedMs() / 1000;
  checkTargets();
  const markdown = report();
  await Deno.writeTextFile(JSON_PATH, JSON.stringify(results, null, 2) + "\n");
  if (MD_PATH) await Deno.writeTextFile(MD_PATH, markdown);
  // Keep `deno fmt --check` (deno task check) clean: it formats Markdown and JSON too.
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", JSON_PATH, ...(MD_PATH ? [MD_PATH] : [])],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
  }).output().catch(() => {});
  console.log(markdown);
  log(`wrote ${JSON_PATH}${MD_PATH ? ` and ${MD_PATH}` : ""}`);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  await ensureTools();
  await describeMachine();
  await routerFlags();
  log(`${results.mode} run; machine: ${results.machine.cpu} × ${results.machine.nproc}`);

  const uploadDir = await Deno.makeTempDir({ prefix: "ptth-bench-" });
  const uploadFile = `${uploadDir}/upload.bin`;
  try {
    // A sparse file: curl reads zeros from it without touching the disk.
    await Deno.writeFile(uploadFile, new Uint8Array(0));
    await Deno.truncate(uploadFile, CONFIG.transferBytes);
    await Deno.writeFile(`${uploadFile}.warm`, new Uint8Array(0));
    await Deno.truncate(`${uploadFile}.warm`, 32 * MiB);
    // Read it once: the first read of a sparse file fills the page cache (seconds of system
    // time in curl), which would slow down whichever upload came first.
    await sh(`cat '${uploadFile}' '${uploadFile}.warm' > /dev/null`);

    const [direct, tunnel1, tunnel4] = await Promise.all([
      startDirect(),
      startTunnel("tunnel1", 1),
      startTunnel("tunnel4", 4),
    ]);
    const targets = [direct, tunnel1, tunnel4];
    log(`started: direct :${direct.port}, tunnel1 :${tunnel1.port}, tunnel4 :${tunnel4.port}`);

    for (const target of targets) {
      await wrk(`http://127.0.0.1:${target.port}/tiny`, 50, CONFIG.warmup);
    }
    for (const c of CONFIG.connections) {
      await rateScenario(
        "rate",
        `tiny GET, ${c} connection${c === 1 ? "" : "s"}`,
        targets,
        (t) => wrk(`http://127.0.0.1:${t.port}/tiny`, c, CONFIG.duration),
      );
    }
    await rateScenario(
      "rate",
      `1 KiB POST echo, ${CONFIG.postConnections} connections`,
      targets,
      (t) =>
        wrk(
          `http://127.0.0.1:${t.port}/echo`,
          CONFIG.postConnections,
          CONFIG.duration,
          `${BENCH}post.lua`,
        ),
    );
    const { clients, streams } = CONFIG.h2load;
    await rateScenario(
      "h2load",
      `h2load tiny GET, ${clients}×${streams} streams`,
      targets,
      (t) =>
        h2load(
          `http://127.0.0.1:${t.port}/tiny`,
          { clients, streams, seconds: CONFIG.duration },
          (CONFIG.duration + 30) * 1000,
        ),
    );
    await transferScenario("download", [direct, tunnel1], uploadFile);
    await transferScenario("upload", [direct, tunnel1], uploadFile);
    await sseScenario(targets);
    await wsScenario(targets);

    // The tunnels are done: free the cores and memory for the scale runs and the soak.
    await Promise.all(
      [tunnel1, tunnel4].flatMap((t) => [t.router!.stop(), ...t.backends.map((b) => b.stop())]),
    );
    await scaleScenarios(direct);
    await soakScenario();
    results.complete = true;
  } finally {
    await stopAll();
    await Deno.remove(uploadDir, { recursive: true }).catch(() => {});
  }
}

const deadline = setTimeout(async () => {
  log(`global deadline of ${CONFIG.deadlineMs / 1000} s passed: stopping everything`);
  aborting = true;
  results.notes.push(
    `The run hit the global deadline (${CONFIG.deadlineMs / 1000} s) and was cut short.`,
  );
  killAllNow();
  await writeResults().catch((e) => log(`cannot write results: ${e}`));
  Deno.exit(3);
}, CONFIG.deadlineMs);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    log(`${signal}: stopping everything`);
    aborting = true;
    killAllNow();
    Deno.exit(130);
  });
}

let code = 0;
try {
  await main();
} catch (error) {
  code = 1;
  log(`failed: ${(error as Error)?.stack ?? error}`);
  results.notes.push(`The run failed: ${(error as Error)?.message ?? error}`);
} finally {
  killAllNow();
}
clearTimeout(deadline);
await writeResults();
log(`done in ${fmt(elapsedMs() / 1000)} s`);
Deno.exit(code);
