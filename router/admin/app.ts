/**
 * The admin listener's hono app: liveness and readiness probes, the tunnel
 * list and dashboard data as JSON, Prometheus metrics, and the dashboard page.
 * It only reads: the pool for current state, the stats and the metrics
 * registry (both fed by router events) for history.
 *
 * @module
 */

import { Hono } from "hono";
import { hostPort } from "../addr.ts";
import type { Tunnel, TunnelList } from "../pool.ts";
import { bearerToken } from "./bearer_token.ts";
import { adminHostMatcher } from "./host_guard.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from "./metrics.ts";
import {
  NO_COUNTERS,
  type RecentError,
  type RouterStats,
  type ServiceSeries,
  type TunnelCounters,
} from "./stats.ts";

/** What the admin app reads. */
export interface AdminAppOptions {
  /** The router's tunnels. */
  pool: TunnelList;
  /** Rolling statistics fed by the router's events. */
  stats: RouterStats;
  /** The router's metrics. */
  metrics: MetricsRegistry;
  /** The token `/metrics` and `/api/*` require; none: open. */
  token?: string;
  /**
   * Services that must each have an available tunnel for `/readyz` to answer
   * 200. @default {[]}
   */
  readyServices?: readonly string[];
  /** Services to list even without tunnels or requests (configured ones). @default {[]} */
  services?: readonly string[];
  /** Whether the router is listening and not shutting down. @default {() => true} */
  listening?: () => boolean;
  /**
   * Why a listener of the router is not accepting connections now (out of
   * file descriptors, at its limit), or `null`: `/readyz` then answers 503.
   * @default {() => null}
   */
  notAccepting?: () => string | null;
  /** The version shown on the dashboard. @default {""} */
  version?: string;
  /**
   * Host names answered besides loopback names and IP addresses (the
   * listener's own name, `--admin-host`); other Hosts get 421 on all but the
   * probes (DNS rebinding). @default {[]}
   */
  hosts?: readonly string[];
  /** Where refusals of a foreign Host are reported (one line per 10 s at most). */
  log?: (line: string) => void;
}

/** One tunnel as `/api/tunnels` describes it. */
export interface TunnelView extends TunnelCounters {
  /** The tunnel's id. */
  id: string;
  /** The service it serves. */
  service: string;
  /** Host names it announced. */
  hosts: readonly string[];
  /** `host:port` it connected from. */
  remoteAddr: string;
  /** Labels from its handshake. */
  metadata: Readonly<Record<string, string>>;
  /** Its share of its service's traffic. */
  weight: number;
  /** When it connected (ISO 8601). */
  connectedSince: string;
  /** Streams open plus requests queued for a slot. */
  streamsInFlight: number;
  /** Streams it takes at once, `null` for no limit. */
  capacity: number | null;
  /** Whether it takes no new requests (GOAWAY either way). */
  draining: boolean;
}

/** One service as the dashboard shows it. */
export interface ServiceView extends ServiceSeries {
  /** Its tunnels now. */
  tunnels: TunnelView[];
}

/** What `/api/stats` answers: everything the dashboard draws. */
export interface DashboardData {
  /** When this was taken (ms since the epoch). */
  time: number;
  /** The router's version. */
  version: string;
  /** Whether `/readyz` would answer 200. */
  ready: boolean;
  /** Services, sorted by name. */
  services: ServiceView[];
  /** The latest failed requests, newest first. */
  recentErrors: RecentError[];
}

function tunnelView(tunnel: Tunnel, stats: RouterStats): TunnelView {
  const counters = stats.tunnel(tunnel.id);
  return {
    id: tunnel.id,
    service: tunnel.service,
    hosts: tunnel.hosts,
    remoteAddr: hostPort(tunnel.remoteAddr),
    metadata: tunnel.metadata,
    weight: tunnel.weight,
    connectedSince: new Date(tunnel.connectedAt).toISOString(),
    streamsInFlight: tunnel.inFlight,
    capacity: Number.isFinite(tunnel.capacity) ? tunnel.capacity : null,
    ...(counters ?? NO_COUNTERS),
    draining: !tunnel.available || (counters?.draining ?? false),
  };
}

/** The services of `readyServices` without an available tunnel. */
function missingServices(pool: TunnelList, readyServices: readonly string[]): string[] {
  const up = new Set(pool.list().filter((t) => t.available).map((t) => t.service));
  return readyServices.filter((service) => !up.has(service));
}

/**
 * Builds the admin app.
 *
 * - `GET /`: the dashboard (a self-contained page; it fetches `/api/stats`);
 * - `GET /healthz`: 200 while the process serves (liveness);
 * - `GET /readyz`: 200 when listening (every listener accepting) and, with
 *   `readyServices`, each of them has an available tunnel; else 503 saying
 *   what is missing;
 * - `GET /api/tunnels`: the tunnels as JSON ({@linkcode TunnelView});
 * - `GET /api/stats`: the dashboard's data ({@linkcode DashboardData});
 * - `GET /metrics`: Prometheus text exposition.
 *
 * With a token, `/api/*` and `/metrics` need `Authorization: Bearer <token>`;
 * the probes and the page (which holds no data) do not. Only the probes
 * answer a `Host` that does not name the listener (see `hosts`): anything
 * else gets 421 Misdirected Request, so that a page re-pointed here by DNS
 * rebinding reads nothing, token or not.
 *
 * @param options What the app reads, the token and readiness rules.
 * @returns The hono app.
 *
 * @example Probe a router with no tunnel
 * ```ts
 * import { RouterEvents } from "../events.ts";
 * import { TunnelPool } from "../pool.ts";
 * import { createAdminApp } from "./app.ts";
 * import { createRouterMetrics } from "./router_metrics.ts";
 * import { RouterStats } from "./stats.ts";
 * import { equal } from "node:assert/strict";
 * const events = new RouterEvents();
 * const pool = new TunnelPool();
 * const stats = new RouterStats(events);
 * const { registry, stop } = createRouterMetrics(events, pool);
 * const app = createAdminApp({ pool, stats, metrics: registry, readyServices: ["api"] });
 * equal((await app.request("/healthz")).status, 200);
 * equal((await app.request("/readyz")).status, 503);
 * equal((await (await app.request("/api/tunnels")).json()).tunnels.length, 0);
 * stats.stop();
 * stop();
 * ```
 */
export function createAdminApp(options: AdminAppOptions): Hono {
  const { pool, stats, metrics } = options;
  const readyServices = options.readyServices ?? [];
  const listening = options.listening ?? (() => true);
  const notAccepting = options.notAccepting ?? (() => null);
  const isReady = () =>
    listening() && notAccepting() === null && missingServices(pool, readyServices).length === 0;
  const app = new Hono();
  const noStore = { "cache-control": "no-store" };

  // Before everything but the probes (load balancers probe by any name).
  const named = adminHostMatcher(options.hosts ?? []);
  const refusals = throttledLog(options.log);
  app.use("*", async (c, next) => {
    const path = c.req.path;
    if (path === "/healthz" || path === "/readyz") return await next();
    const host = c.req.header("host") ?? new URL(c.req.url).host;
    if (named(host)) return await next();
    refusals(host);
    return c.text(
      "Misdirected Request: this admin listener answers only its own host names " +
        "(localhost, its addresses, --admin-host)\n",
      421,
      noStore,
    );
  });
  app.get("/", (c) => c.html(DASHBOARD_HTML, 200, noStore));
  app.get("/healthz", (c) => c.text("ok\n", 200, noStore));
  app.get("/readyz", (c) => {
    if (!listening()) return c.text("not ready: shutting down\n", 503, noStore);
    const stalled = notAccepting();
    if (stalled !== null) return c.text(`not ready: ${stalled}\n`, 503, noStore);
    const missing = missingServices(pool, readyServices);
    if (missing.length > 0) {
      return c.text(`not ready: no tunnel for service ${missing.join(", ")}\n`, 503, noStore);
    }
    return c.text("ready\n", 200, noStore);
  });

  const guard = bearerToken(options.token);
  app.use("/api/*", guard);
  app.use("/metrics", guard);
  app.get(
    "/metrics",
    (c) => c.body(metrics.expose(), 200, { "content-type": METRICS_CONTENT_TYPE }),
  );
  app.get("/api/tunnels", (c) => {
    const tunnels = pool.list().map((tunnel) => tunnelView(tunnel, stats));
    return c.json({ tunnels }, 200, noStore);
  });
  app.get("/api/stats", (c) => {
    const tunnels = pool.list().map((tunnel) => tunnelView(tunnel, stats));
    const also = [...(options.services ?? []), ...readyServices, ...tunnels.map((t) => t.service)];
    const services = stats.services(also).map((series): ServiceView => ({
      ...series,
      tunnels: tunnels.filter((t) => t.service === series.service),
    }));
    const data: DashboardData = {
      time: Date.now(),
      version: options.version ?? "",
      ready: isReady(),
      services,
      recentErrors: stats.recentErrors(),
    };
    return c.json(data, 200, noStore);
  });
  app.notFound((c) => c.text("Not Found\n", 404));
  return app;
}

/** Reports refused Hosts at most once per 10 s, with how many were refused meanwhile. */
function throttledLog(log: ((line: string) => void) | undefined): (host: string) => void {
  let last = -Infinity;
  let unreported = 0;
  return (host) => {
    if (log === undefined) return;
    unreported++;
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    log(
      `admin listener refused ${unreported} request(s) for a foreign Host (421), ` +
        `the latest for ${JSON.stringify(host)}: DNS rebinding, or add it with --admin-host`,
    );
    unreported = 0;
  };
}
