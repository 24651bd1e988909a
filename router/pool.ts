/**
 * The router's tunnels: the set of connected backends by service, and the
 * choice of one for each request (fewest streams in flight relative to its
 * weight, ties at random, full tunnels last).
 *
 * @module
 */

/** One connected backend, as the pool sees it. */
export interface Tunnel {
  /** A short id for logs. */
  readonly id: string;
  /** The service it serves (`default` for anonymous tunnels). */
  readonly service: string;
  /** Host names it announced in its handshake. */
  readonly hosts: readonly string[];
  /** Its relative share of the service's traffic. */
  readonly weight: number;
  /** Labels from its handshake (version, region, …). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Where the backend connected from. */
  readonly remoteAddr: Deno.NetAddr;
  /** When it connected (ms since the epoch). */
  readonly connectedAt: number;
  /** Streams open plus requests queued for a stream slot. */
  readonly inFlight: number;
  /** How many streams it takes at once (its SETTINGS_MAX_CONCURRENT_STREAMS, capped). */
  readonly capacity: number;
  /** Whether it takes new requests (open, no GOAWAY either way). */
  readonly available: boolean;
  /** Resolves when the tunnel's connection has closed. */
  readonly closed: Promise<void>;
}

/** A read-only view of the connected tunnels, for embedding and admin code. */
export interface TunnelList {
  /** How many tunnels are connected (draining ones included). */
  readonly size: number;
  /** A snapshot of the connected tunnels. */
  list(): Tunnel[];
  /** How many tunnels of one service are connected. */
  count(service: string): number;
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
 * equal(pool.pick(null), undefined);
 * equal(pool.size, 0);
 * ```
 */
export class TunnelPool<T extends Tunnel = Tunnel> implements TunnelList {
  #tunnels: T[] = [];
  // The tunnels that announced hosts: serviceForHost() runs on every request and
  // need not look at the others (most tunnels announce none).
  #announcing: T[] = [];
  #waiters = new Set<{ service: string | null; exclude?: T; done: (tunnel?: T) => void }>();

  /** How many tunnels are connected (draining ones included). */
  get size(): number {
    return this.#tunnels.length;
  }

  /** A snapshot of the connected tunnels. */
  list(): T[] {
    return [...this.#tunnels];
  }

  /**
   * Finds a connected tunnel by id.
   *
   * @param id The tunnel's id.
   * @returns The tunnel, or `undefined` when none has that id.
   */
  get(id: string): T | undefined {
    for (const tunnel of this.#tunnels) if (tunnel.id === id) return tunnel;
    return undefined;
  }

  /**
   * Counts the tunnels of one service.
   *
   * @param service The service.
   * @returns How many of its tunnels are connected.
   */
  count(service: string): number {
    let n = 0;
    for (const tunnel of this.#tunnels) if (tunnel.service === service) n++;
    return n;
  }

  /**
   * Adds a tunnel; it leaves the pool by itself when its session closes.
   *
   * @param tunnel The tunnel.
   */
  add(tunnel: T): void {
    this.#tunnels.push(tunnel);
    if (tunnel.hosts.length > 0) this.#announcing.push(tunnel);
    tunnel.closed.then(() => this.remove(tunnel));
    for (const waiter of this.#waiters) {
      const picked = this.pick(waiter.service, waiter.exclude);
      if (picked !== undefined) waiter.done(picked);
    }
  }

  /**
   * Waits for a tunnel of `service` to connect, so that a backend restart is
   * invisible to clients.
   *
   * @param service The service, or `null` for any tunnel.
   * @param ms How long to wait at most; 0 does not wait.
   * @param signal Stops waiting early.
   * @param exclude A tunnel not to take.
   * @returns The tunnel, or `undefined` when none came in time.
   */
  waitFor(
    service: string | null,
    ms: number,
    signal?: AbortSignal,
    exclude?: T,
  ): Promise<T | undefined> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = {
        service,
        ...(exclude === undefined ? {} : { exclude }),
        done: (tunnel?: T) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          this.#waiters.delete(waiter);
          resolve(tunnel);
        },
      };
      const onAbort = () => waiter.done();
      const timer = setTimeout(onAbort, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /**
   * Removes a tunnel (no-op if absent).
   *
   * @param tunnel The tunnel.
   */
  remove(tunnel: T): void {
    const i = this.#tunnels.indexOf(tunnel);
    if (i >= 0) this.#tunnels.splice(i, 1);
    const j = this.#announcing.indexOf(tunnel);
    if (j >= 0) this.#announcing.splice(j, 1);
  }

  /**
   * Finds the service whose tunnels announced `host` (exact, or `*.suffix`).
   *
   * @param host A normalized host name.
   * @returns The service, or `undefined`.
   */
  serviceForHost(host: string): string | undefined {
    let wildcard: string | undefined;
    for (const tunnel of this.#announcing) {
      for (const claimed of tunnel.hosts) {
        if (claimed === host) return tunnel.service;
        if (claimed.startsWith("*.") && host.endsWith(claimed.slice(1))) {
          wildcard ??= tunnel.service;
        }
      }
    }
    return wildcard;
  }

  /**
   * Picks the available tunnel of `service` with the lowest load relative to
   * its weight, preferring tunnels below their stream limit; ties at random.
   *
   * @param service The service, or `null` for any tunnel.
   * @param exclude A tunnel not to pick (the one a retry comes from).
   * @returns The tunnel, or `undefined` when none can take a request.
   */
  pick(service: string | null, exclude?: T): T | undefined {
    let best: T | undefined;
    let bestScore = Infinity;
    let ties = 0;
    for (const tunnel of this.#tunnels) {
      if (tunnel === exclude || !tunnel.available) continue;
      if (service !== null && tunnel.service !== service) continue;
      const inFlight = tunnel.inFlight;
      // A full tunnel would queue the request: only if every tunnel is full.
      const score = (inFlight >= tunnel.capacity ? 1e9 : 0) + (inFlight + 1) / tunnel.weight;
      if (score < bestScore) {
        best = tunnel;
        bestScore = score;
        ties = 1;
      } else if (score === bestScore && Math.random() * ++ties < 1) {
        // Reservoir sampling: each of the tied tunnels is kept with equal chance.
        best = tunnel;
      }
    }
    return best;
  }
}
