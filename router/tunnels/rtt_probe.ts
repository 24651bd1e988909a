/**
 * Round-trip times for busy tunnels too: keepalive PINGs go only to silent
 * tunnels, so when something watches (the admin listener), each tunnel is
 * PINGed once as it joins the pool and then every interval, and each answer
 * becomes a `ping` event.
 *
 * @module
 */

import type { RouterEvents } from "../events.ts";
import type { TunnelPool } from "../pool.ts";
import type { RouterTunnel } from "./router_tunnel.ts";

/**
 * Starts PINGing the pool's tunnels.
 *
 * @param pool The router's tunnels.
 * @param events Where `ping` events go; `tunnel-open` events start a first PING.
 * @param interval How often each tunnel is PINGed (ms).
 * @returns A function that stops probing.
 *
 * @example
 * ```ts
 * import { RouterEvents } from "../events.ts";
 * import { TunnelPool } from "../pool.ts";
 * import type { RouterTunnel } from "./router_tunnel.ts";
 * import { probeRtt } from "./rtt_probe.ts";
 * const stop = probeRtt(new TunnelPool<RouterTunnel>(), new RouterEvents(), 15_000);
 * stop();
 * ```
 */
export function probeRtt(
  pool: TunnelPool<RouterTunnel>,
  events: RouterEvents,
  interval: number,
): () => void {
  const lastPing = new Map<string, number>();
  const ping = (tunnel: RouterTunnel) => {
    if (!tunnel.available) return;
    tunnel.session.ping().then(
      (rttMs) =>
        events.emit({
          type: "ping",
          time: Date.now(),
          tunnelId: tunnel.id,
          service: tunnel.service,
          rttMs,
        }),
      () => {}, // Closed meanwhile.
    );
  };
  const off = events.on((event) => {
    if (event.type === "ping") lastPing.set(event.tunnelId, event.time);
    else if (event.type === "tunnel-close") lastPing.delete(event.tunnel.id);
    else if (event.type === "tunnel-open") {
      const tunnel = pool.get(event.tunnel.id);
      if (tunnel) ping(tunnel);
    }
  });
  const timer = setInterval(() => {
    const due = Date.now() - interval / 2;
    for (const tunnel of pool.list()) {
      // A keepalive PING answered lately says as much.
      if ((lastPing.get(tunnel.id) ?? 0) < due) ping(tunnel);
    }
  }, interval);
  return () => {
    clearInterval(timer);
    off();
  };
}
