/**
 * What a run finds, as written to its JSON file and read back by the report:
 * one {@linkcode Row} per scenario and target, the scale, soak and edge
 * findings, the targets judged, and the machine it ran on.
 *
 * @module
 */

import type { BenchConfig } from "./config.ts";
import type { SystemUsage, Usage } from "./proc_stats.ts";

/** One scenario against one target. */
export interface Row {
  /** The report's table it belongs to (`rate`, `h2load`, `transfer`, `streamed`, `sse`, `ws`, `connect`). */
  section: string;
  /** The scenario, as the table shows it; rows of one scenario are compared with each other. */
  scenario: string;
  /** The target's key (see {@linkcode Results.targets} for its label). */
  target: string;
  /** The figures, by name. */
  metrics: Record<string, number>;
  /** The router's usage (for direct: none; for the nginx hop: its worker). */
  router: Usage | null;
  /** The backends' usage (for direct and the nginx hop: the Deno.serve process). */
  backend: Usage | null;
  /** The load generator's CPU. */
  generator: { cpuS: number; cpuPct: number } | null;
  /** The whole machine meanwhile (other engineers' processes included). */
  system?: SystemUsage;
  /** Wall time of the measured part (s). */
  wallS: number;
  /** Why it failed, if it did. */
  error?: string;
}

/** One target judged. */
export interface Check {
  /** What is judged. */
  target: string;
  /** The figure measured. */
  figure: string;
  /** The figure it must reach. */
  threshold: string;
  /** Met, not met, or `null` when it could not be judged. */
  met: boolean | null;
}

/** A soak figure at its start and end (KiB). */
export interface Growth {
  start: number;
  end: number;
  growth: number;
}

/** One sample of the soak: RSS right after a batch, then heap and RSS after a full collection. */
export interface SoakSample {
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

/** What the soak found. */
export interface SoakResult {
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

/** Findings that are not rows of a table. */
export interface Findings {
  establishment?: { connected: number[]; firstResponse: number[]; direct: number[] };
  idleTunnels?: Record<string, number | number[]>;
  streamsInFlight?: Record<string, unknown>;
  soak?: SoakResult;
  soakError?: string;
}

/** Everything a run writes to its JSON file. */
export interface Results {
  mode: "quick" | "full";
  startedAt: string;
  durationS: number;
  complete: boolean;
  machine: Record<string, string | number>;
  config: BenchConfig;
  /** The label of each target key, in the order they were started. */
  targets: Record<string, string>;
  notes: string[];
  rows: Row[];
  scale: Findings;
  checks: Check[];
}

/**
 * A new, empty result of a run.
 *
 * @example
 * ```ts
 * import { newResults } from "./results.ts";
 * import { benchConfig } from "./config.ts";
 * import { equal } from "node:assert/strict";
 * const results = newResults(true, benchConfig(true));
 * equal(results.mode, "quick");
 * equal(results.rows.length, 0);
 * ```
 */
export function newResults(quick: boolean, config: BenchConfig): Results {
  return {
    mode: quick ? "quick" : "full",
    startedAt: new Date().toISOString(),
    durationS: 0,
    complete: false,
    machine: {},
    config,
    targets: {},
    notes: [],
    rows: [],
    scale: {},
    checks: [],
  };
}

/**
 * The row of a scenario that failed against a target.
 *
 * @example
 * ```ts
 * import { failedRow } from "./results.ts";
 * import { equal } from "node:assert/strict";
 * const row = failedRow("rate", "tiny GET", "go", new Error("go build failed"));
 * equal(row.error, "go build failed");
 * ```
 */
export function failedRow(section: string, scenario: string, target: string, error: unknown): Row {
  return {
    section,
    scenario,
    target,
    metrics: {},
    router: null,
    backend: null,
    generator: null,
    wallS: 0,
    error: errorText(error).slice(0, 300),
  };
}

/**
 * The message of an error, or the thing thrown as text.
 *
 * @example
 * ```ts
 * import { errorText } from "./results.ts";
 * import { equal } from "node:assert/strict";
 * equal(errorText(new Error("boom")), "boom");
 * equal(errorText("plain"), "plain");
 * ```
 */
export function errorText(error: unknown): string {
  return String((error as Error)?.message ?? error);
}

/**
 * The successful row of `scenario` against `target`, if any.
 *
 * @example
 * ```ts
 * import { findRow, newResults } from "./results.ts";
 * import { benchConfig } from "./config.ts";
 * import { equal } from "node:assert/strict";
 * const results = newResults(true, benchConfig(true));
 * equal(findRow(results, "tiny GET, 50 connections", "direct"), undefined);
 * ```
 */
export function findRow(results: Results, scenario: string, target: string): Row | undefined {
  return results.rows.find((r) => r.scenario === scenario && r.target === target && !r.error);
}
