/**
 * A byte stream that first returns bytes already read from it (during the
 * tunnel handshake) and then reads on from the underlying connection.
 *
 * @module
 */

import type { ByteIO } from "../h2/connection.ts";

/**
 * Wraps `io` so that `prefix` is read again before anything else.
 *
 * @example
 * ```ts
 * import { PrefixedIO } from "./prefixed_io.ts";
 * import { memoryPipe } from "../h2/memory_pipe.ts";
 * import { equal } from "node:assert/strict";
 * const [a, b] = memoryPipe();
 * const io = new PrefixedIO(b, new Uint8Array([1, 2]));
 * await a.write(new Uint8Array([3]));
 * const buf = new Uint8Array(8);
 * equal(await io.read(buf), 2);
 * equal(await io.read(buf), 1);
 * a.close();
 * ```
 */
export class PrefixedIO implements ByteIO {
  #io: ByteIO;
  #prefix: Uint8Array | null;
  #pending: Promise<Uint8Array | null> | null;

  /**
   * @param io The connection.
   * @param prefix Bytes read from it already, to be read again first.
   * @param pending A read still in flight on `io`, whose bytes come after `prefix`.
   */
  constructor(io: ByteIO, prefix: Uint8Array, pending?: Promise<Uint8Array | null>) {
    this.#io = io;
    this.#prefix = prefix.length > 0 ? prefix : null;
    this.#pending = pending ?? null;
  }

  /** Reads the prefix first, then from the connection. */
  read(p: Uint8Array): Promise<number | null> {
    // Once the prefix is used up every read goes straight to the connection,
    // without a promise of our own on the way.
    if (this.#prefix === null && this.#pending === null) return this.#io.read(p);
    return this.#readPrefix(p);
  }

  async #readPrefix(p: Uint8Array): Promise<number | null> {
    if (this.#prefix === null && this.#pending !== null) {
      const bytes = await this.#pending;
      this.#pending = null;
      if (bytes === null) return null;
      this.#prefix = bytes;
    }
    const prefix = this.#prefix;
    if (prefix === null) return this.#io.read(p);
    const n = Math.min(p.length, prefix.length);
    p.set(prefix.subarray(0, n));
    this.#prefix = n === prefix.length ? null : prefix.subarray(n);
    return n;
  }

  /** Writes to the connection. */
  write(p: Uint8Array): Promise<number> {
    return this.#io.write(p);
  }

  /** Closes the connection. */
  close(): void {
    this.#io.close();
  }

  /** Turns Nagle's algorithm off on the connection, where it has one. */
  setNoDelay(noDelay: boolean): void {
    this.#io.setNoDelay?.(noDelay);
  }
}
