/**
 * The benchmark's child processes: each one started through a
 * {@linkcode Processes} registry, so that all of them can be stopped at the
 * end of a run, on failure, on a signal and when the run's deadline passes,
 * and so that none starts once the run is being stopped.
 *
 * A {@linkcode Proc}'s output is read line by line as it comes, so a child
 * never blocks on a full pipe. A router's stderr (a line per request at the
 * default log level) goes to a file instead, read only when a line is waited
 * for: piping it here would add this script's reading to what is measured.
 *
 * @module
 */

/** How a child is started. */
export interface SpawnOptions {
  /** Working directory. @default {the registry's} */
  cwd?: string;
  /** Write stderr to this file instead of a pipe (read back on demand). */
  stderrFile?: string;
  /**
   * Run under `ulimit -n` of this many open files. A strict limit fails the
   * start when it cannot be set; a loose one (raising, for a client) is tried only.
   */
  fdLimit?: { files: number; strict: boolean };
}

/** Lines kept of a child's output: the most recent ones. */
const KEPT_LINES = 10_000;
/** At most this much of a stderr file is read per look (the start of a log is what is waited for). */
const FILE_READ_CHUNK = 1 << 20;

/**
 * A child process, its output as lines, and its end.
 *
 * @example
 * ```ts
 * import { Processes } from "./processes.ts";
 * import { equal } from "node:assert/strict";
 * const procs = new Processes(Deno.cwd());
 * const proc = procs.spawn("echo", "sh", ["-c", "echo hello; echo '{\"event\":\"ready\",\"n\":1}'"]);
 * equal(await proc.waitLine("stdout", (line) => line === "hello", 5000), "hello");
 * equal((await proc.waitEvent("ready", 5000)).n, 1);
 * equal((await proc.status).code, 0);
 * ```
 */
export class Proc {
  /** Its name in the progress log and in errors. */
  readonly name: string;
  /** Its process id (the command's own: a `bash -c … exec` wrapper is replaced by it). */
  readonly pid: number;
  /** Its stdout lines so far (the last {@linkcode KEPT_LINES}). */
  readonly stdout: string[] = [];
  /** Its stderr lines read so far (the last {@linkcode KEPT_LINES}). */
  readonly stderr: string[] = [];
  /** Its exit status. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Settles once it has exited and its output has been read. */
  readonly done: Promise<void>;
  #child: Deno.ChildProcess;
  #exited = false;
  #waiters = new Set<() => void>();
  #stderrFile: string | undefined;
  #fileOffset = 0;
  #fileDecoder = new TextDecoder();
  #fileRest = "";

  /** Use {@linkcode Processes.spawn}, which registers it. */
  constructor(name: string, command: string, args: string[], options: SpawnOptions = {}) {
    this.name = name;
    this.#stderrFile = options.stderrFile;
    const wrapped = wrap(command, args, options);
    this.#child = new Deno.Command(wrapped.command, {
      args: wrapped.args,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: this.#stderrFile === undefined ? "piped" : "null",
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...wrapped.env },
    }).spawn();
    this.pid = this.#child.pid;
    const out = this.#pump(this.#child.stdout, this.stdout);
    const err = this.#stderrFile === undefined
      ? this.#pump(this.#child.stderr, this.stderr)
      : Promise.resolve();
    this.status = this.#child.status.then((status) => {
      this.#exited = true;
      this.#notify();
      return status;
    });
    this.done = Promise.all([this.status, out, err]).then(() => {});
  }

  /** Whether it has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  async #pump(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
    let rest = "";
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        rest = pushLines(lines, rest + text);
        this.#notify();
      }
    } catch {
      // The process was killed.
    }
    if (rest !== "") lines.push(rest);
    this.#notify();
  }

  /** Reads what the stderr file gained since the last look (at most 1 MiB). */
  async #readStderrFile(): Promise<void> {
    if (this.#stderrFile === undefined) return;
    try {
      using file = await Deno.open(this.#stderrFile);
      await file.seek(this.#fileOffset, Deno.SeekMode.Start);
      const buffer = new Uint8Array(FILE_READ_CHUNK);
      const n = await file.read(buffer);
      if (n === null || n === 0) return;
      this.#fileOffset += n;
      const text = this.#fileDecoder.decode(buffer.subarray(0, n), { stream: true });
      this.#fileRest = pushLines(this.stderr, this.#fileRest + text);
    } catch {
      // Not created yet.
    }
  }

  #notify(): void {
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /**
   * Resolves with the first line of `which` (from index `from`) that `test`
   * accepts; rejects when the process exits or `timeoutMs` passes first.
   */
  async waitLine(
    which: "stdout" | "stderr",
    test: (line: string) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    const fromFile = which === "stderr" && this.#stderrFile !== undefined;
    let i = from;
    while (true) {
      if (fromFile) await this.#readStderrFile();
      const lines = this[which];
      for (; i < lines.length; i++) if (test(lines[i]!)) return lines[i]!;
      if (this.#exited) {
        await this.done;
        if (fromFile) await this.#readStderrFile();
        const again = this[which].slice(i).find(test);
        if (again !== undefined) return again;
        throw new Error(`${this.name} exited: ${await this.tail()}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`${this.name}: timed out waiting for output; ${await this.tail()}`);
      }
      // A file says nothing when it grows: look again soon.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.add(resolve);
        timer = setTimeout(resolve, Math.min(left, fromFile ? 50 : 1000));
      });
      clearTimeout(timer);
    }
  }

  /** Waits for a JSON line on stdout whose `event` is `name`, from line index `from`. */
  async waitEvent(name: string, timeoutMs: number, from = 0): Promise<Record<string, unknown>> {
    const line = await this.waitLine("stdout", (l) => eventOf(l) === name, timeoutMs, from);
    return JSON.parse(line);
  }

  /** The last lines of its stderr (file or pipe) and stdout, for an error message. */
  async tail(n = 5): Promise<string> {
    let err = this.stderr.slice(-n);
    if (this.#stderrFile !== undefined) err = await lastLinesOfFile(this.#stderrFile, n);
    return [...err, ...this.stdout.slice(-n)].join(" | ") || "(no output)";
  }

  /** Sends `signal`; a process already gone is no error. */
  kill(signal: Deno.Signal): void {
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.#exited) return;
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    await this.status;
    clearTimeout(timer);
  }
}

/** Splits `text` into lines pushed onto `lines` (trimmed to the newest); returns the unfinished rest. */
function pushLines(lines: string[], text: string): string {
  const parts = text.split("\n");
  const rest = parts.pop()!;
  for (const part of parts) lines.push(part);
  if (lines.length > 2 * KEPT_LINES) lines.splice(0, lines.length - KEPT_LINES);
  return rest;
}

function eventOf(line: string): unknown {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line).event;
  } catch {
    return undefined;
  }
}

async function lastLinesOfFile(path: string, n: number): Promise<string[]> {
  try {
    using file = await Deno.open(path);
    const size = (await file.stat()).size;
    const start = Math.max(0, size - 4096);
    await file.seek(start, Deno.SeekMode.Start);
    const buffer = new Uint8Array(size - start);
    let read = 0;
    while (read < buffer.length) {
      const got = await file.read(buffer.subarray(read));
      if (got === null) break;
      read += got;
    }
    return new TextDecoder().decode(buffer.subarray(0, read)).trimEnd().split("\n").slice(-n);
  } catch {
    return [];
  }
}

/** The command line that applies `options`' redirection and file limit: a `bash -c` that execs. */
function wrap(
  command: string,
  args: string[],
  options: SpawnOptions,
): { command: string; args: string[]; env: Record<string, string> } {
  if (options.stderrFile === undefined && options.fdLimit === undefined) {
    return { command, args, env: {} };
  }
  let script = "";
  if (options.fdLimit) {
    const { files, strict } = options.fdLimit;
    script += strict
      ? `ulimit -n ${files} || exit 97; `
      : `ulimit -n ${files} 2>/dev/null || true; `;
  }
  script += 'exec "$0" "$@"';
  const env: Record<string, string> = {};
  if (options.stderrFile !== undefined) {
    script += ' 2>"$PTTH_BENCH_STDERR"';
    env.PTTH_BENCH_STDERR = options.stderrFile;
  }
  return { command: "bash", args: ["-c", script, command, ...args], env };
}

/**
 * Every child of one run: started here, stopped together.
 *
 * @example
 * ```ts
 * import { Processes } from "./processes.ts";
 * import { equal } from "node:assert/strict";
 * const procs = new Processes(Deno.cwd());
 * const sleeper = procs.spawn("sleeper", "sleep", ["30"]);
 * equal(procs.live, 1);
 * await procs.stopAll(500);
 * equal(sleeper.exited, true);
 * procs.abort();
 * let refused = false;
 * try {
 *   procs.spawn("late", "true", []);
 * } catch {
 *   refused = true;
 * }
 * equal(refused, true);
 * ```
 */
export class Processes {
  #cwd: string;
  #live = new Set<Proc>();
  #extraPids = new Set<number>();
  #aborting = false;

  /** Children start in `cwd` unless told otherwise. */
  constructor(cwd: string) {
    this.#cwd = cwd;
  }

  /** How many children are running. */
  get live(): number {
    return this.#live.size;
  }

  /** Whether the run is being stopped (no child may start). */
  get aborting(): boolean {
    return this.#aborting;
  }

  /**
   * Starts `command` with `args`.
   *
   * @throws {Error} Once the run is being stopped.
   */
  spawn(name: string, command: string, args: string[], options: SpawnOptions = {}): Proc {
    if (this.#aborting) throw new Error(`Not starting ${name}: the run is being stopped`);
    const proc = new Proc(name, command, args, { cwd: this.#cwd, ...options });
    this.#live.add(proc);
    proc.status.then(() => this.#live.delete(proc));
    return proc;
  }

  /** Starts `deno run -A …args`. */
  deno(name: string, args: string[], options: SpawnOptions = {}): Proc {
    return this.spawn(name, Deno.execPath(), ["run", "-A", ...args], options);
  }

  /**
   * Also kills `pid` at the end: a process a child started that outlives its
   * parent when that one is killed (an nginx worker).
   */
  adopt(pid: number): void {
    this.#extraPids.add(pid);
  }

  /** Stops every child (SIGTERM, SIGKILL after `graceMs`). */
  async stopAll(graceMs = 1500): Promise<void> {
    await Promise.all([...this.#live].map((proc) => proc.stop(graceMs)));
    this.#killAdopted();
  }

  /** SIGKILLs every child at once. */
  killAllNow(): void {
    for (const proc of this.#live) proc.kill("SIGKILL");
    this.#killAdopted();
  }

  /** Stops the run: no child starts any more, and every child is killed. */
  abort(): void {
    this.#aborting = true;
    this.killAllNow();
  }

  #killAdopted(): void {
    for (const pid of this.#extraPids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone with its parent.
      }
    }
    this.#extraPids.clear();
  }
}

/**
 * The run's global deadline: `onExpire` is called once when `ms` have passed
 * unless it is cleared first.
 *
 * @example
 * ```ts
 * import { Deadline } from "./processes.ts";
 * import { equal } from "node:assert/strict";
 * let expired = false;
 * const deadline = new Deadline(20, () => expired = true);
 * equal(deadline.leftMs() > 0, true);
 * await new Promise((resolve) => setTimeout(resolve, 50));
 * equal(expired, true);
 * deadline.clear();
 * ```
 */
export class Deadline {
  #timer: ReturnType<typeof setTimeout>;
  #end: number;

  /** Arms it. */
  constructor(ms: number, onExpire: () => void) {
    this.#end = performance.now() + ms;
    this.#timer = setTimeout(onExpire, ms);
  }

  /** Milliseconds until it expires (negative past it). */
  leftMs(): number {
    return this.#end - performance.now();
  }

  /** Disarms it. */
  clear(): void {
    clearTimeout(this.#timer);
  }
}

/**
 * Runs a short shell command and returns its trimmed stdout (stderr dropped).
 *
 * @example
 * ```ts
 * import { sh } from "./processes.ts";
 * import { equal } from "node:assert/strict";
 * equal(await sh("echo ' hi '"), "hi");
 * ```
 */
export async function sh(command: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", command], stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Resolves after `ms`.
 *
 * @example
 * ```ts
 * import { sleep } from "./processes.ts";
 * await sleep(1);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The process ids of `pid`'s children (from /proc), `[]` when there are none
 * or it is gone.
 *
 * @example
 * ```ts
 * import { childPids } from "./processes.ts";
 * import { equal } from "node:assert/strict";
 * equal(Array.isArray(childPids(Deno.pid)), true);
 * ```
 */
export function childPids(pid: number): number[] {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim();
    if (text !== "") return text.split(/\s+/).map(Number);
  } catch {
    // No children file (CONFIG_PROC_CHILDREN off): scan the parents of all processes below.
  }
  const children: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) children.push(Number(entry.name));
    } catch {
      // Gone meanwhile.
    }
  }
  return children;
}
