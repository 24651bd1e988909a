/**
 * Fails on measurements in source comments: rates, per-call costs, run-by-run
 * comparisons. A comment states the mechanism and the decision; the figures
 * belong in BENCHMARKS.md and in commit bodies, since they go stale with the
 * next Deno release (CONTRIBUTING.md).
 *
 *     deno run --allow-read tools/check_comments.ts
 *
 * @module
 */

/** The rooms whose source is checked (tests, bench and tools may quote figures). */
const ROOMS = ["h2", "ws", "log", "tunnel", "config", "router", "backend"];
const FACES = ["mod.ts", "router.ts", "backend.ts", "cli.ts", "config.ts"];

/** What reads as a measurement in prose. */
const MEASUREMENT: readonly RegExp[] = [
  /\d[\d,.]*\s?(?:[kKMG]i?B\/s|req\/s|requests\/s|µs|us per)\b/,
  /\balternated (?:runs?|rounds?)\b/i,
  /\d+(?:\.\d+)?\s?% (?:faster|slower|more|less|fewer|of the (?:router|backend)'s)/,
  /\bagainst \d[\d,.]*\s?(?:[kKMG]i?B|ms|µs|%)/,
  /\bper scavenge\b/,
];

/**
 * The comments of a TypeScript source with the line each starts on: line
 * comments and block comments, code and strings left out.
 *
 * @param source The file's text.
 * @returns Each comment's text and first line (1-based).
 */
export function commentsOf(source: string): Array<{ line: number; text: string }> {
  const comments: Array<{ line: number; text: string }> = [];
  let line = 1;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === "\n") line++;
    else if (c === '"' || c === "'" || c === "`") {
      // Skip a string (template expressions are rare in comments' neighbourhood).
      for (i++; i < source.length && source[i] !== c; i++) {
        if (source[i] === "\\") i++;
        else if (source[i] === "\n") line++;
      }
    } else if (c === "/" && source[i + 1] === "/") {
      const end = source.indexOf("\n", i);
      const stop = end < 0 ? source.length : end;
      comments.push({ line, text: source.slice(i + 2, stop) });
      i = stop - 1;
    } else if (c === "/" && source[i + 1] === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end < 0 ? source.length : end;
      const text = source.slice(i + 2, stop);
      comments.push({ line, text });
      line += text.split("\n").length - 1;
      i = stop + 1;
    }
  }
  return comments;
}

/**
 * The measurements found in a source's comments, as `line: text` entries.
 *
 * @param source The file's text.
 * @returns One entry per comment line that reads as a measurement.
 */
export function measurementsIn(source: string): string[] {
  const found: string[] = [];
  for (const comment of commentsOf(source)) {
    comment.text.split("\n").forEach((text, k) => {
      if (MEASUREMENT.some((pattern) => pattern.test(text))) {
        found.push(`${comment.line + k}: ${text.replace(/^\s*\*?\s*/, "").trim()}`);
      }
    });
  }
  return found;
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url);
  const files: string[] = [...FACES];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(new URL(dir, root))) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory) walk(`${path}/`);
      else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) files.push(path);
    }
  };
  for (const room of ROOMS) walk(`${room}/`);
  let count = 0;
  for (const path of files.sort()) {
    for (const hit of measurementsIn(Deno.readTextFileSync(new URL(path, root)))) {
      console.error(`${path}:${hit}`);
      count++;
    }
  }
  if (count > 0) {
    console.error(`${count} measurement(s) in source comments: move them to BENCHMARKS.md`);
    Deno.exit(1);
  }
  console.error("no measurements in source comments");
}
