/**
 * What a run finds, as written to its JSON file and read back by the report:
 * one {@linkcode Row} per scenario and target, the scale, soak and edge
 * findings, the targets judged, and the machine it ran on.
 *
 * @module
 */

import type { BenchConfig, Suite } from "./config.ts";
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
  /** Which issue set it. */
  source: string;
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

/** Normal requests (wrk) during or after the edge scenario's floods. */
export interface EdgeLoad {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  /** Why wrk gave no figures (it could not connect at all, say). */
  error?: string;
}

/** What the edge scenario (issue 16) found. */
export interface EdgeResult {
  /** The router's `ulimit -n`. */
  fdLimit: number;
  /** The issue 16 flags the router was given (those its `--help` lists). */
  flags: string[];
  idle: {
    /** Connections asked for, to the public and the tunnel port. */
    planned: { public: number; tunnel: number };
    /** Open once every first attempt had settled. */
    opened: { public: number; tunnel: number };
    /** Over the scenario: attempts that failed, connections the router closed, open at the end. */
    failedConnects: number;
    closedByPeer: number;
    openAtEnd: number;
  } | null;
  reset: {
    seconds: number;
    /** Streams opened (and reset at once), per second achieved. */
    streams: number;
    perSec: number;
    /** Responses that came back all the same (the stream was served before its reset was read). */
    answered: number;
    /** GOAWAYs received, connections made, connections that failed (refused or reset). */
    goaways: number;
    connections: number;
    sessionErrors: number;
  } | null;
  during: EdgeLoad | null;
  after: EdgeLoad | null;
  /** Whether the process lived and each listener served at the end. */
  survived: { process: boolean; publicListener: boolean; tunnelListener: boolean };
  /** How the router ended, when it died; the last lines of its log. */
  routerExit?: string;
  /** The router's peak RSS over the scenario (MiB). */
  routerPeakMiB: number;
  /** The router's open file descriptors at the end, the idle connections still held. */
  routerOpenFiles?: number;
  /** Why the scenario itself could not be run. */
  error?: string;
}

/** Findings that are not rows of a table. */
export interface Findings {
  establishment?: { connected: number[]; firstResponse: number[]; direct: number[] };
  idleTunnels?: Record<string, number | number[]>;
  streamsInFlight?: Record<string, unknown>;
  soak?: SoakResult;
  soakError?: string;
  edge?: EdgeResult;
}

/** Everything a run writes to its JSON file. */
export interface Results {
  suite: Suite;
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
 * const results = newResults("bench", true, benchConfig(true));
 * equal(results.mode, "quick");
 * equal(results.rows.length, 0);
 * ```
 */
export function newResults(suite: Suite, quick: boolean, config: BenchConfig): Results {
  return {
    suite,
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
 * const results = newResults("bench", true, benchConfig(true));
 * equal(findRow(results, "tiny GET, 50 connections", "direct"), undefined);
 * ```
 */
export function findRow(results: Results, scenario: string, target: string): Row | undefined {
  return results.rows.find((r) => r.scenario === scenario && r.target === target && !r.error);
}
