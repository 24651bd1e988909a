/**
 * StreamWebSocket against a raw peer that writes and reads frames by hand:
 * fragmentation, control frames, the closing handshake and failures
 * (RFC 6455 §5.4, §5.5, §7), and the WebSocket API's rules.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  encodeClosePayload,
  encodeFrame,
  FrameReader,
  Opcode,
  parseClosePayload,
  type WebSocketFrame,
} from "../ws/frame.ts";
import { StreamWebSocket, type StreamWebSocketOptions } from "../ws/socket.ts";
import { withTimeout } from "./_helpers.ts";

/** A server socket and the raw client on the other side of two in-memory pipes. */
function pair(options: Partial<StreamWebSocketOptions> = {}) {
  const toSocket = new TransformStream<Uint8Array, Uint8Array>();
  const fromSocket = new TransformStream<Uint8Array, Uint8Array>();
  const socket = new StreamWebSocket(
    { readable: toSocket.readable, writable: fromSocket.writable },
    { role: "server", url: "ws://example.com/chat", ...options },
  );
  const writer = toSocket.writable.getWriter();
  const reader = fromSocket.readable.getReader();
  const frames = new FrameReader({ masked: options.role === "client" });
  const peer = {
    /** Sends one frame as a client would (masked). */
    send(opcode: number, payload: Uint8Array | string, fin = true): Promise<void> {
      const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
      return writer.write(encodeFrame(opcode, bytes, { fin, mask: options.role !== "client" }));
    },
    /** Writes bytes as they are. */
    raw: (bytes: Uint8Array) => writer.write(bytes),
    /** Ends the peer's direction. */
    end: () => writer.close(),
    /** The next frame from the socket, or `null` once it ended its direction. */
    async next(): Promise<WebSocketFrame | null> {
      while (true) {
        const frame = frames.next();
        if (frame !== null) return frame;
        const { value, done } = await withTimeout(reader.read(), 5000, "a frame");
        if (done) return null;
        frames.push(value);
      }
    },
  };
  return { socket, peer };
}

function event<E extends Event>(target: EventTarget, type: string): Promise<E> {
  return withTimeout(
    new Promise((resolve) => target.addEventListener(type, (e) => resolve(e as E), { once: true })),
    5000,
    `${type} event`,
  );
}

const text = (frame: WebSocketFrame | null) => new TextDecoder().decode(frame!.payload);

Deno.test("a fragmented message is delivered whole, with a ping answered in between (§5.4)", async () => {
  const { socket, peer } = pair();
  await event(socket, "open");
  const message = event<MessageEvent>(socket, "message");
  await peer.send(Opcode.TEXT, "Hel", false);
  await peer.send(Opcode.PING, "between");
  const pong = await peer.next();
  equal(pong!.opcode, Opcode.PONG);
  equal(text(pong), "between");
  await peer.send(Opcode.CONTINUATION, "lo ", false);
  await peer.send(Opcode.CONTINUATION, "world");
  equal((await message).data, "Hello world");
  equal((await message).origin, "ws://example.com");
  socket.terminate();
});

Deno.test("binary messages arrive as Blob by default and as ArrayBuffer on request", async () => {
  const { socket, peer } = pair();
  await event(socket, "open");
  let message = event<MessageEvent>(socket, "message");
  await peer.send(Opcode.BINARY, new Uint8Array([1, 2, 3]));
  const blob = (await message).data;
  ok(blob instanceof Blob);
  deepEqual([...new Uint8Array(await blob.arrayBuffer())], [1, 2, 3]);
  socket.binaryType = "arraybuffer";
  socket.binaryType = "nonsense" as BinaryType; // Ignored, as WebIDL enumerations are.
  equal(socket.binaryType, "arraybuffer");
  message = event<MessageEvent>(socket, "message");
  await peer.send(Opcode.BINARY, new Uint8Array([4, 5]));
  deepEqual([...new Uint8Array((await message).data)], [4, 5]);
  socket.terminate();
});

Deno.test("send() fragments large messages, keeps order across blobs, and counts bufferedAmount", async () => {
  const { socket, peer } = pair({ fragmentSize: 1000 });
  throws(() => socket.send("too early"), { name: "InvalidStateError" });
  await event(socket, "open");
  socket.send(new Uint8Array(2500).fill(9));
  socket.send(new Blob(["from a blob"]));
  socket.send("after the blob");
  ok(socket.bufferedAmount > 0);
  const frames: Array<[boolean, number, number]> = [];
  for (let i = 0; i < 5; i++) {
    const frame = (await peer.next())!;
    frames.push([frame.fin, frame.opcode, frame.payload.length]);
  }
  deepEqual(frames, [
    [false, Opcode.BINARY, 1000],
    [false, Opcode.CONTINUATION, 1000],
    [true, Opcode.CONTINUATION, 500],
    [true, Opcode.BINARY, 11],
    [true, Opcode.TEXT, 14],
  ]);
  equal(socket.bufferedAmount, 0);
  socket.terminate();
});

Deno.test("the closing handshake: close() sends Close after queued data, the peer's echo closes cleanly", async () => {
  const { socket, peer } = pair();
  await event(socket, "open");
  socket.send("last words");
  throws(() => socket.close(1001), { name: "InvalidAccessError" });
  throws(() => socket.close(1000, "x".repeat(124)), { name: "SyntaxError" });
  const closed = event<CloseEvent>(socket, "close");
  socket.close(4000, "done");
  equal(socket.readyState, WebSocket.CLOSING);
  socket.send("dropped"); // HTML: counted, then discarded.
  equal(text(await peer.next()), "last words");
  const close = await peer.next();
  equal(close!.opcode, Opcode.CLOSE);
  deepEqual(parseClosePayload(close!.payload), { code: 4000, reason: "done" });
  equal(await peer.next(), null, "our side ended after the Close (END_STREAM)");
  await peer.send(Opcode.CLOSE, encodeClosePayload(4000));
  await peer.end();
  const event_ = await closed;
  deepEqual([event_.code, event_.wasClean], [4000, true]);
  equal(socket.readyState, WebSocket.CLOSED);
});

Deno.test("a peer's Close is echoed with its code, and the close event reports its reason", async () => {
  const { socket, peer } = pair();
  await event(socket, "open");
  const closed = event<CloseEvent>(socket, "close");
  await peer.send(Opcode.CLOSE, encodeClosePayload(4321, "going"));
  const echo = await peer.next();
  deepEqual(parseClosePayload(echo!.payload), { code: 4321, reason: "" });
  equal(await peer.next(), null);
  await peer.end();
  const event_ = await closed;
  deepEqual([event_.code, event_.reason, event_.wasClean], [4321, "going", true]);
});

Deno.test("invalid UTF-8, stray continuations and oversized messages fail the connection (§7.1.7)", async () => {
  const cases: Array<[string, (peer: ReturnType<typeof pair>["peer"]) => Promise<void>, number]> = [
    ["invalid UTF-8 (§8.1)", (p) => p.send(Opcode.TEXT, new Uint8Array([0xc3, 0x28])), 1007],
    ["a continuation without a message", (p) => p.send(Opcode.CONTINUATION, "x"), 1002],
    ["a new message inside a fragmented one", async (p) => {
      await p.send(Opcode.TEXT, "a", false);
      await p.send(Opcode.TEXT, "b");
    }, 1002],
    ["a message over maxMessageSize", async (p) => {
      await p.send(Opcode.BINARY, new Uint8Array(60), false);
      await p.send(Opcode.CONTINUATION, new Uint8Array(60));
    }, 1009],
    ["an invalid close code", (p) => p.send(Opcode.CLOSE, new Uint8Array([0x03, 0xed])), 1002],
  ];
  for (const [what, provoke, code] of cases) {
    const { socket, peer } = pair({ maxMessageSize: 100 });
    await event(socket, "open");
    const error = event(socket, "error");
    const closed = event<CloseEvent>(socket, "close");
    await provoke(peer);
    await error;
    const close = await peer.next();
    equal(close!.opcode, Opcode.CLOSE, what);
    equal(parseClosePayload(close!.payload).code, code, what);
    await peer.end();
    const event_ = await closed;
    deepEqual([event_.code, event_.wasClean], [1006, false], what);
  }
});

Deno.test("a peer that never answers the Close is cut off after closeTimeout", async () => {
  const { socket, peer } = pair({ closeTimeout: 100 });
  await event(socket, "open");
  const closed = event<CloseEvent>(socket, "close");
  socket.close();
  equal((await peer.next())!.opcode, Opcode.CLOSE);
  const event_ = await closed;
  deepEqual([event_.code, event_.wasClean], [1006, false]);
});

Deno.test("a client socket masks what it sends and fails on masked frames (§5.1)", async () => {
  const { socket, peer } = pair({ role: "client" });
  await event(socket, "open");
  socket.send("masked");
  // The peer reads as a server: an unmasked frame would fail its FrameReader.
  equal(text(await peer.next()), "masked");
  const message = event<MessageEvent>(socket, "message");
  await peer.send(Opcode.TEXT, "unmasked, from a server");
  equal((await message).data, "unmasked, from a server");
  const error = event(socket, "error");
  const closed = event<CloseEvent>(socket, "close");
  await peer.raw(encodeFrame(Opcode.TEXT, new TextEncoder().encode("masked"), { mask: true }));
  await error;
  equal(parseClosePayload((await peer.next())!.payload).code, 1002);
  await peer.end();
  equal((await closed).code, 1006);
});

Deno.test("ping() sends a Ping and the peer's Pong comes back as a pong event", async () => {
  const { socket, peer } = pair();
  await event(socket, "open");
  socket.ping("hi");
  const ping = await peer.next();
  equal(ping!.opcode, Opcode.PING);
  equal(text(ping), "hi");
  const pong = event<MessageEvent>(socket, "pong");
  await peer.send(Opcode.PONG, "hi");
  equal(new TextDecoder().decode((await pong).data), "hi");
  throws(() => socket.ping(new Uint8Array(126)), RangeError);
  socket.terminate();
});

Deno.test("on… attributes replace each other and run with the socket as this", async () => {
  const { socket } = pair();
  const calls: string[] = [];
  socket.onopen = () => calls.push("first");
  socket.onopen = function (this: WebSocket) {
    calls.push(this === (socket as WebSocket) ? "second" : "wrong this");
  };
  await event(socket, "open");
  deepEqual(calls, ["second"]);
  socket.onopen = null;
  equal(socket.onopen, null);
  socket.terminate();
});
