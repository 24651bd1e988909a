/**
 * The router's tunnels: the set of connected backends and the choice of one
 * for each request (fewest streams in flight, ties broken at random).
 *
 * @module
 */

/** One connected backend, as the pool sees it. */
export interface Tunnel {
  /** A short id for logs. */
  readonly id: string;
  /** Where the backend connected from. */
  readonly remoteAddr: Deno.NetAddr;
  /** When it connected (ms since the epoch). */
  readonly connectedAt: number;
  /** Streams open plus requests queued for a stream slot. */
  readonly inFlight: number;
  /** Whether it takes new requests (open, no GOAWAY either way). */
  readonly available: boolean;
  /** Resolves when the tunnel's connection has closed. */
  readonly closed: Promise<void>;
}

/**
 * The set of live tunnels. A tunnel that closes or sends GOAWAY stops being
 * picked at once.
 *
 * @example Pick from an empty pool
 * ```ts
 * import { TunnelPool } from "./pool.ts";
 * import { equal } from "node:assert/strict";
 * const pool = new TunnelPool();
 * equal(pool.pick(), undefined);
 * equal(pool.size, 0);
 * ```
 */
export class TunnelPool<T extends Tunnel = Tunnel> {
  #tunnels: T[] = [];

  /** How many tunnels are connected (draining ones included). */
  get size(): number {
    return this.#tunnels.length;
  }

  /** A snapshot of the connected tunnels. */
  list(): T[] {
    return [...this.#tunnels];
  }

  /**
   * Adds a tunnel; it leaves the pool by itself when its session closes.
   *
   * @param tunnel The tunnel.
   */
  add(tunnel: T): void {
    this.#tunnels.push(tunnel);
    tunnel.closed.then(() => this.remove(tunnel));
  }

  /**
   * Removes a tunnel (no-op if absent).
   *
   * @param tunnel The tunnel.
   */
  remove(tunnel: T): void {
    const i = this.#tunnels.indexOf(tunnel);
    if (i >= 0) this.#tunnels.splice(i, 1);
  }

  /**
   * Picks the available tunnel with the fewest streams in flight; ties at random.
   *
   * @param exclude A tunnel not to pick (the one a retry comes from).
   * @returns The tunnel, or `undefined` when none can take a request.
   */
  pick(exclude?: T): T | undefined {
    let best: T | undefined;
    let bestLoad = Infinity;
    let ties = 0;
    for (const tunnel of this.#tunnels) {
      if (tunnel === exclude || !tunnel.available) continue;
      const load = tunnel.inFlight;
      if (load < bestLoad) {
        best = tunnel;
        bestLoad = load;
        ties = 1;
      } else if (load === bestLoad && Math.random() * ++ties < 1) {
        // Reservoir sampling: each of the tied tunnels is kept with equal chance.
        best = tunnel;
      }
    }
    return best;
  }
}
