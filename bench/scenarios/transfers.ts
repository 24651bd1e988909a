/**
 * Transfers: one large download (`curl -o /dev/null`) and one large upload
 * (`curl -T` of a sparse file) against each target, after an unmeasured
 * 32 MiB warm-up the same way; the router's RSS growth beside the rate.
 *
 * @module
 */

import { type BenchConfig, GiB, MiB } from "../lib/config.ts";
import type { RunContext } from "../lib/context.ts";
import { measureRow } from "../lib/measure_row.ts";
import { sh } from "../lib/processes.ts";
import { failedRow } from "../lib/results.ts";
import type { Target } from "../lib/targets.ts";
import { curl } from "../lib/tools.ts";

/** The files uploaded: the measured one and the warm-up's. */
export interface UploadFiles {
  file: string;
  warm: string;
}

/**
 * Makes the upload files in the run's temporary folder: sparse, so that curl
 * reads zeros without touching the disk, and read once, which fills the page
 * cache (seconds of system time in curl on the first read) before any is measured.
 */
export async function prepareUploadFiles(ctx: RunContext): Promise<UploadFiles> {
  const file = `${ctx.tmpDir}/upload.bin`;
  const warm = `${file}.warm`;
  for (const [path, size] of [[file, ctx.config.transferBytes], [warm, 32 * MiB]] as const) {
    await Deno.writeFile(path, new Uint8Array(0));
    await Deno.truncate(path, size);
  }
  await sh(`cat '${file}' '${warm}' > /dev/null`);
  return { file, warm };
}

/**
 * The scenario name of a transfer of the configured size (the targets check reads it).
 *
 * @example
 * ```ts
 * import { transferScenario } from "./transfers.ts";
 * import { benchConfig } from "../lib/config.ts";
 * import { equal } from "node:assert/strict";
 * equal(transferScenario(benchConfig(false), "download"), "1 GiB download");
 * equal(transferScenario(benchConfig(true), "upload"), "64 MiB upload");
 * ```
 */
export function transferScenario(config: BenchConfig, kind: "download" | "upload"): string {
  const bytes = config.transferBytes;
  return `${bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`} ${kind}`;
}

/** One transfer of `kind` against each target. */
export async function transfers(
  ctx: RunContext,
  kind: "download" | "upload",
  targets: readonly Target[],
  files: UploadFiles,
): Promise<void> {
  const bytes = ctx.config.transferBytes;
  const scenario = transferScenario(ctx.config, kind);
  for (const target of targets) {
    const base = `http://127.0.0.1:${target.port}`;
    try {
      // This machine reclaims the page cache after a while (DAMON): read the file back into it.
      await sh(`cat '${files.file}' > /dev/null`);
      if (kind === "download") {
        await curl(ctx, ["-o", "/dev/null", `${base}/download?bytes=${32 * MiB}`], 60_000);
      } else {
        await curl(ctx, ["-T", files.warm, "-H", "Expect:", `${base}/upload`], 60_000);
      }
    } catch (error) {
      ctx.addRow(failedRow("transfer", scenario, target.key, error));
      continue;
    }
    await measureRow(ctx, "transfer", scenario, target, () => {
      if (kind === "download") {
        return curl(ctx, ["-o", "/dev/null", `${base}/download?bytes=${bytes}`], 120_000);
      }
      return curl(ctx, [
        "-T",
        files.file,
        "-H",
        "Expect:",
        "-H",
        "content-type: application/octet-stream",
        `${base}/upload`,
      ], 120_000);
    }, (r, router) => {
      const moved = kind === "download" ? r.download : Number(JSON.parse(r.body).bytes);
      if (r.status !== 200 || moved !== bytes) {
        throw new Error(`status ${r.status}, ${moved} of ${bytes} bytes`);
      }
      return {
        metrics: {
          mbPerSec: bytes / r.seconds / 1e6,
          seconds: r.seconds,
          ttfbMs: r.ttfbMs,
          routerRssGrowthMiB: router ? router.peakMiB - router.rssStartMiB : NaN,
        },
        generator: { cpuS: r.cpuS, cpuPct: r.cpuPct },
      };
    });
  }
}
