/**
 * Scale, on a router of its own: the time to a tunnel's first response
 * (scenarios/connect.ts, while the router has no tunnel yet), the router's RSS per idle tunnel with a thousand
 * tunnels up, and ten thousand streams in flight across them at once (the
 * backend holds each `/hold` request until that many are held).
 *
 * @module
 */

import type { RunContext } from "../lib/context.ts";
import { fmt } from "../lib/format.ts";
import { memory } from "../lib/proc_stats.ts";
import { sleep } from "../lib/processes.ts";
import { errorText } from "../lib/results.ts";
import { median } from "../lib/stats.ts";
import { startBackend, startRouter, type Target } from "../lib/targets.ts";
import { h2load } from "../lib/tools.ts";
import { connectScenario } from "./connect.ts";

/** The scale scenarios; `direct` is the baseline of the time to first response. */
export async function scaleScenarios(ctx: RunContext, direct: Target): Promise<void> {
  const { config } = ctx;
  const scale = ctx.results.scale;
  const router = await startRouter(ctx, "router-scale", {
    args: ["--max-tunnels-per-service", "1000000"],
  });
  let backend: Awaited<ReturnType<typeof startBackend>> | undefined;
  try {
    await connectScenario(ctx, router.port, router.tunnelPort, direct.port);

    // Idle tunnels: the router's RSS before and after N tunnels connect.
    await sleep(500);
    const rssBefore = memory(router.proc.pid).rss;
    const n = config.tunnels;
    const started = performance.now();
    backend = await startBackend(ctx, "backend-scale", router.tunnelPort, [
      "--tunnels",
      String(n),
      "--hold",
      String(config.streams),
    ]);
    const connectMs = performance.now() - started;
    await sleep(1500); // Let both settle (SETTINGS exchanged, buffers allocated).
    const rssAfter = memory(router.proc.pid).rss;
    const backendRss = memory(backend.proc.pid).rss;
    // Right after the burst V8's young generation is still sized for it: it grows with the
    // bytes that survive its collections, here every new tunnel's state, and V8's memory
    // reducer gives the room back only after some 30 s of little allocation. The idle
    // figure is the router's RSS once that has happened: the median of the last samples.
    const watch = config.idleWatch;
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
    ctx.log(
      `idle tunnels: ${n}, router ${fmt((rssSettled - rssBefore) / n)} KiB per tunnel settled, ${
        fmt((rssAfter - rssBefore) / n)
      } right after connecting`,
    );

    // Streams in flight: /hold answers only once config.streams requests are held at once.
    try {
      const streams = config.streams;
      const clients = config.streamClients;
      const from = backend.proc.stdout.length;
      const holder = backend.proc;
      const outer = await ctx.stats.measureSides([router.proc.pid], [holder.pid], () =>
        h2load(
          ctx,
          `http://127.0.0.1:${router.port}/hold`,
          { clients, streams: Math.ceil(streams / clients), requests: streams },
          60_000,
        ));
      const released = await holder.waitEvent("released", 5000, from);
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
      ctx.log(`streams in flight: peak ${released.peak} of ${streams} (${released.reason})`);
    } catch (error) {
      scale.streamsInFlight = { error: errorText(error) };
      ctx.log(`streams in flight failed: ${error}`);
    }
  } finally {
    await backend?.proc.stop();
    await router.proc.stop();
  }
}
