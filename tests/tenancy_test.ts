/**
 * Tenants isolated (issue 16, finding 5), over loopback sockets: the
 * per-service tunnel cap holds against concurrent handshakes, TCP and
 * WebSocket alike.
 */
import { equal } from "node:assert/strict";
import { createRouter, type Router, type RouterOptions } from "../router/create_router.ts";
import {
  type ReverseServer,
  serveReverse,
  type ServeReverseOptions,
} from "../backend/serve_reverse.ts";
import { waitUntil, withTimeout } from "./_helpers.ts";

const TOKENS = { api: "api-token-0123456789abcdef", web: "web-token-0123456789abcdef" };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function startRouter(options: RouterOptions = {}): Router {
  return createRouter({
    hostname: "127.0.0.1",
    port: 0,
    tunnelPort: 0,
    quiet: true,
    ...options,
  });
}

/** A backend on `router`'s tunnel port that gives up after a refusal or 5 s. */
function dial(
  router: Router,
  options: ServeReverseOptions,
  handler: (request: Request) => Response,
) {
  return serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    quiet: true,
    ...options,
  }, handler);
}

async function connected(server: ReverseServer): Promise<ReverseServer> {
  await withTimeout(server.connected, 5000, "backend tunnel");
  return server;
}

// ---- raw sockets ------------------------------------------------------------------------

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  let rest = encoder.encode(text);
  while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
}

/** Reads one response head (and its body, when it has a length), within `ms`. */
async function readResponse(
  conn: Deno.Conn,
  ms = 5000,
): Promise<{ status: number; body: string }> {
  let text = "";
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  const done = () => {
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) return false;
    const status = Number(text.slice(9, 12));
    if (status === 101) return true;
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? 0);
    return encoder.encode(text.slice(end + 4)).length >= length;
  };
  while (!done()) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf).catch(() => null),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    if (n === "timeout") {
      conn.close();
      throw new Error(`Timed out after ${ms} ms; got ${JSON.stringify(text)}`);
    }
    if (n === null) throw new Error(`Closed before a whole response: ${JSON.stringify(text)}`);
    text += decoder.decode(buf.subarray(0, n));
  }
  const end = text.indexOf("\r\n\r\n");
  return { status: Number(text.slice(9, 12)), body: text.slice(end + 4) };
}

/**
 * Opens a connection and sends `request`; keeps the connection on 101 (the
 * tunnel then waits for our SETTINGS, which never come), closes it otherwise.
 */
async function open(
  port: number,
  request: string,
): Promise<{ status: number; body: string; conn: Deno.Conn | null }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, request);
    const response = await readResponse(conn);
    if (response.status === 101) return { ...response, conn };
    conn.close();
    return { ...response, conn: null };
  } catch (error) {
    try {
      conn.close();
    } catch {
      // Closed by the timeout.
    }
    throw error;
  }
}

function tcpHandshake(service: string, ...fields: string[]): string {
  return [
    `GET /.well-known/ptth/${service} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Connection: upgrade",
    "Upgrade: ptth",
    "ALPN: h2",
    ...fields,
  ].join("\r\n") + "\r\n\r\n";
}

function webSocketUpgrade(...fields: string[]): string {
  return [
    "GET /.well-known/ptth/tunnel HTTP/1.1",
    "Host: 127.0.0.1",
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Protocol: ptth",
    ...fields,
  ].join("\r\n") + "\r\n\r\n";
}

function closeAll(conns: Iterable<Deno.Conn | null>): void {
  for (const conn of conns) {
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }
}

/** Opens handshakes until one is answered 101 (a slot freed), for at most `ms`. */
async function openWhenFree(port: number, request: string, ms: number): Promise<Deno.Conn> {
  const deadline = Date.now() + ms;
  for (;;) {
    const attempt = await open(port, request);
    if (attempt.status === 101) return attempt.conn!;
    equal(attempt.status, 429, attempt.body);
    if (Date.now() > deadline) throw new Error(`No slot freed within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// ---- finding 5: the tunnel cap is reserved at the handshake -------------------------------

Deno.test("finding 5: 50 concurrent handshakes with a cap of 2 admit exactly 2, and a closed tunnel frees its slot", async () => {
  await using router = startRouter({
    tokens: TOKENS,
    maxTunnelsPerService: 2,
    // Slots must come free because tunnels close, not because their handshakes time out.
    handshakeTimeout: 60_000,
  });
  const port = router.tunnelAddr.port;
  const request = tcpHandshake("api", `Authorization: Bearer ${TOKENS.api}`);
  // Each sends its handshake at once and never its SETTINGS: none joins the pool.
  const results = await Promise.all(Array.from({ length: 50 }, () => open(port, request)));
  const admitted = results.filter((result) => result.status === 101);
  try {
    equal(admitted.length, 2, `statuses: ${results.map((result) => result.status)}`);
    for (const result of results) {
      if (result.status === 101) continue;
      equal(result.status, 429);
      equal(result.body, "Too many tunnels for service api\n");
    }
    equal(router.pool.size, 0, "no tunnel has sent its SETTINGS yet");
    equal((await open(port, request)).status, 429, "still full");

    // A tunnel that leaves before joining frees its slot.
    admitted[0]!.conn!.close();
    admitted[0]!.conn = await openWhenFree(port, request, 5000);
    equal((await open(port, request)).status, 429, "full again");

    // So does a tunnel that leaves the pool.
    admitted[0]!.conn!.close();
    const backend = await connected(
      dial(router, { service: "api", token: TOKENS.api }, () => new Response("api")),
    );
    equal(router.pool.count("api"), 1);
    equal((await open(port, request)).status, 429, "the pooled tunnel holds its slot");
    await backend.shutdown();
    await waitUntil(() => router.pool.size === 0, 3000, "backend gone");
    admitted[0]!.conn = await openWhenFree(port, request, 5000);
  } finally {
    closeAll(admitted.map((result) => result.conn));
  }
});

Deno.test("finding 5: concurrent WebSocket tunnels are held to the cap too", async () => {
  await using router = startRouter({ maxTunnelsPerService: 2, handshakeTimeout: 60_000 });
  const port = router.addr.port;
  const upgrade = webSocketUpgrade();
  const results = await Promise.all(Array.from({ length: 20 }, () => open(port, upgrade)));
  const admitted = results.filter((result) => result.status === 101);
  try {
    equal(admitted.length, 2, `statuses: ${results.map((result) => result.status)}`);
    for (const result of results) {
      if (result.status !== 101) {
        equal(result.status, 429);
        equal(result.body, "Too many tunnels for service default\n");
      }
    }
    // The TCP port shares the count.
    equal((await open(router.tunnelAddr.port, tcpHandshake("default"))).status, 429);
    admitted[1]!.conn!.close();
    admitted[1]!.conn = await openWhenFree(port, upgrade, 5000);
  } finally {
    closeAll(admitted.map((result) => result.conn));
  }
});
