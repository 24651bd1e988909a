/**
 * The router's Prometheus metrics: counters and histograms fed by
 * {@linkcode RouterEvents}, gauges read from the tunnel pool at scrape time.
 * Names follow Prometheus conventions: the `ptth_` prefix, base units
 * (seconds, bytes), `_total` on counters.
 *
 * @module
 */

import type { RouterEvents } from "../events.ts";
import type { TunnelList } from "../pool.ts";
import {
  type CounterSeries,
  type HistogramSeries,
  type Labels,
  MetricsRegistry,
} from "./metrics.ts";

/** Methods kept as label values; any other counts as `OTHER`, so the label stays bounded. */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT"]);

/** Why handshakes fail, as the `reason` label says it (bounded, unlike the messages). */
export const HANDSHAKE_REASONS = [
  "malformed",
  "timeout",
  "unauthenticated",
  "forbidden",
  "host_not_allowed",
  "rate_limited",
  "too_many_tunnels",
  "other",
] as const;

/** A value of the `reason` label: one of {@linkcode HANDSHAKE_REASONS}. */
export type HandshakeReason = typeof HANDSHAKE_REASONS[number];

/**
 * Classifies a refused handshake by its status and message.
 *
 * @param status The HTTP status the router answered (400, 401, 403, 429).
 * @param reason The one-line reason.
 * @returns The `reason` label value.
 *
 * @example
 * ```ts
 * import { handshakeReason } from "./router_metrics.ts";
 * import { equal } from "node:assert/strict";
 * equal(handshakeReason(403, "Token not valid for service api"), "forbidden");
 * equal(handshakeReason(400, "Handshake timed out"), "timeout");
 * equal(handshakeReason(403, "Host a.example not allowed for service b"), "host_not_allowed");
 * ```
 */
export function handshakeReason(status: number, reason: string): HandshakeReason {
  switch (status) {
    case 400:
      return /timed out/i.test(reason) ? "timeout" : "malformed";
    case 401:
      return "unauthenticated";
    case 403:
      return /^Host \S+ not allowed/.test(reason) ? "host_not_allowed" : "forbidden";
    case 429:
      return /too many tunnels/i.test(reason) ? "too_many_tunnels" : "rate_limited";
    default:
      return "other";
  }
}

/**
 * A method as the `method` label says it.
 *
 * @param method The request method.
 * @returns The method, or `OTHER` for uncommon or extension methods.
 *
 * @example
 * ```ts
 * import { methodClass } from "./router_metrics.ts";
 * import { equal } from "node:assert/strict";
 * equal(methodClass("GET"), "GET");
 * equal(methodClass("PROPFIND"), "OTHER");
 * ```
 */
export function methodClass(method: string): string {
  return METHODS.has(method) ? method : "OTHER";
}

/**
 * A status as the `status_class` label says it.
 *
 * @param status The status code.
 * @returns `1xx` to `5xx`.
 *
 * @example
 * ```ts
 * import { statusClass } from "./router_metrics.ts";
 * import { equal } from "node:assert/strict";
 * equal(statusClass(204), "2xx");
 * equal(statusClass(499), "4xx");
 * ```
 */
export function statusClass(status: number): string {
  return `${statusDigit(status)}xx`;
}

/** The first digit of a status, 1 to 5. */
function statusDigit(status: number): number {
  return Math.min(5, Math.max(1, Math.floor(status / 100)));
}

/**
 * The request series of one service, bound once: recording a request then
 * builds no label objects or keys (five series per request).
 */
interface ServiceSeries {
  duration: HistogramSeries;
  bytesIn: CounterSeries;
  bytesOut: CounterSeries;
  retries: CounterSeries;
  /** `ptth_requests_total` by method class, then by status class (1xx at 0). */
  requests: Map<string, CounterSeries[]>;
}

/** PING round trips on loopback take tens of microseconds; across the world, hundreds of ms. */
const RTT_BUCKETS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  1,
];

/** A router's metrics: the registry and how to stop feeding it. */
export interface RouterMetrics {
  /** The registry; `registry.expose()` is the scrape. */
  readonly registry: MetricsRegistry;
  /** Stops listening to the router's events. */
  stop(): void;
}

/**
 * Registers the router's metrics and feeds them from its events and pool.
 *
 * @param events The router's events.
 * @param pool The router's tunnels.
 * @param services Services to show even with no tunnel (configured ones), at 0.
 * @returns The registry and a stop function.
 *
 * @example
 * ```ts
 * import { RouterEvents } from "../events.ts";
 * import { TunnelPool } from "../pool.ts";
 * import { createRouterMetrics } from "./router_metrics.ts";
 * import { match } from "node:assert/strict";
 * const events = new RouterEvents();
 * const metrics = createRouterMetrics(events, new TunnelPool(), ["api"]);
 * events.emit({
 *   type: "request",
 *   time: Date.now(),
 *   request: {
 *     requestId: "r1", method: "GET", host: "example.com", path: "/", service: "api",
 *     tunnelId: "t1", status: 200, durationMs: 12, bytesIn: 0, bytesOut: 5, retries: 0,
 *     error: null,
 *   },
 * });
 * const text = metrics.registry.expose();
 * match(text, /^ptth_requests_total\{service="api",method="GET",status_class="2xx"\} 1$/m);
 * match(text, /^ptth_tunnels_connected\{service="api"\} 0$/m);
 * metrics.stop();
 * ```
 */
export function createRouterMetrics(
  events: RouterEvents,
  pool: TunnelList,
  services: readonly string[] = [],
): RouterMetrics {
  const registry = new MetricsRegistry();

  const requests = registry.counter(
    "ptth_requests_total",
    "Public requests answered, by service, method and status class.",
    ["service", "method", "status_class"],
  );
  const duration = registry.histogram(
    "ptth_request_duration_seconds",
    "Time from a request's arrival to the end of its response body.",
    ["service"],
  );
  const bytesIn = registry.counter(
    "ptth_request_body_bytes_total",
    "Request body bytes sent to backends.",
    ["service"],
  );
  const bytesOut = registry.counter(
    "ptth_response_body_bytes_total",
    "Response body bytes received from backends.",
    ["service"],
  );
  const retries = registry.counter(
    "ptth_request_retries_total",
    "Times a failed request was sent again on another tunnel.",
    ["service"],
  );
  const incomplete = registry.counter(
    "ptth_responses_incomplete_total",
    "Responses cut off after their head (the tunnel failed or the backend reset the stream).",
    ["service"],
  );
  const opened = registry.counter(
    "ptth_tunnels_opened_total",
    "Tunnels that connected and joined the pool.",
    ["service"],
  );
  const closed = registry.counter(
    "ptth_tunnels_closed_total",
    "Tunnels that closed and left the pool.",
    ["service"],
  );
  const handshakes = registry.counter(
    "ptth_handshake_failures_total",
    "Tunnel handshakes refused, by reason.",
    ["reason"],
  );
  for (const reason of HANDSHAKE_REASONS) handshakes.inc({ reason }, 0);
  const shed = registry.counter(
    "ptth_response_streams_shed_total",
    "Response streams reset because their clients stopped reading while unread response " +
      "data passed maxResponseBuffer.",
  );
  shed.inc({}, 0);
  const rtt = registry.histogram(
    "ptth_ping_rtt_seconds",
    "Round-trip time of PING frames on tunnels.",
    ["service"],
    RTT_BUCKETS,
  );

  /** Per service from the pool, configured services at 0. */
  const perService = (value: (tunnel: ReturnType<TunnelList["list"]>[number]) => number) => () => {
    const totals = new Map<string, number>(services.map((service) => [service, 0]));
    for (const tunnel of pool.list()) {
      totals.set(tunnel.service, (totals.get(tunnel.service) ?? 0) + value(tunnel));
    }
    return [...totals].map(([service, n]): [Labels, number] => [{ service }, n]);
  };
  registry.gauge(
    "ptth_tunnels_connected",
    "Tunnels connected now, draining ones included.",
    ["service"],
    perService(() => 1),
  );
  registry.gauge(
    "ptth_tunnels_draining",
    "Tunnels connected now that take no new requests (GOAWAY sent or received).",
    ["service"],
    perService((tunnel) => tunnel.available ? 0 : 1),
  );
  registry.gauge(
    "ptth_streams_in_flight",
    "Requests on tunnels now: open streams plus requests queued for a stream slot.",
    ["service"],
    perService((tunnel) => tunnel.inFlight),
  );

  const byService = new Map<string, ServiceSeries>();
  const seriesOf = (service: string): ServiceSeries => {
    let series = byService.get(service);
    if (series === undefined) {
      series = {
        duration: duration.bind({ service }),
        bytesIn: bytesIn.bind({ service }),
        bytesOut: bytesOut.bind({ service }),
        retries: retries.bind({ service }),
        requests: new Map(),
      };
      byService.set(service, series);
    }
    return series;
  };

  const stop = events.on((event) => {
    switch (event.type) {
      case "request": {
        const r = event.request;
        const service = r.service ?? "";
        const series = seriesOf(service);
        const method = methodClass(r.method);
        let byStatus = series.requests.get(method);
        if (byStatus === undefined) series.requests.set(method, byStatus = []);
        const slot = statusDigit(r.status) - 1;
        byStatus[slot] ??= requests.bind({ service, method, status_class: statusClass(r.status) });
        byStatus[slot]!.inc();
        series.duration.observe(r.durationMs / 1000);
        series.bytesIn.inc(Math.max(0, r.bytesIn));
        series.bytesOut.inc(Math.max(0, r.bytesOut));
        series.retries.inc(r.retries);
        if (r.incomplete) incomplete.inc({ service });
        break;
      }
      case "tunnel-open":
        opened.inc({ service: event.tunnel.service });
        closed.inc({ service: event.tunnel.service }, 0);
        break;
      case "tunnel-close":
        closed.inc({ service: event.tunnel.service });
        break;
      case "handshake-failed":
        handshakes.inc({ reason: handshakeReason(event.status, event.reason) });
        break;
      case "ping":
        rtt.observe({ service: event.service }, event.rttMs / 1000);
        break;
      case "tunnel-draining":
        break;
      case "responses-shed":
        shed.inc({}, event.streams);
        break;
    }
  });
  return { registry, stop };
}
