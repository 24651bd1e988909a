/**
 * A budget of bytes shared by WebSockets for the messages they are still
 * receiving: a relay that reassembles fragmented messages holds each until its
 * last fragment, and without a shared bound many sockets each sending an
 * unfinished message could hold as much as their count times the largest
 * message. A socket whose next fragment does not fit fails with 1009.
 *
 * @module
 */

/**
 * Counts the bytes of messages being received, over all sockets given it.
 *
 * @example
 * ```ts
 * import { MessageBudget } from "./message_budget.ts";
 * import { equal } from "node:assert/strict";
 * const budget = new MessageBudget(100);
 * equal(budget.reserve(60), true);
 * equal(budget.reserve(60), false);
 * budget.release(60);
 * equal(budget.reserve(60), true);
 * equal(budget.used, 60);
 * ```
 */
export class MessageBudget {
  /** The most bytes all sockets may hold at once. */
  readonly limit: number;
  #used = 0;

  /** @param limit The most bytes all sockets may hold at once. */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /**
   * Takes `bytes` from the budget, if they fit.
   *
   * @param bytes How many.
   * @returns Whether they were taken.
   */
  reserve(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  /**
   * Gives back bytes taken with {@linkcode MessageBudget.reserve}.
   *
   * @param bytes How many.
   */
  release(bytes: number): void {
    this.#used = Math.max(0, this.#used - bytes);
  }
}
