/**
 * Tunnel establishment: how long a backend takes from `serveReverse()` to
 * serving its first request through a router that was waiting for it.
 *
 * @module
 */

import type { RunContext } from "../lib/context.ts";
import { failedRow } from "../lib/results.ts";
import { percentile } from "../lib/stats.ts";
import { TARGET } from "../lib/targets.ts";
import { runTool } from "../lib/tools.ts";

/**
 * Time from `serveReverse()` to the first response through the new tunnel
 * (bench/connect.ts), against a router with no other tunnel; and, for
 * comparison, a new connection's first response from direct `Deno.serve`.
 */
export async function connectScenario(
  ctx: RunContext,
  routerPort: number,
  tunnelPort: number,
  directPort: number,
): Promise<void> {
  const scenario = `time to first response (median of ${ctx.config.connectRuns})`;
  try {
    const run = await runTool(ctx, Deno.execPath(), [
      "run",
      "-A",
      `${ctx.benchDir}connect.ts`,
      String(tunnelPort),
      String(routerPort),
      String(directPort),
      String(ctx.config.connectRuns),
    ], 60_000);
    if (run.code !== 0) throw new Error(`connect client failed: ${run.stderr}`);
    const r = JSON.parse(run.stdout.trim().split("\n").pop()!) as {
      connected: number[];
      firstResponse: number[];
      direct: number[];
    };
    ctx.results.scale.establishment = r;
    const row = { section: "connect", scenario, router: null, backend: null, generator: null };
    ctx.addRow({
      ...row,
      target: TARGET.direct,
      metrics: {
        firstResponseP50Ms: percentile(r.direct, 50),
        firstResponseP90Ms: percentile(r.direct, 90),
      },
      wallS: 0,
    });
    ctx.addRow({
      ...row,
      target: TARGET.tunnel1,
      metrics: {
        connectedP50Ms: percentile(r.connected, 50),
        firstResponseP50Ms: percentile(r.firstResponse, 50),
        firstResponseP90Ms: percentile(r.firstResponse, 90),
      },
      wallS: 0,
    });
  } catch (error) {
    ctx.addRow(failedRow("connect", scenario, TARGET.tunnel1, error));
  }
}
