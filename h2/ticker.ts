/**
 * One interval timer for every connection that checks its liveness at the
 * same period, instead of one timer each: a router holding thousands of idle
 * tunnels would otherwise keep thousands of timers (each a runtime object)
 * and wake up for each of them.
 *
 * @module
 */

interface Clock {
  timer: ReturnType<typeof setInterval>;
  callbacks: Set<() => void>;
}

const clocks = new Map<number, Clock>();

/**
 * Calls `callback` every `period` ms, on a timer shared with every other
 * callback of the same period, until the returned function is called.
 *
 * @param period The interval (ms).
 * @param callback What to run.
 * @returns A function that stops this callback (the timer stops with the last one).
 *
 * @example
 * ```ts
 * import { everyTick } from "./ticker.ts";
 * import { ok } from "node:assert/strict";
 * let a = 0;
 * let b = 0;
 * const stopA = everyTick(10, () => a++);
 * const stopB = everyTick(10, () => b++);
 * await new Promise((resolve) => setTimeout(resolve, 60));
 * stopA();
 * stopB();
 * ok(a > 0 && b > 0);
 * ```
 */
export function everyTick(period: number, callback: () => void): () => void {
  let clock = clocks.get(period);
  if (clock === undefined) {
    const callbacks = new Set<() => void>();
    const timer = setInterval(() => {
      // As with a timer each: one callback that throws does not keep the others from running.
      let failure: { error: unknown } | null = null;
      for (const run of callbacks) {
        try {
          run();
        } catch (error) {
          failure ??= { error };
        }
      }
      if (failure !== null) throw failure.error;
    }, period);
    clock = { timer, callbacks };
    clocks.set(period, clock);
  }
  clock.callbacks.add(callback);
  const current = clock;
  return () => {
    current.callbacks.delete(callback);
    if (current.callbacks.size === 0 && clocks.get(period) === current) {
      clearInterval(current.timer);
      clocks.delete(period);
    }
  };
}
