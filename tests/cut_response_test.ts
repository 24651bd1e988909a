/**
 * A response cut off after its head (the backend's tunnel lost mid-body) is
 * reported as what it is: a warning in the log, an error on the dashboard,
 * `ptth_responses_incomplete_total` in /metrics, never a quiet "200".
 */
import { equal, match, ok } from "node:assert/strict";
import type { RequestRecord } from "../router/events.ts";
import { serveReverse } from "../backend/serve_reverse.ts";
import { startRouter, waitUntil, withTimeout } from "./_helpers.ts";

Deno.test("a response cut off mid-body is logged as a warning, counted as an error and in /metrics", async () => {
  const lines: string[] = [];
  await using router = startRouter({
    admin: { port: 0 },
    quiet: false,
    log: (line) => lines.push(line),
  });
  const records: RequestRecord[] = [];
  router.events.on((event) => {
    if (event.type === "request") records.push(event.request);
  });
  const backend = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    quiet: true,
    shutdownTimeout: 50,
  }, () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("the first part, "));
          // …and the rest never comes: the backend goes away first.
        },
      }),
    ));
  await withTimeout(backend.connected, 5000, "tunnel");
  const response = await fetch(`http://127.0.0.1:${router.addr.port}/download`);
  equal(response.status, 200);
  const reader = response.body!.getReader();
  equal(new TextDecoder().decode((await reader.read()).value), "the first part, ");
  await backend.shutdown(); // The tunnel closes with the body unfinished.
  const rest = await withTimeout(reader.read().then(() => "more", (e: Error) => e), 5000, "end");
  ok(rest instanceof Error, "the client sees the body fail");
  await waitUntil(() => records.length === 1, 5000, "the request record");
  const [record] = records;
  equal(record!.status, 200);
  equal(record!.incomplete, true);
  match(record!.error!, /^response cut off after 16 body bytes: /);
  const line = lines.find((l) => l.includes("GET 127.0.0.1"));
  match(
    line!,
    / WARN {2}GET 127\.0\.0\.1:\d+\/download 200 .*error="response cut off after 16 body bytes/,
  );
  const admin = `http://127.0.0.1:${router.adminAddr!.port}`;
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  match(metrics, /^ptth_responses_incomplete_total\{service="default"\} 1$/m);
  const stats = await (await fetch(`${admin}/api/stats`)).json();
  const service = stats.services.find((s: { service: string }) => s.service === "default");
  equal(service.total.errors, 1, "counted as an error on the dashboard");
});
