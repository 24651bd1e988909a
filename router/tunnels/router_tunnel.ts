/**
 * A tunnel as the router holds it: the pool's view of a backend (identity,
 * load, capacity) over the HTTP/2 client session that carries its requests.
 *
 * @module
 */

import type { ClientExchange, ClientRequest, ClientSession } from "../../h2/client.ts";
import type { Tunnel } from "../pool.ts";
import type { TunnelIdentity } from "../../tunnel/handshake.ts";

/**
 * One backend connection in the router's pool.
 *
 * @example Tunnels are made by the router as backends connect
 * ```ts
 * import { RouterTunnel } from "./router_tunnel.ts";
 * import { equal } from "node:assert/strict";
 * equal(typeof RouterTunnel, "function");
 * ```
 */
export class RouterTunnel implements Tunnel {
  /** A short id for logs. */
  readonly id: string;
  /** The HTTP/2 session in the client role. */
  readonly session: ClientSession;
  /** Where the backend connected from. */
  readonly remoteAddr: Deno.NetAddr;
  /** When it connected (ms since the epoch). */
  readonly connectedAt: number = Date.now();
  /** Whether it skipped the handshake (raw HTTP/2). */
  readonly legacy: boolean;
  #identity: TunnelIdentity;

  /**
   * @param id A short id for logs.
   * @param session The HTTP/2 session.
   * @param remoteAddr Where the backend connected from.
   * @param identity What it serves.
   * @param legacy Whether it skipped the handshake.
   */
  constructor(
    id: string,
    session: ClientSession,
    remoteAddr: Deno.NetAddr,
    identity: TunnelIdentity,
    legacy: boolean,
  ) {
    this.id = id;
    this.session = session;
    this.remoteAddr = remoteAddr;
    this.#identity = identity;
    this.legacy = legacy;
  }

  /** The service it serves. */
  get service(): string {
    return this.#identity.service;
  }
  /** Host names it announced. */
  get hosts(): readonly string[] {
    return this.#identity.hosts;
  }
  /** Its relative share of its service's traffic. */
  get weight(): number {
    return this.#identity.weight;
  }
  /** Labels from its handshake. */
  get metadata(): Readonly<Record<string, string>> {
    return this.#identity.metadata;
  }
  /** Streams open plus requests queued. */
  get inFlight(): number {
    return this.session.inFlight;
  }
  /** How many streams it takes at once. */
  get capacity(): number {
    return this.session.capacity;
  }
  /** Whether it takes new requests. */
  get available(): boolean {
    return this.session.available;
  }
  /** Resolves when its connection has closed. */
  get closed(): Promise<void> {
    return this.session.closed;
  }

  /**
   * Sends one request over the tunnel without making a `Response` of it
   * (see {@linkcode ClientSession.send}).
   *
   * @param request The request.
   * @returns The exchange: its response head and a way to cancel it.
   */
  send(request: ClientRequest): ClientExchange {
    return this.session.send(request);
  }
}
