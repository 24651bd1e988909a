/**
 * The router's tunnels: the set of connected backends and the choice of one
 * for each request (fewest streams in flight, ties broken at random).
 *
 * @module
 */

import type { ClientSession } from "./h2/client.ts";

/** One connected backend: an HTTP/2 client session over the connection it dialed. */
export interface Tunnel {
  /** A short id for logs. */
  readonly id: string;
  /** The HTTP/2 session in the client role. */
  readonly session: ClientSession;
  /** Where the backend connected from. */
  readonly remoteAddr: Deno.NetAddr;
  /** When it connected (ms since the epoch). */
  readonly connectedAt: number;
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
export class TunnelPool {
  #tunnels: Tunnel[] = [];

  /** How many tunnels are connected (draining ones included). */
  get size(): number {
    return this.#tunnels.length;
  }

  /** A snapshot of the connected tunnels. */
  list(): Tunnel[] {
    return [...this.#tunnels];
  }

  /**
   * Adds a tunnel; it leaves the pool by itself when its session closes.
   *
   * @param tunnel The tunnel.
   */
  add(tunnel: Tunnel): void {
    this.#tunnels.push(tunnel);
    tunnel.session.closed.then(() => this.remove(tunnel));
  }

  /**
   * Removes a tunnel (no-op if absent).
   *
   * @param tunnel The tunnel.
   */
  remove(tunnel: Tunnel): void {
    const i = this.#tunnels.indexOf(tunnel);
    if (i >= 0) this.#tunnels.splice(i, 1);
  }

  /**
   * Picks the available tunnel with the fewest streams in flight; ties at random.
   *
   * @param exclude A tunnel not to pick (the one a retry comes from).
   * @returns The tunnel, or `undefined` when none can take a request.
   */
  pick(exclude?: Tunnel): Tunnel | undefined {
    let best: Tunnel | undefined;
    let bestLoad = Infinity;
    let ties = 0;
    for (const tunnel of this.#tunnels) {
      if (tunnel === exclude || !tunnel.session.available) continue;
      const load = tunnel.session.inFlight;
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
