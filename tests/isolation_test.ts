/**
 * The router protects its backends and its clients from each other, over
 * real loopback sockets (issue 16, findings 6, 7 and 8):
 *
 * - cancellations never cost a backend its tunnel: 20,000 cancelled requests
 *   leave it serving, with no GOAWAY, while normal requests beside them finish;
 * - a request a backend rejected on its stream is not retried on the others;
 * - each service's queue (waits for a stream slot or for a tunnel) is bounded:
 *   beyond it, 503 with Retry-After at once; a cancelled request leaves it at once;
 * - a client that does not read holds only its own stream: other responses on
 *   the tunnel keep flowing, and the router's unread response data has a budget.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { ClientSession } from "../h2/client.ts";
import { ErrorCode, FrameType, SettingId } from "../h2/constants.ts";
import type { SettingsFrame } from "../h2/frame.ts";
import { serveReverse } from "../backend/serve_reverse.ts";
import { serveConnection } from "../h2/server.ts";
import type { Router } from "../router/create_router.ts";
import type { RouterEvent } from "../router/events.ts";
import { tunnelHttp2 } from "../tunnel/settings.ts";
import type { MeteredBuffer } from "../h2/buffer_meter.ts";
import { ResponseBudget, type Shed } from "../router/response_budget.ts";
import { baseUrl, startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";
import { ackSettings, loopbackPair, RawPeer, settle } from "./_raw_peer.ts";

/** Resolves after `ms`. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---- finding 6: cancellations never cost a backend its tunnel ---------------------------------

Deno.test("a backend keeps its tunnel through 20,000 cancelled requests, and normal requests beside them are answered", async () => {
  // This test plays the router: a ClientSession on a tunnel a real serveReverse
  // backend dialed, cancelling requests as a router does for clients that leave.
  const [ours, theirs] = await loopbackPair();
  let slowRunning = 0;
  let slowPeak = 0;
  let dialed = false;
  const connect = () => {
    if (dialed) throw new Error("This test has one tunnel: a second would mean the first was lost");
    dialed = true;
    return theirs;
  };
  const backend = serveReverse(
    { connect, legacy: true, quiet: true },
    async (request) => {
      if (new URL(request.url).pathname === "/slow") {
        // A handler that ignores cancellation and takes its time.
        slowPeak = Math.max(slowPeak, ++slowRunning);
        await sleep(5);
        slowRunning--;
        return new Response("slow");
      }
      return new Response("ok");
    },
  );
  const goaways: string[] = [];
  const session = new ClientSession(ours, {
    ...tunnelHttp2(),
    onGoaway: (_last, code, debug) => goaways.push(`${code} ${debug}`),
  });
  try {
    await withTimeout(session.connection.ready, 5000, "the backend's SETTINGS");
    const get = (path: string) =>
      session.send({ method: "GET", scheme: "http", authority: "example.com", path });
    // Normal requests, one after the other, for as long as the flood lasts.
    let flooding = true;
    const answers: string[] = [];
    const normal = (async () => {
      while ((flooding || answers.length < 20) && session.available) {
        try {
          const head = await get("/ok").response;
          const body = head.body instanceof Uint8Array
            ? new TextDecoder().decode(head.body)
            : await new Response(head.body).text();
          answers.push(`${head.status} ${body}`);
        } catch (error) {
          answers.push(`failed: ${error}`);
        }
      }
    })();
    let cancelled = 0;
    const failures: Promise<unknown>[] = [];
    for (let batch = 0; batch < 40; batch++) {
      // Half are cancelled in the write that sends them (rapid reset), half once
      // their handler runs.
      const late = [];
      for (let i = 0; i < 250; i++) {
        const now = get("/slow");
        now.cancel();
        failures.push(now.response.catch(() => {}));
        const later = get("/slow");
        failures.push(later.response.catch(() => {}));
        late.push(later);
      }
      await sleep(1);
      for (const exchange of late) exchange.cancel();
      cancelled += 500;
      await sleep(1);
    }
    flooding = false;
    await withTimeout(Promise.all(failures), 10_000, "the cancelled requests to settle");
    await withTimeout(normal, 10_000, "the normal requests");
    equal(cancelled, 20_000);
    equal(goaways.length, 0, `the backend sent GOAWAY: ${goaways.join("; ")}`);
    ok(
      session.connection.isOpen && session.available,
      `the tunnel closed: ${session.connection.error}`,
    );
    equal(session.connection.error, null);
    equal(backend.tunnels, 1);
    ok(answers.length >= 20, `${answers.length} normal requests`);
    equal(answers.filter((a) => a !== "200 ok").length, 0, answers.join(","));
    // Handlers whose streams were reset still count until they return: never more
    // than the backend's SETTINGS_MAX_CONCURRENT_STREAMS (1,024) at once.
    ok(slowPeak <= 1024, `${slowPeak} handlers ran at once`);
    const last = await get("/ok").response;
    equal(last.status, 200);
  } finally {
    session.close();
    await session.closed;
    await backend.shutdown();
  }
});

Deno.test("a response that crossed the router's cancel is ignored even after a thousand newer streams, not taken for a protocol error", async () => {
  // The router remembers the last 1,024 streams it closed. A backend slow to see a
  // cancel may answer it after the router opened more than that: the answer is a
  // frame on a stream the router reset, to ignore (RFC 9113 §5.1), not a reason to
  // drop a tunnel that carries everyone else's requests.
  const [ours, theirs] = await loopbackPair();
  const peer = new RawPeer(theirs, { readPreface: true });
  const session = new ClientSession(ours);
  try {
    peer.out.settings([[SettingId.MAX_CONCURRENT_STREAMS, 4000]]);
    await peer.flush();
    await ackSettings(peer);
    await session.connection.ready;
    const get = () =>
      session.send({ method: "GET", scheme: "http", authority: "example.com", path: "/" });
    const failed: Promise<unknown>[] = [];
    for (let i = 0; i < 1100; i++) {
      const exchange = get();
      exchange.cancel();
      failed.push(exchange.response.catch(() => {}));
    }
    await Promise.all(failed);
    await peer.sync(); // The backend has seen the 1,100 requests and their resets.
    // Its answer to the first, sent before it saw that reset, arrives now.
    peer.out.headers(1, peer.encode([":status", "200"]), false, 16_384);
    peer.out.data(1, new TextEncoder().encode("late"), true);
    await peer.flush();
    const next = get();
    const request = await peer.expectFrame(
      "the next request",
      (r) => r.header.type === FrameType.HEADERS && r.header.streamId === 2201,
      (r) => r.header.type === FrameType.GOAWAY ? "GOAWAY" : null,
    );
    peer.out.headers(request.header.streamId, peer.encode([":status", "204"]), true, 16_384);
    await peer.flush();
    equal((await withTimeout(next.response, 2000, "the next answer")).status, 204);
    equal(session.connection.error, null);
  } finally {
    session.close();
    await session.closed;
    await peer.close();
  }
});

Deno.test("a body's empty chunks are not sent as empty DATA frames, which the peer's flood guard counts", async () => {
  // An upload whose source yields empty chunks (a public client's, passed on by the
  // router) must not look like an empty-frame flood (CVE-2019-9518) to the backend.
  const [ours, theirs] = await loopbackPair();
  const errors: string[] = [];
  const server = serveConnection(
    theirs,
    async (request) => new Response(`${(await request.arrayBuffer()).byteLength}`),
    { onProtocolError: (error) => errors.push(error.message) },
  );
  const session = new ClientSession(ours);
  try {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (++pulls > 10_000) return controller.close();
        controller.enqueue(new Uint8Array(pulls % 1000 === 0 ? 1 : 0));
      },
    });
    const response = await session.request({
      method: "POST",
      scheme: "http",
      authority: "example.com",
      path: "/upload",
      body,
    });
    equal(await response.text(), "10");
    equal(errors.join("; "), "");
  } finally {
    session.close();
    await session.closed;
    await server.closed;
  }
});

/**
 * A raw HTTP/2 backend in the router's pool that answers every request by
 * resetting its stream with `code`, and records the streams it saw.
 */
async function resettingTunnel(
  router: Router,
  code: number,
): Promise<{ streams: number[]; close(): Promise<void> }> {
  const before = router.pool.size;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
  const peer = new RawPeer(conn, { readPreface: true });
  peer.out.settings([[SettingId.MAX_CONCURRENT_STREAMS, 100]]);
  await peer.flush();
  const first = await peer.nextFrame();
  ok(first !== null && first.header.type === FrameType.SETTINGS, "router preface");
  equal((first.frame as SettingsFrame).ack, false);
  await ackSettings(peer);
  await waitUntil(() => router.pool.size > before, 2000, "the raw tunnel in the pool");
  const streams: number[] = [];
  let open = true;
  const loop = (async () => {
    while (open) {
      const received = await peer.nextFrame(60_000).catch(() => null);
      if (received === null) return;
      if (received.header.type === FrameType.HEADERS && received.fields !== undefined) {
        streams.push(received.header.streamId);
        peer.out.rstStream(received.header.streamId, code);
        await peer.flush().catch(() => {});
      }
    }
  })();
  return {
    streams,
    async close() {
      open = false;
      await peer.close();
      await loop;
    },
  };
}

for (
  const [name, code] of [
    ["PROTOCOL_ERROR", ErrorCode.PROTOCOL_ERROR],
    ["INTERNAL_ERROR", ErrorCode.INTERNAL_ERROR],
  ] as const
) {
  Deno.test(`a GET a backend resets with ${name} is answered 502 and not retried on the service's other tunnels`, async () => {
    await using router = startRouter({ allowAnonymous: true, tunnelWait: 0 });
    const tunnels = [];
    try {
      for (let i = 0; i < 3; i++) tunnels.push(await resettingTunnel(router, code));
      const response = await fetch(`${baseUrl(router)}/bad`);
      const text = await response.text();
      equal(response.status, 502);
      ok(text.includes(name), text);
      const seen = tunnels.map((t) => t.streams.length);
      equal(seen.reduce((a, b) => a + b), 1, `streams each tunnel saw: ${seen.join(",")}`);
    } finally {
      for (const tunnel of tunnels) await tunnel.close();
    }
  });
}

Deno.test("a GET refused with REFUSED_STREAM is still retried on another tunnel (RFC 9113 §8.7)", async () => {
  await using router = startRouter({ allowAnonymous: true, tunnelWait: 0 });
  const refusing = await resettingTunnel(router, ErrorCode.REFUSED_STREAM);
  try {
    await using _good = await startBackend(router, () => new Response("good"));
    // Either tunnel may be picked first; a refusal sends the request to the other.
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${baseUrl(router)}/x`);
      equal(`${response.status} ${await response.text()}`, "200 good");
    }
    ok(refusing.streams.length > 0, "the refusing tunnel was never tried");
  } finally {
    await refusing.close();
  }
});

// ---- finding 7: bounded queues; cancelled requests leave them at once ------------------------

/** A backend that takes two streams at once and holds each until released. */
async function narrowBackend(router: Router) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let started = 0;
  const backend = await startBackend(router, async (request) => {
    started++;
    // Ends early when the router cancels the stream.
    await Promise.race([
      released,
      new Promise((resolve) => request.signal.addEventListener("abort", resolve)),
    ]);
    return new Response(`done ${new URL(request.url).pathname}`);
  }, { http2: { maxConcurrentStreams: 2 } });
  return {
    backend,
    release,
    get started() {
      return started;
    },
  };
}

Deno.test("a request beyond --max-queued-requests waiting for a stream slot gets 503 with Retry-After at once, logged at most once a second", async () => {
  const logs: string[] = [];
  await using router = startRouter({
    allowAnonymous: true,
    maxQueuedRequests: 4,
    quiet: false,
    logLevel: "warn",
    log: (line) => logs.push(line),
  });
  const narrow = await narrowBackend(router);
  try {
    const base = baseUrl(router);
    const tunnel = router.pool.list()[0]!;
    // Two streams run, four wait for a slot: the queue is full.
    const admitted = Array.from({ length: 6 }, (_, i) => fetch(`${base}/${i}`));
    await waitUntil(() => tunnel.inFlight === 6, 2000, "two open streams and four queued");
    await waitUntil(() => narrow.started === 2, 2000, "two requests at the backend");
    const refusals = [];
    const refusing = performance.now();
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const response = await withTimeout(
        fetch(`${base}/over`),
        2000,
        "the answer beyond the queue",
      );
      refusals.push({
        status: response.status,
        retryAfter: response.headers.get("retry-after"),
        text: await response.text(),
        ms: performance.now() - started,
      });
    }
    for (const refusal of refusals) {
      equal(refusal.status, 503, refusal.text);
      equal(refusal.retryAfter, "1");
      ok(refusal.text.includes("too many requests wait"), refusal.text);
      ok(refusal.ms < 1000, `answered after ${refusal.ms.toFixed(0)} ms`);
    }
    const refusedFor = performance.now() - refusing;
    equal(tunnel.inFlight, 6, "the refused requests never queued");
    // At most one line a second, however many refusals.
    const lines = logs.filter((line) => line.includes("maxQueuedRequests"));
    // Each refusal is an ordinary request line (info), not a warning of its own.
    equal(logs.filter((line) => line.includes("/over 503")).length, 0, logs.join("\n"));
    ok(
      lines.length >= 1 && lines.length <= 1 + Math.floor(refusedFor / 1000),
      `${lines.length} lines for 20 refusals in ${refusedFor.toFixed(0)} ms: ${lines.join("\n")}`,
    );
    narrow.release();
    const answers = await withTimeout(Promise.all(admitted), 5000, "the admitted requests");
    for (const [i, response] of answers.entries()) {
      equal(`${response.status} ${await response.text()}`, `200 done /${i}`);
    }
  } finally {
    narrow.release();
    await narrow.backend.shutdown();
  }
});

Deno.test("a request beyond --max-queued-requests waiting for a tunnel to connect gets 503 at once", async () => {
  await using router = startRouter({
    allowAnonymous: true,
    maxQueuedRequests: 2,
    tunnelWait: 10_000,
    routes: [{ service: "api" }],
    tokens: { api: "token-for-the-api-service-0001" },
  });
  const base = baseUrl(router);
  const waiting = [0, 1].map(() => {
    const controller = new AbortController();
    // Aborted at the end.
    const response = fetch(`${base}/wait`, { signal: controller.signal }).catch(() => null);
    return { controller, response };
  });
  try {
    await sleep(200); // Both wait for a tunnel of api now.
    const started = performance.now();
    const response = await withTimeout(fetch(`${base}/over`), 2000, "the answer beyond the queue");
    const text = await response.text();
    equal(response.status, 503, text);
    ok(text.includes("too many requests wait for a backend for service api"), text);
    equal(response.headers.get("retry-after"), "1");
    ok(performance.now() - started < 1000);
  } finally {
    for (const { controller } of waiting) controller.abort();
    for (const { response } of waiting) await settle(response, 2000);
  }
});

Deno.test("a request whose client leaves gives its place in the queue up at once", async () => {
  await using router = startRouter({ allowAnonymous: true, maxQueuedRequests: 10 });
  const narrow = await narrowBackend(router);
  try {
    const base = baseUrl(router);
    const tunnel = router.pool.list()[0]!;
    const running = [0, 1].map((i) => fetch(`${base}/run${i}`));
    await waitUntil(() => narrow.started === 2, 2000, "two running requests");
    // Fill the queue with requests whose clients leave.
    const controllers = Array.from({ length: 10 }, () => new AbortController());
    const leaving = controllers.map((c, i) =>
      fetch(`${base}/leave${i}`, { signal: c.signal }).catch(() => "aborted")
    );
    await waitUntil(() => tunnel.inFlight === 12, 2000, "ten queued requests");
    for (const controller of controllers) controller.abort();
    await Promise.all(leaving);
    // Gone from the queue at once (Deno reports an HTTP/1.1 client leaving within a tick
    // of the router's watch, 100 ms in): their places go to new requests.
    await waitUntil(() => tunnel.inFlight === 2, 2000, "the cancelled requests to leave");
    const next = fetch(`${base}/next`);
    await waitUntil(() => tunnel.inFlight === 3, 1000, "a new request queued");
    narrow.release();
    for (const response of [...await Promise.all(running), await next]) {
      equal(response.status, 200);
      await response.body?.cancel();
    }
    equal(narrow.started, 3, "no cancelled request reached the backend");
  } finally {
    narrow.release();
    await narrow.backend.shutdown();
  }
});

Deno.test("a request whose signal aborted before the router's watch began is stopped then, not at the header timeout", async () => {
  // An embedding app hands the router requests of its own; one whose client left
  // 20 ms in must be stopped when the watch begins (100 ms), not after 60 s.
  await using router = startRouter({ allowAnonymous: true });
  const narrow = await narrowBackend(router);
  try {
    const base = baseUrl(router);
    const tunnel = router.pool.list()[0]!;
    const running = [0, 1].map((i) => fetch(`${base}/run${i}`));
    await waitUntil(() => narrow.started === 2, 2000, "two running requests");
    const controller = new AbortController();
    const answer = router.app.fetch(
      new Request(`${base}/queued`, { signal: controller.signal }),
      { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } },
    );
    await waitUntil(() => tunnel.inFlight === 3, 1000, "the request queued");
    await sleep(20);
    controller.abort();
    const response = await withTimeout(Promise.resolve(answer), 2000, "the stopped request");
    equal(response.status, 499);
    equal(tunnel.inFlight, 2);
    narrow.release();
    for (const r of await Promise.all(running)) await r.body?.cancel();
  } finally {
    narrow.release();
    await narrow.backend.shutdown();
  }
});

// ---- finding 8: a client that does not read holds only its own stream ------------------------

/** A chunk the big responses repeat (the codec copies what it sends). */
const CHUNK = new Uint8Array(256 * 1024).fill(0x61);

/** A backend whose `/big` responses never end, counting what each sent. */
async function bigBackend(router: Router) {
  const sent = new Map<string, number>();
  const cancelled: string[] = [];
  const backend = await startBackend(router, (request) => {
    const path = new URL(request.url).pathname;
    if (path.startsWith("/big")) {
      sent.set(path, 0);
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            sent.set(path, sent.get(path)! + CHUNK.length);
            controller.enqueue(CHUNK);
          },
          cancel() {
            cancelled.push(path);
          },
        }, { highWaterMark: 0 }),
      );
    }
    const size = Number(new URL(request.url).searchParams.get("size") ?? "1048576");
    return new Response(new Uint8Array(size).fill(0x62));
  });
  const total = () => [...sent.values()].reduce((a, b) => a + b, 0);
  return { backend, sent, cancelled, total };
}

/**
 * A public HTTP/2 client (h2c, prior knowledge) with 64 KiB stream windows
 * that starts `count` downloads and never reads them.
 */
async function stalledDownloads(router: Router, count: number, prefix = "/big") {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.addr.port });
  const session = new ClientSession(conn);
  const heads = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      session.request({
        method: "GET",
        scheme: "http",
        authority: "127.0.0.1",
        path: `${prefix}${i}`,
      })),
  );
  for (const head of heads) equal(head.status, 200);
  return {
    async close() {
      session.close();
      await session.closed;
    },
  };
}

/** Waits until `value()` has not changed for `quietMs`, within `ms`. */
async function settled(value: () => number, quietMs: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  let last = value();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    if (Date.now() > deadline) throw new Error(`Still moving after ${ms} ms: ${value()}`);
    await sleep(25);
    const now = value();
    if (now !== last) [last, since] = [now, Date.now()];
  }
  return last;
}

Deno.test("32 clients that never read their downloads hold only their own streams: another response on the tunnel gets its whole body", async () => {
  await using router = startRouter({ allowAnonymous: true });
  const big = await bigBackend(router);
  // Each stalled stream fills its 4 MiB window in the router (Deno.serve takes a
  // part of it out to its side: about 2 MiB here); together they hold more than the
  // 64 MiB connection window of the tunnel.
  const stalled = await stalledDownloads(router, 32);
  try {
    const total = await settled(big.total, 300, 10_000);
    ok(total >= 64 * 1024 * 1024, `the stalled downloads took ${total} bytes`);
    const response = await fetch(`${baseUrl(router)}/small?size=${1024 * 1024}`);
    equal(response.status, 200);
    const body = await withTimeout(response.arrayBuffer(), 5000, "the body beside them");
    equal(body.byteLength, 1024 * 1024);
    equal(router.pool.size, 1, "one tunnel carried all of it");
    equal(big.cancelled.length, 0, "no stalled stream was reset under the default budget");
  } finally {
    await stalled.close();
    await big.backend.shutdown();
  }
});

Deno.test("past --max-response-buffer, the streams whose clients stopped reading are reset, the largest first, and readers are not", async () => {
  const events: RouterEvent[] = [];
  const budget = 8 * 1024 * 1024;
  await using router = startRouter({ allowAnonymous: true, maxResponseBuffer: budget });
  router.events.on((event) => events.push(event));
  const big = await bigBackend(router);
  const stalled = await stalledDownloads(router, 6);
  try {
    // A client that reads all along, while the stalled ones hold ~24 MiB.
    const reader = fetch(`${baseUrl(router)}/small?size=${48 * 1024 * 1024}`).then(async (r) =>
      `${r.status} ${(await r.arrayBuffer()).byteLength}`
    );
    // After a second without reads, enough stalled streams go to get under the budget
    // (each holds up to its 4 MiB window, less what Deno.serve took on its side), and
    // only as many: what fits the budget stays.
    await waitUntil(() => big.cancelled.length > 0, 5000, "stalled streams reset");
    equal(await withTimeout(reader, 10_000, "the reading client"), `200 ${48 * 1024 * 1024}`);
    await settled(() => big.cancelled.length, 500, 5000);
    ok(big.cancelled.length < 6, `${big.cancelled.length} of 6 streams reset`);
    const shed = events.filter((e) => e.type === "responses-shed");
    ok(shed.length > 0, "a responses-shed event");
    const streams = shed.reduce((n, e) => n + (e.type === "responses-shed" ? e.streams : 0), 0);
    equal(streams, big.cancelled.length);
    // The tunnel still serves.
    const after = await fetch(`${baseUrl(router)}/small?size=10`);
    equal(await after.text(), "bbbbbbbbbb");
  } finally {
    await stalled.close();
    await big.backend.shutdown();
  }
});

Deno.test("a complete response its client never read is dropped past --max-response-buffer: the client gets an error, never a short body passed off as whole", async () => {
  await using router = startRouter({ allowAnonymous: true, maxResponseBuffer: 1024 * 1024 });
  const shed: number[] = [];
  router.events.on((event) => {
    if (event.type === "responses-shed") shed.push(event.streams);
  });
  const size = 4 * 1024 * 1024;
  await using _backend = await startBackend(router, () => new Response(new Uint8Array(size)));
  // The whole body fits the tunnel's 4 MiB stream window: the router's stream closes
  // with what the client has not taken still in it.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.addr.port });
  const session = new ClientSession(conn);
  try {
    const head = await session.request({
      method: "GET",
      scheme: "http",
      authority: "127.0.0.1",
      path: "/complete",
    });
    equal(head.status, 200);
    await waitUntil(() => shed.length > 0, 5000, "the unread body dropped");
    equal(shed[0], 1);
    const outcome = await withTimeout(
      head.arrayBuffer().then((body) => `read ${body.byteLength}`, () => "failed"),
      5000,
      "the client's read",
    );
    equal(outcome, "failed");
  } finally {
    session.close();
    await session.closed;
  }
});

Deno.test("the response budget resets stalled buffers largest first, only until it is back under, and never one read within the last second", async () => {
  // The choice itself, on buffers whose sizes and reads are set exactly (the cases
  // above show it on sockets, where Deno.serve decides how much each holds).
  const sheds: Shed[] = [];
  const budget = new ResponseBudget(10, (shed) => sheds.push(shed));
  const now = Date.now();
  const abandoned: string[] = [];
  const buffer = (name: string, bytes: number, readAgo: number): MeteredBuffer => {
    const b = {
      meterSlot: -1,
      unreadBytes: bytes,
      lastRead: now - readAgo,
      abandon() {
        abandoned.push(name);
        const held = b.unreadBytes;
        b.unreadBytes = 0;
        budget.meter.remove(b, held);
      },
    };
    return b;
  };
  try {
    const buffers = [
      buffer("small stalled", 3, 5000),
      buffer("large stalled", 8, 2000),
      buffer("largest, read just now", 20, 10),
      buffer("middle stalled", 5, 3000),
    ];
    for (const b of buffers) budget.meter.add(b, b.unreadBytes);
    equal(budget.meter.bytes, 36);
    await waitUntil(() => sheds.length > 0, 2000, "a sweep");
    // 36 → 28 → 23: still over 10, but only buffers read within the last second are left
    // with more, and those stay.
    equal(abandoned.join(","), "large stalled,middle stalled,small stalled");
    equal(sheds[0]!.streams, 3);
    equal(sheds[0]!.bytes, 16);
    equal(budget.meter.bytes, 20);
  } finally {
    budget.stop();
  }
});
