/**
 * A log sink that writes lines to a stream in batches, as nginx writes its
 * access log through a buffer: a line per request must not cost a write per
 * request. Lines wait at most `flushInterval`, a batch goes out once it
 * reaches `batchBytes`, and only one write is in flight at a time. Writes are
 * asynchronous, so a full pipe (a log reader that stopped) never blocks
 * requests; what waits for it is bounded by `maxPendingBytes`, beyond which
 * lines are dropped and the drop is reported once the writer catches up.
 * `flush()` (on shutdown) and the `unload` event (on `Deno.exit`) write what
 * is left, so lines are not lost when the process stops.
 *
 * @module
 */

/** Where batches go: `Deno.stderr` or anything with its `write` and `writeSync`. */
export interface BatchTarget {
  /** Writes some of `p`; resolves to the count written. */
  write(p: Uint8Array): Promise<number>;
  /** Writes some of `p` at once (used when the process is about to end). */
  writeSync(p: Uint8Array): number;
}

/** Options of {@linkcode BatchedWriter}. */
export interface BatchedWriterOptions {
  /** How long a line may wait for its batch (ms). @default {50} */
  flushInterval?: number;
  /** A batch this large is written without waiting. @default {65536} */
  batchBytes?: number;
  /** Lines waiting beyond this many bytes are dropped (and counted). @default {4194304} */
  maxPendingBytes?: number;
  /** Write what is left when the process unloads (`Deno.exit`, end of the program). @default {true} */
  flushOnUnload?: boolean;
}

const encoder = new TextEncoder();

/**
 * Batches lines for a stream.
 *
 * @example Lines leave together, once flushed
 * ```ts
 * import { BatchedWriter } from "./batched_writer.ts";
 * import { equal } from "node:assert/strict";
 * const writes: string[] = [];
 * const target = {
 *   write: (p: Uint8Array) => (writes.push(new TextDecoder().decode(p)), Promise.resolve(p.length)),
 *   writeSync: (p: Uint8Array) => p.length,
 * };
 * const writer = new BatchedWriter(target, { flushOnUnload: false });
 * writer.line("one");
 * writer.line("two");
 * await writer.flush();
 * equal(writes.join(""), "one\ntwo\n");
 * ```
 */
export class BatchedWriter {
  #target: BatchTarget;
  #interval: number;
  #batchBytes: number;
  #maxPending: number;
  #lines: string[] = [];
  #pendingBytes = 0;
  #dropped = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | null = null;
  #onUnload: (() => void) | null = null;

  /**
   * @param target Where batches are written.
   * @param options Timing and bounds.
   */
  constructor(target: BatchTarget, options: BatchedWriterOptions = {}) {
    this.#target = target;
    this.#interval = options.flushInterval ?? 50;
    this.#batchBytes = options.batchBytes ?? 64 * 1024;
    this.#maxPending = options.maxPendingBytes ?? 4 * 1024 * 1024;
    if (options.flushOnUnload ?? true) {
      this.#onUnload = () => this.flushSync();
      globalThis.addEventListener("unload", this.#onUnload);
    }
  }

  /** The sink for a `Logger`: takes one line (without its newline). */
  readonly line = (line: string): void => {
    // Counted in UTF-16 units: close enough for a bound, without encoding twice.
    const size = line.length + 1;
    if (this.#pendingBytes + size > this.#maxPending) {
      this.#dropped++;
      return;
    }
    this.#lines.push(line);
    this.#pendingBytes += size;
    if (this.#pendingBytes >= this.#batchBytes) this.#start();
    else this.#timer ??= setTimeout(() => this.#start(), this.#interval);
  };

  /** How many lines were dropped because the target did not take them fast enough. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Starts writing what waits, unless a write is in flight (it continues with it). */
  #start(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#writing ??= this.#drain().finally(() => this.#writing = null);
  }

  /** Writes batches until nothing waits. */
  async #drain(): Promise<void> {
    while (this.#lines.length > 0) {
      let bytes = this.#take();
      try {
        while (bytes.length > 0) bytes = bytes.subarray(await this.#target.write(bytes));
      } catch {
        // A closed or broken target: what it did not take is gone, the caller is unharmed.
        this.#lines = [];
        this.#pendingBytes = 0;
        return;
      }
    }
  }

  /** The waiting lines as one buffer (with a note of lines dropped meanwhile). */
  #take(): Uint8Array {
    if (this.#dropped > 0) {
      this.#lines.push(`${this.#dropped} log line(s) dropped: the log's reader did not keep up`);
      this.#dropped = 0;
    }
    const text = this.#lines.join("\n") + "\n";
    this.#lines = [];
    this.#pendingBytes = 0;
    return encoder.encode(text);
  }

  /** Writes everything that waits; resolves once it is written. */
  async flush(): Promise<void> {
    this.#start();
    while (this.#writing !== null) await this.#writing;
  }

  /** Writes what waits at once, blocking: for the moment the process ends. */
  flushSync(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#lines.length === 0 && this.#dropped === 0) return;
    let bytes = this.#take();
    try {
      while (bytes.length > 0) bytes = bytes.subarray(this.#target.writeSync(bytes));
    } catch {
      // Nowhere to write to any more.
    }
  }

  /** Flushes, and stops listening for the process's end. */
  async close(): Promise<void> {
    await this.flush();
    if (this.#onUnload) globalThis.removeEventListener("unload", this.#onUnload);
    this.#onUnload = null;
  }
}
