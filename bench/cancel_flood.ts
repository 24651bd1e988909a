/**
 * A cancellation flood on one tunnel, as a router passes its public clients'
 * cancellations on: this process plays the router (a ClientSession on the
 * tunnel), a serveReverse backend runs in a child process. Every 10 ms it
 * sends `rate / 100` requests to a handler that takes 5 ms and ignores
 * cancellation, and cancels them: half in the write that sends them (rapid
 * reset), half 1 ms later, once their handlers run. Beside the flood, 20
 * clients send normal requests one after the other. It reports whether the
 * backend sent GOAWAY or the tunnel closed, the normal requests' outcomes and
 * latency, and the backend's peak of running handlers.
 *
 *     deno run -A bench/cancel_flood.ts [seconds=30] [cancels per second=10000]
 *
 * @module
 */

import { ClientSession } from "../h2/client.ts";
import { serveReverse } from "../backend/serve_reverse.ts";
import { tunnelHttp2 } from "../tunnel/settings.ts";

const [mode, arg1] = Deno.args;

if (mode === "backend") {
  // The child: dial the parent's port in raw HTTP/2 and serve until the tunnel ends.
  let running = 0;
  let peak = 0;
  const backend = serveReverse({
    hostname: "127.0.0.1",
    port: Number(arg1),
    legacy: true,
    quiet: true,
    reconnect: { initial: 60_000, max: 60_000 },
  }, async (request) => {
    if (new URL(request.url).pathname === "/slow") {
      peak = Math.max(peak, ++running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      return new Response("slow");
    }
    if (new URL(request.url).pathname === "/peak") return new Response(String(peak));
    return new Response("ok");
  });
  await backend.connected;
  // Stops when the parent says so on stdin (or goes away).
  for await (const _ of Deno.stdin.readable) break;
  await backend.shutdown();
  Deno.exit(0);
}

const seconds = Number(mode ?? 30);
const rate = Number(arg1 ?? 10_000);
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL(import.meta.url).pathname, "backend", String(listener.addr.port)],
  stdin: "piped",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();
const conn = await listener.accept();
listener.close();
const goaways: string[] = [];
const session = new ClientSession(conn, {
  ...tunnelHttp2(),
  onGoaway: (_last, code, debug) => goaways.push(`${code} ${debug}`),
});
await session.connection.ready;
const get = (path: string) =>
  session.send({ method: "GET", scheme: "http", authority: "bench", path });

const rssStart = Deno.memoryUsage().rss;
const deadline = performance.now() + seconds * 1000;
let cancelled = 0;
let flooding = true;
const flood = (async () => {
  const perTick = Math.max(2, Math.round(rate / 100));
  let next = performance.now();
  while (performance.now() < deadline && session.available) {
    const late = [];
    for (let i = 0; i < perTick / 2; i++) {
      const now = get("/slow");
      now.cancel();
      now.response.catch(() => {});
      const later = get("/slow");
      later.response.catch(() => {});
      late.push(later);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
    for (const exchange of late) exchange.cancel();
    cancelled += perTick;
    next += 10;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
  flooding = false;
})();

const latencies: number[] = [];
const failures: string[] = [];
const client = async () => {
  while (flooding) {
    const start = performance.now();
    try {
      const head = await get("/ok").response;
      if (head.body instanceof ReadableStream) await head.body.cancel();
      if (head.status === 200) latencies.push(performance.now() - start);
      else failures.push(String(head.status));
    } catch (error) {
      failures.push((error as Error).message);
      if (!session.available) return;
    }
  }
};
await Promise.all([flood, ...Array.from({ length: 20 }, client)]);
const elapsed = seconds - (deadline - performance.now()) / 1000;
let peak = "unknown";
if (session.available) {
  const head = await get("/peak").response;
  peak = head.body instanceof Uint8Array
    ? new TextDecoder().decode(head.body)
    : await new Response(head.body).text();
}
latencies.sort((a, b) => a - b);
const at = (q: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(JSON.stringify(
  {
    seconds: Math.round(elapsed * 10) / 10,
    cancelled,
    cancelsPerSecond: Math.round(cancelled / elapsed),
    goaways,
    tunnelOpen: session.available,
    tunnelError: session.connection.error?.message ?? null,
    normalAnswered: latencies.length,
    normalFailed: failures.length,
    firstFailures: failures.slice(0, 3),
    p50Ms: Math.round((at(0.5) ?? NaN) * 100) / 100,
    p99Ms: Math.round((at(0.99) ?? NaN) * 100) / 100,
    backendPeakHandlers: peak,
    rssMiB: [rssStart, Deno.memoryUsage().rss].map((b) => Math.round(b / 1048576)),
  },
  null,
  2,
));
session.close();
await session.closed;
const writer = child.stdin.getWriter();
await writer.write(new Uint8Array([10])).catch(() => {});
await writer.close().catch(() => {});
await child.status;
