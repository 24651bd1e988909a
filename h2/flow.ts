/**
 * Flow-control window arithmetic (RFC 9113 §5.2, §6.9): pure numbers, no I/O.
 *
 * @module
 */

import { MAX_WINDOW_SIZE } from "./constants.ts";

/**
 * The window we may still send into: the peer's grant, shrunk by DATA we send
 * and grown by the peer's WINDOW_UPDATE or a SETTINGS_INITIAL_WINDOW_SIZE change.
 *
 * @example Spend and replenish a window
 * ```ts
 * import { SendWindow } from "./flow.ts";
 * import { equal } from "node:assert/strict";
 * const window = new SendWindow(100);
 * window.consume(60);
 * equal(window.size, 40);
 * window.add(10);
 * equal(window.size, 50);
 * ```
 */
export class SendWindow {
  #size: number;
  /** @param initial The starting window in bytes. */
  constructor(initial: number) {
    this.#size = initial;
  }
  /** The bytes that may still be sent; negative after a shrinking SETTINGS (§6.9.2). */
  get size(): number {
    return this.#size;
  }
  /** @param n Bytes of DATA payload (padding included) just sent. */
  consume(n: number): void {
    this.#size -= n;
  }
  /**
   * Grows the window.
   *
   * @param delta The increment; may be negative for a SETTINGS change.
   * @returns `false` when the window would exceed 2^31-1, which the caller
   *   answers with FLOW_CONTROL_ERROR (RFC 9113 §6.9.1); the window is then unchanged.
   */
  add(delta: number): boolean {
    const next = this.#size + delta;
    if (next > MAX_WINDOW_SIZE) return false;
    this.#size = next;
    return true;
  }
}

/**
 * The window we granted the peer: shrunk by DATA received, restored as the
 * application consumes it. Updates are batched so that one WINDOW_UPDATE covers
 * at least half the window, instead of one per DATA frame.
 *
 * @example Grant the peer more room once half is consumed
 * ```ts
 * import { ReceiveWindow } from "./flow.ts";
 * import { equal } from "node:assert/strict";
 * const window = new ReceiveWindow(100);
 * equal(window.receive(80), true);
 * equal(window.release(30), 0); // below the threshold: nothing to send yet
 * equal(window.release(30), 60); // send WINDOW_UPDATE of 60
 * equal(window.size, 80);
 * ```
 */
export class ReceiveWindow {
  #size: number;
  #target: number;
  #unsent = 0;
  /** @param initial The window advertised to the peer. */
  constructor(initial: number) {
    this.#size = initial;
    this.#target = initial;
  }
  /** The bytes the peer may still send before it must wait. */
  get size(): number {
    return this.#size;
  }
  /**
   * Accounts for received DATA.
   *
   * @param n The frame's whole payload length (padding counts, RFC 9113 §6.1).
   * @returns `false` when the peer overran the window (FLOW_CONTROL_ERROR).
   */
  receive(n: number): boolean {
    if (n > this.#size) return false;
    this.#size -= n;
    return true;
  }
  /**
   * Marks bytes as consumed by the application.
   *
   * @param n The bytes consumed.
   * @returns The WINDOW_UPDATE increment to send now, or 0 to wait for more.
   */
  release(n: number): number {
    this.#unsent += n;
    if (this.#unsent < this.#target / 2 && this.#size > 0) return 0;
    const increment = this.#unsent;
    this.#unsent = 0;
    this.#size += increment;
    return increment;
  }
  /**
   * Raises the target window and returns the WINDOW_UPDATE increment that grants it.
   *
   * @param target The new window size.
   * @returns The increment to send (0 if the window is already that large).
   */
  grow(target: number): number {
    if (target <= this.#target) return 0;
    const increment = target - this.#target;
    this.#target = target;
    this.#size += increment;
    return increment;
  }
}
