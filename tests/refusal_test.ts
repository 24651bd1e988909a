/**
 * A backend the router will not take learns why, and stops when retrying
 * cannot help; "cannot reach" is said only when nothing answered; and the
 * router sums up a backend that keeps retrying instead of a warning per try.
 */
import { equal, match, ok } from "node:assert/strict";
import { serveReverse, TunnelRefusedError, TunnelTlsError } from "../backend/serve_reverse.ts";
import { startRouter, waitUntil, withTimeout } from "./_helpers.ts";
import { testCerts } from "./_certs.ts";
import { encodeHandshakeRequest } from "../tunnel/handshake.ts";
import { RouterEvents } from "../router/events.ts";
import { TunnelPool } from "../router/pool.ts";
import { Logger } from "../log/logger.ts";
import { logRouterEvents } from "../router/event_log.ts";

const TOKEN = "refusal-test-token-0123456789";

/** Resolves with what a backend's `finished` rejected with (or null when it stopped cleanly). */
function outcome(server: { finished: Promise<void> }): Promise<unknown> {
  return withTimeout(
    server.finished.then(() => null, (error) => error),
    10_000,
    "the backend stops",
  );
}

Deno.test("a raw HTTP/2 backend refused for want of a token learns why (GOAWAY), and stops", async () => {
  await using router = startRouter({ tokens: { api: TOKEN } });
  const logs: string[] = [];
  const server = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    log: (line) => logs.push(line),
    maxReconnectDelay: 50,
  }, () => new Response("never"));
  const error = await outcome(server);
  ok(error instanceof TunnelRefusedError, String(error));
  equal(error.status, 401);
  equal(error.reason, "Raw HTTP/2 tunnel refused: this router requires a token");
  equal(server.status, "refused");
  ok(!logs.some((line) => line.includes("cannot reach")), logs.join("\n"));
  match(logs.join("\n"), /ERROR tunnel to tcp:\/\/127\.0\.0\.1:\d+ refused: 401 Raw HTTP\/2/);
});

Deno.test("a backend that does not trust the router's certificate stops with a TunnelTlsError saying so", async () => {
  const { cert, key } = await testCerts();
  await using router = startRouter({ tunnelTls: { cert, key }, tokens: { api: TOKEN } });
  const logs: string[] = [];
  const server = serveReverse({
    hostname: "localhost",
    port: router.tunnelAddr.port,
    tls: true, // System roots only: the test CA is unknown.
    token: TOKEN,
    service: "api",
    log: (line) => logs.push(line),
    maxReconnectDelay: 50,
  }, () => new Response("never"));
  const error = await outcome(server);
  ok(error instanceof TunnelTlsError, String(error));
  match(
    error.message,
    /^Cannot open tunnel: the router's certificate is not trusted: give its CA in tls\.caCerts/,
  );
  equal(server.status, "refused");
  ok(!logs.some((line) => line.includes("cannot reach")), logs.join("\n"));
});

Deno.test("a backend dialing a TLS tunnel port without TLS is told the port speaks TLS, and stops", async () => {
  const { cert, key } = await testCerts();
  await using router = startRouter({ tunnelTls: { cert, key }, tokens: { api: TOKEN } });
  const server = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    token: TOKEN,
    service: "api",
    quiet: true,
    maxReconnectDelay: 50,
  }, () => new Response("never"));
  const error = await outcome(server);
  ok(error instanceof TunnelTlsError, String(error));
  equal(
    error.message,
    "Cannot open tunnel: the router's tunnel port speaks TLS: set tls (true, or { caCerts })",
  );
});

Deno.test('"cannot reach" only when nothing answered', async () => {
  // A port nobody listens on.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const logs: string[] = [];
  const server = serveReverse({
    hostname: "127.0.0.1",
    port,
    log: (line) => logs.push(line),
    maxReconnectDelay: 50,
  }, () => new Response("never"));
  try {
    await waitUntil(() => logs.some((line) => line.includes("WARN")), 5000, "a warning");
    match(
      logs.find((line) => line.includes("WARN"))!,
      /WARN {2}cannot reach tcp:\/\/127\.0\.0\.1:\d+; retrying/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("the router sums up refusals a backend repeats, instead of a warning per attempt", async () => {
  const lines: string[] = [];
  const router = startRouter({
    tokens: { api: TOKEN },
    authFailuresPerMinute: 3,
    quiet: false,
    log: (line) => lines.push(line),
  });
  // A backend retrying with the wrong token, 20 times: three 403s, then 429s.
  const identity = { service: "api", hosts: [], weight: 1, metadata: {} };
  for (let i = 0; i < 20; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
    await conn.write(encodeHandshakeRequest("router", identity, "the-wrong-token-0123456789"));
    const answer = new Uint8Array(512);
    await withTimeout(conn.read(answer), 5000, "the refusal");
    conn.close();
  }
  const refusals = () => lines.filter((line) => line.includes("refused"));
  await waitUntil(() => refusals().length >= 2, 5000, "refusals logged");
  // One line for the first 403 and one for the first 429; the repeats are held back…
  equal(refusals().length, 2, refusals().join("\n"));
  match(refusals()[0]!, /WARN {2}tunnel handshake from 127\.0\.0\.1 refused: 403 Token not valid/);
  match(refusals()[1]!, /WARN {2}tunnel handshake from 127\.0\.0\.1 refused: 429 Too many failed/);
  await router.shutdown();
});

Deno.test("held-back refusals are summed up in one line when their window ends", () => {
  const lines: string[] = [];
  const events = new RouterEvents();
  const stop = logRouterEvents(
    events,
    new TunnelPool(),
    new Logger({ sink: (line) => lines.push(line) }),
    { refusalWindow: 1000 },
  );
  const refusal = (time: number) =>
    events.emit({
      type: "handshake-failed",
      time,
      address: "192.0.2.7",
      status: 429,
      reason: "Too many failed handshakes from this address; retry later",
    });
  for (let t = 0; t < 24; t++) refusal(10_000 + t * 40); // 24 within one window
  refusal(12_000); // the next window: the sum of the last one first, then this one
  stop();
  equal(lines.length, 3, lines.join("\n"));
  match(lines[0]!, /refused: 429 Too many failed/);
  match(lines[1]!, /refused 23 more time\(s\) in the last 1 s: 429 Too many failed/);
  match(lines[2]!, /refused: 429 Too many failed/);
});
