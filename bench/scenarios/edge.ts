/**
 * The edge scenario (issue 16): a router with few file descriptors
 * (`ulimit -n`, 1,024) under attack at its public edge, then asked to go on
 * serving.
 *
 * 1. Idle connections past the limit: more than the router has descriptors,
 *    to the public port and some to the tunnel port, held open (and dialed
 *    again when closed) for the whole scenario, from 127.0.0.2.
 * 2. A reset flood from 127.0.0.3: an h2c client opening streams and
 *    resetting each at once (bench/edge_flood.mjs), while wrk sends normal
 *    requests from 127.0.0.1 ("during").
 * 3. Normal requests alone, the idle connections still held ("after").
 * 4. Whether the router survived: its process lives, its public listener
 *    answers a request, its tunnel listener registers a new backend.
 *
 * The router gets the issue's new limits (`--max-connections`,
 * `--max-connections-per-address`, `--header-timeout`,
 * `--client-idle-timeout`) only where its `--help` lists them, sized for
 * the descriptor limit. A router that dies is a finding, reported with how
 * it ended: every step is bounded, and the scenario never waits on it.
 *
 * @module
 */

import type { RunContext } from "../lib/context.ts";
import { memory } from "../lib/proc_stats.ts";
import type { Proc } from "../lib/processes.ts";
import { type EdgeLoad, type EdgeResult, errorText } from "../lib/results.ts";
import { helpLists, startBackend, type StartedRouter, startRouter } from "../lib/targets.ts";
import { curl, runTool, wrk } from "../lib/tools.ts";

/** Source addresses of the attackers (all of 127.0.0.0/8 is loopback on Linux). */
const IDLE_SOURCE = "127.0.0.2";
const RESET_SOURCE = "127.0.0.3";

/**
 * The issue 16 flags the router's `--help` lists, with values sized for a
 * descriptor limit of `fdLimit`: three quarters of it for connections (the
 * rest for tunnels, logs and the runtime), a quarter per address.
 *
 * @example
 * ```ts
 * import { edgeFlags } from "./edge.ts";
 * import { deepEqual } from "node:assert/strict";
 * const help = "  --max-connections <n>  Most connections\n  --header-timeout <duration>\n";
 * deepEqual(edgeFlags(help, 1024), ["--max-connections", "768", "--header-timeout", "5s"]);
 * deepEqual(edgeFlags("", 1024), []);
 * ```
 */
export function edgeFlags(help: string, fdLimit: number): string[] {
  const wanted: [string, string][] = [
    ["--max-connections", String(Math.floor(fdLimit * 0.75))],
    ["--max-connections-per-address", String(Math.floor(fdLimit / 4))],
    ["--header-timeout", "5s"],
    ["--client-idle-timeout", "30s"],
  ];
  return wanted.filter(([flag]) => helpLists(help, flag)).flat();
}

/** wrk's normal requests for `seconds`; its failure to run becomes the load's error. */
async function normalLoad(ctx: RunContext, port: number, seconds: number): Promise<EdgeLoad> {
  try {
    const r = await wrk(ctx, `http://127.0.0.1:${port}/tiny`, 50, seconds);
    return {
      reqPerSec: r.reqPerSec,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      requests: r.requests,
      errors: r.errors,
    };
  } catch (error) {
    return {
      reqPerSec: 0,
      p50Ms: NaN,
      p99Ms: NaN,
      requests: 0,
      errors: NaN,
      error: errorText(error).slice(0, 200),
    };
  }
}

/** Whether the public port answers `/tiny` with `bar` within 5 s. */
async function publicAnswers(ctx: RunContext, port: number): Promise<boolean> {
  try {
    const r = await curl(ctx, ["--max-time", "5", `http://127.0.0.1:${port}/tiny`], 10_000);
    return r.status === 200 && r.body === "bar";
  } catch {
    return false;
  }
}

/** Whether a new backend can register on the tunnel port within 10 s. */
async function tunnelRegisters(ctx: RunContext, tunnelPort: number): Promise<boolean> {
  try {
    const late = await startBackend(ctx, "backend-edge-late", tunnelPort, [], [], 10_000);
    await late.proc.stop();
    return true;
  } catch {
    return false;
  }
}

/** The open file descriptors of `pid`, or NaN when it is gone. */
function openFiles(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return NaN;
  }
}

/** Runs the edge scenario; its findings go to `results.scale.edge`. */
export async function edgeScenario(ctx: RunContext): Promise<void> {
  const { edge, duration } = ctx.config;
  const flags = edgeFlags(ctx.router.help, edge.fdLimit);
  const result: EdgeResult = {
    fdLimit: edge.fdLimit,
    flags,
    idle: null,
    reset: null,
    during: null,
    after: null,
    survived: { process: false, publicListener: false, tunnelListener: false },
    routerPeakMiB: NaN,
  };
  ctx.results.scale.edge = result;
  const script = `${ctx.benchDir}edge_flood.mjs`;
  let router: StartedRouter | undefined;
  let backend: Proc | undefined;
  let idle: Proc | undefined;
  try {
    router = await startRouter(ctx, "router-edge", { args: flags, fdLimit: edge.fdLimit });
    backend = (await startBackend(ctx, "backend-edge", router.tunnelPort, [], [], 30_000)).proc;
    if (!(await publicAnswers(ctx, router.port))) {
      throw new Error("the router did not answer before the floods");
    }
    const pid = router.proc.pid;
    ctx.stats.resetPeak(pid);
    ctx.stats.watch(pid);
    try {
      // The idle flood lasts at most as long as every later step may take.
      const bound = 20 + edge.resetSeconds + 15 + duration + 30 + 30;
      idle = ctx.procs.spawn("edge-idle", "node", [
        script,
        "idle",
        IDLE_SOURCE,
        "127.0.0.1",
        `${router.port}:${edge.idlePublic}`,
        `${router.tunnelPort}:${edge.idleTunnel}`,
        String(bound),
      ], { fdLimit: { files: edge.idlePublic + edge.idleTunnel + 1024, strict: false } });
      const opened = await idle.waitEvent("opened", 20_000);
      ctx.log(`edge: idle connections open: ${opened.public} public, ${opened.tunnel} tunnel`);

      const [flood, during] = await Promise.all([
        runTool(ctx, "node", [
          script,
          "reset",
          RESET_SOURCE,
          "127.0.0.1",
          String(router.port),
          String(edge.resetRate),
          String(edge.resetSeconds),
        ], (edge.resetSeconds + 15) * 1000),
        normalLoad(ctx, router.port, edge.resetSeconds),
      ]);
      result.during = during;
      const line = flood.stdout.trim().split("\n").pop() ?? "";
      if (flood.code === 0 && line.startsWith("{")) {
        const r = JSON.parse(line);
        result.reset = {
          seconds: r.seconds,
          streams: r.streams,
          perSec: r.perSec,
          answered: r.answered,
          goaways: r.goaways,
          connections: r.connections,
          sessionErrors: r.sessionErrors,
        };
      }
      ctx.log(
        `edge: reset flood ${JSON.stringify(result.reset)}, during ${JSON.stringify(during)}`,
      );
      result.after = await normalLoad(ctx, router.port, duration);

      result.survived = {
        process: !router.proc.exited,
        publicListener: await publicAnswers(ctx, router.port),
        tunnelListener: await tunnelRegisters(ctx, router.tunnelPort),
      };
      result.routerOpenFiles = openFiles(pid);
      idle.kill("SIGTERM");
      const end = await idle.waitEvent("result", 5_000).catch(() => null);
      result.idle = {
        planned: { public: edge.idlePublic, tunnel: edge.idleTunnel },
        opened: { public: Number(opened.public), tunnel: Number(opened.tunnel) },
        failedConnects: Number(end?.failedConnects ?? NaN),
        closedByPeer: Number(end?.closedByPeer ?? NaN),
        openAtEnd: Number(end?.openAtEnd ?? NaN),
      };
    } finally {
      const hwm = ctx.stats.peakResetWorks ? memory(pid).hwm : 0;
      result.routerPeakMiB = Math.max(ctx.stats.maxRss(pid), hwm) / 1024;
      ctx.stats.forget(pid);
    }
  } catch (error) {
    result.error = errorText(error);
    ctx.log(`edge scenario failed: ${result.error}`);
  } finally {
    if (router?.proc.exited) {
      const status = await router.proc.status;
      // The log's last error line says why (an uncaught error, say); its stack frames follow it.
      const tail = (await router.proc.tail(20)).split(" | ");
      const why = tail.findLast((line) => /error/i.test(line)) ?? tail.slice(-3).join(" | ");
      result.routerExit = `exit code ${status.code}${status.signal ? ` (${status.signal})` : ""}: ${
        why.slice(0, 400)
      }`;
    }
    await Promise.all([idle?.stop(1000), backend?.stop(), router?.proc.stop()]);
  }
  const s = result.survived;
  ctx.log(
    `edge: process ${s.process ? "lived" : "died"}, public ${
      s.publicListener ? "answered" : "silent"
    }, ` +
      `tunnel ${s.tunnelListener ? "registered" : "refused"}; router peak ${
        result.routerPeakMiB.toFixed(1)
      } MiB`,
  );
}
