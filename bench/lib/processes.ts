/**
 * The benchmark's child processes: each one started through a
 * {@linkcode Processes} registry, so that all of them can be stopped at the
 * end of a run, on failure, on a signal and when the run's deadline passes,
 * and so that none starts once the run is being stopped.
 *
 * A {@linkcode Proc}'s output is read line by line as it comes, so a child
 * never blocks on a full pipe.
 *
 * @module
 */

/** How a child is started. */
export interface SpawnOptions {
  /** Working directory. @default {the registry's} */
  cwd?: string;
}

/** Lines kept of a child's output: the most recent ones. */
const KEPT_LINES = 10_000;

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

  /** Use {@linkcode Processes.spawn}, which registers it. */
  constructor(name: string, command: string, args: string[], options: SpawnOptions = {}) {
    this.name = name;
    this.#child = new Deno.Command(command, {
      args,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).spawn();
    this.pid = this.#child.pid;
    const out = this.#pump(this.#child.stdout, this.stdout);
    const err = this.#pump(this.#child.stderr, this.stderr);
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
    let i = from;
    while (true) {
      const lines = this[which];
      for (; i < lines.length; i++) if (test(lines[i]!)) return lines[i]!;
      if (this.#exited) {
        await this.done;
        const again = this[which].slice(i).find(test);
        if (again !== undefined) return again;
        throw new Error(`${this.name} exited: ${await this.tail()}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`${this.name}: timed out waiting for output; ${await this.tail()}`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.add(resolve);
        timer = setTimeout(resolve, Math.min(left, 1000));
      });
      clearTimeout(timer);
    }
  }

  /** Waits for a JSON line on stdout whose `event` is `name`, from line index `from`. */
  async waitEvent(name: string, timeoutMs: number, from = 0): Promise<Record<string, unknown>> {
    const line = await this.waitLine("stdout", (l) => eventOf(l) === name, timeoutMs, from);
    return JSON.parse(line);
  }

  /** The last lines of its stderr and stdout, for an error message. */
  tail(n = 5): Promise<string> {
    const lines = [...this.stderr.slice(-n), ...this.stdout.slice(-n)];
    return Promise.resolve(lines.join(" | ") || "(no output)");
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

  /** Stops every child (SIGTERM, SIGKILL after `graceMs`). */
  async stopAll(graceMs = 1500): Promise<void> {
    await Promise.all([...this.#live].map((proc) => proc.stop(graceMs)));
  }

  /** SIGKILLs every child at once. */
  killAllNow(): void {
    for (const proc of this.#live) proc.kill("SIGKILL");
  }

  /** Stops the run: no child starts any more, and every child is killed. */
  abort(): void {
    this.#aborting = true;
    this.killAllNow();
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
