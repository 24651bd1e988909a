/**
 * Server-sent events: many streams at once, one HTTP/1.1 connection each.
 *
 * - Flood: every stream's events as fast as the reader takes them; h2load
 *   (C, `--h1`, one connection per stream) reads them, so the client is not
 *   what limits the rate. Events are counted from the body bytes.
 * - Paced: bench/sse_client.ts (Deno `fetch`), one event per interval on
 *   every stream, as SSE is used: time to the first event and the delivery
 *   latency of each.
 *
 * @module
 */

import type { RunContext } from "../lib/context.ts";
import { measureRow } from "../lib/measure_row.ts";
import { percentile } from "../lib/stats.ts";
import type { Target } from "../lib/targets.ts";
import { h2loadRaw, runDenoClient, toMs } from "../lib/tools.ts";

/** What bench/sse_client.ts prints. */
interface PacedResult {
  received: number;
  failed: number;
  wallMs: number;
  firstEventMs: number[];
  deliveryMs: number[];
  aloneFirstEventMs: number[];
}

/** Both SSE scenarios against each target. */
export async function sseScenarios(ctx: RunContext, targets: readonly Target[]): Promise<void> {
  const { streams, floodEvents, pacedEvents, interval } = ctx.config.sse;
  const flood = `SSE flood: ${streams} streams × ${floodEvents} events (h2load --h1)`;
  // An event is `id: <i>\ndata: <stamp>\n\n`; the stamp is 13 digits, a dot and 3 decimals.
  const eventBytes = (i: number) => `id: ${i}\ndata: `.length + 17 + 2;
  let expectedBytes = 0;
  for (let i = 0; i < floodEvents; i++) expectedBytes += eventBytes(i);
  for (const target of targets) {
    await measureRow(ctx, "sse", flood, target, () =>
      h2loadRaw(ctx, [
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

  const paced = `SSE paced: ${streams} streams × ${pacedEvents} events, one per ${interval} ms`;
  for (const target of targets) {
    await measureRow(
      ctx,
      "sse",
      paced,
      target,
      () =>
        runDenoClient<PacedResult>(ctx, `${ctx.benchDir}sse_client.ts`, [
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
