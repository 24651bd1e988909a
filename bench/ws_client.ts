/**
 * WebSocket echo, as a browser app uses it, against `url` (the `/ws` route
 * of bench/handlers.ts), with Deno's WebSocket client:
 *
 * 1. `sockets` sockets at once, each sending a 64-byte text message and
 *    waiting for its echo before the next, for `seconds`: messages/s (echoes
 *    received) and each round trip's latency;
 * 2. one socket sending `bulkMiB` MiB in 64 KiB binary messages, at most
 *    4 MiB unanswered at a time: MB/s of echoed payload.
 *
 * Prints one JSON line with the figures.
 *
 *     deno run -A bench/ws_client.ts <ws url> <sockets> <seconds> <bulk MiB>
 *
 * @module
 */

const [url, socketsArg = "100", secondsArg = "5", bulkArg = "64"] = Deno.args;
if (!url) throw new Error("usage: ws_client.ts <url> <sockets> <seconds> <bulk MiB>");
const sockets = Number(socketsArg);
const seconds = Number(secondsArg);
const bulkBytes = Number(bulkArg) * 1024 * 1024;

function open(): Promise<WebSocket> {
  const socket = new WebSocket(url!);
  socket.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = (event) => reject(new Error((event as ErrorEvent).message));
  });
}

function closeAll(all: WebSocket[]): Promise<unknown> {
  return Promise.all(all.map((socket) =>
    new Promise((resolve) => {
      socket.onclose = resolve;
      socket.close();
    })
  ));
}

// Connections first (not timed), then a warm-up round trip on each.
const openStarted = performance.now();
const all = await Promise.all(Array.from({ length: sockets }, open));
const openMs = performance.now() - openStarted;
const payload = "x".repeat(64);
let failed = 0;

// 1. Ping-pong on every socket at once.
const rtts: number[] = [];
let stop = false;
const started = performance.now();
const timer = setTimeout(() => stop = true, seconds * 1000);
await Promise.all(all.map((socket) =>
  new Promise<void>((resolve) => {
    let sentAt = 0;
    let warm = false;
    const send = () => {
      sentAt = performance.now();
      socket.send(payload);
    };
    socket.onmessage = () => {
      if (warm) rtts.push(performance.now() - sentAt);
      warm = true;
      if (stop) return resolve();
      send();
    };
    socket.onclose = () => {
      failed++;
      resolve();
    };
    send();
  })
));
clearTimeout(timer);
const pingPongS = (performance.now() - started) / 1000;
await closeAll(all);

// 2. Bulk transfer on one socket, 64 KiB messages, a bounded window of unanswered ones.
const bulk = await open();
const chunk = new Uint8Array(64 * 1024).fill(7);
const window = 4 * 1024 * 1024;
let sent = 0;
let echoed = 0;
const bulkStarted = performance.now();
await new Promise<void>((resolve) => {
  const fill = () => {
    while (sent < bulkBytes && sent - echoed < window) {
      bulk.send(chunk);
      sent += chunk.length;
    }
  };
  bulk.onmessage = (event) => {
    echoed += (event.data as ArrayBuffer).byteLength;
    if (echoed >= bulkBytes) return resolve();
    fill();
  };
  bulk.onclose = () => {
    failed++;
    resolve();
  };
  fill();
});
const bulkS = (performance.now() - bulkStarted) / 1000;
await closeAll([bulk]);

rtts.sort((a, b) => a - b);
const at = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor((p / 100) * rtts.length))] ?? 0;
console.log(JSON.stringify({
  sockets,
  openMs,
  messages: rtts.length,
  messagesPerSec: rtts.length / pingPongS,
  rttP50Ms: at(50),
  rttP99Ms: at(99),
  bulkMBps: echoed / bulkS / 1e6,
  bulkBytes: echoed,
  failed,
}));
