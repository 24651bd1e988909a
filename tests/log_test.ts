import { equal, match, ok, rejects } from "node:assert/strict";
import { Logger } from "../log/logger.ts";
import { createRouter } from "../router/create_router.ts";
import { serveReverse } from "../backend/serve_reverse.ts";
import { TunnelRefusedError } from "../backend/dial.ts";
import { baseUrl, startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";

const API_TOKEN = "api-token-for-log-tests-0001";

type Line = Record<string, string | number | boolean | null>;

Deno.test("Logger writes text lines with a timestamp and level, or JSON lines, at or above its level", () => {
  const lines: string[] = [];
  const now = () => new Date("2025-01-02T03:04:05.678Z");
  const text = new Logger({ level: "warn", sink: (line) => lines.push(line), now });
  text.info("not written");
  text.warn("tunnel lost", {
    router: "tcp://a:1",
    error: "reset by peer",
    n: 2,
    skipped: undefined,
  });
  text.error("handler failed", { empty: "" });
  equal(lines.length, 2);
  equal(
    lines[0],
    '2025-01-02T03:04:05.678Z WARN  tunnel lost router=tcp://a:1 error="reset by peer" n=2',
  );
  equal(lines[1], '2025-01-02T03:04:05.678Z ERROR handler failed empty=""');
  const json = new Logger({
    format: "json",
    level: "debug",
    sink: (line) => lines.push(line),
    now,
  });
  json.debug("rtt", { tunnel: "t1", rtt_ms: 0.25, time: "not the time" });
  const record = JSON.parse(lines[2]!);
  equal(record.time, "2025-01-02T03:04:05.678Z", "fields never overwrite time, level or msg");
  equal(record.level, "debug");
  equal(record.msg, "rtt");
  equal(record.rtt_ms, 0.25);
  ok(!new Logger({ sink: null }).enabled("error"), "no sink: nothing is enabled");
});

Deno.test("the router logs one JSON line per request with the request id the client and backend saw", async () => {
  const lines: string[] = [];
  await using router = createRouter({
    hostname: "127.0.0.1",
    port: 0,
    tunnelPort: 0,
    logFormat: "json",
    log: (line) => lines.push(line),
  });
  const seen: string[] = [];
  await using _backend = await startBackend(router, (request) => {
    seen.push(request.headers.get("x-request-id") ?? "");
    return new Response("hello", { status: new URL(request.url).pathname === "/boom" ? 500 : 200 });
  });
  const given = await fetch(`${baseUrl(router)}/a?b=1`, { headers: { "x-request-id": "abc-123" } });
  equal(given.headers.get("x-request-id"), "abc-123");
  await given.text();
  const generated = await fetch(`${baseUrl(router)}/boom`, { method: "POST", body: "xyz" });
  const id = generated.headers.get("x-request-id")!;
  match(id, /^[0-9a-f-]{36}$/);
  await generated.text();
  const records = () =>
    lines.map((line) => JSON.parse(line) as Line).filter((r) => r.event === "request");
  await waitUntil(() => records().length === 2, 5000, "two request lines");
  const [first, second] = records() as [Line, Line];
  equal(first.level, "info");
  equal(first.method, "GET");
  equal(first.path, "/a?b=1");
  equal(first.status, 200);
  equal(first.request_id, "abc-123");
  equal(first.service, "default");
  equal(first.tunnel, router.pool.list()[0]!.id);
  equal(first.bytes_out, 5);
  ok(typeof first.duration_ms === "number");
  equal(second.level, "warn", "a 5xx is a warning");
  equal(second.status, 500);
  equal(second.request_id, id);
  equal(second.bytes_in, 3);
  equal(seen[0], "abc-123");
  equal(seen[1], id);
  const open = lines.map((line) => JSON.parse(line) as Line).find((r) => r.event === "tunnel-open");
  ok(open, "the tunnel's connection is logged");
  equal(open!.service, "default");
  match(String(open!.msg), /^tunnel t\d+ connected from 127\.0\.0\.1:\d+$/);
});

Deno.test("the router's text lines read as a terminal log, and levels filter them", async () => {
  const lines: string[] = [];
  await using router = createRouter({
    hostname: "127.0.0.1",
    port: 0,
    tunnelPort: 0,
    log: (line) => lines.push(line),
  });
  const backend = await startBackend(router, () => new Response("ok"));
  await (await fetch(`${baseUrl(router)}/path`, { headers: { "x-request-id": "req-1" } })).text();
  await waitUntil(() => lines.some((l) => l.includes("request_id=req-1")), 5000, "request line");
  const request = lines.find((l) => l.includes("request_id=req-1"))!;
  match(
    request,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}GET 127\.0\.0\.1:\d+\/path 200 [\d.]+ms service=default tunnel=t\d+ bytes_in=0 bytes_out=2 retries=0 request_id=req-1$/,
  );
  ok(lines.some((l) => / INFO {2}tunnel t\d+ connected from /.test(l)));
  await backend.shutdown();
  await waitUntil(() => lines.some((l) => / INFO {2}tunnel t\d+ closed /.test(l)), 5000, "close");

  const quiet: string[] = [];
  await using warnOnly = startRouter({
    quiet: false,
    logLevel: "warn",
    log: (line) => quiet.push(line),
  });
  await using _b = await startBackend(
    warnOnly,
    (request) =>
      new Response(null, { status: new URL(request.url).pathname === "/bad" ? 503 : 204 }),
  );
  await (await fetch(`${baseUrl(warnOnly)}/good`)).body?.cancel();
  await (await fetch(`${baseUrl(warnOnly)}/bad`)).body?.cancel();
  await waitUntil(() => quiet.some((l) => l.includes("/bad 503")), 5000, "5xx line");
  ok(!quiet.some((l) => l.includes("/good")), "info lines are filtered out");
  ok(!quiet.some((l) => l.includes("connected from")), "tunnel lines are info");
});

Deno.test("the backend logs its connection state changes: connecting, connected, lost, stopped", async () => {
  const lines: string[] = [];
  const states = () =>
    lines.map((line) => JSON.parse(line) as Line).map((r) => `${r.level} ${r.state}`);
  const router = startRouter();
  const port = router.tunnelAddr.port;
  const backend = serveReverse({
    hostname: "127.0.0.1",
    port,
    logFormat: "json",
    log: (line) => lines.push(line),
    reconnect: { initial: 20, max: 50 },
  }, () => new Response("ok"));
  try {
    await withTimeout(backend.connected, 5000, "connected");
    await router.shutdown();
    await waitUntil(() => states().includes("warn lost"), 5000, "lost");
    // The router is gone: attempts fail; one warning, then quiet debug lines.
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    await backend.shutdown();
  }
  await waitUntil(() => states().includes("info stopped"), 5000, "stopped");
  const seen = states();
  equal(seen[0], "info connecting");
  equal(seen[1], "info connected");
  equal(seen[2], "warn lost");
  equal(seen.filter((s) => s === "warn connecting").length, 1, seen.join(", "));
  equal(seen.at(-1), "info stopped");
  const record = JSON.parse(lines[1]!) as Line;
  equal(record.router, `tcp://127.0.0.1:${port}`);
  match(String(record.msg), /^connected to tcp:\/\/127\.0\.0\.1:\d+ and serving HTTP\/2 traffic$/);
});

Deno.test("the backend logs a refused tunnel as an error, in text", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN } });
  const lines: string[] = [];
  const backend = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    service: "api",
    token: "not-the-right-token-000000",
    log: (line) => lines.push(line),
  }, () => new Response("never"));
  await rejects(withTimeout(backend.finished, 5000, "refused"), TunnelRefusedError);
  const refused = lines.find((line) => line.includes(" ERROR "));
  ok(refused, lines.join("\n"));
  match(refused!, /ERROR tunnel to tcp:\/\/127\.0\.0\.1:\d+ refused: 403 .* state=refused/);
  ok(!lines.some((line) => line.includes("not-the-right-token")), "the token is never logged");
});
