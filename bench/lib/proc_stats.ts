/**
 * CPU time and memory of processes, read from /proc (Linux): what a
 * scenario cost the router, the backends and the load generator, and what
 * the rest of the machine did meanwhile.
 *
 * - CPU: utime + stime of /proc/PID/stat, in clock ticks (`getconf CLK_TCK`).
 * - Peak RSS: VmHWM of /proc/PID/status, reset at the start of a scenario by
 *   writing 5 to /proc/PID/clear_refs (Linux ≥ 4.0); where that is not
 *   permitted, VmRSS sampled every 50 ms instead.
 * - The machine: the first line of /proc/stat (busy and idle ticks, all cores).
 *
 * @module
 */

import { sh } from "./processes.ts";

/** CPU and memory of one process (or a group, summed) during one scenario. */
export interface Usage {
  /** CPU seconds (user + system). */
  cpuS: number;
  /** CPU seconds over wall seconds, in % of one core. */
  cpuPct: number;
  /** RSS at the start (MiB). */
  rssStartMiB: number;
  /** RSS at the end (MiB). */
  rssEndMiB: number;
  /** Peak RSS during the scenario (MiB). */
  peakMiB: number;
}

/** The whole machine during a scenario, in % of one core (so up to nproc × 100). */
export interface SystemUsage {
  /** Busy time of all cores. */
  busyPct: number;
  /** Idle (and I/O wait) time of all cores. */
  idlePct: number;
}

/** What {@linkcode ProcStats.measure} returns. */
export interface Measured<T> {
  /** What the measured function returned. */
  value: T;
  /** Its wall time (s). */
  wallS: number;
  /** The processes' usage summed; `null` when none was measured. */
  usage: Usage | null;
  /** The machine meanwhile. */
  system: SystemUsage;
}

/**
 * CPU time (utime + stime) of `pid` in clock ticks, or -1 when it is gone.
 *
 * @example
 * ```ts
 * import { cpuTicks } from "./proc_stats.ts";
 * import { equal } from "node:assert/strict";
 * equal(cpuTicks(Deno.pid) >= 0, true);
 * ```
 */
export function cpuTicks(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // The command name (field 2) may hold spaces: fields are counted after its ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return -1;
  }
}

/**
 * VmRSS and VmHWM of `pid` in KiB (0 when it is gone).
 *
 * @example
 * ```ts
 * import { memory } from "./proc_stats.ts";
 * import { equal } from "node:assert/strict";
 * const { rss, hwm } = memory(Deno.pid);
 * equal(rss > 0 && hwm >= rss, true);
 * ```
 */
export function memory(pid: number): { rss: number; hwm: number } {
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

/**
 * The machine's busy and idle CPU time so far (all cores), in clock ticks.
 *
 * @example
 * ```ts
 * import { systemTicks } from "./proc_stats.ts";
 * import { equal } from "node:assert/strict";
 * const { busy, idle } = systemTicks();
 * equal(busy > 0 && idle > 0, true);
 * ```
 */
export function systemTicks(): { busy: number; idle: number } {
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

/**
 * The measuring instruments of one run: the clock tick, whether peaks can be
 * reset, and a 50 ms sampler of RSS and CPU for watched processes (the peak
 * fallback, and the CPU of tools that exit before they can be read).
 *
 * @example
 * ```ts
 * import { ProcStats } from "./proc_stats.ts";
 * import { equal } from "node:assert/strict";
 * const stats = new ProcStats();
 * await stats.init();
 * const m = await stats.measure([Deno.pid], async () => {
 *   let x = 0;
 *   for (let i = 0; i < 1e6; i++) x += i;
 *   return x;
 * });
 * equal(m.value, 499999500000);
 * equal(m.usage!.peakMiB > 0, true);
 * ```
 */
export class ProcStats {
  #clkTck = 100;
  #peakResetWorks = true;
  #watched = new Map<number, { maxRss: number; ticks: number; watchers: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Reads the clock tick (`getconf CLK_TCK`). */
  async init(): Promise<void> {
    this.#clkTck = Number(await sh("getconf CLK_TCK")) || 100;
  }

  /** Clock ticks per second. */
  get clkTck(): number {
    return this.#clkTck;
  }

  /** Whether VmHWM could be reset every time so far. */
  get peakResetWorks(): boolean {
    return this.#peakResetWorks;
  }

  /** Resets `pid`'s peak RSS (VmHWM) to its current RSS. */
  resetPeak(pid: number): void {
    try {
      Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
    } catch {
      this.#peakResetWorks = false;
    }
  }

  /** Samples `pid` every 50 ms until {@linkcode forget} (as often as watched). */
  watch(pid: number): void {
    const entry = this.#watched.get(pid);
    if (entry) {
      entry.watchers++;
      return;
    }
    this.#watched.set(pid, {
      maxRss: memory(pid).rss,
      ticks: Math.max(0, cpuTicks(pid)),
      watchers: 1,
    });
    this.#timer ??= setInterval(() => this.#sample(), 50);
  }

  #sample(): void {
    for (const [pid, entry] of this.#watched) {
      const ticks = cpuTicks(pid);
      if (ticks >= 0) entry.ticks = ticks;
      entry.maxRss = Math.max(entry.maxRss, memory(pid).rss);
    }
  }

  /** Stops watching `pid`; returns the last CPU time seen (s). */
  forget(pid: number): number {
    const entry = this.#watched.get(pid);
    if (entry && --entry.watchers > 0) return entry.ticks / this.#clkTck;
    this.#watched.delete(pid);
    if (this.#watched.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    return (entry?.ticks ?? 0) / this.#clkTck;
  }

  /** The largest RSS sampled of a watched `pid` (KiB), sampling once more first. */
  maxRss(pid: number): number {
    this.#sample();
    return this.#watched.get(pid)?.maxRss ?? 0;
  }

  /** Runs `fn`, measuring the CPU time and RSS of `pids` (summed) and the machine meanwhile. */
  async measure<T>(pids: readonly number[], fn: () => Promise<T>): Promise<Measured<T>> {
    const system0 = systemTicks();
    const before = pids.map((pid) => {
      this.resetPeak(pid);
      this.watch(pid);
      return { ticks: cpuTicks(pid), rss: memory(pid).rss };
    });
    const start = performance.now();
    try {
      const value = await fn();
      const wallS = (performance.now() - start) / 1000;
      const system1 = systemTicks();
      const system = {
        busyPct: (100 * (system1.busy - system0.busy)) / this.#clkTck / wallS,
        idlePct: (100 * (system1.idle - system0.idle)) / this.#clkTck / wallS,
      };
      if (pids.length === 0) return { value, wallS, usage: null, system };
      const usage: Usage = { cpuS: 0, cpuPct: 0, rssStartMiB: 0, rssEndMiB: 0, peakMiB: 0 };
      pids.forEach((pid, i) => {
        const m = memory(pid);
        const sampled = this.maxRss(pid);
        usage.cpuS += (cpuTicks(pid) - before[i]!.ticks) / this.#clkTck;
        usage.rssStartMiB += before[i]!.rss / 1024;
        usage.rssEndMiB += m.rss / 1024;
        usage.peakMiB += Math.max(this.#peakResetWorks ? m.hwm : 0, sampled, m.rss) / 1024;
      });
      usage.cpuPct = (100 * usage.cpuS) / wallS;
      return { value, wallS, usage, system };
    } finally {
      for (const pid of pids) this.forget(pid);
    }
  }

  /**
   * {@linkcode measure} nested twice: the router's processes outside, the
   * backends' inside, so each side gets its own usage.
   */
  async measureSides<T>(
    routerPids: readonly number[],
    backendPids: readonly number[],
    fn: () => Promise<T>,
  ): Promise<Measured<T> & { backendUsage: Usage | null }> {
    let backendUsage: Usage | null = null;
    const outer = await this.measure(routerPids, async () => {
      const inner = await this.measure(backendPids, fn);
      backendUsage = inner.usage;
      return inner.value;
    });
    return { ...outer, backendUsage };
  }
}
