/**
 * The one handler every benchmark target serves: the direct `Deno.serve`
 * baseline (bench/direct.ts) and the backends behind the router
 * (bench/backend.ts) run exactly this code.
 *
 * Routes:
 *
 * - `GET /tiny`: `bar` (3 bytes);
 * - `POST /echo`: the request body back (used with 1 KiB bodies);
 * - `GET /download?bytes=N`: N bytes streamed in 256 KiB chunks;
 * - `PUT|POST /upload`: reads the body, answers `{"bytes":N}`;
 * - `GET /sse?events=N&interval=MS`: a `text/event-stream` of N events, as
 *   fast as the reader takes them when `interval` is 0;
 * - `GET /hold`: held until `hold` requests are in flight at once (or
 *   `holdTimeout` ms passed), then all are answered `ok`;
 * - `GET /ws` (WebSocket upgrade): every message echoed back, with ptth's
 *   `upgradeWebSocket` (which is `Deno.upgradeWebSocket` for the direct target).
 *
 * @module
 */

import { upgradeWebSocket } from "../backend/upgrade_websocket.ts";

/** Options of {@linkcode createBenchHandler}. */
export interface BenchHandlerOptions {
  /** `/hold` requests are answered once this many are in flight. @default {Infinity} */
  hold?: number;
  /** `/hold` requests are answered after this long anyway (ms). @default {20000} */
  holdTimeout?: number;
  /** Told when a batch of `/hold` requests is released. */
  onHoldRelease?: (info: { inFlight: number; peak: number; reason: string; ms: number }) => void;
}

/** Chunk size of `/download` bodies. */
export const DOWNLOAD_CHUNK = 256 * 1024;

const encoder = new TextEncoder();
const TEXT = { "content-type": "text/plain" };
const BINARY = { "content-type": "application/octet-stream" };

/** A constant chunk of a recognizable pattern, enqueued again and again (never mutated). */
let pattern = makePattern();

function makePattern(): Uint8Array<ArrayBuffer> {
  const chunk = new Uint8Array(DOWNLOAD_CHUNK);
  for (let i = 0; i < chunk.length; i++) chunk[i] = i & 0xff;
  return chunk;
}

function download(total: number): Response {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const n = Math.min(DOWNLOAD_CHUNK, total - sent);
      // Should a consumer ever transfer (detach) the chunk, make a new one.
      if (pattern.byteLength === 0) pattern = makePattern();
      controller.enqueue(n === DOWNLOAD_CHUNK ? pattern : pattern.subarray(0, n));
      sent += n;
      if (sent >= total) controller.close();
    },
  }, { highWaterMark: 0 });
  return new Response(total === 0 ? null : body, {
    headers: { ...BINARY, "content-length": String(total) },
  });
}

async function upload(request: Request): Promise<Response> {
  let bytes = 0;
  if (request.body) {
    for await (const chunk of request.body) bytes += chunk.byteLength;
  }
  return Response.json({ bytes });
}

function sse(events: number, interval: number): Response {
  let i = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (interval > 0 && i > 0) {
        await new Promise((resolve) => timer = setTimeout(resolve, interval));
      }
      const now = performance.timeOrigin + performance.now();
      controller.enqueue(encoder.encode(`id: ${i}\ndata: ${now.toFixed(3)}\n\n`));
      if (++i >= events) controller.close();
    },
    cancel() {
      clearTimeout(timer);
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

/**
 * Builds the benchmark handler.
 *
 * @param options Settings of the `/hold` route.
 * @returns A fetch-style handler, usable with `Deno.serve` and `serveReverse`.
 */
export function createBenchHandler(
  options: BenchHandlerOptions = {},
): (request: Request) => Response | Promise<Response> {
  const holdTarget = options.hold ?? Infinity;
  const holdTimeout = options.holdTimeout ?? 20_000;
  let held: Array<() => void> = [];
  let peak = 0;
  let firstHeldAt = 0;
  let holdTimer: ReturnType<typeof setTimeout> | undefined;

  const release = (reason: string) => {
    clearTimeout(holdTimer);
    holdTimer = undefined;
    const batch = held;
    held = [];
    options.onHoldRelease?.({
      inFlight: batch.length,
      peak,
      reason,
      ms: performance.now() - firstHeldAt,
    });
    peak = 0;
    for (const resolve of batch) resolve();
  };

  const hold = (request: Request): Promise<Response> => {
    if (held.length === 0) {
      firstHeldAt = performance.now();
      holdTimer = setTimeout(() => release("timeout"), holdTimeout);
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    held.push(resolve);
    request.signal.addEventListener("abort", () => {
      const i = held.indexOf(resolve);
      if (i >= 0) held.splice(i, 1);
    }, { once: true });
    peak = Math.max(peak, held.length);
    if (held.length >= holdTarget) release("reached");
    return promise.then(() => new Response("ok", { headers: TEXT }));
  };

  return (request: Request) => {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/tiny":
        return new Response("bar", { headers: TEXT });
      case "/echo":
        return request.bytes().then((body) => new Response(body, { headers: BINARY }));
      case "/download":
        return download(Number(url.searchParams.get("bytes") ?? 0));
      case "/upload":
        return upload(request);
      case "/sse":
        return sse(
          Number(url.searchParams.get("events") ?? 100),
          Number(url.searchParams.get("interval") ?? 0),
        );
      case "/hold":
        return hold(request);
      case "/ws": {
        const { socket, response } = upgradeWebSocket(request);
        socket.binaryType = "arraybuffer";
        socket.onmessage = (event) => socket.send(event.data);
        return response;
      }
      default:
        return new Response("Not Found\n", { status: 404, headers: TEXT });
    }
  };
}
