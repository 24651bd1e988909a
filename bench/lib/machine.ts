/**
 * The machine a run measured: its CPU, memory, kernel and tools, how much CPU
 * it actually gave at the start and the end (busy loops), and what a round
 * trip between two processes costs on it (bench/pingpong.ts, pinned with
 * taskset to one core and to two when it can).
 *
 * @module
 */

import type { RunContext } from "./context.ts";
import { cpuTicks } from "./proc_stats.ts";
import { type Proc, sh, sleep } from "./processes.ts";

/**
 * Parses a kernel CPU list such as `0-1` or `0,2-3` (at most 64 cores).
 *
 * @example
 * ```ts
 * import { cpuList } from "./machine.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(cpuList("0-1"), [0, 1]);
 * deepEqual(cpuList("0,2-3\n"), [0, 2, 3]);
 * deepEqual(cpuList(""), []);
 * ```
 */
export function cpuList(text: string): number[] {
  const cores: number[] = [];
  for (const part of text.trim().split(",")) {
    if (!/^\d+(-\d+)?$/.test(part)) continue;
    const [from, to = from] = part.split("-").map(Number);
    if (!Number.isInteger(from) || !Number.isInteger(to)) continue;
    for (let core = from!; core <= to! && cores.length < 64; core++) cores.push(core);
  }
  return cores;
}

/**
 * How much CPU the machine gives right now: `nproc` busy loops for one
 * second; returns cores' worth.
 */
async function cpuAvailable(ctx: RunContext): Promise<number> {
  const n = Number(ctx.results.machine.nproc) || 2;
  const loops = Array.from(
    { length: n },
    (_, i) => ctx.procs.spawn(`busy-${i}`, "sh", ["-c", "while :; do :; done"]),
  );
  const before = loops.map((p) => cpuTicks(p.pid));
  const start = performance.now();
  await sleep(1000);
  const after = loops.map((p) => cpuTicks(p.pid));
  const wall = (performance.now() - start) / 1000;
  await Promise.all(loops.map((p) => p.stop(100)));
  return after.reduce((sum, t, i) => sum + (t - before[i]!), 0) / ctx.stats.clkTck / wall;
}

/** The first two cores this process may run on, when taskset is there to pin to them. */
async function pinnableCores(): Promise<number[]> {
  if ((await sh("command -v taskset")) === "") return [];
  const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
  return cpuList(status.match(/Cpus_allowed_list:\s*(\S+)/)?.[1] ?? "").slice(0, 2);
}

/**
 * Round-trip time (µs) of bench/pingpong.ts between two processes, each
 * pinned to the core given (not pinned for null), or null when the probe
 * fails. At most about 16 s: 5 s for the echo end to listen, 10 s for the rounds.
 */
async function roundTrip(
  ctx: RunContext,
  echoCore: number | null,
  pingCore: number | null,
): Promise<number | null> {
  const script = [Deno.execPath(), "run", "-A", `${ctx.benchDir}pingpong.ts`];
  const pinned = (core: number | null, args: string[]) =>
    core === null ? args : ["taskset", "-c", String(core), ...args];
  const [echoCommand, ...echoArgs] = pinned(echoCore, [...script, "echo"]);
  const echo = ctx.procs.spawn("pingpong-echo", echoCommand!, echoArgs);
  let ping: Proc | null = null;
  try {
    const { port } = await echo.waitEvent("listening", 5_000);
    const rounds = String(ctx.config.pingPongRounds);
    const [pingCommand, ...pingArgs] = pinned(pingCore, [...script, "ping", String(port), rounds]);
    ping = ctx.procs.spawn("pingpong-ping", pingCommand!, pingArgs);
    const { rttUs } = await ping.waitEvent("result", 10_000);
    return typeof rttUs === "number" && rttUs > 0 ? rttUs : null;
  } catch (error) {
    ctx.log(`round-trip probe failed: ${error}`);
    return null;
  } finally {
    await Promise.all([ping?.stop(500), echo.stop(500)]);
  }
}

/**
 * The round-trip probe with both ends on one core and on two, recorded in
 * the machine's description under `prefix` (µs); one unpinned run without taskset.
 */
async function probeRoundTrips(ctx: RunContext, prefix: "Before" | "After"): Promise<void> {
  const machine = ctx.results.machine;
  const record = (key: string, value: number | null) => {
    if (value !== null) machine[`roundTrip${key}${prefix}Us`] = value;
  };
  const [first, second] = await pinnableCores();
  machine.roundTripPinned = first === undefined ? "no" : "yes";
  if (first === undefined) {
    record("Unpinned", await roundTrip(ctx, null, null));
    return;
  }
  record("OneCore", await roundTrip(ctx, first, first));
  if (second !== undefined) record("TwoCores", await roundTrip(ctx, first, second));
}

/** Describes the machine at the start of a run, with the CPU and round-trip probes. */
export async function describeMachine(ctx: RunContext): Promise<void> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(meminfo.match(/MemTotal:\s+(\d+)/)?.[1] ?? 0);
  const root = ctx.root;
  const dirty = await sh(`git -C '${root}' status --porcelain --untracked-files=no`);
  Object.assign(ctx.results.machine, {
    nproc: Number(await sh("nproc")) || navigator.hardwareConcurrency,
    cpu: cpuinfo.match(/model name\s*:\s*(.*)/)?.[1]?.trim() ?? "unknown",
    memory: `${(memKiB / 1024 / 1024).toFixed(1)} GiB`,
    kernel: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
    deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    wrk: (await sh("wrk -v 2>&1 | head -n 1")).replace(/\s+Copyright.*/, ""),
    h2load: await sh("h2load --version | head -n 1"),
    curl: (await sh("curl --version | head -n 1")).split(" ").slice(0, 2).join(" "),
    nginx: (await sh("nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1")).replace(
      /^nginx version: nginx\//,
      "",
    ),
    go: (await sh("go version")).replace(/^go version go/, ""),
    node: await sh("node --version"),
    loadBefore: Deno.loadavg().map((v) => v.toFixed(2)).join(", "),
    commit: `${(await sh(`git -C '${root}' rev-parse --short HEAD`)) || "unknown"}${
      dirty ? " with uncommitted changes" : ""
    }`,
  });
  ctx.results.machine.coresAvailableBefore = Number((await cpuAvailable(ctx)).toFixed(2));
  await probeRoundTrips(ctx, "Before");
}

/**
 * The machine at the end: load, CPU available and, when there is time
 * before the deadline (`leftMs`), the round-trip probes again.
 */
export async function finishMachine(ctx: RunContext, leftMs: number): Promise<void> {
  const machine = ctx.results.machine;
  machine.loadAfter = Deno.loadavg().map((v) => v.toFixed(2)).join(", ");
  if (machine.coresAvailableAfter !== undefined || ctx.procs.aborting) return;
  machine.coresAvailableAfter = Number((await cpuAvailable(ctx)).toFixed(2));
  // The probes take at most about 32 s: only when they cannot take the run past its deadline.
  if (leftMs > 35_000) await probeRoundTrips(ctx, "After");
}
