/**
 * WebSocket echo (the `/ws` route) with Deno's client (bench/ws_client.ts):
 * ping-pong on many sockets at once, then one socket echoing a bulk of
 * 64 KiB messages. Through the router each socket is an RFC 8441 extended
 * CONNECT stream on the tunnel; the direct target is `Deno.upgradeWebSocket`.
 *
 * @module
 */

import type { RunContext } from "../lib/context.ts";
import { measureRow } from "../lib/measure_row.ts";
import type { Target } from "../lib/targets.ts";
import { runDenoClient } from "../lib/tools.ts";

/** What bench/ws_client.ts prints. */
interface EchoResult {
  messagesPerSec: number;
  rttP50Ms: number;
  rttP99Ms: number;
  bulkMBps: number;
  openMs: number;
  failed: number;
}

/** The echo scenario against each target. */
export async function websocketScenario(
  ctx: RunContext,
  targets: readonly Target[],
): Promise<void> {
  const { sockets, seconds, bulkMiB } = ctx.config.ws;
  const scenario =
    `WebSocket echo: ${sockets} sockets ping-pong ${seconds} s, then ${bulkMiB} MiB bulk`;
  for (const target of targets) {
    await measureRow(
      ctx,
      "ws",
      scenario,
      target,
      () =>
        runDenoClient<EchoResult>(ctx, `${ctx.benchDir}ws_client.ts`, [
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
