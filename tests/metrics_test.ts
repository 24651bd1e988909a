import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { serveReverse } from "../backend/serve_reverse.ts";
import { MetricsRegistry } from "../router/admin/metrics.ts";
import { TunnelRefusedError } from "../backend/dial.ts";
import { type Family, parsePrometheusText, sampleValue } from "./_prometheus_text.ts";
import { baseUrl, startBackend, startRouter, withTimeout } from "./_helpers.ts";

const API_TOKEN = "api-token-for-metrics-0001";
const WEB_TOKEN = "web-token-for-metrics-0001";

async function scrape(port: number): Promise<{ text: string; families: Map<string, Family> }> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  equal(response.status, 200);
  equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await response.text();
  return { text, families: parsePrometheusText(text) };
}

/** The sum of a family's samples named `name` whose labels include `labels`. */
function total(family: Family | undefined, name: string, labels: Record<string, string> = {}) {
  return (family?.samples ?? [])
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

Deno.test("/metrics parses as Prometheus text and its counters match the requests sent", async () => {
  await using router = startRouter({
    admin: { port: 0 },
    tokens: { api: API_TOKEN, web: WEB_TOKEN },
    routes: [
      { path: "/api", service: "api" },
      { path: "/ghost", service: "ghost" },
      { path: "/", service: "web" },
    ],
    tunnelWait: 0,
  });
  const adminPort = router.adminAddr!.port;
  await using _api = await startBackend(router, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/api/missing") return new Response("no such thing", { status: 404 });
    if (path === "/api/fail") return new Response("broken", { status: 500 });
    return new Response("api ok");
  }, { service: "api", token: API_TOKEN });
  await using _web = await startBackend(router, async (request) => {
    if (request.method === "POST") return new Response(await request.text(), { status: 201 });
    if (request.method === "DELETE") return new Response(null, { status: 405 });
    return new Response("hello from web");
  }, { service: "web", token: WEB_TOKEN });

  // One refused handshake: a wrong token.
  const intruder = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    service: "api",
    token: "not-the-api-token-000000",
    quiet: true,
  }, () => new Response("never"));
  await rejects(withTimeout(intruder.finished, 5000, "refusal"), TunnelRefusedError);

  const base = baseUrl(router);
  const sent: Array<[string, string, RequestInit?]> = [
    ...Array.from({ length: 5 }, (): [string, string] => ["api", "/api/ok"]),
    ...Array.from({ length: 3 }, (): [string, string] => ["api", "/api/missing"]),
    ...Array.from({ length: 2 }, (): [string, string] => ["api", "/api/fail"]),
    ...Array.from({ length: 4 }, (): [string, string] => ["web", "/"]),
    ...Array.from({ length: 2 }, (): [string, string, RequestInit] => [
      "web",
      "/echo",
      { method: "POST", body: "x".repeat(100) },
    ]),
    ["web", "/thing", { method: "DELETE" }],
    ["ghost", "/ghost/x"],
    ["web", "/odd", { method: "PROPFIND" }],
  ];
  const expected = new Map<string, number>();
  const bodyBytes = new Map<string, number>();
  for (const [service, path, init] of sent) {
    const response = await fetch(`${base}${path}`, init);
    const body = new Uint8Array(await response.arrayBuffer());
    const method = init?.method ?? "GET";
    const labels = `${service} ${method === "PROPFIND" ? "OTHER" : method} ${
      Math.floor(response.status / 100)
    }xx`;
    expected.set(labels, (expected.get(labels) ?? 0) + 1);
    if (service !== "ghost") bodyBytes.set(service, (bodyBytes.get(service) ?? 0) + body.length);
  }
  // Records are emitted when each stream has closed, a moment after the client has its answer.
  let { text, families } = await scrape(adminPort);
  for (let i = 0; i < 100; i++) {
    if (total(families.get("ptth_requests_total"), "ptth_requests_total") >= sent.length) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
    ({ text, families } = await scrape(adminPort));
  }

  // Names and types follow the conventions.
  for (const family of families.values()) {
    ok(/^ptth_[a-z_]+$/.test(family.name), `${family.name} has the ptth_ prefix, snake_case`);
    ok(family.help !== undefined && family.help.length > 0, `${family.name} has HELP`);
    if (family.type === "counter") ok(family.name.endsWith("_total"), `${family.name} is _total`);
    else ok(!family.name.endsWith("_total"), `${family.name} is a ${family.type}, not _total`);
    if (family.type === "histogram") {
      ok(/_(seconds|bytes)$/.test(family.name), `${family.name} is in a base unit`);
    }
    ok(!/_(milliseconds|ms|kilobytes)/.test(family.name), `${family.name} uses base units`);
  }
  const types = Object.fromEntries([...families.values()].map((f) => [f.name, f.type]));
  deepEqual(
    {
      requests: types.ptth_requests_total,
      duration: types.ptth_request_duration_seconds,
      tunnels: types.ptth_tunnels_connected,
      streams: types.ptth_streams_in_flight,
      bytesIn: types.ptth_request_body_bytes_total,
      bytesOut: types.ptth_response_body_bytes_total,
      handshakes: types.ptth_handshake_failures_total,
      retries: types.ptth_request_retries_total,
      rtt: types.ptth_ping_rtt_seconds,
    },
    {
      requests: "counter",
      duration: "histogram",
      tunnels: "gauge",
      streams: "gauge",
      bytesIn: "counter",
      bytesOut: "counter",
      handshakes: "counter",
      retries: "counter",
      rtt: "histogram",
    },
  );

  // Requests by service, method and status class: exactly what was sent.
  const requests = families.get("ptth_requests_total")!;
  const counted = new Map(
    requests.samples.map((s) => [
      `${s.labels.service} ${s.labels.method} ${s.labels.status_class}`,
      s.value,
    ]),
  );
  deepEqual(counted, expected, text);

  // The duration histogram: cumulative buckets, +Inf and _count equal to the requests.
  const duration = families.get("ptth_request_duration_seconds")!;
  for (const service of ["api", "web", "ghost"]) {
    const buckets = duration.samples
      .filter((s) => s.name.endsWith("_bucket") && s.labels.service === service)
      .map((s) => ({
        le: s.labels.le === "+Inf" ? Infinity : Number(s.labels.le),
        value: s.value,
      }));
    ok(buckets.length > 1, `${service} has buckets`);
    for (let i = 1; i < buckets.length; i++) {
      ok(buckets[i]!.le > buckets[i - 1]!.le, "buckets ascend");
      ok(buckets[i]!.value >= buckets[i - 1]!.value, "buckets are cumulative");
    }
    const sentToService = sent.filter(([s]) => s === service).length;
    equal(buckets.at(-1)!.le, Infinity);
    equal(buckets.at(-1)!.value, sentToService);
    equal(
      sampleValue(duration, "ptth_request_duration_seconds_count", { service }),
      sentToService,
    );
    const sum = sampleValue(duration, "ptth_request_duration_seconds_sum", { service })!;
    ok(sum > 0 && sum < 60, `${service} duration sum ${sum} s`);
  }

  // Bytes both ways, tunnels, streams, handshakes, retries.
  const bytesIn = families.get("ptth_request_body_bytes_total");
  const bytesOut = families.get("ptth_response_body_bytes_total");
  equal(sampleValue(bytesIn, "ptth_request_body_bytes_total", { service: "web" }), 200);
  equal(sampleValue(bytesIn, "ptth_request_body_bytes_total", { service: "api" }), 0);
  equal(
    sampleValue(bytesOut, "ptth_response_body_bytes_total", { service: "api" }),
    bodyBytes.get("api"),
  );
  equal(
    sampleValue(bytesOut, "ptth_response_body_bytes_total", { service: "web" }),
    bodyBytes.get("web"),
  );
  const tunnels = families.get("ptth_tunnels_connected");
  equal(sampleValue(tunnels, "ptth_tunnels_connected", { service: "api" }), 1);
  equal(sampleValue(tunnels, "ptth_tunnels_connected", { service: "web" }), 1);
  equal(sampleValue(tunnels, "ptth_tunnels_connected", { service: "ghost" }), 0);
  equal(total(families.get("ptth_streams_in_flight"), "ptth_streams_in_flight"), 0);
  const handshakes = families.get("ptth_handshake_failures_total");
  equal(sampleValue(handshakes, "ptth_handshake_failures_total", { reason: "forbidden" }), 1);
  equal(total(handshakes, "ptth_handshake_failures_total"), 1);
  equal(total(families.get("ptth_request_retries_total"), "ptth_request_retries_total"), 0);
  equal(
    sampleValue(families.get("ptth_tunnels_opened_total"), "ptth_tunnels_opened_total", {
      service: "api",
    }),
    1,
  );
});

Deno.test("ptth_ping_rtt_seconds counts keepalive PING round trips per service", async () => {
  await using router = startRouter({ admin: { port: 0 }, keepaliveInterval: 100 });
  await using _backend = await startBackend(router, () => new Response("ok"));
  let families = new Map<string, Family>();
  for (let i = 0; i < 100; i++) {
    families = (await scrape(router.adminAddr!.port)).families;
    const count = sampleValue(
      families.get("ptth_ping_rtt_seconds"),
      "ptth_ping_rtt_seconds_count",
      {
        service: "default",
      },
    );
    if ((count ?? 0) >= 1) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const rtt = families.get("ptth_ping_rtt_seconds");
  const count = sampleValue(rtt, "ptth_ping_rtt_seconds_count", { service: "default" })!;
  ok(count >= 1, "a PING round trip was measured");
  const sum = sampleValue(rtt, "ptth_ping_rtt_seconds_sum", { service: "default" })!;
  ok(sum > 0 && sum / count < 1, `mean RTT ${sum / count} s`);
});

Deno.test("MetricsRegistry escapes label values and HELP text as the format requires", () => {
  const registry = new MetricsRegistry();
  registry.counter("x_total", "Counts \\ things\nover lines", ["path"]).inc({
    path: 'a "quoted" \\ path\nwith a line feed',
  });
  const text = registry.expose();
  equal(
    text,
    "# HELP x_total Counts \\\\ things\\nover lines\n# TYPE x_total counter\n" +
      'x_total{path="a \\"quoted\\" \\\\ path\\nwith a line feed"} 1\n',
  );
  const family = parsePrometheusText(text).get("x_total")!;
  equal(family.samples[0]!.labels.path, 'a "quoted" \\ path\nwith a line feed');
  equal(family.help, "Counts \\ things\nover lines");
});
