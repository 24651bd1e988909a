import { deepEqual, equal, ok } from "node:assert/strict";
import { baseUrl, startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";

Deno.test("router forwards method, path, query, headers and body, and adds X-Forwarded-*", async () => {
  await using router = startRouter();
  await using _backend = await startBackend(router, async (request, info) => {
    const url = new URL(request.url);
    return Response.json({
      method: request.method,
      url: request.url,
      path: url.pathname + url.search,
      body: await request.text(),
      headers: Object.fromEntries(request.headers),
      remote: info.remoteAddr.hostname,
    }, { headers: { "x-backend": "yes", "set-cookie": "a=1" } });
  });
  const response = await fetch(`${baseUrl(router)}/a/b?c=d&e=f`, {
    method: "PUT",
    body: "payload",
    headers: {
      "x-custom": "kept",
      "keep-alive": "timeout=5",
      "x-forwarded-for": "6.6.6.6",
      "connection": "x-private",
      "x-private": "dropped",
    },
  });
  equal(response.status, 200);
  equal(response.headers.get("x-backend"), "yes");
  equal(response.headers.get("set-cookie"), "a=1");
  const seen = await response.json();
  equal(seen.method, "PUT");
  equal(seen.path, "/a/b?c=d&e=f");
  equal(seen.url, `http://127.0.0.1:${router.addr.port}/a/b?c=d&e=f`);
  equal(seen.body, "payload");
  equal(seen.headers["x-custom"], "kept");
  equal(seen.headers["keep-alive"], undefined);
  equal(seen.headers["x-private"], undefined, "fields named in Connection are hop-by-hop");
  equal(seen.headers["x-forwarded-for"], "127.0.0.1", "a client cannot forge X-Forwarded-For");
  equal(seen.headers["x-forwarded-proto"], "http");
  equal(seen.headers["x-forwarded-host"], `127.0.0.1:${router.addr.port}`);
  equal(seen.remote, "127.0.0.1");
});

Deno.test("router multiplexes 1,000 concurrent requests on one tunnel", async () => {
  // fetch() opens a connection per request, all from 127.0.0.1.
  await using router = startRouter({ maxConnectionsPerAddress: 2000 });
  let peak = 0;
  let active = 0;
  await using _backend = await startBackend(router, async (request) => {
    peak = Math.max(peak, ++active);
    await new Promise((resolve) => setTimeout(resolve, 5));
    active--;
    return new Response(new URL(request.url).pathname);
  });
  const started = performance.now();
  const bodies = await withTimeout(
    Promise.all(
      Array.from(
        { length: 1000 },
        (_, i) => fetch(`${baseUrl(router)}/r${i}`).then((r) => r.text()),
      ),
    ),
    30_000,
    "1,000 requests",
  );
  const ms = performance.now() - started;
  equal(bodies.length, 1000);
  for (let i = 0; i < 1000; i++) equal(bodies[i], `/r${i}`);
  equal(router.pool.size, 1);
  ok(peak > 1, "requests overlapped on the tunnel");
  console.log(`1,000 concurrent requests: ${ms.toFixed(0)} ms, peak ${peak} streams in flight`);
});

Deno.test("router never opens more streams than the backend's MAX_CONCURRENT_STREAMS", async () => {
  await using router = startRouter();
  let peak = 0;
  let active = 0;
  await using _backend = await startBackend(router, async () => {
    peak = Math.max(peak, ++active);
    await new Promise((resolve) => setTimeout(resolve, 2));
    active--;
    return new Response("ok");
  }, { http2: { maxConcurrentStreams: 10 } });
  const statuses = await withTimeout(
    Promise.all(Array.from({ length: 200 }, () =>
      fetch(`${baseUrl(router)}/`).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      }))),
    20_000,
    "200 requests",
  );
  deepEqual(new Set(statuses), new Set([200]));
  ok(peak <= 10, `peak ${peak} streams exceeds the limit of 10`);
  equal(peak, 10, "the limit was reached, so queueing was exercised");
});

Deno.test("router spreads load over several tunnels", async () => {
  await using router = startRouter();
  const counts = [0, 0, 0];
  const backends = [];
  for (let i = 0; i < 3; i++) {
    backends.push(
      await startBackend(router, async () => {
        counts[i]!++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return new Response(String(i));
      }),
    );
  }
  await waitUntil(() => router.pool.size === 3, 5000, "three tunnels");
  await Promise.all(
    Array.from({ length: 300 }, () => fetch(`${baseUrl(router)}/`).then((r) => r.text())),
  );
  for (const count of counts) ok(count >= 60, `uneven spread: ${counts.join(", ")}`);
  for (const backend of backends) await backend.shutdown();
});

Deno.test("router answers 503 with a clear body when no tunnel is connected", async () => {
  await using router = startRouter({ tunnelWait: 0 });
  const response = await fetch(`${baseUrl(router)}/foo`);
  equal(response.status, 503);
  ok((await response.text()).includes("no backend tunnel is connected"));
});

Deno.test("router answers 502 when the tunnel dies before the response headers, then 503", async () => {
  await using router = startRouter({ tunnelWait: 0 });
  let conn: Deno.TcpConn | undefined;
  let received!: () => void;
  const requestSeen = new Promise<void>((resolve) => received = resolve);
  const backend = await startBackend(router, (request) => {
    received();
    // Never answers: the tunnel dies first.
    return new Promise<Response>((_, reject) => request.signal.addEventListener("abort", reject));
  }, {
    connect: async () => conn = await Deno.connect({ port: router.tunnelAddr.port }),
    maxReconnectDelay: 60_000,
  });
  // POST is not idempotent: it may have been processed, so it is not retried.
  const pending = fetch(`${baseUrl(router)}/hang`, { method: "POST", body: "x" });
  await withTimeout(requestSeen, 5000, "request at the backend");
  const shutdown = backend.shutdown(); // No reconnection after the kill below.
  conn!.close(); // The tunnel dies abruptly.
  const started = performance.now();
  const response = await withTimeout(pending, 5000, "502");
  equal(response.status, 502);
  ok((await response.text()).includes("tunnel failed"));
  ok(performance.now() - started < 2000, "502 within two seconds");
  await shutdown;
  await waitUntil(() => router.pool.size === 0, 2000, "the dead tunnel leaves the pool");
  const after = await fetch(`${baseUrl(router)}/`);
  equal(after.status, 503);
  await after.body?.cancel();
});

Deno.test("a client disconnect aborts the backend's request.signal and nothing else", async () => {
  await using router = startRouter();
  let aborted!: () => void;
  const abortSeen = new Promise<void>((resolve) => aborted = resolve);
  let received!: () => void;
  const requestSeen = new Promise<void>((resolve) => received = resolve);
  await using _backend = await startBackend(router, (request) => {
    if (new URL(request.url).pathname === "/ok") return new Response("still fine");
    received();
    request.signal.addEventListener("abort", () => aborted());
    return new Promise<Response>(() => {});
  });
  const controller = new AbortController();
  const pending = fetch(`${baseUrl(router)}/slow`, { signal: controller.signal }).catch((e) => e);
  await withTimeout(requestSeen, 5000, "request at the backend");
  controller.abort();
  await pending;
  await withTimeout(abortSeen, 5000, "request.signal aborted at the backend");
  const other = await fetch(`${baseUrl(router)}/ok`);
  equal(await other.text(), "still fine", "the tunnel survives the cancelled stream");
  equal(router.pool.size, 1);
});

Deno.test("a client that leaves while its request waits for a tunnel ends the wait (499), not after --tunnel-wait", async () => {
  await using router = startRouter({ tunnelWait: 3000 });
  const records: Array<{ status: number; durationMs: number }> = [];
  router.events.on((event) => {
    if (event.type === "request") records.push(event.request);
  });
  const controller = new AbortController();
  const pending = fetch(`${baseUrl(router)}/nobody-home`, { signal: controller.signal })
    .catch((e) => e);
  setTimeout(() => controller.abort(), 150);
  await pending;
  await waitUntil(() => records.length === 1, 2500, "the request record");
  equal(records[0]!.status, 499);
  // Noticed by the watch (100 ms after the request, plus a tick), far before the 3 s wait.
  ok(records[0]!.durationMs < 1500, `answered after ${records[0]!.durationMs} ms`);
});

Deno.test("a client that stops reading a streamed response cancels the backend's body", async () => {
  await using router = startRouter();
  let cancelled!: () => void;
  const cancelSeen = new Promise<void>((resolve) => cancelled = resolve);
  await using _backend = await startBackend(router, () => {
    let n = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(new Uint8Array(16_384).fill(n++ & 0xff));
        },
        cancel() {
          cancelled();
        },
      }),
    );
  });
  const response = await fetch(`${baseUrl(router)}/infinite`);
  const reader = response.body!.getReader();
  await reader.read();
  await reader.cancel();
  await withTimeout(cancelSeen, 5000, "backend body cancelled");
});

Deno.test("router streams response bodies without buffering them (first bytes before the end)", async () => {
  await using router = startRouter();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  await using _backend = await startBackend(router, () => {
    const encoder = new TextEncoder();
    return new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(encoder.encode("data: first\n\n"));
          await gate;
          controller.enqueue(encoder.encode("data: second\n\n"));
          controller.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );
  });
  const response = await fetch(`${baseUrl(router)}/events`);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const first = await withTimeout(reader.read(), 5000, "first event before the second is sent");
  equal(first.value, "data: first\n\n");
  release();
  let rest = "";
  for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
  equal(rest, "data: second\n\n");
});

Deno.test("backend handler errors become 500 through onError, and 404s pass through", async () => {
  await using router = startRouter();
  await using _backend = await startBackend(router, (request) => {
    if (new URL(request.url).pathname === "/boom") throw new Error("boom");
    return new Response("nope", { status: 404 });
  }, { onError: () => new Response("handled", { status: 500 }) });
  const boom = await fetch(`${baseUrl(router)}/boom`);
  equal(boom.status, 500);
  equal(await boom.text(), "handled");
  const missing = await fetch(`${baseUrl(router)}/missing`);
  equal(missing.status, 404);
  equal(await missing.text(), "nope");
});

Deno.test("HEAD and 204 responses carry no body through the tunnel", async () => {
  await using router = startRouter();
  await using _backend = await startBackend(router, (request) => {
    if (request.method === "HEAD") return new Response("ignored", { headers: { "x-len": "7" } });
    return new Response(null, { status: 204 });
  });
  const head = await fetch(`${baseUrl(router)}/`, { method: "HEAD" });
  equal(head.status, 200);
  equal(head.headers.get("x-len"), "7");
  equal(await head.text(), "");
  const empty = await fetch(`${baseUrl(router)}/`, { method: "DELETE" });
  equal(empty.status, 204);
  equal(await empty.text(), "");
});

Deno.test("a request waits for a tunnel that connects within the wait window", async () => {
  await using router = startRouter({ tunnelWait: 3000 });
  const pending = fetch(`${baseUrl(router)}/late`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await using _backend = await startBackend(router, () => new Response("worth the wait"));
  const response = await withTimeout(pending, 5000, "response");
  equal(response.status, 200);
  equal(await response.text(), "worth the wait");
});

Deno.test("router reports tunnels and requests as events, and passes X-Request-Id both ways", async () => {
  await using router = startRouter();
  const seen: string[] = [];
  const records: Array<
    { status: number; service: string | null; bytesIn: number; bytesOut: number; requestId: string }
  > = [];
  router.events.on((event) => {
    seen.push(event.type);
    if (event.type === "request") records.push(event.request);
  });
  let idAtBackend: string | null = null;
  const backend = await startBackend(router, async (request) => {
    idAtBackend = request.headers.get("x-request-id");
    return new Response((await request.text()).toUpperCase());
  });
  await waitUntil(() => seen.includes("tunnel-open"), 2000, "tunnel-open");
  const response = await fetch(`${baseUrl(router)}/x`, {
    method: "POST",
    body: "hello",
    headers: { "x-request-id": "abc-123" },
  });
  equal(await response.text(), "HELLO");
  equal(response.headers.get("x-request-id"), "abc-123");
  equal(idAtBackend, "abc-123");
  const generated = await fetch(`${baseUrl(router)}/y`);
  await generated.body?.cancel();
  ok(/^[0-9a-f-]{36}$/.test(generated.headers.get("x-request-id") ?? ""));
  await waitUntil(() => records.length === 2, 2000, "two request records");
  equal(records[0]!.status, 200);
  equal(records[0]!.service, "default", "no route named a service: the tunnel's counts");
  equal(records[0]!.bytesIn, 5);
  equal(records[0]!.bytesOut, 5);
  equal(records[0]!.requestId, "abc-123");
  await backend.shutdown();
  await waitUntil(() => seen.includes("tunnel-close"), 2000, "tunnel-close");
});
