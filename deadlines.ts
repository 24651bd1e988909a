/**
 * Many deadlines, one timer: entries are checked on a coarse tick instead of
 * arming a timer per request, which costs a timer op in the runtime each time.
 * The tick runs only while entries are pending.
 *
 * @module
 */

/** One pending deadline; pass it to {@linkcode Deadlines.cancel}. */
export interface Deadline {
  /** When it fires (ms since the epoch). */
  readonly at: number;
  /** What it does then. */
  readonly fire: () => void;
}

/**
 * A set of deadlines checked every `resolution` ms.
 *
 * @example
 * ```ts
 * import { Deadlines } from "./deadlines.ts";
 * import { equal } from "node:assert/strict";
 * const deadlines = new Deadlines(10);
 * let fired = false;
 * deadlines.add(20, () => fired = true);
 * await new Promise((resolve) => setTimeout(resolve, 60));
 * equal(fired, true);
 * ```
 */
export class Deadlines {
  #entries = new Set<Deadline>();
  #resolution: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** @param resolution How often pending deadlines are checked (ms). */
  constructor(resolution: number) {
    this.#resolution = resolution;
  }

  /**
   * Arms a deadline.
   *
   * @param ms How long from now.
   * @param fire What to do when it passes (at most `resolution` ms late).
   * @returns The deadline, to cancel it.
   */
  add(ms: number, fire: () => void): Deadline {
    const deadline = { at: Date.now() + ms, fire };
    this.#entries.add(deadline);
    this.#timer ??= setInterval(() => this.#tick(), this.#resolution);
    return deadline;
  }

  /**
   * Disarms a deadline (no-op if it fired already).
   *
   * @param deadline What {@linkcode Deadlines.add} returned.
   */
  cancel(deadline: Deadline): void {
    this.#entries.delete(deadline);
  }

  #tick(): void {
    const now = Date.now();
    for (const deadline of this.#entries) {
      if (deadline.at > now) continue;
      this.#entries.delete(deadline);
      deadline.fire();
    }
    if (this.#entries.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
