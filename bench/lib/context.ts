/**
 * The run context: everything one run shares (its configuration, its
 * processes, its measuring instruments, its results and its progress log),
 * passed to every scenario instead of living in module-level variables.
 *
 * @module
 */

import type { BenchConfig, Suite } from "./config.ts";
import { fmt } from "./format.ts";
import { Processes } from "./processes.ts";
import { ProcStats } from "./proc_stats.ts";
import { newResults, type Results, type Row } from "./results.ts";

/** What a router's `--help` says about it, and the flags every router of the run gets. */
export interface RouterInfo {
  /** Its `--help` text. */
  help: string;
  /** Flags every router gets besides its ports. */
  flags: string[];
}

/** One run's shared state. */
export interface RunContext {
  readonly suite: Suite;
  readonly quick: boolean;
  readonly config: BenchConfig;
  /** The repository (cwd of every child). */
  readonly root: string;
  /** The bench/ folder. */
  readonly benchDir: string;
  /** A temporary folder of this run (logs, nginx prefix, Go binaries, upload files). */
  readonly tmpDir: string;
  readonly procs: Processes;
  readonly stats: ProcStats;
  readonly results: Results;
  /** Filled in by the targets' preparation (`detectRouter`). */
  router: RouterInfo;
  /** A progress line on stderr, stamped with the time since the start. */
  log(line: string): void;
  /** Milliseconds since the run started. */
  elapsedMs(): number;
  /** Adds a row to the results and logs it. */
  addRow(row: Row): Row;
}

/** What {@linkcode createContext} needs. */
export interface ContextOptions {
  suite: Suite;
  quick: boolean;
  config: BenchConfig;
  root: string;
  benchDir: string;
  tmpDir: string;
  /** Where progress lines go. @default {console.error} */
  sink?: (line: string) => void;
}

/**
 * A new run context.
 *
 * @example
 * ```ts
 * import { createContext } from "./context.ts";
 * import { benchConfig } from "./config.ts";
 * import { equal } from "node:assert/strict";
 * const lines: string[] = [];
 * const ctx = createContext({
 *   suite: "bench",
 *   quick: true,
 *   config: benchConfig(true),
 *   root: Deno.cwd(),
 *   benchDir: Deno.cwd(),
 *   tmpDir: Deno.cwd(),
 *   sink: (line) => lines.push(line),
 * });
 * ctx.addRow({
 *   section: "rate",
 *   scenario: "tiny GET",
 *   target: "direct",
 *   metrics: { reqPerSec: 70611.2 },
 *   router: null,
 *   backend: null,
 *   generator: null,
 *   wallS: 5,
 * });
 * equal(ctx.results.rows.length, 1);
 * equal(lines[0]!.endsWith("tiny GET [direct] reqPerSec=70,611"), true);
 * ```
 */
export function createContext(options: ContextOptions): RunContext {
  const t0 = performance.now();
  const elapsedMs = () => performance.now() - t0;
  const sink = options.sink ?? ((line: string) => console.error(line));
  const log = (line: string) => sink(`[${(elapsedMs() / 1000).toFixed(1).padStart(5)} s] ${line}`);
  const results = newResults(options.suite, options.quick, options.config);
  return {
    suite: options.suite,
    quick: options.quick,
    config: options.config,
    root: options.root,
    benchDir: options.benchDir,
    tmpDir: options.tmpDir,
    procs: new Processes(options.root),
    stats: new ProcStats(),
    results,
    router: { help: "", flags: [] },
    log,
    elapsedMs,
    addRow(row: Row): Row {
      results.rows.push(row);
      const m = Object.entries(row.metrics).map(([k, v]) => `${k}=${fmt(v)}`).join(" ");
      log(`${row.scenario} [${row.target}] ${row.error ? `ERROR ${row.error}` : m}`);
      return row;
    },
  };
}
