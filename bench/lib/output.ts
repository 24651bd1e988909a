/**
 * Where a run's results go: its JSON file (bench/results.json for a full
 * run, bench/results-quick.json for `--quick`; both ignored by git), and the
 * Markdown report (BENCHMARKS.md for full runs, bench/report-quick.md for
 * quick ones).
 *
 * @module
 */

import type { RunContext } from "./context.ts";
import { renderReport } from "./report.ts";
import type { Results } from "./results.ts";
import { type CheckedScenarios, checkTargets } from "./targets_check.ts";

/** The files of a run's results and of the report. */
export interface OutputPaths {
  /** The results as JSON. */
  json: string;
  /** The Markdown report. */
  markdown: string;
}

/**
 * The default files in the given mode.
 *
 * @example
 * ```ts
 * import { outputPaths } from "./output.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(outputPaths("/r/", "/r/bench/", false), {
 *   json: "/r/bench/results.json",
 *   markdown: "/r/BENCHMARKS.md",
 * });
 * deepEqual(outputPaths("/r/", "/r/bench/", true), {
 *   json: "/r/bench/results-quick.json",
 *   markdown: "/r/bench/report-quick.md",
 * });
 * ```
 */
export function outputPaths(root: string, benchDir: string, quick: boolean): OutputPaths {
  return {
    json: `${benchDir}results${quick ? "-quick" : ""}.json`,
    markdown: quick ? `${benchDir}report-quick.md` : `${root}BENCHMARKS.md`,
  };
}

/**
 * The report of a run, with the targets judged on it; `names` are the
 * scenario names the checks read.
 *
 * @example
 * ```ts
 * import { report } from "./output.ts";
 * import { newResults } from "./results.ts";
 * import { benchConfig } from "./config.ts";
 * import { equal } from "node:assert/strict";
 * const names = {
 *   tiny50: "tiny GET, 50 connections", download: "1 GiB download", upload: "1 GiB upload",
 * };
 * const { markdown, checks } = report(newResults(true, benchConfig(true)), names);
 * equal(markdown.includes("## Request rates"), true);
 * equal(checks.every((c) => c.met === null), true);
 * ```
 */
export function report(
  results: Results,
  names: CheckedScenarios,
): { markdown: string; checks: ReturnType<typeof checkTargets> } {
  const checks = checkTargets(results, results, names);
  return { markdown: renderReport({ bench: results, soak: results, checks }), checks };
}

/**
 * Formats files with `deno fmt` (as `deno task check` wants them); failures are ignored.
 *
 * @example
 * ```ts
 * import { formatFiles } from "./output.ts";
 * import { equal } from "node:assert/strict";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/r.json`, '{"a":1}');
 * await formatFiles(dir, [`${dir}/r.json`]);
 * equal(await Deno.readTextFile(`${dir}/r.json`), '{ "a": 1 }\n');
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function formatFiles(root: string, paths: string[]): Promise<void> {
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", ...paths],
    cwd: root,
    stdout: "null",
    stderr: "null",
  }).output().catch(() => {});
}

/** Writes the run's JSON and the report; returns the Markdown. */
export async function writeOutputs(
  ctx: RunContext,
  paths: OutputPaths,
  names: CheckedScenarios,
): Promise<string> {
  const results = ctx.results;
  results.machine.peakResetWorks = ctx.stats.peakResetWorks ? "yes" : "no";
  const { markdown, checks } = report(results, names);
  results.checks = checks;
  await Deno.writeTextFile(paths.json, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(paths.markdown, markdown);
  await formatFiles(ctx.root, [paths.json, paths.markdown]);
  return markdown;
}
