/**
 * What a WebSocket client can make the router hold: one Pong however many
 * Pings it sends without reading, and unfinished messages within
 * --max-websocket-buffer over all sockets (1009 past it). Raw frames over a
 * real loopback connection through the router to an echo backend.
 */
import { equal, ok } from "node:assert/strict";
import { encodeFrame, FrameReader, Opcode, parseClosePayload } from "../ws/frame.ts";
import { upgradeWebSocket } from "../backend/upgrade_websocket.ts";
import { startBackend, startRouter, withTimeout } from "./_helpers.ts";
import type { Router } from "../router/create_router.ts";

const encoder = new TextEncoder();
const mask = () => crypto.getRandomValues(new Uint8Array(4));

/** Opens a WebSocket to the router's echo backend over raw TCP; returns the connection. */
async function openSocket(router: Router): Promise<{ conn: Deno.TcpConn; reader: FrameReader }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.addr.port });
  await conn.write(encoder.encode(
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  ));
  const buf = new Uint8Array(4096);
  let text = "";
  const reader = new FrameReader({ masked: false });
  while (!text.includes("\r\n\r\n")) {
    const n = await withTimeout(conn.read(buf), 5000, "the 101");
    if (n === null) throw new Error("closed before the 101");
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  ok(text.startsWith("HTTP/1.1 101"), text);
  // Bytes after the head are frames already.
  const head = encoder.encode(text.slice(0, text.indexOf("\r\n\r\n") + 4));
  const rest = buf.subarray(head.length, encoder.encode(text).length);
  if (rest.length > 0) reader.push(rest);
  return { conn, reader };
}

async function echoRouter(options: Parameters<typeof startRouter>[0] = {}) {
  const router = startRouter(options);
  const backend = await startBackend(router, (request) => {
    const { socket, response } = upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  });
  return {
    router,
    async [Symbol.asyncDispose]() {
      await backend.shutdown();
      await router.shutdown();
    },
  };
}

/** Reads frames until one of `opcode` arrives (or the connection ends); returns those seen. */
async function framesUntil(conn: Deno.Conn, reader: FrameReader, opcode: number, ms = 10_000) {
  const frames = [];
  const buf = new Uint8Array(64 * 1024);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    for (let frame = reader.next(); frame !== null; frame = reader.next()) {
      frames.push(frame);
      if (frame.opcode === opcode) return frames;
    }
    const n = await withTimeout(conn.read(buf), deadline - Date.now(), "frames");
    if (n === null) return frames;
    reader.push(buf.subarray(0, n));
  }
  return frames;
}

Deno.test("a client that pings without reading gets one Pong for the latest Ping, not one per Ping", async () => {
  await using fixture = await echoRouter();
  const { conn, reader } = await openSocket(fixture.router);
  try {
    // 20,000 Pings while reading nothing: the answers can only pile up in the router.
    const pings: Uint8Array[] = [];
    for (let i = 0; i < 20_000; i++) {
      pings.push(encodeFrame(Opcode.PING, encoder.encode(`ping ${i}`), { mask: mask() }));
    }
    const all = new Uint8Array(pings.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const ping of pings) {
      all.set(ping, at);
      at += ping.length;
    }
    await conn.write(all);
    // A message after them: its echo comes after every Pong the router still holds.
    await conn.write(encodeFrame(Opcode.TEXT, encoder.encode("done"), { mask: mask() }));
    const frames = await framesUntil(conn, reader, Opcode.TEXT);
    const pongs = frames.filter((f) => f.opcode === Opcode.PONG);
    ok(pongs.length >= 1, "the Pings were answered");
    ok(pongs.length < 100, `${pongs.length} Pongs for 20,000 Pings`);
    equal(
      new TextDecoder().decode(pongs.at(-1)!.payload),
      "ping 19999",
      "the last answers the latest",
    );
  } finally {
    conn.close();
  }
});

Deno.test("unfinished messages share --max-websocket-buffer: past it, the socket closes with 1009", async () => {
  await using fixture = await echoRouter({ maxWebSocketBuffer: 1024 * 1024 });
  const first = await openSocket(fixture.router);
  const second = await openSocket(fixture.router);
  try {
    const fragment = (opcode: number) =>
      encodeFrame(opcode, new Uint8Array(300 * 1024), { fin: false, mask: mask() });
    // 600 KiB held for the first socket's message, never finished.
    await first.conn.write(fragment(Opcode.BINARY));
    await first.conn.write(fragment(Opcode.CONTINUATION));
    // The second socket's 600 KiB do not fit beside them.
    await second.conn.write(fragment(Opcode.BINARY));
    await second.conn.write(fragment(Opcode.CONTINUATION));
    const frames = await framesUntil(second.conn, second.reader, Opcode.CLOSE);
    const close = frames.find((f) => f.opcode === Opcode.CLOSE);
    ok(close, "the second socket is closed");
    equal(parseClosePayload(close.payload).code, 1009);
  } finally {
    first.conn.close();
    second.conn.close();
  }
});
