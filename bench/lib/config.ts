/**
 * The sizes and durations of a run: one set for the full run, a smaller one
 * for `--quick` (a smoke run), for each suite: `bench` (`deno task bench`:
 * rates, transfers, streamed uploads, SSE, WebSocket) and `soak` (`deno task
 * soak`: tunnel establishment, scale, the edge scenario, the soak).
 *
 * @module
 */

/**
 * One mebibyte.
 *
 * @example
 * ```ts
 * import { MiB } from "./config.ts";
 * import { equal } from "node:assert/strict";
 * equal(64 * MiB, 67_108_864);
 * ```
 */
export const MiB = 1024 * 1024;
/**
 * One gibibyte.
 *
 * @example
 * ```ts
 * import { GiB, MiB } from "./config.ts";
 * import { equal } from "node:assert/strict";
 * equal(GiB, 1024 * MiB);
 * ```
 */
export const GiB = 1024 * MiB;

/** Which suite a run is. */
export type Suite = "bench" | "soak";

/** Sizes and durations of a run. */
export interface BenchConfig {
  /** Seconds of each wrk and h2load run. */
  duration: number;
  /** Seconds of the wrk warm-up of each target. */
  warmup: number;
  /** Connections of the tiny GET runs. */
  connections: number[];
  /** Connections of the POST echo run. */
  postConnections: number;
  /** h2load's clients and streams per client. */
  h2load: { clients: number; streams: number };
  /** Bytes of each download and upload. */
  transferBytes: number;
  /** The streamed uploads: bytes, and the size of each chunk of the stream. */
  streamedUpload: { bytes: number; chunk: number };
  /** Server-sent events: streams at once, events per stream flooded and paced, pace (ms). */
  sse: { streams: number; floodEvents: number; pacedEvents: number; interval: number };
  /** WebSocket echo: sockets, seconds of ping-pong, MiB of bulk echo. */
  ws: { sockets: number; seconds: number; bulkMiB: number };
  /** Tunnels established one after another for the time to first response. */
  connectRuns: number;
  /** Rounds of the round-trip probe. */
  pingPongRounds: number;
  /** Idle tunnels of the scale run. */
  tunnels: number;
  /** How long the idle tunnels are watched, and how many last samples make the settled figure. */
  idleWatch: { seconds: number; settledSamples: number };
  /** Streams in flight at once, and h2load clients carrying them. */
  streams: number;
  streamClients: number;
  /** The soak: requests, batches, and the most it may take (ms). */
  soakRequests: number;
  soakBatches: number;
  soakBudgetMs: number;
  /** The edge scenario (issue 16). */
  edge: EdgeConfig;
  /** The global deadline of the run (ms): every process is stopped then. */
  deadlineMs: number;
}

/** Sizes of the edge scenario: a router with few file descriptors, flooded. */
export interface EdgeConfig {
  /** The router's `ulimit -n`. */
  fdLimit: number;
  /** Idle connections held open to the public port and to the tunnel port. */
  idlePublic: number;
  idleTunnel: number;
  /** Streams opened and reset at once per second, and for how long (s). */
  resetRate: number;
  resetSeconds: number;
}

/**
 * The configuration of a run, quick or full (both suites read the parts they run).
 *
 * @example
 * ```ts
 * import { benchConfig, GiB } from "./config.ts";
 * import { equal } from "node:assert/strict";
 * equal(benchConfig(false).transferBytes, GiB);
 * equal(benchConfig(false).soakRequests, 1_000_000);
 * equal(benchConfig(true).deadlineMs < benchConfig(false).deadlineMs, true);
 * ```
 */
export function benchConfig(quick: boolean): BenchConfig {
  const edge: EdgeConfig = {
    fdLimit: 1024,
    idlePublic: 1200,
    idleTunnel: 100,
    resetRate: 10_000,
    resetSeconds: quick ? 5 : 30,
  };
  if (quick) {
    return {
      duration: 2,
      warmup: 1,
      connections: [1, 50, 256],
      postConnections: 50,
      h2load: { clients: 50, streams: 10 },
      transferBytes: 64 * MiB,
      streamedUpload: { bytes: 32 * MiB, chunk: 16 * 1024 },
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
      edge,
      deadlineMs: 170_000,
    };
  }
  return {
    duration: 5,
    warmup: 1,
    connections: [1, 50, 256],
    postConnections: 50,
    h2load: { clients: 50, streams: 10 },
    transferBytes: GiB,
    streamedUpload: { bytes: 100 * MiB, chunk: 16 * 1024 },
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
    edge,
    deadlineMs: 290_000,
  };
}
