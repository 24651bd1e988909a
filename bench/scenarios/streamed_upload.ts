/**
 * Streamed uploads (issue 18): Deno's `fetch` uploading a `ReadableStream`
 * body in small chunks (no length: chunked) against the same upload with a
 * known length, through each target (bench/upload_client.ts). The report
 * sets each streamed upload's time beside the known-length one's.
 *
 * @module
 */

import { type BenchConfig, MiB } from "../lib/config.ts";
import type { RunContext } from "../lib/context.ts";
import { measureRow } from "../lib/measure_row.ts";
import type { Target } from "../lib/targets.ts";
import { runDenoClient } from "../lib/tools.ts";

/**
 * The two scenario names (the targets check and the report pair them).
 *
 * @example
 * ```ts
 * import { streamedScenarios } from "./streamed_upload.ts";
 * import { benchConfig } from "../lib/config.ts";
 * import { equal } from "node:assert/strict";
 * equal(streamedScenarios(benchConfig(false)).length, "fetch upload 100 MiB, known length");
 * ```
 */
export function streamedScenarios(config: BenchConfig): { length: string; stream: string } {
  const { bytes, chunk } = config.streamedUpload;
  const size = `${bytes / MiB} MiB`;
  return {
    length: `fetch upload ${size}, known length`,
    stream: `fetch upload ${size}, ReadableStream of ${chunk / 1024} KiB chunks`,
  };
}

/** Both uploads against each target. */
export async function streamedUploads(ctx: RunContext, targets: readonly Target[]): Promise<void> {
  const { bytes, chunk } = ctx.config.streamedUpload;
  const names = streamedScenarios(ctx.config);
  for (const mode of ["length", "stream"] as const) {
    for (const target of targets) {
      await measureRow(
        ctx,
        "streamed",
        names[mode],
        target,
        () =>
          runDenoClient<{ status: number; bytes: number; seconds: number }>(
            ctx,
            `${ctx.benchDir}upload_client.ts`,
            [`http://127.0.0.1:${target.port}/upload`, String(bytes), String(chunk), mode],
            120_000,
          ),
        ({ result: r, generator }) => {
          if (r.status !== 200 || r.bytes !== bytes) {
            throw new Error(`status ${r.status}, ${r.bytes} of ${bytes} bytes`);
          }
          return { metrics: { mbPerSec: bytes / r.seconds / 1e6, seconds: r.seconds }, generator };
        },
      );
    }
  }
}
