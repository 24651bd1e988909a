/**
 * What the dashboard and `/api/tunnels` show beyond the pool's current state:
 * per service, requests, errors and latency percentiles second by second over
 * the last minute; per tunnel, requests and bytes served, the last PING round
 * trip and whether it drains; and the latest errors. Fed by
 * {@linkcode RouterEvents} only.
 *
 * @module
 */

import type { RequestRecord, RouterEvents } from "../events.ts";
import { LatencyBins } from "./latency_bins.ts";

/** One tunnel's counters since it connected. */
export interface TunnelCounters {
  /** Requests it answered. */
  requests: number;
  /** Of those, answered 5xx or failed. */
  errors: number;
  /** Request body bytes sent to it. */
  bytesIn: number;
  /** Response body bytes it sent. */
  bytesOut: number;
  /** Its last PING round trip (ms), or `null` before the first. */
  lastRttMs: number | null;
  /** Whether the backend sent GOAWAY. */
  draining: boolean;
}

/**
 * The counters of a tunnel before its first request.
 *
 * @example
 * ```ts
 * import { NO_COUNTERS } from "./stats.ts";
 * import { equal } from "node:assert/strict";
 * equal(NO_COUNTERS.requests, 0);
 * ```
 */
export const NO_COUNTERS: Readonly<TunnelCounters> = {
  requests: 0,
  errors: 0,
  bytesIn: 0,
  bytesOut: 0,
  lastRttMs: null,
  draining: false,
};

/** One service's last minute, oldest second first. */
export interface ServiceSeries {
  /** The service (`""`: requests that reached no service). */
  service: string;
  /** Requests per second. */
  rate: number[];
  /** 5xx answers per second. */
  errors: number[];
  /** Median latency per second (ms), `null` for seconds without requests. */
  p50: (number | null)[];
  /** 95th percentile per second (ms). */
  p95: (number | null)[];
  /** 99th percentile per second (ms). */
  p99: (number | null)[];
  /** Over the whole window: requests, 5xx answers and percentiles (ms). */
  window: {
    requests: number;
    errors: number;
    p50: number | null;
    p95: number | null;
    p99: number | null;
  };
  /** Since the router started. */
  total: { requests: number; errors: number; bytesIn: number; bytesOut: number };
}

/** A request that failed, for the dashboard's error list. */
export interface RecentError {
  /** When it ended (ms since the epoch). */
  time: number;
  /** Its X-Request-Id. */
  requestId: string;
  /** Method, host and path. */
  method: string;
  host: string;
  path: string;
  /** The service it counts for. */
  service: string;
  /** The tunnel that answered, if any. */
  tunnelId: string | null;
  /** The status sent to the client. */
  status: number;
  /** Why it failed. */
  error: string | null;
}

/** A failed request: a 5xx answer (the backend's or the router's). */
function isError(record: Pick<RequestRecord, "status" | "incomplete">): boolean {
  // A response cut off mid-body failed the client, whatever its status said.
  return record.status >= 500 || record.incomplete === true;
}

/** One second of one service. */
interface Slot {
  second: number;
  requests: number;
  errors: number;
  latency: LatencyBins;
}

interface ServiceState {
  slots: Slot[];
  total: { requests: number; errors: number; bytesIn: number; bytesOut: number };
}

/** Options of {@linkcode RouterStats}. */
export interface RouterStatsOptions {
  /** How many seconds of history each series keeps. @default {60} */
  seconds?: number;
  /** How many recent errors are kept. @default {20} */
  recentErrors?: number;
  /** The clock (ms since the epoch). @default {Date.now} */
  now?: () => number;
}

/**
 * Rolling per-service and per-tunnel statistics, fed by router events.
 *
 * @example
 * ```ts
 * import { RouterEvents } from "../events.ts";
 * import { RouterStats } from "./stats.ts";
 * import { equal } from "node:assert/strict";
 * let now = 10_000;
 * const events = new RouterEvents();
 * const stats = new RouterStats(events, { now: () => now });
 * events.emit({
 *   type: "request",
 *   time: now,
 *   request: {
 *     requestId: "r1", method: "GET", host: "example.com", path: "/", service: "api",
 *     tunnelId: null, status: 503, durationMs: 2, bytesIn: 0, bytesOut: 0, retries: 0,
 *     error: null,
 *   },
 * });
 * now += 1000;
 * const [api] = stats.services();
 * equal(api!.service, "api");
 * equal(api!.rate.at(-1), 1);
 * equal(api!.errors.at(-1), 1);
 * equal(stats.recentErrors()[0]!.status, 503);
 * stats.stop();
 * ```
 */
export class RouterStats {
  #seconds: number;
  #keepErrors: number;
  #now: () => number;
  #services = new Map<string, ServiceState>();
  #tunnels = new Map<string, TunnelCounters>();
  #errors: RecentError[] = [];
  #stop: () => void;
  #empty: ServiceState | null = null;

  /**
   * @param events The router's events.
   * @param options History length and clock.
   */
  constructor(events: RouterEvents, options: RouterStatsOptions = {}) {
    this.#seconds = options.seconds ?? 60;
    this.#keepErrors = options.recentErrors ?? 20;
    this.#now = options.now ?? Date.now;
    this.#stop = events.on((event) => {
      switch (event.type) {
        case "request":
          this.#request(event.request);
          break;
        case "tunnel-open":
          this.#tunnels.set(event.tunnel.id, { ...NO_COUNTERS });
          this.#service(event.tunnel.service);
          break;
        case "tunnel-close":
          this.#tunnels.delete(event.tunnel.id);
          break;
        case "tunnel-draining": {
          const counters = this.#tunnels.get(event.tunnel.id);
          if (counters) counters.draining = true;
          break;
        }
        case "ping": {
          const counters = this.#tunnels.get(event.tunnelId);
          if (counters) counters.lastRttMs = event.rttMs;
          break;
        }
        case "handshake-failed":
        case "responses-shed":
          break;
      }
    });
  }

  #service(service: string): ServiceState {
    let state = this.#services.get(service);
    if (state === undefined) {
      state = this.#emptyState();
      this.#services.set(service, state);
    }
    return state;
  }

  #emptyState(): ServiceState {
    return {
      slots: Array.from({ length: this.#seconds }, () => ({
        second: -1,
        requests: 0,
        errors: 0,
        latency: new LatencyBins(),
      })),
      total: { requests: 0, errors: 0, bytesIn: 0, bytesOut: 0 },
    };
  }

  #request(record: RequestRecord): void {
    const service = record.service ?? "";
    const state = this.#service(service);
    const second = Math.floor(this.#now() / 1000);
    const slot = state.slots[second % this.#seconds]!;
    if (slot.second !== second) {
      slot.second = second;
      slot.requests = slot.errors = 0;
      slot.latency.clear();
    }
    const failed = isError(record);
    const bytesIn = Math.max(0, record.bytesIn);
    const bytesOut = Math.max(0, record.bytesOut);
    slot.requests++;
    slot.latency.add(record.durationMs);
    state.total.requests++;
    state.total.bytesIn += bytesIn;
    state.total.bytesOut += bytesOut;
    if (failed) {
      slot.errors++;
      state.total.errors++;
    }
    const tunnel = record.tunnelId === null ? undefined : this.#tunnels.get(record.tunnelId);
    if (tunnel) {
      tunnel.requests++;
      tunnel.bytesIn += bytesIn;
      tunnel.bytesOut += bytesOut;
      if (failed) tunnel.errors++;
    }
    if (failed || record.error !== null) {
      this.#errors.unshift({
        time: this.#now(),
        requestId: record.requestId,
        method: record.method,
        host: record.host,
        path: record.path,
        service,
        tunnelId: record.tunnelId,
        status: record.status,
        error: record.error,
      });
      this.#errors.length = Math.min(this.#errors.length, this.#keepErrors);
    }
  }

  /**
   * A tunnel's counters.
   *
   * @param id The tunnel's id.
   * @returns Its counters, or `undefined` for a tunnel not (or no longer) connected.
   */
  tunnel(id: string): Readonly<TunnelCounters> | undefined {
    return this.#tunnels.get(id);
  }

  /**
   * Every service seen (in requests or tunnels), with the last minute's
   * series: completed seconds only, the newest last.
   *
   * @param also More services to list, with flat series if nothing happened to them yet.
   * @returns The services, sorted by name.
   */
  services(also: Iterable<string> = []): ServiceSeries[] {
    const current = Math.floor(this.#now() / 1000);
    const out: ServiceSeries[] = [];
    const names = [...new Set([...this.#services.keys(), ...also])].sort();
    for (const service of names) {
      // A service nothing happened to yet reads one shared empty state (only read here).
      const state = this.#services.get(service) ?? (this.#empty ??= this.#emptyState());
      const series: ServiceSeries = {
        service,
        rate: [],
        errors: [],
        p50: [],
        p95: [],
        p99: [],
        window: { requests: 0, errors: 0, p50: null, p95: null, p99: null },
        total: { ...state.total },
      };
      const window = new LatencyBins();
      for (let second = current - this.#seconds; second < current; second++) {
        const slot = state.slots[((second % this.#seconds) + this.#seconds) % this.#seconds]!;
        const live = slot.second === second;
        series.rate.push(live ? slot.requests : 0);
        series.errors.push(live ? slot.errors : 0);
        series.p50.push(live ? slot.latency.percentile(0.5) : null);
        series.p95.push(live ? slot.latency.percentile(0.95) : null);
        series.p99.push(live ? slot.latency.percentile(0.99) : null);
        if (live) {
          window.merge(slot.latency);
          series.window.requests += slot.requests;
          series.window.errors += slot.errors;
        }
      }
      series.window.p50 = window.percentile(0.5);
      series.window.p95 = window.percentile(0.95);
      series.window.p99 = window.percentile(0.99);
      out.push(series);
    }
    return out;
  }

  /**
   * The latest failed requests (5xx answers, or failures the router retried past).
   *
   * @returns The newest first.
   */
  recentErrors(): RecentError[] {
    return [...this.#errors];
  }

  /** Stops listening to the router's events. */
  stop(): void {
    this.#stop();
  }
}
