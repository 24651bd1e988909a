/**
 * The targets a scenario runs against, each its own processes serving the
 * same handler (bench/handlers.ts, or its Go twin for the Go original):
 *
 * - `direct`: `Deno.serve` (bench/direct.ts), the baseline;
 * - `nginx`: Debian's nginx in front of `direct` (lib/nginx.ts);
 * - `go`: the Go original's router and backend (lib/go_original.ts);
 * - `tunnel1`, `tunnel4`: a ptth router (`deno run -A mod.ts`) with one or
 *   four backend processes (bench/backend.ts);
 * - `tunnel1-logs-off`: the same as `tunnel1` with `--log-level error`.
 *
 * A router logs at its default level to a file of the run's temporary folder
 * (`<name>.log`), never to a pipe to this script: reading a line per request
 * here would take CPU from what is measured.
 *
 * Another kind of target (a router with N workers, say) is one more call of
 * {@linkcode startTunnel} with its key, label and router flags.
 *
 * @module
 */

import type { RunContext } from "./context.ts";
import type { Proc } from "./processes.ts";

/** A target: where its public port is, and which processes are its router and its backends. */
export interface Target {
  /** Its key in the results (rows name it). */
  key: string;
  /** The public HTTP port (HTTP/1.1; h2c with prior knowledge too where {@linkcode h2cPort} is the same). */
  port: number;
  /** Where h2load's h2c (prior knowledge) goes. */
  h2cPort: number;
  /** The router process, whose life the edge scenario watches; `null` for direct. */
  router: Proc | null;
  /** The processes measured as the router (nginx: its worker). */
  routerPids: number[];
  /** The processes measured as the backends (direct, nginx: the Deno.serve process). */
  backendPids: number[];
  /** The processes to stop with it. */
  procs: Proc[];
}

/**
 * The targets' keys.
 *
 * @example
 * ```ts
 * import { TARGET } from "./targets.ts";
 * import { equal } from "node:assert/strict";
 * equal(TARGET.nginx, "nginx");
 * ```
 */
export const TARGET = {
  direct: "direct",
  nginx: "nginx",
  go: "go",
  tunnel1: "tunnel1",
  tunnel4: "tunnel4",
  logsOff: "tunnel1-logs-off",
} as const;

/**
 * How the report names each target.
 *
 * @example
 * ```ts
 * import { TARGET, TARGET_LABELS } from "./targets.ts";
 * import { equal } from "node:assert/strict";
 * equal(TARGET_LABELS[TARGET.direct], "direct Deno.serve");
 * ```
 */
export const TARGET_LABELS: Record<string, string> = {
  [TARGET.direct]: "direct Deno.serve",
  [TARGET.nginx]: "nginx hop → direct",
  [TARGET.go]: "Go original (router + backend)",
  [TARGET.tunnel1]: "router + 1 backend",
  [TARGET.tunnel4]: "router + 4 backends",
  [TARGET.logsOff]: "router + 1 backend, logs off (`--log-level error`)",
};

/**
 * Records a target's label in the results (in the order targets start).
 *
 * @example
 * ```ts
 * import { registerTarget } from "./targets.ts";
 * import { createContext } from "./context.ts";
 * import { benchConfig } from "./config.ts";
 * const ctx = createContext({
 *   suite: "bench",
 *   quick: true,
 *   config: benchConfig(true),
 *   root: new URL("../../", import.meta.url).pathname,
 *   benchDir: new URL("../", import.meta.url).pathname,
 *   tmpDir: Deno.cwd(),
 *   sink: () => {},
 * });
 * import { deepEqual } from "node:assert/strict";
 * registerTarget(ctx, "direct");
 * registerTarget(ctx, "workers2", "router with 2 workers + 1 backend");
 * deepEqual(Object.keys(ctx.results.targets), ["direct", "workers2"]);
 * ```
 */
export function registerTarget(ctx: RunContext, key: string, label = TARGET_LABELS[key]): void {
  ctx.results.targets[key] = label ?? key;
}

/**
 * Reads the router's `--help` and settles the flags every router gets: the
 * admin listener (on by default, port 8889) on a free port, so that several
 * routers can run at once.
 */
export async function detectRouter(ctx: RunContext): Promise<void> {
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "mod.ts", "--help"],
    cwd: ctx.root,
    stderr: "null",
  }).output();
  ctx.router.help = new TextDecoder().decode(help.stdout);
  if (hasFlag(ctx, "--admin-port")) {
    ctx.router.flags.push("--admin-port", "0");
    ctx.results.notes.push(
      "The routers run with `--admin-port 0`: their admin listener (on by default) on a free port.",
    );
  }
  ctx.results.notes.push(
    "The routers log at their default level (`info`: a line per request) to a file per router " +
      "in the run's temporary folder (not /dev/null, not a pipe to the benchmark, which would " +
      "have to read every line while measuring).",
  );
}

/**
 * Whether a `--help` text lists `flag` (as a word: `--max-connections` is
 * not listed by `--max-connections-per-address`).
 *
 * @example
 * ```ts
 * import { helpLists } from "./targets.ts";
 * import { equal } from "node:assert/strict";
 * const help = "  --max-connections-per-address <n>  Most per address\n  --log-level <level>\n";
 * equal(helpLists(help, "--log-level"), true);
 * equal(helpLists(help, "--max-connections"), false);
 * ```
 */
export function helpLists(help: string, flag: string): boolean {
  return new RegExp(`(^|\\s)${flag}(\\s|=|\\[|$)`, "m").test(help);
}

/**
 * Whether the router's `--help` (read by {@linkcode detectRouter}) lists `flag`.
 *
 * @example
 * ```ts
 * import { hasFlag } from "./targets.ts";
 * import { createContext } from "./context.ts";
 * import { benchConfig } from "./config.ts";
 * const ctx = createContext({
 *   suite: "bench",
 *   quick: true,
 *   config: benchConfig(true),
 *   root: new URL("../../", import.meta.url).pathname,
 *   benchDir: new URL("../", import.meta.url).pathname,
 *   tmpDir: Deno.cwd(),
 *   sink: () => {},
 * });
 * import { equal } from "node:assert/strict";
 * ctx.router.help = "  --log-level <debug|info|warn|error>\n";
 * equal(hasFlag(ctx, "--log-level"), true);
 * equal(hasFlag(ctx, "--max-connections"), false);
 * ```
 */
export function hasFlag(ctx: RunContext, flag: string): boolean {
  return helpLists(ctx.router.help, flag);
}

/** A started router: its process, public port and tunnel port. */
export interface StartedRouter {
  proc: Proc;
  port: number;
  tunnelPort: number;
  /** Its log file. */
  logFile: string;
}

/** How {@linkcode startRouter} starts a router. */
export interface RouterStart {
  /** Flags after the ports and the run's router flags. */
  args?: string[];
  /** Flags of `deno run` (before mod.ts). */
  denoFlags?: string[];
  /** Its `ulimit -n`. */
  fdLimit?: number;
}

/** Starts a router on 127.0.0.1 and free ports; resolves once both listen. */
export async function startRouter(
  ctx: RunContext,
  name: string,
  options: RouterStart = {},
): Promise<StartedRouter> {
  const logFile = `${ctx.tmpDir}/${name}.log`;
  const proc = ctx.procs.deno(name, [
    ...(options.denoFlags ?? []),
    "mod.ts",
    "--hostname",
    "127.0.0.1",
    "--port",
    "0",
    "--tunnel-port",
    "0",
    ...ctx.router.flags,
    ...(options.args ?? []),
  ], {
    stderrFile: logFile,
    fdLimit: options.fdLimit === undefined ? undefined : { files: options.fdLimit, strict: true },
  });
  try {
    const http = await proc.waitLine("stderr", (l) => /HTTP traffic on \S+:\d+/.test(l), 30_000);
    const tunnel = await proc.waitLine(
      "stderr",
      (l) => /reverse tunnels on \S+:\d+/.test(l),
      5_000,
    );
    return {
      proc,
      port: Number(http.match(/:(\d+)\s*$/)![1]),
      tunnelPort: Number(tunnel.match(/:(\d+)\s*$/)![1]),
      logFile,
    };
  } catch (error) {
    await proc.stop();
    throw error;
  }
}

/** Starts bench/backend.ts against a router's tunnel port; resolves once its tunnels are up. */
export async function startBackend(
  ctx: RunContext,
  name: string,
  tunnelPort: number,
  args: string[] = [],
  denoFlags: string[] = [],
  timeoutMs = 120_000,
): Promise<{ proc: Proc; ready: Record<string, unknown> }> {
  const proc = ctx.procs.deno(name, [
    ...denoFlags,
    "bench/backend.ts",
    "--router",
    `127.0.0.1:${tunnelPort}`,
    ...args,
  ]);
  try {
    return { proc, ready: await proc.waitEvent("ready", timeoutMs) };
  } catch (error) {
    await proc.stop();
    throw error;
  }
}

/**
 * Starts the direct baseline: bench/direct.ts on `Deno.serve`.
 *
 * @example
 * ```ts
 * import { startDirect, stopTarget } from "./targets.ts";
 * import { createContext } from "./context.ts";
 * import { benchConfig } from "./config.ts";
 * const ctx = createContext({
 *   suite: "bench",
 *   quick: true,
 *   config: benchConfig(true),
 *   root: new URL("../../", import.meta.url).pathname,
 *   benchDir: new URL("../", import.meta.url).pathname,
 *   tmpDir: Deno.cwd(),
 *   sink: () => {},
 * });
 * import { equal } from "node:assert/strict";
 * const direct = await startDirect(ctx);
 * try {
 *   const response = await fetch(`http://127.0.0.1:${direct.port}/tiny`);
 *   equal(await response.text(), "bar");
 * } finally {
 *   await stopTarget(direct);
 * }
 * equal(ctx.procs.live, 0);
 * ```
 */
export async function startDirect(ctx: RunContext): Promise<Target> {
  const proc = ctx.procs.deno("direct", ["bench/direct.ts"]);
  const event = await proc.waitEvent("listening", 30_000);
  registerTarget(ctx, TARGET.direct);
  const port = Number(event.port);
  return {
    key: TARGET.direct,
    port,
    h2cPort: port,
    router: null,
    routerPids: [],
    backendPids: [proc.pid],
    procs: [proc],
  };
}

/** How {@linkcode startTunnel} builds a router-and-backends target. */
export interface TunnelTarget {
  /** Backend processes (one tunnel each). */
  backends: number;
  /** Its label in the report. @default {TARGET_LABELS[key]} */
  label?: string;
  /** Flags of its router. */
  routerArgs?: string[];
}

/** Starts a ptth router and its backends as one target. */
export async function startTunnel(
  ctx: RunContext,
  key: string,
  options: TunnelTarget,
): Promise<Target> {
  const router = await startRouter(ctx, `router-${key}`, { args: options.routerArgs });
  try {
    const backends = await Promise.all(
      Array.from(
        { length: options.backends },
        (_, i) => startBackend(ctx, `backend-${key}-${i + 1}`, router.tunnelPort),
      ),
    );
    registerTarget(ctx, key, options.label);
    return {
      key,
      port: router.port,
      h2cPort: router.port,
      router: router.proc,
      routerPids: [router.proc.pid],
      backendPids: backends.map((b) => b.proc.pid),
      procs: [router.proc, ...backends.map((b) => b.proc)],
    };
  } catch (error) {
    await router.proc.stop();
    throw error;
  }
}

/**
 * Stops a target's processes, backends first (see {@linkcode startDirect}'s example).
 *
 * @example
 * ```ts
 * import { stopTarget } from "./targets.ts";
 * await stopTarget({
 *   key: "none", port: 0, h2cPort: 0, router: null, routerPids: [], backendPids: [], procs: [],
 * });
 * ```
 */
export async function stopTarget(target: Target): Promise<void> {
  await Promise.all(target.procs.slice(1).map((p) => p.stop()));
  await target.procs[0]?.stop();
}
