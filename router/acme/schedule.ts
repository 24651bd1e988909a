/**
 * When to renew and when to try again: the renewal time of a certificate
 * (the CA's ARI window when it offers one, else two thirds into its
 * lifetime), the capped exponential backoff after failures, and the budget of
 * new orders per hour that keeps a long name list or a failing name from
 * spending the CA's rate limits.
 *
 * @module
 */

import type { CertificateInfo } from "./certificates.ts";
import type { RenewalInfo } from "./client.ts";

/**
 * The time to renew a certificate. With a window from the CA's ACME Renewal
 * Information, a uniformly random moment inside it (draft-ietf-acme-ari
 * §4.2, so that many clients do not renew at once), or now when the window
 * has passed; without one, two thirds into the certificate's lifetime.
 *
 * @param info The certificate.
 * @param now The current time (ms).
 * @param window The CA's suggested window, if any.
 * @param random A number in [0, 1).
 * @returns When to renew (ms since the epoch).
 *
 * @example
 * ```ts
 * import { renewalTime } from "./schedule.ts";
 * import { equal } from "node:assert/strict";
 * const info = { notBefore: 0, notAfter: 90, names: [] };
 * equal(renewalTime(info, 0), 60);
 * equal(renewalTime(info, 0, { start: 10, end: 20 }, 0.5), 15);
 * equal(renewalTime(info, 30, { start: 10, end: 20 }, 0.5), 30);
 * ```
 */
export function renewalTime(
  info: CertificateInfo,
  now: number,
  window?: RenewalInfo,
  random = Math.random(),
): number {
  if (window) {
    if (window.end <= now) return now;
    return Math.max(now, window.start + Math.floor(random * (window.end - window.start)));
  }
  return info.notBefore + Math.floor((info.notAfter - info.notBefore) * 2 / 3);
}

/**
 * The wait after the `failures`-th failure in a row: `first`, doubling, at
 * most `max`.
 *
 * @param failures Failures so far (1 after the first).
 * @param first The first wait (ms).
 * @param max The cap (ms).
 * @returns The wait (ms).
 *
 * @example
 * ```ts
 * import { backoff } from "./schedule.ts";
 * import { equal } from "node:assert/strict";
 * equal(backoff(1, 1000, 60_000), 1000);
 * equal(backoff(3, 1000, 60_000), 4000);
 * equal(backoff(30, 1000, 60_000), 60_000);
 * ```
 */
export function backoff(failures: number, first: number, max: number): number {
  return Math.min(max, first * 2 ** Math.min(Math.max(failures - 1, 0), 40));
}

/**
 * At most `perHour` new orders in any hour (a sliding window).
 *
 * @example
 * ```ts
 * import { OrderBudget } from "./schedule.ts";
 * import { equal } from "node:assert/strict";
 * const budget = new OrderBudget(2);
 * equal(budget.take(0), 0);
 * equal(budget.take(10), 0);
 * equal(budget.take(20), 3_599_980); // the first order leaves the window in that long
 * equal(budget.take(3_600_000), 0);
 * ```
 */
export class OrderBudget {
  #perHour: number;
  #taken: number[] = [];

  /** @param perHour Orders per hour at most. */
  constructor(perHour: number) {
    this.#perHour = perHour;
  }

  /**
   * Takes one order from the budget.
   *
   * @param now The current time (ms).
   * @returns 0 when taken, else how long until one is free (ms; nothing taken).
   */
  take(now: number): number {
    const hourAgo = now - 3_600_000;
    while (this.#taken.length > 0 && this.#taken[0]! <= hourAgo) this.#taken.shift();
    if (this.#taken.length >= this.#perHour) return this.#taken[0]! - hourAgo;
    this.#taken.push(now);
    return 0;
  }
}
