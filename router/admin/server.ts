/**
 * The admin listener: its own edge server, apart from the public port
 * (every public path belongs to the backends), loopback-only by default,
 * serving the admin app with statistics and metrics fed by router events.
 * Its connections are few and bounded, so that a flood elsewhere cannot
 * leave the probes without a descriptor, nor a flood here the router.
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
import { EdgeServer } from "../edge/server.ts";
import { listenTcp } from "../listen.ts";

/**
 * The admin listener's limits: a few operators, probes and a scraper need
 * few connections, and the header limit of the public port.
 */
const ADMIN_LIMITS = {
  maxConnections: 64,
  maxConnectionsPerAddress: 64,
  headerTimeout: 10_000,
  idleTimeout: 60_000,
  maxHeaderBytes: 64 * 1024,
};

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
  /** Why a listener of the router is not accepting connections now, or `null`. */
  notAccepting?: () => string | null;
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
    ...(sources.notAccepting ? { notAccepting: sources.notAccepting } : {}),
    version: denoJson.version,
    // The name it listens on names it too (a wildcard address never reaches here as a Host).
    hosts: [...(options.hosts ?? []), options.hostname ?? "127.0.0.1"],
    log: sources.log,
  });
  let server: EdgeServer;
  try {
    server = new EdgeServer({
      listener: listenTcp("admin", options.hostname ?? "127.0.0.1", options.port),
      tls: false,
      name: "admin",
      handler: (request) => app.fetch(request),
      onError: (error) => {
        sources.log(`admin request failed: ${(error as Error)?.message ?? error}`);
        return new Response("Internal Server Error\n", { status: 500 });
      },
      ...ADMIN_LIMITS,
      log: sources.log,
    });
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
