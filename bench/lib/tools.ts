/**
 * The load generators (Debian's wrk, h2load and curl, and Deno client scripts
 * of bench/), run as children with a time limit and their CPU sampled, and
 * the parsers of what they print.
 *
 * @module
 */

import { GiB, MiB } from "./config.ts";
import { type Processes, sh } from "./processes.ts";
import type { ProcStats } from "./proc_stats.ts";

/** What running a tool needs of the run context. */
export interface ToolContext {
  readonly procs: Processes;
  readonly stats: ProcStats;
}

/** A tool's run: exit code, output, its CPU time and wall time. */
export interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
  cpuS: number;
  wallS: number;
}

/** A load generator's CPU: seconds, and % of one core over its run. */
export interface Generator {
  cpuS: number;
  cpuPct: number;
}

/** Figures of a request-rate run (wrk or h2load). */
export interface LoadFigures {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  mbPerSec: number;
  requests: number;
  errors: number;
}

/** A request-rate run's figures and its generator's CPU. */
export interface LoadResult extends LoadFigures {
  generatorCpuS: number;
  generatorCpuPct: number;
}

/**
 * Converts wrk's and h2load's durations (`123.4us`, `1.2ms`, `3s`, `1m`) to
 * milliseconds; `NaN` for anything else.
 *
 * @example
 * ```ts
 * import { toMs } from "./tools.ts";
 * import { equal } from "node:assert/strict";
 * equal(toMs("136.00us"), 0.136);
 * equal(toMs("3.07ms"), 3.07);
 * equal(toMs("1.00s"), 1000);
 * equal(toMs("nope"), NaN);
 * ```
 */
export function toMs(text: string): number {
  const m = text.match(/^([\d.]+)(us|ms|s|m|h)$/);
  if (!m) return NaN;
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "us"];
  return Number(m[1]) * scale;
}

/**
 * Converts wrk's sizes (`12.34MB`, powers of 1024) to bytes; `NaN` for anything else.
 *
 * @example
 * ```ts
 * import { toBytes } from "./tools.ts";
 * import { equal } from "node:assert/strict";
 * equal(toBytes("2.00KB"), 2048);
 * equal(toBytes("0.00B"), 0);
 * ```
 */
export function toBytes(text: string): number {
  const m = text.match(/^([\d.]+)([KMGT]?B)$/);
  if (!m) return NaN;
  const scale = { B: 1, KB: 1024, MB: MiB, GB: GiB, TB: 1024 * GiB }[m[2] as "B"];
  return Number(m[1]) * scale;
}

/**
 * Parses the output of `wrk --latency`. Errors are non-2xx/3xx responses plus
 * socket errors; with no request answered, the latencies are `NaN` (wrk
 * prints zeros).
 *
 * @throws {Error} When the output has no summary line.
 * @example
 * ```ts
 * import { parseWrk } from "./tools.ts";
 * import { equal } from "node:assert/strict";
 * const out = [
 *   "  Latency Distribution",
 *   "     50%  136.00us",
 *   "     99%    3.07ms",
 *   "  54008 requests in 1.00s, 5.36MB read",
 *   "Requests/sec:  53944.02",
 * ].join("\n");
 * const r = parseWrk(out);
 * equal(r.reqPerSec, 53944.02);
 * equal(r.p99Ms, 3.07);
 * equal(r.requests, 54008);
 * ```
 */
export function parseWrk(out: string): LoadFigures {
  const done = out.match(/(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/);
  if (!done) throw new Error(`Cannot parse wrk output: ${out.slice(0, 300)}`);
  const requests = Number(done[1]);
  const seconds = toMs(done[2]!) / 1000;
  const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const socket = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
  const latency = (pattern: RegExp) => requests === 0 ? NaN : toMs(out.match(pattern)?.[1] ?? "");
  return {
    reqPerSec: Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1]),
    p50Ms: latency(/^\s+50%\s+(\S+)/m),
    p99Ms: latency(/^\s+99%\s+(\S+)/m),
    meanMs: latency(/Latency\s+(\S+)/),
    mbPerSec: toBytes(done[3]!) / seconds / 1e6,
    requests,
    errors: non2xx + socketErrors,
  };
}

/** Figures of an h2load run: no percentiles (h2load gives mean and max only). */
export interface H2loadFigures extends LoadFigures {
  seconds: number;
  maxMs: number;
}

/**
 * Parses h2load's output. Requests are the succeeded ones; errors the rest
 * of those started.
 *
 * @throws {Error} When the output has no `finished in` line.
 * @example
 * ```ts
 * import { parseH2load } from "./tools.ts";
 * import { equal } from "node:assert/strict";
 * const out = [
 *   "finished in 1.00s, 15652.00 req/s, 428.40KB/s",
 *   "requests: 15652 total, 15662 started, 15652 done, 15652 succeeded, 0 failed, 0 errored, 0 timeout",
 *   "traffic: 428.40KB (438686) total, 107.15KB (109719) headers (space savings 91.24%), 45.86KB (46956) data",
 *   "time for request:      191us      5.98ms       624us       284us    91.22%",
 * ].join("\n");
 * const r = parseH2load(out);
 * equal(r.reqPerSec, 15652);
 * equal(r.meanMs, 0.624);
 * equal(r.errors, 0);
 * ```
 */
export function parseH2load(out: string): H2loadFigures {
  const finished = out.match(/finished in ([\d.]+\w+), ([\d.]+) req\/s/);
  if (!finished) throw new Error(`Cannot parse h2load output: ${out.slice(0, 300)}`);
  const counts = out.match(/requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded/);
  const traffic = Number(out.match(/traffic: \S+ \((\d+)\) total/)?.[1] ?? 0);
  const perRequest = out.match(/time for request:\s+(\S+)\s+(\S+)\s+(\S+)/);
  const seconds = toMs(finished[1]!) / 1000;
  const total = Number(counts?.[1] ?? 0);
  const succeeded = Number(counts?.[3] ?? 0);
  return {
    reqPerSec: Number(finished[2]),
    p50Ms: NaN,
    p99Ms: NaN,
    meanMs: toMs(perRequest?.[3] ?? ""),
    maxMs: toMs(perRequest?.[2] ?? ""),
    mbPerSec: traffic / seconds / 1e6,
    requests: succeeded,
    errors: total - succeeded,
    seconds,
  };
}

/** What {@linkcode CURL_WRITE_OUT} gives, and the body before it. */
export interface CurlFigures {
  status: number;
  download: number;
  upload: number;
  seconds: number;
  ttfbMs: number;
  body: string;
}

/**
 * curl's `-w` format: a last line of status, sizes and times, which
 * {@linkcode parseCurl} reads.
 *
 * @example
 * ```ts
 * import { CURL_WRITE_OUT } from "./tools.ts";
 * import { equal } from "node:assert/strict";
 * equal(CURL_WRITE_OUT.split(" ").length, 5);
 * ```
 */
export const CURL_WRITE_OUT =
  "\n%{http_code} %{size_download} %{size_upload} %{time_total} %{time_starttransfer}";

/**
 * Parses curl's stdout with {@linkcode CURL_WRITE_OUT} at its end.
 *
 * @example
 * ```ts
 * import { parseCurl } from "./tools.ts";
 * import { equal } from "node:assert/strict";
 * const r = parseCurl('{"bytes":100000}\n200 16 100000 0.012055 0.005557');
 * equal(r.status, 200);
 * equal(r.upload, 100000);
 * equal(r.body, '{"bytes":100000}');
 * equal(r.ttfbMs, 5.557);
 * ```
 */
export function parseCurl(stdout: string): CurlFigures {
  const lines = stdout.replace(/^\n/, "").replace(/\n+$/, "").split("\n");
  const [status, download, upload, seconds, ttfb] = lines.pop()!.trim().split(" ").map(Number);
  return {
    status: status!,
    download: download!,
    upload: upload!,
    seconds: seconds!,
    ttfbMs: ttfb! * 1000,
    body: lines.join("\n"),
  };
}

/**
 * Installs wrk, h2load and curl with apt-get when one is missing (as root only).
 *
 * @throws {Error} When one is missing and this is not root, or apt-get fails.
 * @example
 * ```ts
 * import { ensureTools } from "./tools.ts";
 * await ensureTools(console.error); // Nothing to do where they are installed.
 * ```
 */
export async function ensureTools(log: (line: string) => void): Promise<void> {
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

/**
 * Runs a tool to completion (killed after `timeoutMs`), sampling its CPU time while it runs.
 *
 * @example
 * ```ts
 * import { runTool } from "./tools.ts";
 * import { Processes } from "./processes.ts";
 * import { ProcStats } from "./proc_stats.ts";
 * const ctx = { procs: new Processes(Deno.cwd()), stats: new ProcStats() };
 * import { equal } from "node:assert/strict";
 * const run = await runTool(ctx, "sh", ["-c", "echo out; echo err >&2; exit 3"], 5000);
 * equal(run.code, 3);
 * equal(run.stdout, "out");
 * equal(run.stderr, "err");
 * ```
 */
export async function runTool(
  ctx: ToolContext,
  command: string,
  args: string[],
  timeoutMs: number,
): Promise<ToolRun> {
  const start = performance.now();
  const proc = ctx.procs.spawn(command.split("/").pop()!, command, args);
  ctx.stats.watch(proc.pid);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const status = await proc.status;
  clearTimeout(timer);
  await proc.done;
  const cpuS = ctx.stats.forget(proc.pid);
  return {
    code: status.code,
    stdout: proc.stdout.join("\n"),
    stderr: proc.stderr.join("\n"),
    cpuS,
    wallS: (performance.now() - start) / 1000,
  };
}

function generatorOf(run: ToolRun): Generator {
  return { cpuS: run.cpuS, cpuPct: (100 * run.cpuS) / run.wallS };
}

/**
 * `wrk -t1 -c<connections> -d<seconds>s --latency` against `url`, with a Lua `script` if given.
 *
 * @throws {Error} When wrk fails (it cannot connect, say).
 * @example
 * ```ts
 * import { wrk } from "./tools.ts";
 * import { Processes } from "./processes.ts";
 * import { ProcStats } from "./proc_stats.ts";
 * const ctx = { procs: new Processes(Deno.cwd()), stats: new ProcStats() };
 * import { equal } from "node:assert/strict";
 * await using server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen: () => {} },
 *   () => new Response("bar"),
 * );
 * const url = `http://127.0.0.1:${server.addr.port}/`;
 * const r = await wrk(ctx, url, 2, 1);
 * equal(r.requests > 0 && r.errors === 0, true);
 * ```
 */
export async function wrk(
  ctx: ToolContext,
  url: string,
  connections: number,
  seconds: number,
  script?: string,
): Promise<LoadResult> {
  const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", "--timeout", "5s"];
  if (script) args.push("-s", script);
  const run = await runTool(ctx, "wrk", [...args, url], (seconds + 30) * 1000);
  if (run.code !== 0) throw new Error(`wrk failed (${run.code}): ${run.stderr || run.stdout}`);
  const g = generatorOf(run);
  return { ...parseWrk(run.stdout), generatorCpuS: g.cpuS, generatorCpuPct: g.cpuPct };
}

/**
 * `h2load -t1` (h2c, prior knowledge) for `seconds` or a number of `requests`.
 *
 * @throws {Error} When h2load fails.
 * @example
 * ```ts
 * import { h2load } from "./tools.ts";
 * import { Processes } from "./processes.ts";
 * import { ProcStats } from "./proc_stats.ts";
 * const ctx = { procs: new Processes(Deno.cwd()), stats: new ProcStats() };
 * import { equal } from "node:assert/strict";
 * await using server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen: () => {} },
 *   () => new Response("bar"),
 * );
 * const url = `http://127.0.0.1:${server.addr.port}/`;
 * const r = await h2load(ctx, url, { clients: 2, streams: 2, requests: 100 }, 10_000);
 * equal(r.requests, 100);
 * ```
 */
export async function h2load(
  ctx: ToolContext,
  url: string,
  options: { clients: number; streams: number; seconds?: number; requests?: number },
  timeoutMs: number,
): Promise<LoadResult & H2loadFigures> {
  const args = ["-t1", "-c", String(options.clients), "-m", String(options.streams)];
  if (options.seconds !== undefined) args.push("-D", String(options.seconds));
  else args.push("-n", String(options.requests));
  const run = await runTool(ctx, "h2load", [...args, url], timeoutMs);
  if (run.code !== 0 || !/finished in/.test(run.stdout)) {
    throw new Error(`h2load failed (${run.code}): ${run.stderr || run.stdout}`);
  }
  const g = generatorOf(run);
  return { ...parseH2load(run.stdout), generatorCpuS: g.cpuS, generatorCpuPct: g.cpuPct };
}

/**
 * Runs h2load with these arguments as they are; returns its output and CPU time.
 *
 * @throws {Error} When h2load fails.
 * @example
 * ```ts
 * import { h2loadRaw } from "./tools.ts";
 * import { Processes } from "./processes.ts";
 * import { ProcStats } from "./proc_stats.ts";
 * const ctx = { procs: new Processes(Deno.cwd()), stats: new ProcStats() };
 * import { match } from "node:assert/strict";
 * await using server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen: () => {} },
 *   () => new Response("bar"),
 * );
 * const url = `http://127.0.0.1:${server.addr.port}/`;
 * const run = await h2loadRaw(ctx, ["--h1", "-c", "1", "-n", "5", url], 10_000);
 * match(run.stdout, /5 succeeded/);
 * ```
 */
export async function h2loadRaw(
  ctx: ToolContext,
  args: string[],
  timeoutMs: number,
): Promise<ToolRun> {
  const run = await runTool(ctx, "h2load", args, timeoutMs);
  if (run.code !== 0 || !/finished in/.test(run.stdout)) {
    throw new Error(`h2load failed (${run.code}): ${run.stderr || run.stdout}`);
  }
  return run;
}

/**
 * `curl -sS` with {@linkcode CURL_WRITE_OUT}.
 *
 * @throws {Error} When curl fails.
 * @example
 * ```ts
 * import { curl } from "./tools.ts";
 * import { Processes } from "./processes.ts";
 * import { ProcStats } from "./proc_stats.ts";
 * const ctx = { procs: new Processes(Deno.cwd()), stats: new ProcStats() };
 * import { equal } from "node:assert/strict";
 * await using server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen: () => {} },
 *   () => new Response("bar"),
 * );
 * const url = `http://127.0.0.1:${server.addr.port}/`;
 * const r = await curl(ctx, [url], 10_000);
 * equal(r.status, 200);
 * equal(r.body, "bar");
 * ```
 */
export async function curl(
  ctx: ToolContext,
  args: string[],
  timeoutMs: number,
): Promise<CurlFigures & Generator> {
  const run = await runTool(ctx, "curl", ["-sS", "-w", CURL_WRITE_OUT, ...args], timeoutMs);
  if (run.code !== 0) throw new Error(`curl failed (${run.code}): ${run.stderr}`);
  return { ...parseCurl(run.stdout), ...generatorOf(run) };
}

/**
 * Runs a Deno client script of bench/; its last stdout line is its JSON result.
 *
 * @throws {Error} When the script fails.
 * @example
 * ```ts
 * import { runDenoClient } from "./tools.ts";
 * import { Processes } from "./processes.ts";
 * import { ProcStats } from "./proc_stats.ts";
 * import { equal } from "node:assert/strict";
 * const ctx = { procs: new Processes(Deno.cwd()), stats: new ProcStats() };
 * const script = await Deno.makeTempFile({ suffix: ".ts" });
 * await Deno.writeTextFile(script, "console.log('warming up'); console.log('{\"answer\":42}');");
 * const { result } = await runDenoClient<{ answer: number }>(ctx, script, [], 30_000);
 * equal(result.answer, 42);
 * await Deno.remove(script);
 * ```
 */
export async function runDenoClient<T>(
  ctx: ToolContext,
  script: string,
  args: string[],
  timeoutMs: number,
): Promise<{ result: T; generator: Generator }> {
  const run = await runTool(ctx, Deno.execPath(), ["run", "-A", script, ...args], timeoutMs);
  if (run.code !== 0) throw new Error(`${script} failed (${run.code}): ${run.stderr.slice(-300)}`);
  return {
    result: JSON.parse(run.stdout.trim().split("\n").pop()!) as T,
    generator: generatorOf(run),
  };
}
