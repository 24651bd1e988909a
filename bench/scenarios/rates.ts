/**
 * Request rates: tiny GETs with wrk at 1, 50 and 256 connections, a 1 KiB
 * POST echo at 50, and h2load's tiny GETs over h2c (many streams per
 * connection), each against every target in turn; plus one row of the ptth
 * router with its logs off, at 50 connections, beside the one with its
 * default logging: what a line per request costs.
 *
 * @module
 */

import type { RunContext } from "../lib/context.ts";
import { loadFigures, measureRow } from "../lib/measure_row.ts";
import type { Target } from "../lib/targets.ts";
import { h2load, type LoadResult, wrk } from "../lib/tools.ts";

/**
 * The scenario name of tiny GETs at `c` connections (the targets check reads it).
 *
 * @example
 * ```ts
 * import { tinyScenario } from "./rates.ts";
 * import { equal } from "node:assert/strict";
 * equal(tinyScenario(1), "tiny GET, 1 connection");
 * equal(tinyScenario(50), "tiny GET, 50 connections");
 * ```
 */
export function tinyScenario(c: number): string {
  return `tiny GET, ${c} connection${c === 1 ? "" : "s"}`;
}

/** Runs `load` against each target in turn, a row each. */
async function rateScenario(
  ctx: RunContext,
  section: string,
  scenario: string,
  targets: readonly Target[],
  load: (target: Target) => Promise<LoadResult>,
): Promise<void> {
  for (const target of targets) {
    await measureRow(ctx, section, scenario, target, () => load(target), loadFigures);
  }
}

/**
 * The request-rate scenarios against `targets`; `logsOff` (a router with
 * `--log-level error`), when there is one, joins the 50-connection tiny GETs.
 */
export async function rateScenarios(
  ctx: RunContext,
  targets: readonly Target[],
  logsOff: Target | null,
): Promise<void> {
  const { config } = ctx;
  const url = (t: Target, path: string) => `http://127.0.0.1:${t.port}${path}`;
  for (const target of [...targets, ...(logsOff ? [logsOff] : [])]) {
    await wrk(ctx, url(target, "/tiny"), 50, config.warmup).catch((error) =>
      ctx.log(`warm-up of ${target.key} failed: ${error}`)
    );
  }
  for (const c of config.connections) {
    await rateScenario(
      ctx,
      "rate",
      tinyScenario(c),
      c === 50 && logsOff ? [...targets, logsOff] : targets,
      (t) => wrk(ctx, url(t, "/tiny"), c, config.duration),
    );
  }
  await rateScenario(
    ctx,
    "rate",
    `1 KiB POST echo, ${config.postConnections} connections`,
    targets,
    (t) =>
      wrk(ctx, url(t, "/echo"), config.postConnections, config.duration, `${ctx.benchDir}post.lua`),
  );
  const { clients, streams } = config.h2load;
  await rateScenario(
    ctx,
    "h2load",
    `h2load tiny GET, ${clients}×${streams} streams`,
    targets,
    (t) =>
      h2load(
        ctx,
        `http://127.0.0.1:${t.h2cPort}/tiny`,
        { clients, streams, seconds: config.duration },
        (config.duration + 30) * 1000,
      ),
  );
}
