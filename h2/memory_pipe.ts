/**
 * An in-memory duplex byte pipe implementing {@linkcode ByteIO} at both ends,
 * so two codec endpoints can talk without sockets (used by examples and unit
 * tests of the codec itself; end-to-end tests use real loopback sockets).
 *
 * @module
 */

import type { ByteIO } from "./connection.ts";

class PipeEnd implements ByteIO {
  #inbox: Uint8Array[] = [];
  #waiting: (() => void) | null = null;
  #closed = false;
  peer!: PipeEnd;

  read(p: Uint8Array): Promise<number | null> {
    const chunk = this.#inbox[0];
    if (chunk !== undefined) {
      const n = Math.min(p.length, chunk.length);
      p.set(chunk.subarray(0, n));
      if (n === chunk.length) this.#inbox.shift();
      else this.#inbox[0] = chunk.subarray(n);
      return Promise.resolve(n);
    }
    if (this.#closed) return Promise.resolve(null);
    return new Promise<void>((resolve) => this.#waiting = resolve).then(() => this.read(p));
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#closed || this.peer.#closed) return Promise.reject(new Error("Pipe closed"));
    this.peer.#deliver(p.slice());
    return Promise.resolve(p.length);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake();
    this.peer.#closed = true;
    this.peer.#wake();
  }

  #deliver(bytes: Uint8Array): void {
    this.#inbox.push(bytes);
    this.#wake();
  }

  #wake(): void {
    const wake = this.#waiting;
    this.#waiting = null;
    wake?.();
  }
}

/**
 * Makes two connected in-memory byte streams: what one writes, the other reads.
 *
 * @returns The two ends.
 *
 * @example
 * ```ts
 * import { memoryPipe } from "./memory_pipe.ts";
 * import { equal } from "node:assert/strict";
 * const [a, b] = memoryPipe();
 * await a.write(new Uint8Array([1, 2, 3]));
 * const buf = new Uint8Array(8);
 * equal(await b.read(buf), 3);
 * a.close();
 * equal(await b.read(buf), null);
 * ```
 */
export function memoryPipe(): [ByteIO, ByteIO] {
  const a = new PipeEnd();
  const b = new PipeEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
