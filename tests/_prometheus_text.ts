/**
 * A small parser of the Prometheus text exposition format (version 0.0.4),
 * strict enough to catch what a Prometheus server would reject: samples
 * before their TYPE, unknown types, malformed labels or values, histogram
 * series without their family.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  /** The series name (`foo_bucket` for a histogram's buckets). */
  name: string;
  /** Its labels. */
  labels: Record<string, string>;
  /** Its value. */
  value: number;
}

/** One metric family: HELP, TYPE and its samples. */
export interface Family {
  name: string;
  help: string | undefined;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: number): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    throw new SyntaxError(`Line ${line}: bad value ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** Reads `{a="1",b="x\"y"}` starting at `text[0] === "{"`; returns the labels and the rest. */
function parseLabels(text: string, line: number): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let i = 1;
  const fail = (why: string): never => {
    throw new SyntaxError(`Line ${line}: ${why} in ${JSON.stringify(text)}`);
  };
  while (true) {
    if (text[i] === "}") return [labels, text.slice(i + 1)];
    const eq = text.indexOf("=", i);
    if (eq < 0) fail("label without =");
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) fail(`bad label name ${JSON.stringify(name)}`);
    if (name in labels) fail(`repeated label ${name}`);
    if (text[eq + 1] !== '"') fail("unquoted label value");
    let value = "";
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === "\\") {
        const next = text[++j];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else fail(`bad escape \\${next}`);
      } else value += text[j];
    }
    if (j >= text.length) fail("unterminated label value");
    labels[name] = value;
    i = j + 1;
    if (text[i] === ",") i++;
    else if (text[i] !== "}") fail("expected , or }");
  }
}

/** The family a sample name belongs to, given the declared families. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  const match = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = match ? families.get(match[1]!) : undefined;
  return base && (base.type === "histogram" || base.type === "summary") ? base : undefined;
}

/**
 * Parses an exposition.
 *
 * @param text The scraped body.
 * @returns Families by name.
 * @throws {SyntaxError} Naming the first bad line.
 */
export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const lines = text.split("\n");
  if (lines.at(-1) !== "") throw new SyntaxError("The exposition does not end with a line feed");
  lines.forEach((raw, index) => {
    const line = index + 1;
    if (raw === "") return;
    if (raw.startsWith("#")) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!match) return; // A plain comment.
      const [, kind, name, rest] = match as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new SyntaxError(`Line ${line}: bad metric name ${name}`);
      let family = families.get(name);
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) throw new SyntaxError(`Line ${line}: unknown type ${rest}`);
        if (family?.samples.length) throw new SyntaxError(`Line ${line}: TYPE after samples`);
        if (family?.type !== undefined && family.type !== "untyped") {
          throw new SyntaxError(`Line ${line}: second TYPE for ${name}`);
        }
        family ??= { name, help: undefined, type: "untyped", samples: [] };
        family.type = rest as Family["type"];
      } else {
        family ??= { name, help: undefined, type: "untyped", samples: [] };
        if (family.help !== undefined) {
          throw new SyntaxError(`Line ${line}: second HELP for ${name}`);
        }
        family.help = rest.replaceAll("\\n", "\n").replaceAll("\\\\", "\\");
      }
      families.set(name, family);
      return;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw);
    if (!nameMatch) throw new SyntaxError(`Line ${line}: no metric name in ${JSON.stringify(raw)}`);
    const name = nameMatch[0];
    let rest = raw.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith("{")) [labels, rest] = parseLabels(rest, line);
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(" ") || parts.length < 1 || parts.length > 2) {
      throw new SyntaxError(`Line ${line}: expected a value after ${name}`);
    }
    const value = parseValue(parts[0]!, line);
    const family = familyOf(name, families);
    if (!family) throw new SyntaxError(`Line ${line}: sample ${name} before its TYPE`);
    family.samples.push({ name, labels, value });
  });
  return families;
}

/**
 * The value of one series, or `undefined`.
 *
 * @param family The family.
 * @param name The sample name.
 * @param labels Every label of the series.
 */
export function sampleValue(
  family: Family | undefined,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  const keys = Object.keys(labels).sort().join();
  return family?.samples.find((sample) =>
    sample.name === name &&
    Object.keys(sample.labels).sort().join() === keys &&
    Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
  )?.value;
}
