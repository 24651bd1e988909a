/**
 * A running count of the DATA octets streams hold for their readers
 * (received, not read yet), which any number of connections may share, with
 * the list of the streams that hold them and a call once the count passes a
 * limit. The codec keeps no policy: whoever made the meter decides what
 * passing the limit means (the router resets streams whose readers stopped).
 *
 * @module
 */

/** A buffer the meter lists while it holds octets: an {@linkcode Http2Stream}'s inbound body. */
export interface MeteredBuffer {
  /** Where the meter keeps it (-1 while it holds nothing); the meter's alone to set. */
  meterSlot: number;
  /** The octets it holds. */
  readonly unreadBytes: number;
  /** When its reader last took octets, or when it was made (ms since the epoch). */
  readonly lastRead: number;
  /**
   * Drops the octets it holds: its reader fails with `reason` (a body cut
   * short never passes for whole), and an open stream is reset (CANCEL).
   */
  abandon(reason: Error): void;
}

/**
 * Counts unread inbound octets across connections; calls `onOver` (once per
 * turn of the event loop at most) while a DATA frame takes the count past the
 * limit.
 *
 * @example
 * ```ts
 * import { BufferMeter } from "./buffer_meter.ts";
 * import { equal } from "node:assert/strict";
 * let over = 0;
 * const meter = new BufferMeter(100, () => over++);
 * const body = { meterSlot: -1, unreadBytes: 0, lastRead: Date.now(), abandon() {} };
 * body.unreadBytes += 120;
 * meter.add(body, 120);
 * body.unreadBytes += 10;
 * meter.add(body, 10);
 * await Promise.resolve();
 * equal(over, 1); // once for the frames of one turn
 * equal(meter.holders.length, 1);
 * body.unreadBytes = 0;
 * meter.remove(body, 130);
 * equal(meter.bytes, 0);
 * equal(meter.holders.length, 0);
 * ```
 */
export class BufferMeter {
  #bytes = 0;
  #limit: number;
  #onOver: () => void;
  #scheduled = false;
  #holders: MeteredBuffer[] = [];

  /**
   * @param limit The count above which `onOver` is called.
   * @param onOver Told, after the frames being parsed, that the count passed the limit.
   */
  constructor(limit: number, onOver: () => void) {
    this.#limit = limit;
    this.#onOver = onOver;
  }

  /** The unread octets held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The limit. */
  get limit(): number {
    return this.#limit;
  }

  /** The buffers holding octets now (a live view: copy it before abandoning any). */
  get holders(): readonly MeteredBuffer[] {
    return this.#holders;
  }

  /**
   * Counts octets a buffer took in.
   *
   * @param buffer The buffer; listed if it held nothing before.
   * @param n The octets.
   */
  add(buffer: MeteredBuffer, n: number): void {
    if (buffer.meterSlot < 0) {
      buffer.meterSlot = this.#holders.length;
      this.#holders.push(buffer);
    }
    this.#bytes += n;
    if (this.#bytes > this.#limit && !this.#scheduled) {
      // Not from inside the read loop: the owner may reset streams.
      this.#scheduled = true;
      queueMicrotask(this.#fire);
    }
  }

  /**
   * Counts octets a buffer gave up (read, dropped).
   *
   * @param buffer The buffer; unlisted once it holds nothing.
   * @param n The octets.
   */
  remove(buffer: MeteredBuffer, n: number): void {
    this.#bytes -= n;
    if (buffer.unreadBytes > 0 || buffer.meterSlot < 0) return;
    // Swap with the last: O(1), and the array never holds a gap.
    const slot = buffer.meterSlot;
    const last = this.#holders.pop()!;
    if (last !== buffer) {
      this.#holders[slot] = last;
      last.meterSlot = slot;
    }
    buffer.meterSlot = -1;
  }

  #fire = (): void => {
    this.#scheduled = false;
    if (this.#bytes > this.#limit) this.#onOver();
  };
}
