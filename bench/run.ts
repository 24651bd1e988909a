/**
 * The benchmark suites:
 *
 *     deno task bench [--quick] [--json FILE] [--md FILE] [--deadline SECONDS]
 *     deno task soak  [--quick] [--json FILE] [--md FILE] [--deadline SECONDS]
 *     deno run -A bench/run.ts --report [--quick] [--md FILE]
 *
 * `bench` runs the request rates, transfers, streamed uploads, SSE and
 * WebSocket scenarios against direct `Deno.serve`, the nginx hop, the Go
 * original and ptth routers with one and four backends (lib/targets.ts),
 * each its own processes driven by wrk, h2load, curl and client scripts.
 *
 * `soak` (`--soak`) runs what takes long, which would take the bench past
 * its deadline: tunnel establishment and scale (a thousand idle tunnels
 * watched until V8 settles), the edge scenario (issue 16) and the
 * million-request soak. `--report` only renders the report from the latest
 * results files.
 *
 * Each run writes its results as JSON and the report (lib/output.ts) made of
 * the latest bench and soak results of the same mode; `--quick` is a smoke
 * run with smaller sizes (lib/config.ts). Every child process is stopped at
 * the end, on failure, on SIGINT/SIGTERM, and when the global deadline (under
 * 5 minutes) passes; the results gathered until then are still written.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type BenchConfig, benchConfig, type Suite } from "./lib/config.ts";
import { createContext, type RunContext } from "./lib/context.ts";
import { fmt } from "./lib/format.ts";
import { buildGoOriginal, startGoOriginal } from "./lib/go_original.ts";
import { describeMachine, finishMachine } from "./lib/machine.ts";
import { startNginx } from "./lib/nginx.ts";
import { formatFiles, outputPaths, readResults, report, writeOutputs } from "./lib/output.ts";
import { Deadline } from "./lib/processes.ts";
import { errorText } from "./lib/results.ts";
import {
  detectRouter,
  hasFlag,
  startDirect,
  startTunnel,
  stopTarget,
  TARGET,
  type Target,
} from "./lib/targets.ts";
import type { CheckedScenarios } from "./lib/targets_check.ts";
import { ensureTools } from "./lib/tools.ts";
import { edgeScenario } from "./scenarios/edge.ts";
import { rateScenarios, tinyScenario } from "./scenarios/rates.ts";
import { scaleScenarios } from "./scenarios/scale.ts";
import { soakScenario } from "./scenarios/soak.ts";
import { sseScenarios } from "./scenarios/sse.ts";
import { streamedScenarios, streamedUploads } from "./scenarios/streamed_upload.ts";
import { prepareUploadFiles, transfers, transferScenario } from "./scenarios/transfers.ts";
import { websocketScenario } from "./scenarios/websocket.ts";

/** Kept back from the global deadline for stopping the processes and writing the results. */
const RESERVE_MS = 20_000;

/** The scenario names the targets are judged on. */
function checkedScenarios(config: BenchConfig): CheckedScenarios {
  const streamed = streamedScenarios(config);
  return {
    tiny50: tinyScenario(50),
    download: transferScenario(config, "download"),
    upload: transferScenario(config, "upload"),
    streamedLength: streamed.length,
    streamed: streamed.stream,
  };
}

/** Starts a target that may be missing from this machine; a failure is a note, not the end. */
async function optional(
  ctx: RunContext,
  what: string,
  start: () => Promise<Target>,
): Promise<Target | null> {
  try {
    return await start();
  } catch (error) {
    ctx.results.notes.push(`${what} did not start, its rows are missing: ${errorText(error)}`);
    ctx.log(`${what} did not start: ${error}`);
    return null;
  }
}

const present = (targets: (Target | null)[]) => targets.filter((t): t is Target => t !== null);

/** `deno task bench`: every scenario with a table, and the scale runs. */
async function benchPlan(ctx: RunContext): Promise<void> {
  const binaries = await buildGoOriginal(ctx).catch((error) => {
    ctx.results.notes.push(`The Go original could not be built: ${errorText(error)}`);
    return null;
  });
  const files = await prepareUploadFiles(ctx);
  const direct = await startDirect(ctx);
  const [nginx, go, tunnel1, tunnel4, logsOff] = await Promise.all([
    optional(ctx, "The nginx hop", () => startNginx(ctx, direct)),
    binaries ? optional(ctx, "The Go original", () => startGoOriginal(ctx, binaries)) : null,
    startTunnel(ctx, TARGET.tunnel1, { backends: 1 }),
    startTunnel(ctx, TARGET.tunnel4, { backends: 4 }),
    hasFlag(ctx, "--log-level")
      ? startTunnel(ctx, TARGET.logsOff, { backends: 1, routerArgs: ["--log-level", "error"] })
      : null,
  ]);
  // Issue 20: a router with N workers is one more startTunnel() here, with its key, label
  // and router flags, added to the lists below where its rows belong.
  ctx.log(`started: ${Object.keys(ctx.results.targets).join(", ")}`);

  await rateScenarios(ctx, present([direct, nginx, go, tunnel1, tunnel4]), logsOff);
  if (logsOff) await stopTarget(logsOff);
  const oneHop = present([direct, nginx, go, tunnel1]);
  await transfers(ctx, "download", oneHop, files);
  await transfers(ctx, "upload", oneHop, files);
  await streamedUploads(ctx, present([direct, nginx, tunnel1]));
  await Promise.all(present([nginx, go]).map(stopTarget));

  await sseScenarios(ctx, [direct, tunnel1, tunnel4]);
  await websocketScenario(ctx, [direct, tunnel1, tunnel4]);
}

/** `deno task soak`: the scale runs, the edge scenario, then the soak in the time left. */
async function soakPlan(ctx: RunContext, deadline: Deadline): Promise<void> {
  const direct = await startDirect(ctx);
  await scaleScenarios(ctx, direct);
  await stopTarget(direct);
  await edgeScenario(ctx);
  await soakScenario(ctx, () => deadline.leftMs() - RESERVE_MS);
}

// ---------------------------------------------------------------- main

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    soak: { type: "boolean", default: false },
    report: { type: "boolean", default: false },
    json: { type: "string" },
    md: { type: "string" },
    deadline: { type: "string" },
  },
});
const suite: Suite = flags.soak ? "soak" : "bench";
const quick = flags.quick === true;
const root = new URL("..", import.meta.url).pathname;
const benchDir = new URL(".", import.meta.url).pathname;
const defaults = outputPaths(root, benchDir, suite, quick);
const paths = {
  ...defaults,
  json: flags.json ?? defaults.json,
  markdown: flags.md ?? defaults.markdown,
};

if (flags.report) {
  const bench = await readResults(outputPaths(root, benchDir, "bench", quick).json, "bench");
  const soak = await readResults(outputPaths(root, benchDir, "soak", quick).json, "soak");
  const { markdown } = report(bench, soak, checkedScenarios(bench?.config ?? benchConfig(quick)));
  await Deno.writeTextFile(paths.markdown, markdown);
  await formatFiles(root, [paths.markdown]);
  console.log(markdown);
  Deno.exit(0);
}

const config = benchConfig(quick);
if (flags.deadline !== undefined) config.deadlineMs = Number(flags.deadline) * 1000;
const tmpDir = await Deno.makeTempDir({ prefix: "ptth-bench-" });
const ctx = createContext({ suite, quick, config, root, benchDir, tmpDir });

/** Writes the results once, whether the run ends, fails or hits its deadline. */
let finishing: Promise<void> | undefined;
function finish(): Promise<void> {
  finishing ??= (async () => {
    await finishMachine(ctx, deadline.leftMs());
    ctx.results.durationS = ctx.elapsedMs() / 1000;
    const markdown = await writeOutputs(ctx, paths, checkedScenarios(config));
    console.log(markdown);
    ctx.log(`wrote ${paths.json} and ${paths.markdown}`);
    await Deno.remove(tmpDir, { recursive: true }).catch(() => {});
  })();
  return finishing;
}

const deadline = new Deadline(config.deadlineMs, async () => {
  ctx.log(`global deadline of ${config.deadlineMs / 1000} s passed: stopping everything`);
  ctx.procs.abort();
  ctx.results.notes.push(
    `The run hit the global deadline (${config.deadlineMs / 1000} s) and was cut short.`,
  );
  await finish().catch((e) => ctx.log(`cannot write results: ${e}`));
  Deno.exit(3);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    ctx.log(`${signal}: stopping everything`);
    ctx.procs.abort();
    Deno.exit(130);
  });
}

let code = 0;
try {
  await ensureTools(ctx.log);
  await ctx.stats.init();
  await describeMachine(ctx);
  await detectRouter(ctx);
  ctx.log(`${suite} ${ctx.results.mode} run; machine: ${ctx.results.machine.cpu}`);
  if (suite === "bench") await benchPlan(ctx);
  else await soakPlan(ctx, deadline);
  ctx.results.complete = true;
} catch (error) {
  code = 1;
  ctx.log(`failed: ${(error as Error)?.stack ?? error}`);
  ctx.results.notes.push(`The run failed: ${errorText(error)}`);
} finally {
  await ctx.procs.stopAll();
}
deadline.clear();
await finish();
ctx.log(`done in ${fmt(ctx.elapsedMs() / 1000)} s`);
Deno.exit(code);
