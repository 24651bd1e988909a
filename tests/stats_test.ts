import { deepEqual, equal, ok } from "node:assert/strict";
import { LatencyBins } from "../router/admin/latency_bins.ts";
import { RouterStats } from "../router/admin/stats.ts";
import { type RequestRecord, RouterEvents, type TunnelInfo } from "../router/events.ts";

function request(overrides: Partial<RequestRecord>): RequestRecord {
  return {
    requestId: crypto.randomUUID(),
    method: "GET",
    host: "example.com",
    path: "/",
    service: null,
    tunnelId: null,
    status: 200,
    durationMs: 1,
    bytesIn: 0,
    bytesOut: 0,
    retries: 0,
    error: null,
    ...overrides,
  };
}

const tunnel: TunnelInfo = {
  id: "t7",
  service: "api",
  hosts: [],
  weight: 1,
  metadata: {},
  remoteAddr: "127.0.0.1:9",
  connectedAt: 0,
  legacy: false,
};

Deno.test("LatencyBins estimates percentiles within 10% over six orders of magnitude", () => {
  const bins = new LatencyBins();
  const durations: number[] = [];
  for (let i = 0; i < 10_000; i++) durations.push(0.2 * 10 ** (Math.random() * 6));
  for (const ms of durations) bins.add(ms);
  durations.sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.95, 0.99]) {
    const exact = durations[Math.ceil(q * durations.length) - 1]!;
    const estimate = bins.percentile(q)!;
    ok(Math.abs(estimate - exact) / exact < 0.1, `p${q * 100}: ${estimate} vs ${exact}`);
  }
  equal(new LatencyBins().percentile(0.5), null);
});

Deno.test("RouterStats keeps a minute per service, counts requests for their tunnel, and forgets old seconds", () => {
  let now = 1_000_000;
  const events = new RouterEvents();
  const stats = new RouterStats(events, { now: () => now });
  events.emit({ type: "tunnel-open", time: now, tunnel });
  for (let i = 0; i < 4; i++) {
    events.emit({
      type: "request",
      time: now,
      request: request({
        service: "api",
        tunnelId: "t7",
        durationMs: 10,
        bytesIn: 5,
        bytesOut: 7,
      }),
    });
  }
  events.emit({
    type: "request",
    time: now,
    request: request({
      service: "api",
      tunnelId: "t7",
      status: 502,
      error: "PROTOCOL_ERROR: bad",
    }),
  });
  events.emit({ type: "ping", time: now, tunnelId: "t7", service: "api", rttMs: 0.3 });
  events.emit({ type: "tunnel-draining", time: now, tunnel });
  deepEqual(stats.tunnel("t7"), {
    requests: 5,
    errors: 1,
    bytesIn: 20,
    bytesOut: 28,
    lastRttMs: 0.3,
    draining: true,
  });
  now += 1000;
  let [api] = stats.services();
  equal(api!.service, "api");
  equal(api!.rate.length, 60);
  equal(api!.rate.at(-1), 5);
  equal(api!.errors.at(-1), 1);
  ok(api!.p50.at(-1)! > 9 && api!.p50.at(-1)! < 11);
  deepEqual(api!.total, { requests: 5, errors: 1, bytesIn: 20, bytesOut: 28 });
  equal(api!.window.requests, 5);
  equal(stats.recentErrors()[0]!.error, "PROTOCOL_ERROR: bad");

  now += 60_000;
  [api] = stats.services();
  equal(api!.window.requests, 0, "a minute later the window is empty");
  equal(api!.rate.reduce((a, b) => a + b, 0), 0);
  equal(api!.total.requests, 5, "totals stay");
  events.emit({ type: "tunnel-close", time: now, tunnel, error: null });
  equal(stats.tunnel("t7"), undefined);
  stats.stop();
});
