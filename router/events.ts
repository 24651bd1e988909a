/**
 * What happens in a router, as events: tunnels opening and closing, refused
 * handshakes, each request with its outcome, PING round trips. Metrics, the
 * dashboard and request logs subscribe here instead of reaching into the
 * pool or the connections.
 *
 * @module
 */

/** A tunnel as events describe it. */
export interface TunnelInfo {
  /** The tunnel's id, e.g. `t3`. */
  id: string;
  /** The service it serves. */
  service: string;
  /** Host names it announced. */
  hosts: readonly string[];
  /** Its weight. */
  weight: number;
  /** Labels from its handshake. */
  metadata: Readonly<Record<string, string>>;
  /** `host:port` it connected from. */
  remoteAddr: string;
  /** When it connected (ms since the epoch). */
  connectedAt: number;
  /** Whether it skipped the handshake (raw HTTP/2). */
  legacy: boolean;
}

/** One proxied request, once it is over (response sent, or failed). */
export interface RequestRecord {
  /** The X-Request-Id it carried (generated when the client sent none). */
  requestId: string;
  /** The method. */
  method: string;
  /** The Host. */
  host: string;
  /** The path with the query. */
  path: string;
  /**
   * The service it counts for: its route's (or the one whose tunnels announced
   * its host), else that of the tunnel that answered; `null` when neither.
   */
  service: string | null;
  /** The tunnel that answered, or `null`. */
  tunnelId: string | null;
  /** The status sent to the client (499 when it went away first). */
  status: number;
  /** From arrival to the end of the response body (ms). */
  durationMs: number;
  /** Request body bytes sent to the backend. */
  bytesIn: number;
  /** Response body bytes received from the backend. */
  bytesOut: number;
  /** How many times it was sent again on another tunnel. */
  retries: number;
  /** Why it failed, if it did. */
  error: string | null;
  /**
   * Whether the response was cut off after its head (the tunnel failed or the
   * backend reset the stream mid-body): the client got `status` and part of
   * the body.
   */
  incomplete?: boolean;
}

/** Everything a router reports. */
export type RouterEvent =
  | { type: "tunnel-open"; time: number; tunnel: TunnelInfo }
  | { type: "tunnel-close"; time: number; tunnel: TunnelInfo; error: string | null }
  | { type: "tunnel-draining"; time: number; tunnel: TunnelInfo }
  | { type: "handshake-failed"; time: number; address: string; status: number; reason: string }
  | { type: "request"; time: number; request: RequestRecord }
  | { type: "ping"; time: number; tunnelId: string; service: string; rttMs: number }
  | {
    type: "responses-shed";
    time: number;
    /** Response streams reset because their clients stopped reading while over the budget. */
    streams: number;
    /** The unread bytes they held. */
    bytes: number;
    /** `maxResponseBuffer`. */
    budget: number;
  };

/** A listener of {@linkcode RouterEvents}. */
export type RouterEventListener = (event: RouterEvent) => void;

/**
 * A small synchronous event bus. Emitting with no listener costs one check,
 * so the request path builds no event objects unless someone listens.
 *
 * @example
 * ```ts
 * import { RouterEvents } from "jsr:@ptth/router/router";
 * import { equal } from "node:assert/strict";
 * const events = new RouterEvents();
 * let seen = 0;
 * const off = events.on((event) => { if (event.type === "ping") seen++; });
 * events.emit({ type: "ping", time: Date.now(), tunnelId: "t1", service: "api", rttMs: 0.2 });
 * off();
 * events.emit({ type: "ping", time: Date.now(), tunnelId: "t1", service: "api", rttMs: 0.2 });
 * equal(seen, 1);
 * ```
 */
export class RouterEvents {
  #listeners: RouterEventListener[] = [];

  /** Whether anyone listens (emitters skip building events otherwise). */
  get active(): boolean {
    return this.#listeners.length > 0;
  }

  /**
   * Subscribes to every event.
   *
   * @param listener Called synchronously for each event; its errors are swallowed.
   * @returns A function that unsubscribes.
   */
  on(listener: RouterEventListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /**
   * Delivers an event to every listener.
   *
   * @param event The event.
   */
  emit(event: RouterEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // An observer must never break the router.
      }
    }
  }
}
