/**
 * The router's bound on response data its public clients have not taken yet.
 *
 * Tunnels give connection-level flow-control credit back as DATA arrives
 * (h2/connection.ts, `connectionCredit: "arrival"`), so a client that stops
 * reading holds only its own stream's window (RFC 9113 §6.9) and never stalls
 * the other responses of its tunnel. What all those windows hold together is
 * counted here, across tunnels; once it passes the budget, the streams whose
 * clients took nothing for a while are reset (CANCEL), those holding the most
 * first, until it is back under. Clients that keep reading are left alone:
 * each holds at most its stream window.
 *
 * @module
 */

import { BufferMeter } from "../h2/buffer_meter.ts";

/** A client that took nothing from its response for this long (ms) has stopped reading. */
export const STALL_MS = 1000;
/** Sweeps are this far apart at least (ms): each looks at every stream holding data. */
const SWEEP_INTERVAL = 100;
/** While over the budget with nothing to reset yet, look again this often (ms). */
const RECHECK_INTERVAL = 250;

/**
 * Why a response stream was reset: its client stopped reading while the
 * router held more unread response data than its budget.
 *
 * @example
 * ```ts
 * import { ResponseBudgetError } from "./response_budget.ts";
 * import { equal } from "node:assert/strict";
 * equal(new ResponseBudgetError(1024).name, "ResponseBudgetError");
 * ```
 */
export class ResponseBudgetError extends Error {
  /** @param budget The budget that was passed (bytes). */
  constructor(budget: number) {
    super(
      `Client took no response data for ${STALL_MS} ms while unread response data ` +
        `passed maxResponseBuffer (${budget} bytes)`,
    );
    this.name = "ResponseBudgetError";
  }
}

/** What one sweep reset. */
export interface Shed {
  /** Streams reset. */
  streams: number;
  /** Unread bytes they held. */
  bytes: number;
}

/**
 * Counts unread response bytes (its `meter` goes to every tunnel) and resets
 * stalled streams while they pass `budget`.
 *
 * @example A budget no stream passes does nothing
 * ```ts
 * import { ResponseBudget } from "./response_budget.ts";
 * import { equal } from "node:assert/strict";
 * const budget = new ResponseBudget(1024, () => {});
 * equal(budget.meter.bytes, 0);
 * equal(budget.meter.limit, 1024);
 * budget.stop();
 * ```
 */
export class ResponseBudget {
  /** Give it to every tunnel's connection (`bufferMeter`). */
  readonly meter: BufferMeter;
  #onShed: (shed: Shed) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastSweep = -Infinity;
  #stopped = false;

  /**
   * @param budget Unread response bytes above which stalled streams are reset.
   * @param onShed Told what each sweep reset (for logs and metrics).
   */
  constructor(budget: number, onShed: (shed: Shed) => void) {
    this.meter = new BufferMeter(budget, () => this.#schedule(0));
    this.#onShed = onShed;
  }

  /** No more sweeps (the router is stopping). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(after: number): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const wait = Math.max(after, this.#lastSweep + SWEEP_INTERVAL - Date.now(), 0);
    this.#timer = setTimeout(this.#sweep, wait);
  }

  #sweep = (): void => {
    this.#timer = undefined;
    const meter = this.meter;
    if (this.#stopped || meter.bytes <= meter.limit) return;
    const now = this.#lastSweep = Date.now();
    const stalled = meter.holders.filter((buffer) => now - buffer.lastRead >= STALL_MS);
    stalled.sort((a, b) => b.unreadBytes - a.unreadBytes);
    const shed: Shed = { streams: 0, bytes: 0 };
    for (const buffer of stalled) {
      if (meter.bytes <= meter.limit) break;
      shed.bytes += buffer.unreadBytes;
      shed.streams++;
      buffer.abandon(new ResponseBudgetError(meter.limit));
    }
    if (shed.streams > 0) this.#onShed(shed);
    // Streams whose clients are reading now may stop later.
    if (meter.bytes > meter.limit) this.#schedule(RECHECK_INTERVAL);
  };
}
