/**
 * Admission of tunnels at the handshake: a slot under the per-service cap,
 * reserved when the handshake is answered 101, not when the tunnel's SETTINGS
 * arrive, so that concurrent handshakes cannot all pass the cap; released when
 * the tunnel fails before joining the pool or leaves it.
 *
 * @module
 */

import { HandshakeError, type TunnelIdentity } from "../../tunnel/handshake.ts";

/** A tunnel's place: its slot, held until {@linkcode Reservation.release}. */
export interface Reservation {
  /** Frees the slot; later calls do nothing. */
  release(): void;
}

/** Options of {@linkcode TunnelAdmission}. */
export interface TunnelAdmissionOptions {
  /** Tunnels per service at most, those still opening included. */
  maxTunnelsPerService: number;
}

/**
 * Counts tunnels per service from their handshake on.
 *
 * @example The cap counts tunnels that have not joined the pool yet
 * ```ts
 * import { TunnelAdmission } from "./admission.ts";
 * import { equal, throws } from "node:assert/strict";
 * const admission = new TunnelAdmission({ maxTunnelsPerService: 1 });
 * const identity = { service: "default", hosts: [], weight: 1, metadata: {} };
 * const first = admission.admit(identity);
 * throws(() => admission.admit(identity), { status: 429 });
 * first.release();
 * equal(admission.count("default"), 0);
 * admission.admit(identity);
 * ```
 */
export class TunnelAdmission {
  #max: number;
  #counts = new Map<string, number>();

  /** @param options The cap. */
  constructor(options: TunnelAdmissionOptions) {
    this.#max = options.maxTunnelsPerService;
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
   * @param identity What it serves.
   * @returns Its reservation, to release when it fails or closes.
   * @throws {HandshakeError} 429 over the cap.
   */
  admit(identity: TunnelIdentity): Reservation {
    const { service } = identity;
    const count = this.count(service);
    if (count >= this.#max) {
      throw new HandshakeError(429, `Too many tunnels for service ${service}`);
    }
    this.#counts.set(service, count + 1);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        const left = this.count(service) - 1;
        if (left > 0) this.#counts.set(service, left);
        else this.#counts.delete(service);
      },
    };
  }
}
