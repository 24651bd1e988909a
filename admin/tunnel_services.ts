/**
 * Which service a request counts for: the one it was routed to, else the
 * service of the tunnel that answered it (with no routes, requests go to any
 * tunnel), remembered from `tunnel-open` events for a while after the tunnel
 * closed, since a request's record can come after its tunnel's close.
 *
 * @module
 */

import type { RequestRecord, RouterEvent } from "../events.ts";

/** How many tunnels' services are remembered (most recent first). */
const REMEMBERED = 4096;

/**
 * Tunnel ids to services, fed with router events.
 *
 * @example
 * ```ts
 * import { TunnelServices } from "./tunnel_services.ts";
 * import { equal } from "node:assert/strict";
 * const services = new TunnelServices();
 * services.update({
 *   type: "tunnel-open",
 *   time: 0,
 *   tunnel: {
 *     id: "t1", service: "api", hosts: [], weight: 1, metadata: {}, remoteAddr: "127.0.0.1:1",
 *     connectedAt: 0, legacy: false,
 *   },
 * });
 * equal(services.serviceOf({ service: null, tunnelId: "t1" }), "api");
 * equal(services.serviceOf({ service: null, tunnelId: null }), "");
 * ```
 */
export class TunnelServices {
  #byTunnel = new Map<string, string>();

  /**
   * Learns from an event (only `tunnel-open` matters).
   *
   * @param event A router event.
   */
  update(event: RouterEvent): void {
    if (event.type !== "tunnel-open") return;
    this.#byTunnel.set(event.tunnel.id, event.tunnel.service);
    if (this.#byTunnel.size > REMEMBERED) {
      this.#byTunnel.delete(this.#byTunnel.keys().next().value!);
    }
  }

  /**
   * The service a request counts for.
   *
   * @param record The request's service and tunnel.
   * @returns The service, or `""` when it reached no tunnel and no route named one.
   */
  serviceOf(record: Pick<RequestRecord, "service" | "tunnelId">): string {
    if (record.service !== null) return record.service;
    if (record.tunnelId === null) return "";
    return this.#byTunnel.get(record.tunnelId) ?? "";
  }
}
