/**
 * A race against a timer whose timer never outlives the race: for the many
 * bounded waits of the router and the backend (handshakes, drains, shutdown).
 *
 * @module
 */

/**
 * Waits for `promise`, at most `ms` milliseconds.
 *
 * @param promise What to wait for.
 * @param ms How long at most.
 * @param fallback What to resolve with when the time is up.
 * @returns The promise's value, or `fallback`.
 *
 * @example
 * ```ts
 * import { within } from "./within.ts";
 * import { equal } from "node:assert/strict";
 * equal(await within(Promise.resolve("done"), 1000, "late"), "done");
 * equal(await within(new Promise(() => {}), 10, "late"), "late");
 * ```
 */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<F>((resolve) => timer = setTimeout(() => resolve(fallback), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
