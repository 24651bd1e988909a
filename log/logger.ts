/**
 * Log lines with levels, in two formats: text for a terminal
 * (`2025-01-02T03:04:05.678Z INFO  message key=value`) and JSON lines for log
 * pipelines (`{"time":…,"level":"info","msg":…,"key":"value"}`). The router
 * and the backend both write through it, so their lines look alike. Messages
 * and values carry what peers sent (paths, hosts, handshake reasons, GOAWAY
 * debug data), so control characters are escaped in both formats: a peer can
 * neither start a forged line nor send the terminal escape sequences.
 *
 * @module
 */

/** A level: `debug`, `info`, `warn` or `error`, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** A format: `text` for people, `json` for machines (one object a line). */
export type LogFormat = "text" | "json";

/** The formats. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** Structured fields of a line; `undefined` ones are left out. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** How lines are written. @default {"text"} */
  format?: LogFormat;
  /** The least severe level written. @default {"info"} */
  level?: LogLevel;
  /** Where lines go; `null` writes nothing. @default {console.error} */
  sink?: ((line: string) => void) | null;
  /** The clock, for tests. @default {() => new Date()} */
  now?: () => Date;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * Characters a terminal or a log viewer acts on instead of showing: C0
 * controls (a line feed starts a forged line, ESC starts an escape sequence),
 * DEL, C1 controls (0x9b is CSI to some terminals), the line and paragraph
 * separators, and the bidirectional controls that reorder what is shown
 * (Unicode TR #9: ALM, LRM, RLM, LRE…RLO, LRI…PDI).
 */
// deno-lint-ignore no-control-regex -- control characters are what it finds
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = new RegExp(UNSAFE.source, "g");
/** What JSON.stringify leaves as it is (it escapes C0 controls itself). */
const UNSAFE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;
const UNSAFE_IN_JSON_ALL = new RegExp(UNSAFE_IN_JSON.source, "g");

/** One unsafe character as JSON escapes it (`\n`, `\u001b`): read alike in text and JSON lines. */
function escapeChar(char: string): string {
  if (char === "\n") return "\\n";
  if (char === "\r") return "\\r";
  if (char === "\t") return "\\t";
  return "\\u" + char.charCodeAt(0).toString(16).padStart(4, "0");
}

/**
 * Text with every unsafe character escaped, so that a value from a peer
 * (a path, a handshake's reason, GOAWAY debug data) stays on its line and
 * cannot drive the terminal.
 *
 * @param text Any text.
 * @returns The same text with those characters as JSON escapes (`\n`, `\u001b`).
 *
 * @example
 * ```ts
 * import { escapeControls } from "./logger.ts";
 * import { equal } from "node:assert/strict";
 * equal(escapeControls("a\nb\x1b[31m\u202e"), "a\\nb\\u001b[31m\\u202e");
 * equal(escapeControls("plain"), "plain");
 * ```
 */
export function escapeControls(text: string): string {
  return UNSAFE.test(text) ? text.replace(UNSAFE_ALL, escapeChar) : text;
}

/** A value as logfmt writes it: bare when it has no space, quote or `=`, else JSON-quoted. */
function textValue(value: string | number | boolean | null): string {
  const text = String(value);
  if (text !== "" && /^[^\s"=\\]+$/.test(text) && !UNSAFE.test(text)) return text;
  return escapeJson(JSON.stringify(text));
}

/** JSON text with what JSON.stringify leaves unescaped escaped: still the same JSON value. */
function escapeJson(json: string): string {
  return UNSAFE_IN_JSON.test(json) ? json.replace(UNSAFE_IN_JSON_ALL, escapeChar) : json;
}

/**
 * Writes log lines at or above a level, as text or JSON.
 *
 * @example Text for a terminal, JSON for pipelines
 * ```ts
 * import { Logger } from "./logger.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 * const lines: string[] = [];
 * const now = () => new Date(0);
 * const text = new Logger({ sink: (line) => lines.push(line), now });
 * text.info("tunnel connected", { tunnel: "t1", service: "api" });
 * text.debug("not written at the default level");
 * equal(lines[0], "1970-01-01T00:00:00.000Z INFO  tunnel connected tunnel=t1 service=api");
 * const json = new Logger({ format: "json", sink: (line) => lines.push(line), now });
 * json.warn("tunnel lost", { error: "GOAWAY" });
 * deepEqual(JSON.parse(lines[1]!), {
 *   time: "1970-01-01T00:00:00.000Z", level: "warn", msg: "tunnel lost", error: "GOAWAY",
 * });
 * equal(lines.length, 2);
 * ```
 */
export class Logger {
  #format: LogFormat;
  #rank: number;
  #sink: ((line: string) => void) | null;
  #now: () => Date;

  /** @param options Format, level and where lines go. */
  constructor(options: LoggerOptions = {}) {
    this.#format = options.format ?? "text";
    this.#rank = RANK[options.level ?? "info"];
    this.#sink = options.sink === undefined ? (line) => console.error(line) : options.sink;
    this.#now = options.now ?? (() => new Date());
  }

  /** The format lines are written in. */
  get format(): LogFormat {
    return this.#format;
  }

  /**
   * Whether lines of a level are written (callers skip building costly fields otherwise).
   *
   * @param level The level.
   * @returns Whether a line of that level would be written.
   */
  enabled(level: LogLevel): boolean {
    return this.#sink !== null && RANK[level] >= this.#rank;
  }

  /**
   * Writes one line.
   *
   * @param level Its level.
   * @param message What happened, in words.
   * @param fields Details as key-value pairs.
   */
  log(level: LogLevel, message: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    const time = this.#now().toISOString();
    let line: string;
    if (this.#format === "json") {
      const record: Record<string, unknown> = { time, level, msg: message };
      for (const [key, value] of Object.entries(fields)) {
        if (value !== undefined && !(key in record)) record[key] = value;
      }
      line = escapeJson(JSON.stringify(record));
    } else {
      line = `${time} ${level.toUpperCase().padEnd(5)} ${escapeControls(message)}`;
      for (const [key, value] of Object.entries(fields)) {
        if (value !== undefined) line += ` ${key}=${textValue(value)}`;
      }
    }
    try {
      this.#sink!(line);
    } catch {
      // A broken sink (closed stderr) must never break the caller.
    }
  }

  /**
   * Writes a `debug` line.
   *
   * @param message What happened.
   * @param fields Details.
   */
  debug(message: string, fields?: LogFields): void {
    this.log("debug", message, fields);
  }

  /**
   * Writes an `info` line.
   *
   * @param message What happened.
   * @param fields Details.
   */
  info(message: string, fields?: LogFields): void {
    this.log("info", message, fields);
  }

  /**
   * Writes a `warn` line.
   *
   * @param message What happened.
   * @param fields Details.
   */
  warn(message: string, fields?: LogFields): void {
    this.log("warn", message, fields);
  }

  /**
   * Writes an `error` line.
   *
   * @param message What happened.
   * @param fields Details.
   */
  error(message: string, fields?: LogFields): void {
    this.log("error", message, fields);
  }
}
