/**
 * Admission of tunnels at the handshake: the hosts they announce (by the
 * {@linkcode HostPolicy}, and never a name a live tunnel of another service
 * announces), and a slot under the per-service cap. The slot and the hosts are
 * reserved when the handshake is answered 101, not when the tunnel's SETTINGS
 * arrive, so that concurrent handshakes cannot all pass the cap; they are
 * released when the tunnel fails before joining the pool or leaves it.
 *
 * @module
 */

import { HostIndex } from "../../config/host_patterns.ts";
import { HandshakeError, type TunnelIdentity } from "../../tunnel/handshake.ts";
import type { HostPolicy } from "./host_policy.ts";

/** A tunnel's place: its slot and its hosts, held until {@linkcode Reservation.release}. */
export interface Reservation {
  /** Frees the slot and the hosts; later calls do nothing. */
  release(): void;
}

/** Options of {@linkcode TunnelAdmission}. */
export interface TunnelAdmissionOptions {
  /** Tunnels per service at most, those still opening included. */
  maxTunnelsPerService: number;
  /** Who may announce which hosts. */
  policy: HostPolicy;
}

/**
 * Counts tunnels per service from their handshake on and records the hosts
 * they announce.
 *
 * @example The cap counts tunnels that have not joined the pool yet
 * ```ts
 * import { TunnelAdmission } from "./admission.ts";
 * import { HostPolicy } from "./host_policy.ts";
 * import { equal, throws } from "node:assert/strict";
 * const admission = new TunnelAdmission({
 *   maxTunnelsPerService: 1,
 *   policy: new HostPolicy({ serviceHosts: {}, routes: [], tokensConfigured: false }),
 * });
 * const identity = { service: "default", hosts: [], weight: 1, metadata: {} };
 * const first = admission.admit(identity, true);
 * throws(() => admission.admit(identity, true), { status: 429 });
 * first.release();
 * equal(admission.count("default"), 0);
 * admission.admit(identity, true);
 * ```
 */
export class TunnelAdmission {
  #max: number;
  #policy: HostPolicy;
  #counts = new Map<string, number>();
  /** The hosts live and opening tunnels announced, held by their services. */
  #claims = new HostIndex();

  /** @param options The cap and the host policy. */
  constructor(options: TunnelAdmissionOptions) {
    this.#max = options.maxTunnelsPerService;
    this.#policy = options.policy;
  }

  /**
   * How many tunnels of a service are open or opening.
   *
   * @param service The service.
   * @returns The count.
   */
  count(service: string): number {
    return this.#counts.get(service) ?? 0;
  }

  /**
   * Admits a tunnel whose credentials were accepted, or refuses it.
   *
   * @param identity What it serves and announces.
   * @param anonymous Whether it came without a token.
   * @returns Its reservation, to release when it fails or closes.
   * @throws {HandshakeError} 403 for a host it may not announce, 429 over the cap.
   */
  admit(identity: TunnelIdentity, anonymous: boolean): Reservation {
    const { service, hosts } = identity;
    this.#policy.check(service, anonymous, hosts);
    for (const host of hosts) {
      // Patterns of two services never overlap, so only a policy bypassed would land here.
      if (this.#claims.overlapping(host, service) !== undefined) {
        throw new HandshakeError(
          403,
          `Host ${host} not allowed for service ${service}: another service's tunnel announces it`,
        );
      }
    }
    const count = this.count(service);
    if (count >= this.#max) {
      throw new HandshakeError(429, `Too many tunnels for service ${service}`);
    }
    this.#counts.set(service, count + 1);
    for (const host of hosts) this.#claims.add(host, service);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        const left = this.count(service) - 1;
        if (left > 0) this.#counts.set(service, left);
        else this.#counts.delete(service);
        for (const host of hosts) this.#claims.remove(host, service);
      },
    };
  }
}
