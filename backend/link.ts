/**
 * One backend-to-router link: dial, serve HTTP/2 on the tunnel, and redial
 * after any loss with exponential backoff and full jitter, until stopped or
 * refused for good.
 *
 * @module
 */

import type { ByteIO, Connection } from "../h2/connection.ts";
import { TunnelRefusedError } from "./dial.ts";
import { within } from "../tunnel/within.ts";

/** Where a link is in its life. */
export type LinkStatus = "connecting" | "connected" | "refused" | "stopped";

/** Backoff between attempts: a random pause in [0, min(max, initial * 2^n)) ("full jitter"). */
export interface Backoff {
  /** The first pause's upper bound (ms). @default {100} */
  initial: number;
  /** The largest pause (ms). @default {5000} */
  max: number;
  /** A tunnel that stayed up this long resets the backoff (ms). @default {10000} */
  healthyAfter: number;
}

/** What a link needs. */
export interface LinkOptions {
  /** A label for logs, e.g. `tcp://router:8887`. */
  label: string;
  /** Opens one tunnel, handshake included. */
  dial: () => Promise<ByteIO>;
  /** Serves HTTP/2 on an open tunnel. */
  serve: (io: ByteIO) => Connection;
  /** Backoff between attempts. */
  backoff: Backoff;
  /** Told each time the tunnel is up. */
  onUp?: () => void;
  /** Told of each loss or failed attempt (the caller logs them). */
  onError?: (error: Error) => void;
}

/**
 * Keeps one tunnel to one router address alive.
 *
 * @example Links are made by serveReverse, one per router address
 * ```ts
 * import { TunnelLink } from "./link.ts";
 * import { equal } from "node:assert/strict";
 * equal(typeof TunnelLink, "function");
 * ```
 */
export class TunnelLink {
  /** Resolves when stopped; rejects with {@linkcode TunnelRefusedError} when refused. */
  readonly finished: Promise<void>;
  /** The link's label. */
  readonly label: string;
  #options: LinkOptions;
  #status: LinkStatus = "connecting";
  #stop = new AbortController();
  #connection: Connection | null = null;

  /** @param options Dialing, serving, backoff. */
  constructor(options: LinkOptions) {
    this.#options = options;
    this.label = options.label;
    this.finished = this.#run();
    this.finished.catch(() => {});
  }

  /** Where the link is now. */
  get status(): LinkStatus {
    return this.#status;
  }

  async #run(): Promise<void> {
    const { backoff } = this.#options;
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      this.#status = "connecting";
      let io: ByteIO;
      try {
        io = await this.#options.dial();
      } catch (error) {
        this.#options.onError?.(error as Error);
        if ((error as { permanent?: boolean }).permanent === true) {
          // A refused token, or a certificate that does not verify, will not change by retrying.
          this.#status = "refused";
          throw error;
        }
        await this.#pause(failures++);
        continue;
      }
      if (this.#stop.signal.aborted) {
        io.close();
        break;
      }
      const connection = this.#options.serve(io);
      this.#connection = connection;
      // The tunnel counts as up once the router has our SETTINGS (it ACKed them)
      // and we have its own: by then it is taking the tunnel into its pool.
      await Promise.all([connection.ready, connection.acknowledged]);
      const upSince = Date.now();
      const up = connection.isOpen;
      if (up) {
        this.#status = "connected";
        this.#options.onUp?.();
      }
      await connection.closed;
      this.#connection = null;
      if (this.#stop.signal.aborted) break;
      // A router refusing a raw HTTP/2 tunnel says why in its GOAWAY (PROTOCOL.md §5).
      const refusal = up ? null : refusalOf(connection);
      if (refusal !== null) {
        this.#options.onError?.(refusal);
        if (refusal.permanent) {
          this.#status = "refused";
          throw refusal;
        }
        await this.#pause(failures++);
        continue;
      }
      // Only a tunnel that stayed up for a while proves the router healthy again.
      if (Date.now() - upSince >= backoff.healthyAfter) failures = 0;
      this.#options.onError?.(connection.error ?? new Error("Tunnel closed by the router"));
      await this.#pause(failures++);
    }
    this.#status = "stopped";
  }

  #pause(failures: number): Promise<void> {
    const { initial, max } = this.#options.backoff;
    const ms = Math.random() * Math.min(max, initial * 2 ** Math.min(failures, 30));
    if (this.#stop.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#stop.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#stop.signal.addEventListener("abort", done, { once: true });
    });
  }

  /**
   * Stops redialing; sends GOAWAY and lets in-flight requests finish within
   * `deadline` ms before closing.
   *
   * @param deadline The most time in-flight requests get (ms).
   */
  async drain(deadline: number): Promise<void> {
    this.#stop.abort();
    const connection = this.#connection;
    if (connection) {
      // Two-step GOAWAY: requests the router sends meanwhile are still served.
      connection.shutdown(Math.min(1000, deadline));
      await within(connection.closed, deadline, undefined);
      connection.close();
    }
    await this.finished.catch(() => {});
  }
}

/** The refusal a router's GOAWAY carries (`<status> <reason>` as debug data), if any. */
function refusalOf(connection: Connection): TunnelRefusedError | null {
  const debug = connection.peerGoaway?.debug ?? "";
  const match = /^([1-5]\d\d) (.+)$/.exec(debug);
  return match === null ? null : new TunnelRefusedError(Number(match[1]), match[2]!);
}
