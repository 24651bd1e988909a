/**
 * Where a run's results go: its JSON file (bench/results.json for a full
 * bench run, bench/results-soak.json for a full soak run, `-quick` variants
 * for `--quick`; all ignored by git), and the Markdown report made of the
 * latest bench and soak results of the same mode (BENCHMARKS.md for full
 * runs, bench/report-quick.md for quick ones).
 *
 * @module
 */

import type { Suite } from "./config.ts";
import type { RunContext } from "./context.ts";
import { renderReport } from "./report.ts";
import type { Results } from "./results.ts";
import { type CheckedScenarios, checkTargets } from "./targets_check.ts";

/** The files of a suite's results and of the report, for a mode. */
export interface OutputPaths {
  /** This suite's JSON. */
  json: string;
  /** The other suite's JSON (read for the report). */
  otherJson: string;
  /** The Markdown report. */
  markdown: string;
}

/**
 * The default files of `suite` in the given mode.
 *
 * @example
 * ```ts
 * import { outputPaths } from "./output.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(outputPaths("/r/", "/r/bench/", "soak", false), {
 *   json: "/r/bench/results-soak.json",
 *   otherJson: "/r/bench/results.json",
 *   markdown: "/r/BENCHMARKS.md",
 * });
 * deepEqual(outputPaths("/r/", "/r/bench/", "bench", true), {
 *   json: "/r/bench/results-quick.json",
 *   otherJson: "/r/bench/results-soak-quick.json",
 *   markdown: "/r/bench/report-quick.md",
 * });
 * ```
 */
export function outputPaths(
  root: string,
  benchDir: string,
  suite: Suite,
  quick: boolean,
): OutputPaths {
  const file = (s: Suite) =>
    `${benchDir}results${s === "soak" ? "-soak" : ""}${quick ? "-quick" : ""}.json`;
  return {
    json: file(suite),
    otherJson: file(suite === "bench" ? "soak" : "bench"),
    markdown: quick ? `${benchDir}report-quick.md` : `${root}BENCHMARKS.md`,
  };
}

/**
 * Reads a results file of `suite`; null when it is missing, unreadable or of another suite.
 *
 * @example
 * ```ts
 * import { readResults } from "./output.ts";
 * import { newResults } from "./results.ts";
 * import { benchConfig } from "./config.ts";
 * import { equal } from "node:assert/strict";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, JSON.stringify(newResults("soak", true, benchConfig(true))));
 * equal((await readResults(path, "soak"))?.suite, "soak");
 * equal(await readResults(path, "bench"), null);
 * equal(await readResults(`${path}.missing`, "soak"), null);
 * await Deno.remove(path);
 * ```
 */
export async function readResults(path: string, suite: Suite): Promise<Results | null> {
  try {
    const results = JSON.parse(await Deno.readTextFile(path)) as Results;
    return results.suite === suite ? results : null;
  } catch {
    return null;
  }
}

/**
 * The report of a bench and a soak run (either may be missing), with the
 * targets judged on both; `names` are the scenario names the checks read.
 *
 * @example
 * ```ts
 * import { report } from "./output.ts";
 * import { equal } from "node:assert/strict";
 * const names = {
 *   tiny50: "tiny GET, 50 connections", download: "1 GiB download", upload: "1 GiB upload",
 *   streamedLength: "known", streamed: "stream",
 * };
 * const { markdown, checks } = report(null, null, names);
 * equal(markdown.includes("No bench run"), true);
 * equal(checks.every((c) => c.met === null), true);
 * ```
 */
export function report(
  bench: Results | null,
  soak: Results | null,
  names: CheckedScenarios,
): { markdown: string; checks: ReturnType<typeof checkTargets> } {
  const checks = checkTargets(bench, soak, names);
  return {
    markdown: renderReport({ bench, soak, checks, streamedLength: names.streamedLength }),
    checks,
  };
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

/**
 * Writes the run's JSON and the report (with the other suite's latest
 * results of the same mode, when there are some); returns the Markdown.
 */
export async function writeOutputs(
  ctx: RunContext,
  paths: OutputPaths,
  names: CheckedScenarios,
): Promise<string> {
  const own = ctx.results;
  own.machine.peakResetWorks = ctx.stats.peakResetWorks ? "yes" : "no";
  const other = await readResults(paths.otherJson, ctx.suite === "bench" ? "soak" : "bench");
  const [bench, soak] = ctx.suite === "bench" ? [own, other] : [other, own];
  const { markdown, checks } = report(bench, soak, names);
  own.checks = checks;
  await Deno.writeTextFile(paths.json, JSON.stringify(own, null, 2) + "\n");
  await Deno.writeTextFile(paths.markdown, markdown);
  await formatFiles(ctx.root, [paths.json, paths.markdown]);
  return markdown;
}
