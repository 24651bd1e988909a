/**
 * The admin listener: its own `Deno.serve`, apart from the public port
 * (every public path belongs to the backends), loopback-only by default,
 * serving the admin app with statistics and metrics fed by router events.
 *
 * @module
 */

import denoJson from "../../deno.json" with { type: "json" };
import type { RouterEvents } from "../events.ts";
import type { TunnelList } from "../pool.ts";
import type { AdminOptions } from "../../config/router_options.ts";

export type { AdminOptions } from "../../config/router_options.ts";
import { createAdminApp } from "./app.ts";
import { createRouterMetrics } from "./router_metrics.ts";
import { RouterStats } from "./stats.ts";

/** What the admin listener reads from the router. */
export interface AdminSources {
  /** The router's tunnels. */
  pool: TunnelList;
  /** The router's events. */
  events: RouterEvents;
  /** Configured services, listed even before anything happens to them. */
  services: readonly string[];
  /** Whether the router is listening and not shutting down. */
  listening: () => boolean;
  /** Where errors of the admin server go. */
  log: (line: string) => void;
}

/** A running admin listener. */
export interface AdminServer {
  /** Where it listens. */
  readonly addr: Deno.NetAddr;
  /** Stops it: in-flight admin requests finish, statistics stop. */
  shutdown(): Promise<void>;
}

/**
 * Starts the admin listener.
 *
 * @param options Address, token and readiness rule.
 * @param sources The router's pool and events.
 * @returns The running listener.
 * @throws {Deno.errors.AddrInUse} When the port is taken.
 *
 * @example
 * ```ts
 * import { RouterEvents } from "../events.ts";
 * import { TunnelPool } from "../pool.ts";
 * import { startAdminServer } from "./server.ts";
 * import { equal } from "node:assert/strict";
 * const admin = startAdminServer({ port: 0 }, {
 *   pool: new TunnelPool(),
 *   events: new RouterEvents(),
 *   services: [],
 *   listening: () => true,
 *   log: () => {},
 * });
 * const response = await fetch(`http://127.0.0.1:${admin.addr.port}/healthz`);
 * equal(await response.text(), "ok\n");
 * await admin.shutdown();
 * ```
 */
export function startAdminServer(options: AdminOptions, sources: AdminSources): AdminServer {
  const stats = new RouterStats(sources.events);
  const metrics = createRouterMetrics(sources.events, sources.pool, [
    ...sources.services,
    ...(options.readyServices ?? []),
  ]);
  const app = createAdminApp({
    pool: sources.pool,
    stats,
    metrics: metrics.registry,
    ...(options.token === undefined ? {} : { token: options.token }),
    readyServices: options.readyServices ?? [],
    services: sources.services,
    listening: sources.listening,
    version: denoJson.version,
    // The name it listens on names it too (a wildcard address never reaches here as a Host).
    hosts: [...(options.hosts ?? []), options.hostname ?? "127.0.0.1"],
    log: sources.log,
  });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port,
      onListen: () => {},
      onError: (error) => {
        sources.log(`admin request failed: ${(error as Error)?.message ?? error}`);
        return new Response("Internal Server Error\n", { status: 500 });
      },
    }, app.fetch);
  } catch (error) {
    stats.stop();
    metrics.stop();
    throw error;
  }
  let stopping: Promise<void> | null = null;
  return {
    addr: server.addr,
    shutdown() {
      stopping ??= (async () => {
        stats.stop();
        metrics.stop();
        await server.shutdown();
      })();
      return stopping;
    },
  };
}
