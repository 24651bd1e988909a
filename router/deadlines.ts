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
  // Slots, not a Set: a Set under per-request churn keeps rebuilding its store,
  // and V8's young collector then keeps every request a stale store names
  // alive (see h2/stream_table.ts). A cancelled deadline's slot is cleared.
  #slots: Array<Entry | null> = [];
  #free: number[] = [];
  #count = 0;
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
    const slot = this.#free.length > 0 ? this.#free.pop()! : this.#slots.length;
    const entry: Entry = { at: Date.now() + ms, fire, slot };
    this.#slots[slot] = entry;
    this.#count++;
    this.#timer ??= setInterval(() => this.#tick(), this.#resolution);
    return entry;
  }

  /**
   * Disarms a deadline (no-op if it fired already).
   *
   * @param deadline What {@linkcode Deadlines.add} returned.
   */
  cancel(deadline: Deadline): void {
    const slot = (deadline as Entry).slot;
    if (this.#slots[slot] !== deadline) return;
    this.#slots[slot] = null;
    this.#free.push(slot);
    this.#count--;
  }

  #tick(): void {
    const now = Date.now();
    const slots = this.#slots;
    for (let i = 0; i < slots.length; i++) {
      const entry = slots[i];
      if (entry === null || entry === undefined || entry.at > now) continue;
      this.cancel(entry);
      entry.fire();
    }
    if (this.#count === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      // Shed the slots a burst needed.
      this.#slots = [];
      this.#free = [];
    }
  }
}

/** A deadline and where it sits. */
interface Entry extends Deadline {
  readonly slot: number;
}
