/**
 * WebSockets end to end: public clients (Deno's WebSocket, Chromium) upgrade
 * on the router, the session travels to the backend as an RFC 8441 extended
 * CONNECT stream and reaches `upgradeWebSocket()`; tunnels over WebSocket
 * through the router's HTTPS port; and streaming responses and uploads that
 * must not be buffered on the way.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { Hono } from "hono";
import { type ReverseHandler, serveReverse, TunnelRefusedError } from "../backend/serve_reverse.ts";
import { upgradeWebSocket } from "../backend/upgrade_websocket.ts";
import { upgradeWebSocket as honoUpgradeWebSocket } from "../backend/hono.ts";
import { FrameReader, Opcode } from "../ws/frame.ts";
import { baseUrl, startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";
import { testCerts } from "./_certs.ts";
import { launchChromium, requireChromium } from "./_chromium.ts";
import type { RouterTunnel } from "../router/tunnels/router_tunnel.ts";

const MiB = 1024 * 1024;

function wsUrl(router: { addr: Deno.NetAddr }, path = "/"): string {
  return `ws://127.0.0.1:${router.addr.port}${path}`;
}

/** Opens a client WebSocket; rejects with the error message if it fails. */
function open(url: string, protocols?: string[]): Promise<WebSocket> {
  const socket = new WebSocket(url, protocols);
  socket.binaryType = "arraybuffer";
  // Listening from the start: a message may come in the same turn as the open event.
  inbox(socket);
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      let message = "";
      socket.onopen = () => resolve(socket);
      socket.onerror = (event) => message = (event as ErrorEvent).message;
      socket.onclose = (event) => reject(new Error(`closed ${event.code}: ${message}`));
    }),
    10_000,
    `WebSocket to ${url}`,
  ).finally(() => socket.onopen = socket.onerror = socket.onclose = null);
}

const inboxes = new WeakMap<WebSocket, () => Promise<string | ArrayBuffer>>();

/** Hands out a socket's messages in order. */
function inbox(socket: WebSocket): () => Promise<string | ArrayBuffer> {
  const existing = inboxes.get(socket);
  if (existing) return existing;
  const queue: Array<string | ArrayBuffer> = [];
  const waiting: Array<(data: string | ArrayBuffer) => void> = [];
  socket.addEventListener("message", (event) => {
    const wake = waiting.shift();
    if (wake) wake(event.data);
    else queue.push(event.data);
  });
  const next = () => {
    const data = queue.shift();
    if (data !== undefined) return Promise.resolve(data);
    return withTimeout(
      new Promise<string | ArrayBuffer>((resolve) => waiting.push(resolve)),
      20_000,
      "a message",
    );
  };
  inboxes.set(socket, next);
  return next;
}

function closed(socket: WebSocket): Promise<CloseEvent> {
  if (socket.readyState === WebSocket.CLOSED) {
    return Promise.reject(new Error("Socket closed already"));
  }
  return withTimeout(
    new Promise((resolve) => socket.addEventListener("close", resolve, { once: true })),
    10_000,
    "close event",
  );
}

/** A backend handler echoing every message; the last upgrade request is recorded. */
function echoBackend(): { handler: ReverseHandler; seen: Request[]; sockets: WebSocket[] } {
  const seen: Request[] = [];
  const sockets: WebSocket[] = [];
  const handler: ReverseHandler = (request) => {
    if (request.headers.get("upgrade") !== "websocket") return new Response("plain");
    seen.push(request);
    const offered = request.headers.get("sec-websocket-protocol");
    const { socket, response } = upgradeWebSocket(request, {
      ...(offered ? { protocol: offered.split(",").at(-1)!.trim() } : {}),
    });
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => socket.send(event.data);
    sockets.push(socket);
    return response;
  };
  return { handler, seen, sockets };
}

function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i += 65_536) crypto.getRandomValues(bytes.subarray(i, i + 65_536));
  return bytes;
}

Deno.test("an echo WebSocket behind the tunnel answers Deno's client with text and binary", async () => {
  await using router = startRouter();
  const app = echoBackend();
  await using _backend = await startBackend(router, app.handler);
  const client = await open(wsUrl(router, "/chat?room=1"));
  const next = inbox(client);
  client.send("hello");
  equal(await next(), "hello");
  client.send(new Uint8Array([0, 1, 2, 255]));
  deepEqual([...new Uint8Array(await next() as ArrayBuffer)], [0, 1, 2, 255]);
  client.send("héllo wörld ✓");
  equal(await next(), "héllo wörld ✓");
  for (let i = 0; i < 100; i++) client.send(`m${i}`);
  for (let i = 0; i < 100; i++) equal(await next(), `m${i}`, "messages keep their order");

  const request = app.seen[0]!;
  equal(new URL(request.url).pathname + new URL(request.url).search, "/chat?room=1");
  equal(request.method, "GET");
  equal(request.headers.get("upgrade"), "websocket");
  equal(request.headers.get("sec-websocket-version"), "13");
  ok(request.headers.get("sec-websocket-key"), "a key is made up for apps that check it");
  equal(request.headers.get("x-forwarded-for"), "127.0.0.1");
  equal(request.headers.get("sec-websocket-extensions"), null, "extensions stay on their hop");
  equal(router.pool.size, 1);
  client.close();
  await closed(client);
});

Deno.test("a 10 MiB message crosses the tunnel both ways", async () => {
  await using router = startRouter();
  await using _backend = await startBackend(router, echoBackend().handler);
  const client = await open(wsUrl(router));
  const next = inbox(client);
  const payload = randomBytes(10 * MiB);
  const started = performance.now();
  client.send(payload);
  const echoed = new Uint8Array(await next() as ArrayBuffer);
  const ms = performance.now() - started;
  equal(echoed.length, payload.length);
  ok(echoed.every((b, i) => b === payload[i]), "the echo is byte for byte the message");
  const text = "x".repeat(MiB) + "✓";
  client.send(text);
  equal(await next(), text);
  console.log(
    `10 MiB echoed in ${ms.toFixed(0)} ms (${
      ((20 * MiB) / 1e6 / (ms / 1000)).toFixed(0)
    } MB/s both ways)`,
  );
  client.close();
  await closed(client);
});

Deno.test("200 concurrent WebSockets share one tunnel", async () => {
  await using router = startRouter();
  const app = echoBackend();
  await using _backend = await startBackend(router, app.handler);
  const clients = await Promise.all(Array.from({ length: 200 }, () => open(wsUrl(router))));
  equal(router.pool.size, 1);
  equal(router.pool.list()[0]!.inFlight, 200, "one stream per socket on the one tunnel");
  await Promise.all(clients.map(async (client, i) => {
    const next = inbox(client);
    for (let j = 0; j < 5; j++) client.send(`${i}.${j}`);
    for (let j = 0; j < 5; j++) equal(await next(), `${i}.${j}`);
  }));
  await Promise.all(clients.map((client) => {
    const done = closed(client);
    client.close(1000);
    return done;
  }));
  await waitUntil(() => router.pool.list()[0]!.inFlight === 0, 5000, "streams closed");
});

Deno.test("a close from the client reaches the backend with its code and reason", async () => {
  await using router = startRouter();
  const app = echoBackend();
  await using _backend = await startBackend(router, app.handler);
  const client = await open(wsUrl(router));
  const next = inbox(client);
  client.send("ready");
  await next();
  const backendClosed = closed(app.sockets[0]!);
  const clientClosed = closed(client);
  client.close(4001, "client says bye");
  const seen = await backendClosed;
  equal(seen.code, 4001);
  equal(seen.reason, "client says bye");
  equal(seen.wasClean, true);
  equal((await clientClosed).code, 4001);
  await waitUntil(() => router.pool.list()[0]!.inFlight === 0, 5000, "stream closed");
});

Deno.test("a close from the backend reaches the client with its code and reason", async () => {
  await using router = startRouter();
  let serverSocket: WebSocket | undefined;
  await using _backend = await startBackend(router, (request) => {
    const { socket, response } = upgradeWebSocket(request);
    serverSocket = socket;
    socket.onmessage = () => socket.close(4002, "server is done");
    return response;
  });
  const client = await open(wsUrl(router));
  const clientClosed = closed(client);
  client.send("close please");
  const seen = await clientClosed;
  equal(seen.code, 4002);
  equal(seen.reason, "server is done");
  equal(seen.wasClean, true);
  const backendSide = await closed(serverSocket!).catch(() => null);
  if (backendSide !== null) equal(backendSide.code, 4002);
  equal(serverSocket!.readyState, WebSocket.CLOSED);
});

Deno.test("the backend's pings are answered, and pings keep an idle WebSocket's stream alive", async () => {
  // The idle sweep resets streams whose bodies move nothing for 400 ms.
  await using router = startRouter({ idleTimeout: 400 });
  let pong: Promise<string> | undefined;
  await using _backend = await startBackend(router, (request) => {
    const { socket, response } = upgradeWebSocket(request);
    socket.onopen = () => {
      pong = new Promise((resolve) =>
        socket.addEventListener("pong", (event) => {
          resolve(new TextDecoder().decode((event as MessageEvent).data));
        })
      );
      (socket as unknown as { ping(data: string): void }).ping("are you there");
    };
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  const client = await open(wsUrl(router));
  const next = inbox(client);
  await waitUntil(() => pong !== undefined, 5000, "socket open");
  equal(await withTimeout(pong!, 5000, "pong"), "are you there");
  await new Promise((resolve) => setTimeout(resolve, 1200));
  client.send("still here");
  equal(await next(), "still here");
  client.close();
  await closed(client);
});

Deno.test("the subprotocol the backend picks reaches the client", async () => {
  await using router = startRouter();
  await using _backend = await startBackend(router, echoBackend().handler);
  const client = await open(wsUrl(router), ["chat.v1", "chat.v2"]);
  equal(client.protocol, "chat.v2");
  client.close();
  await closed(client);
});

Deno.test("a backend's refusal, a backend without extended CONNECT, and no backend fail the upgrade", async () => {
  await using router = startRouter({ tunnelWait: 0 });
  await rejects(open(wsUrl(router)), /503/);
  {
    await using _backend = await startBackend(
      router,
      () => new Response("Forbidden", { status: 403 }),
    );
    await rejects(open(wsUrl(router)), /403/);
  }
  await waitUntil(() => router.pool.size === 0, 5000, "backend gone");
  // Like a backend of the Go original: no SETTINGS_ENABLE_CONNECT_PROTOCOL.
  await using _old = await startBackend(router, echoBackend().handler, {
    http2: { enableConnectProtocol: false },
  });
  await rejects(open(wsUrl(router)), /501/);
});

Deno.test("a lost tunnel closes the client's WebSocket with 1011", async () => {
  await using router = startRouter();
  const backend = await startBackend(router, echoBackend().handler);
  const client = await open(wsUrl(router));
  const clientClosed = closed(client);
  for (const tunnel of router.pool.list()) (tunnel as RouterTunnel).session.close();
  equal((await clientClosed).code, 1011);
  await backend.shutdown();
});

/**
 * A client that completes the opening handshake (RFC 6455 §4.1) over TCP and
 * then reads only when asked: a browser on a slow link.
 */
async function slowClient(port: number): Promise<{ conn: Deno.Conn; rest: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await conn.write(
    new TextEncoder().encode(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
  );
  let head = new Uint8Array(0);
  while (true) {
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    if (n === null) throw new Error("closed during the handshake");
    const joined = new Uint8Array(head.length + n);
    joined.set(head);
    joined.set(buf.subarray(0, n), head.length);
    head = joined;
    const text = new TextDecoder().decode(head);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      ok(text.startsWith("HTTP/1.1 101"), text.split("\r\n")[0]);
      return { conn, rest: head.subarray(end + 4) };
    }
  }
}

Deno.test("a slow client holds the backend back instead of filling the router's memory", async () => {
  await using router = startRouter();
  const total = 64 * MiB;
  const chunk = 256 * 1024;
  let server: WebSocket | undefined;
  await using _backend = await startBackend(router, (request) => {
    const { socket, response } = upgradeWebSocket(request);
    server = socket;
    socket.onopen = () => {
      const block = randomBytes(chunk);
      for (let sent = 0; sent < total; sent += chunk) socket.send(block);
    };
    return response;
  });
  const { conn, rest } = await slowClient(router.addr.port);
  await waitUntil(() => server?.readyState === WebSocket.OPEN, 5000, "backend socket open");
  // The client reads nothing for a while: what the backend could hand over is bounded.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const stuck = server!.bufferedAmount;
  const absorbed = total - stuck;
  console.log(
    `slow client: ${(absorbed / MiB).toFixed(1)} MiB left the backend, ${
      (stuck / MiB).toFixed(1)
    } MiB held back`,
  );
  ok(
    absorbed < 24 * MiB,
    `${(absorbed / MiB).toFixed(1)} MiB left the backend for a client reading nothing`,
  );
  // Now the client reads: everything arrives.
  const frames = new FrameReader({ masked: false });
  frames.push(rest);
  let received = 0;
  const buf = new Uint8Array(256 * 1024);
  await withTimeout(
    (async () => {
      while (received < total) {
        const n = await conn.read(buf);
        if (n === null) throw new Error("connection closed early");
        frames.push(buf.subarray(0, n));
        for (let frame = frames.next(); frame !== null; frame = frames.next()) {
          if (frame.opcode === Opcode.BINARY || frame.opcode === Opcode.CONTINUATION) {
            received += frame.payload.length;
          }
        }
      }
    })(),
    30_000,
    "the whole 64 MiB",
  );
  equal(received, total);
  equal(server!.bufferedAmount, 0);
  conn.close();
});

Deno.test("a hono app answers WebSockets with hono's helper pattern", async () => {
  await using router = startRouter();
  const events: string[] = [];
  const app = new Hono()
    .get("/plain", (c) => c.text("plain"))
    .get(
      "/ws/:name",
      honoUpgradeWebSocket((c) => {
        const name = c.req.param("name");
        return {
          onOpen: (_event, ws) => ws.send(`welcome ${name}`),
          onMessage: (event, ws) => ws.send(`${name} said ${event.data}`),
          onClose: (event) => events.push(`closed ${event.code}`),
        };
      }),
    );
  await using _backend = await startBackend(router, app.fetch);
  equal(await (await fetch(`${baseUrl(router)}/plain`)).text(), "plain");
  const client = await open(wsUrl(router, "/ws/ada"));
  const next = inbox(client);
  equal(await next(), "welcome ada");
  client.send("hi");
  equal(await next(), "ada said hi");
  client.close(1000);
  await closed(client);
  await waitUntil(() => events.length === 1, 5000, "onClose");
  deepEqual(events, ["closed 1000"]);
});

Deno.test({
  name: "Chromium's WebSocket talks to an echo app behind the tunnel",
  // Playwright keeps its own timers and pipes to the browser process.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    requireChromium();
    await using router = startRouter();
    const app = echoBackend();
    await using _backend = await startBackend(router, (request, info) => {
      if (request.headers.get("upgrade") === "websocket") return app.handler(request, info);
      return new Response("<!doctype html><title>ptth</title>", {
        headers: { "content-type": "text/html" },
      });
    });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${baseUrl(router)}/`);
      const result = await page.evaluate(async (url: string) => {
        const socket = new WebSocket(url);
        socket.binaryType = "arraybuffer";
        const replies: Array<string | number[]> = [];
        await new Promise<void>((resolve, reject) => {
          socket.onerror = () => reject(new Error("WebSocket error"));
          socket.onopen = () => {
            socket.send("hello from chromium");
            socket.send(new Uint8Array([1, 2, 3]));
            socket.send("x".repeat(1 << 20));
          };
          socket.onmessage = (event) => {
            replies.push(
              typeof event.data === "string"
                ? (event.data.length > 100 ? `long:${event.data.length}` : event.data)
                : [...new Uint8Array(event.data)],
            );
            if (replies.length === 3) resolve();
          };
        });
        const close = await new Promise<{ code: number; reason: string }>((resolve) => {
          socket.onclose = (event) => resolve({ code: event.code, reason: event.reason });
          socket.close(4000, "chromium done");
        });
        return { replies, close };
      }, wsUrl(router, "/echo"));
      deepEqual(result.replies, ["hello from chromium", [1, 2, 3], `long:${1 << 20}`]);
      deepEqual(result.close, { code: 4000, reason: "chromium done" });
      ok(app.seen[0]!.headers.get("user-agent")?.includes("Chrome"));
    } finally {
      await browser.close();
    }
  },
});

const TOKEN = "ws-tunnel-token-0123456789";

Deno.test("a backend connected only through the router's HTTPS port serves requests and WebSockets", async () => {
  const certs = await testCerts();
  // The tunnel port exists but is never dialed: everything goes through HTTPS.
  await using router = startRouter({
    tls: { cert: certs.cert, key: certs.key },
    tokens: { api: TOKEN },
  });
  const app = echoBackend();
  await using backend = serveReverse({
    router: `wss://localhost:${router.addr.port}/.well-known/ptth/tunnel`,
    tls: { caCerts: [certs.ca] },
    service: "api",
    token: TOKEN,
    metadata: { via: "websocket" },
    quiet: true,
  }, async (request, info) => {
    if (request.headers.get("upgrade") === "websocket") return app.handler(request, info);
    return Response.json({
      url: request.url,
      body: await request.text(),
      proto: request.headers.get("x-forwarded-proto"),
    });
  });
  await withTimeout(backend.connected, 10_000, "tunnel over WebSocket");
  equal(router.pool.size, 1);
  const tunnel = router.pool.list()[0]!;
  equal(tunnel.service, "api");
  equal(tunnel.metadata.via, "websocket");
  const client = Deno.createHttpClient({ caCerts: [certs.ca] });
  try {
    const responses = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) =>
          fetch(`https://localhost:${router.addr.port}/item/${i}`, {
            client,
            method: "POST",
            body: `body ${i}`,
          }).then((r) => r.json()),
      ),
    );
    for (let i = 0; i < 20; i++) {
      equal(responses[i].url, `https://localhost:${router.addr.port}/item/${i}`);
      equal(responses[i].body, `body ${i}`);
      equal(responses[i].proto, "https");
    }
    // A large download streams through the tunnel's WebSocket.
    const big = await fetch(`https://localhost:${router.addr.port}/big`, {
      client,
      method: "POST",
      body: randomBytes(8 * MiB),
    });
    equal((await big.json()).body.length > 0, true);
  } finally {
    client.close();
  }
  // A WebSocket inside the tunnel inside a WebSocket.
  const socket = new WebSocket(`wss://localhost:${router.addr.port}/nested`, {
    client: Deno.createHttpClient({ caCerts: [certs.ca] }),
  });
  socket.binaryType = "arraybuffer";
  await withTimeout(new Promise((resolve) => socket.onopen = resolve), 5000, "nested socket");
  const next = inbox(socket);
  socket.send("nested hello");
  equal(await next(), "nested hello");
  socket.close();
  await closed(socket);
});

Deno.test("the router refuses a WebSocket tunnel with a wrong token, and serveReverse stops", async () => {
  await using router = startRouter({ tokens: { api: TOKEN } });
  const backend = serveReverse({
    router: `ws://127.0.0.1:${router.addr.port}/.well-known/ptth/tunnel`,
    service: "api",
    token: "not-the-token-0123456789",
    quiet: true,
  }, () => new Response("never"));
  const error = await withTimeout(backend.finished.then(() => null, (e) => e), 5000, "refusal");
  ok(error instanceof TunnelRefusedError, String(error));
  equal(error.status, 403);
  equal(backend.status, "refused");
  equal(router.pool.size, 0);
  // And a plain request to the tunnel path is not a tunnel.
  const plain = await fetch(`${baseUrl(router)}/.well-known/ptth/tunnel`);
  equal(plain.status, 426);
  await plain.body?.cancel();
});

Deno.test("a WebSocket tunnel reconnects after it is lost, and drains on shutdown", async () => {
  await using router = startRouter();
  const backend = serveReverse({
    router: `ws://127.0.0.1:${router.addr.port}/.well-known/ptth/tunnel`,
    reconnect: { initial: 20, max: 50 },
    quiet: true,
  }, () => new Response("via websocket"));
  await withTimeout(backend.connected, 5000, "tunnel");
  const first = router.pool.list()[0]!;
  (first as RouterTunnel).session.close();
  await waitUntil(
    () => router.pool.size === 1 && router.pool.list()[0] !== first,
    5000,
    "a new tunnel",
  );
  equal(await (await fetch(`${baseUrl(router)}/`)).text(), "via websocket");
  await backend.shutdown();
  await waitUntil(() => router.pool.size === 0, 5000, "tunnel drained");
});

Deno.test("server-sent events arrive one by one, before the backend sends the next", async () => {
  await using router = startRouter();
  let sent = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  await using _backend = await startBackend(router, () => {
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode("id: 1\ndata: first\n\n"));
        sent = 1;
        await gate; // The second event waits until the client has seen the first.
        for (let i = 2; i <= 5; i++) {
          controller.enqueue(encoder.encode(`id: ${i}\ndata: event ${i}\n\n`));
          sent = i;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        controller.close();
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  });
  const response = await fetch(`${baseUrl(router)}/events`);
  equal(response.headers.get("content-type"), "text/event-stream");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n\n")) {
    text += (await withTimeout(reader.read(), 5000, "first event")).value;
  }
  equal(text, "id: 1\ndata: first\n\n");
  equal(sent, 1, "the first event arrived while the backend held the second back");
  release();
  const events: string[] = [];
  let buffer = "";
  while (true) {
    const { value, done } = await withTimeout(reader.read(), 5000, "events");
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      events.push(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      // Each event is read before the backend has sent the one after it.
      ok(sent <= events.length + 2, `event ${events.length + 1} read after ${sent} sent`);
    }
  }
  deepEqual(events, [2, 3, 4, 5].map((i) => `id: ${i}\ndata: event ${i}`));
});

Deno.test("a long-poll response arrives as soon as the backend answers, its head before its body", async () => {
  await using router = startRouter();
  let answer!: (text: string) => void;
  let writeBody!: (text: string) => void;
  await using _backend = await startBackend(router, async (request) => {
    if (new URL(request.url).pathname === "/poll") {
      const text = await new Promise<string>((resolve) => answer = resolve);
      return new Response(text);
    }
    // A streaming long poll: the head at once, the body when something happens.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        writeBody = (text) => {
          controller.enqueue(new TextEncoder().encode(text));
          controller.close();
        };
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  });
  const poll = fetch(`${baseUrl(router)}/poll`);
  await waitUntil(() => answer !== undefined, 5000, "poll reached the backend");
  // Other requests are not held up behind the parked one.
  const streaming = await withTimeout(fetch(`${baseUrl(router)}/stream`), 5000, "streaming head");
  equal(streaming.status, 200, "the head arrived though the body has not been written");
  await new Promise((resolve) => setTimeout(resolve, 300));
  const answeredAt = performance.now();
  answer("news");
  const response = await withTimeout(poll, 5000, "poll answer");
  equal(await response.text(), "news");
  const latency = performance.now() - answeredAt;
  ok(latency < 500, `poll answered ${latency.toFixed(0)} ms after the event`);
  writeBody("more news");
  equal(await streaming.text(), "more news");
});

Deno.test("a request body reaches the backend before the client has finished sending it", async () => {
  await using router = startRouter();
  let firstChunkSeen!: () => void;
  const seen = new Promise<void>((resolve) => firstChunkSeen = resolve);
  await using _backend = await startBackend(router, async (request) => {
    const reader = request.body!.getReader();
    let received = 0;
    let chunks = 0;
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      if (received === 0) firstChunkSeen();
      received += value.length;
      chunks++;
    }
    return Response.json({ received, chunks });
  });
  let sentSecond = false;
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(new TextEncoder().encode("first part;"));
      // The rest is sent only once the backend has seen the first part.
      await withTimeout(seen, 5000, "first chunk at the backend");
      sentSecond = true;
      controller.enqueue(new TextEncoder().encode("second part"));
      controller.close();
    },
  });
  const response = await fetch(`${baseUrl(router)}/upload`, {
    method: "POST",
    body,
    // @ts-ignore: `duplex` is required for streaming bodies but missing from some lib types.
    duplex: "half",
  });
  const result = await response.json();
  ok(sentSecond);
  equal(result.received, "first part;second part".length);
});

Deno.test("a router shutting down lets requests on a WebSocket tunnel finish", async () => {
  const router = startRouter();
  let started!: () => void;
  const inHandler = new Promise<void>((resolve) => started = resolve);
  await using backend = serveReverse({
    router: `ws://127.0.0.1:${router.addr.port}/.well-known/ptth/tunnel`,
    quiet: true,
  }, async () => {
    started();
    await new Promise((resolve) => setTimeout(resolve, 300));
    return new Response("finished");
  });
  await withTimeout(backend.connected, 5000, "tunnel");
  const pending = fetch(`${baseUrl(router)}/slow`);
  await withTimeout(inHandler, 5000, "request at the backend");
  const stopped = router.shutdown();
  const response = await pending;
  equal(response.status, 200);
  equal(await response.text(), "finished");
  await stopped;
});
