/**
 * Conformance of the server role (`serveConnection`) with RFC 9113 §3.4 (the preface), §4
 * (frame format, frame size, field section compression, CONTINUATION) and §5.5 (extensions), driven by a raw-frame client over a real loopback socket. Each case asserts the exact
 * outcome: GOAWAY with a code (connection error), RST_STREAM with a code (stream error, after
 * which the connection must still serve), or a normal response.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import type { ByteIO } from "../h2/connection.ts";
import {
  CLIENT_PREFACE,
  ErrorCode,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  SettingId,
} from "../h2/constants.ts";
import type { Http2Error } from "../h2/errors.ts";
import { FrameWriter } from "../h2/frame.ts";
import { HpackEncoder } from "../h2/hpack/mod.ts";
import { serveConnection } from "../h2/server.ts";
import {
  concat,
  describeFrame,
  field,
  isSettingsAck,
  loopbackPair,
  RawPeer,
  rejectErrors,
  settle,
  TIMEOUT_MS,
} from "./_raw_peer.ts";
import {
  bytes,
  decoder,
  delay,
  encoder,
  expectServes,
  LARGE_FRAMES,
  MAX_FRAME,
  nextHead,
  PLAIN_GET,
  req,
  sameBytes,
  sendHeaders,
  sendRaw,
  serverTest,
  startServer,
  writeAll,
} from "./_server_conformance.ts";

// ---- §3.4 Connection preface -------------------------------------------------------------

Deno.test("server sends SETTINGS first and acknowledges the client's SETTINGS (RFC 9113 §3.4, §6.5.3)", async () => {
  await using h = await startServer({ handshake: false });
  h.peer.out.append(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  h.peer.out.settings([[SettingId.MAX_CONCURRENT_STREAMS, 10]]);
  await h.peer.flush();
  const first = await h.peer.nextFrame();
  ok(first !== null);
  equal(first.header.type, FrameType.SETTINGS);
  equal(first.header.flags, 0);
  await h.peer.expectFrame("SETTINGS ACK", isSettingsAck, rejectErrors);
  h.peer.out.settingsAck();
  await h.peer.flush();
  await expectServes(h, 1);
});

Deno.test("server answers an invalid connection preface with GOAWAY PROTOCOL_ERROR (RFC 9113 §3.4)", async () => {
  await using h = await startServer({ handshake: false });
  await h.peer.writeRaw(encoder.encode("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"));
  await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
});

Deno.test("server answers an HTTP/1.1 request instead of the preface with GOAWAY PROTOCOL_ERROR (RFC 9113 §3.4)", async () => {
  await using h = await startServer({ handshake: false });
  await h.peer.writeRaw(encoder.encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
});

Deno.test("server answers a preface followed by PING instead of SETTINGS with GOAWAY PROTOCOL_ERROR (RFC 9113 §3.4)", async () => {
  await using h = await startServer({ handshake: false });
  h.peer.out.append(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  h.peer.out.ping(false, new Uint8Array(8));
  await h.peer.flush();
  await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
});

Deno.test("server answers a malformed PRIORITY as the first frame with GOAWAY PROTOCOL_ERROR, not a stream error (RFC 9113 §3.4)", async () => {
  await using h = await startServer({ handshake: false });
  h.peer.out.append(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  h.peer.out.raw(FrameType.PRIORITY, 0, 1, new Uint8Array(4));
  await h.peer.flush();
  await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
});

Deno.test("server accepts a preface and SETTINGS split across many small writes (RFC 9113 §3.4)", async () => {
  await using h = await startServer({ handshake: false });
  h.peer.out.append(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 100_000]]);
  const all = h.peer.out.bytes().slice();
  h.peer.out.reset();
  for (let i = 0; i < all.length; i += 5) {
    await h.peer.writeRaw(all.subarray(i, i + 5));
    await delay(1);
  }
  await h.peer.expectFrame("SETTINGS ACK", isSettingsAck, rejectErrors);
  await expectServes(h, 1);
});

// ---- §4.1 Frame format, §5.5 extensions -------------------------------------------------

serverTest(
  "server ignores frames of unknown type on stream 0 and on streams (RFC 9113 §4.1, §5.5)",
  async (h) => {
    await sendRaw(h, 0x20, 0xff, 0, bytes("extension"));
    await sendRaw(h, 0xfe, 0, 1, bytes("x"));
    await sendRaw(h, 0x0a, 0, 0, []);
    deepEqual((await h.peer.sync()).map(describeFrame), []);
    await expectServes(h, 1);
  },
);

serverTest("server ignores undefined flags on PING and HEADERS (RFC 9113 §4.1)", async (h) => {
  await sendRaw(h, FrameType.PING, 0xfe, 0, [1, 2, 3, 4, 5, 6, 7, 8]);
  const ack = await h.peer.expectFrame(
    "PING ACK",
    (r) => r.header.type === FrameType.PING,
    rejectErrors,
  );
  equal(ack.header.flags, Flag.ACK);
  deepEqual([...ack.payload], [1, 2, 3, 4, 5, 6, 7, 8]);
  const block = h.peer.encode(req("/"));
  await sendRaw(h, FrameType.HEADERS, 0xd2 | Flag.END_STREAM | Flag.END_HEADERS, 1, block);
  equal((await h.peer.expectResponse(1)).status, 200);
});

serverTest(
  "server ignores the reserved bit of the stream identifier (RFC 9113 §4.1)",
  async (h) => {
    await sendRaw(
      h,
      FrameType.HEADERS,
      Flag.END_STREAM | Flag.END_HEADERS,
      0x8000_0001,
      h.peer.encode(req("/")),
    );
    equal((await h.peer.expectResponse(1)).status, 200);
  },
);

serverTest("server ignores an unknown SETTINGS identifier (RFC 9113 §6.5.2)", async (h) => {
  h.peer.out.settings([[0xff, 1], [0x4242, 0xffff_ffff]]);
  await h.peer.flush();
  await h.peer.expectFrame("SETTINGS ACK", isSettingsAck, rejectErrors);
  await expectServes(h, 1);
});

// ---- §4.2 Frame size --------------------------------------------------------------------

serverTest(
  "server accepts a DATA frame of exactly SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2)",
  async (h) => {
    await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
    h.peer.out.data(1, new Uint8Array(MAX_FRAME).fill(0x62), true);
    await h.peer.flush();
    const response = await h.peer.expectResponse(1);
    equal(response.status, 200);
    equal(response.body.length, MAX_FRAME);
  },
);

serverTest(
  "server answers a DATA frame above SETTINGS_MAX_FRAME_SIZE with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §4.2)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    // Only the header: the server must judge the length before the payload arrives.
    h.peer.out.header(MAX_FRAME + 1, FrameType.DATA, 0, 1);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 1);
  },
);

serverTest(
  "server answers a HEADERS frame above SETTINGS_MAX_FRAME_SIZE with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §4.2)",
  async (h) => {
    h.peer.out.header(MAX_FRAME + 1, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 0);
  },
);

serverTest(
  "server accepts frames up to the larger SETTINGS_MAX_FRAME_SIZE it advertised (RFC 9113 §4.2)",
  async (h) => {
    equal(h.serverSettings.get(SettingId.MAX_FRAME_SIZE), 32_768);
    await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
    h.peer.out.data(1, new Uint8Array(20_000).fill(0x63), true);
    await h.peer.flush();
    equal((await h.peer.expectResponse(1)).body.length, 20_000);
  },
  { server: { settings: { maxFrameSize: 32_768 } } },
);

/** 256 KiB frames and 1 MiB stream windows both ways: room for large DATA frames. */

serverTest(
  "server takes large DATA frames that arrive in pieces, padded or not, byte for byte (RFC 9113 §4.2, §6.1)",
  async (h) => {
    // Large payloads are read straight into buffers of their own: the pieces
    // must land in order, padding must be left out, and the next frame must
    // follow undisturbed.
    h.peer.out.windowUpdate(0, 1 << 20); // Room for the echo to come back.
    await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
    const first = new Uint8Array(100_000).map((_, i) => i % 251);
    const second = new Uint8Array(150_000).map((_, i) => (i * 7) % 253);
    h.peer.out.data(1, first, false, 200);
    h.peer.out.data(1, second, true);
    const bytes = h.peer.out.bytes().slice();
    h.peer.out.reset();
    for (let offset = 0; offset < bytes.length; offset += 37_000) {
      await h.peer.writeRaw(bytes.subarray(offset, offset + 37_000));
      await delay(5);
    }
    const response = await h.peer.expectResponse(1);
    equal(response.status, 200);
    sameBytes(response.body, concat([first, second]), "the echo");
    await expectServes(h, 3);
  },
  LARGE_FRAMES,
);

serverTest(
  "server takes a run of large DATA frames on two streams, with small frames between them and headers split across reads, byte for byte (RFC 9113 §4.1, §6.1)",
  async (h) => {
    // After a large DATA frame the reader takes each frame header on its own, so that
    // the payload after it goes straight into a buffer of its own: frames of every size,
    // interleaved streams and a header cut in two must all still land where they belong.
    h.peer.out.windowUpdate(0, 1 << 20);
    await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
    await sendHeaders(h, 3, req("/echo", { method: "POST" }), false);
    const piece = (length: number, seed: number) =>
      new Uint8Array(length).map((_, i) => (i * seed + seed) % 251);
    const one = [piece(40_000, 3), piece(33_000, 5), piece(60_000, 7)];
    const three = [piece(50_000, 11), piece(100, 13), piece(45_000, 17)];
    // Cut the bytes inside every frame header and inside every payload.
    const cuts: number[] = [];
    const frame = (write: () => void) => {
      const start = h.peer.out.length;
      write();
      cuts.push(start + 4, start + 9 + 1_000);
    };
    frame(() => h.peer.out.data(1, one[0]!, false));
    frame(() => h.peer.out.data(3, three[0]!, false));
    frame(() => h.peer.out.ping(false, new Uint8Array(8).fill(0x42)));
    frame(() => h.peer.out.data(1, one[1]!, false, 10));
    frame(() => h.peer.out.data(3, three[1]!, false));
    frame(() => h.peer.out.data(1, one[2]!, true));
    frame(() => h.peer.out.data(3, three[2]!, true));
    const bytes = h.peer.out.bytes().slice();
    h.peer.out.reset();
    cuts.push(bytes.length);
    let offset = 0;
    for (const cut of cuts.filter((c) => c < bytes.length).concat(bytes.length)) {
      if (cut <= offset) continue;
      await h.peer.writeRaw(bytes.subarray(offset, cut));
      offset = cut;
      await delay(2);
    }
    for (const [id, parts] of [[1, one], [3, three]] as const) {
      const response = await h.peer.expectResponse(id);
      equal(response.status, 200);
      sameBytes(response.body, concat(parts), `stream ${id}'s echo`);
    }
    ok(
      h.peer.log.some((r) =>
        r.header.type === FrameType.PING && (r.header.flags & Flag.ACK) !== 0 &&
        r.payload.every((b) => b === 0x42)
      ),
      "the PING between the DATA frames was not answered",
    );
    await expectServes(h, 5);
  },
  LARGE_FRAMES,
);

serverTest(
  "server takes the next frame header from the read that ends a large payload, cut anywhere in it, byte for byte (RFC 9113 §4.1, §6.1)",
  async (h) => {
    // The read that finishes a large payload has room for the next frame header
    // too: whole, in part (k of its 9 octets) or not at all, it must start the
    // next frame.
    h.peer.out.windowUpdate(0, 1 << 24);
    await h.peer.flush();
    const piece = (length: number, seed: number) =>
      new Uint8Array(length).map((_, i) => (i * seed + seed) % 251);
    for (let k = 0; k <= FRAME_HEADER_LENGTH; k++) {
      const id = 2 * k + 1;
      // The first payload outgrows the read buffer's doubling (to 64 KiB) by more than
      // DIRECT_READ_MIN, so it takes the direct path whatever the buffer's size then.
      const parts = [piece(120_000, k + 3), piece(40_000, k + 5), piece(100, k + 7)];
      await sendHeaders(h, id, req("/echo", { method: "POST" }), false);
      h.peer.out.data(id, parts[0]!, false);
      const cut = h.peer.out.length + k;
      h.peer.out.data(id, parts[1]!, false);
      h.peer.out.data(id, parts[2]!, true);
      const bytes = h.peer.out.bytes().slice();
      h.peer.out.reset();
      await h.peer.writeRaw(bytes.subarray(0, cut));
      await delay(5); // The server reads up to the cut before the rest is sent.
      await h.peer.writeRaw(bytes.subarray(cut));
      const response = await h.peer.expectResponse(id);
      equal(response.status, 200);
      sameBytes(response.body, concat(parts), `the echo with the header cut after ${k} octets`);
    }
  },
  LARGE_FRAMES,
);

Deno.test("server keeps its output backlog bounded while 40 streams send 256 KiB frames to a peer that stopped reading, and answers that peer's PING (RFC 9113 §6.7)", async () => {
  const [client, accepted] = await loopbackPair();
  const errors: Http2Error[] = [];
  const body = new Uint8Array(1_000_000).fill(0x61);
  // Each write takes the whole backlog queued behind the one before: its size is
  // the backlog. Were every stream woken by a drain to queue a frame at once, it
  // would reach 40 x 256 KiB, past the 4 MiB at which PINGs go unanswered.
  let largestWrite = 0;
  const io: ByteIO = {
    read: (p) => accepted.read(p),
    write(p) {
      largestWrite = Math.max(largestWrite, p.length);
      return accepted.write(p);
    },
    close: () => accepted.close(),
  };
  const server = serveConnection(io, () => new Response(body), {
    onProtocolError: (error) => errors.push(error),
  });
  const STREAMS = 40;
  const out = new FrameWriter();
  const encoder = new HpackEncoder();
  out.append(CLIENT_PREFACE);
  out.settings([[SettingId.MAX_FRAME_SIZE, 262_144], [SettingId.INITIAL_WINDOW_SIZE, 1 << 20]]);
  out.windowUpdate(0, 1 << 30);
  for (let i = 0; i < STREAMS; i++) {
    out.headers(2 * i + 1, encoder.encode(req("/")), true, MAX_FRAME);
  }
  await writeAll(client, out.bytes());
  // Not reading for a while: the server fills the socket, then its streams wait.
  await delay(300);
  out.reset();
  out.ping(false, new Uint8Array(8).fill(0x42));
  await writeAll(client, out.bytes());
  const peer = new RawPeer(client);
  peer.maxFrameSize = 262_144; // As advertised above.
  try {
    const received = new Map<number, number>();
    let pingAnswered = false;
    while (received.size < STREAMS || [...received.values()].some((n) => n >= 0)) {
      const r = await peer.nextFrame();
      ok(r !== null, "the server closed the connection");
      const failure = rejectErrors(r);
      ok(failure === null, failure ?? "");
      if (r.header.type === FrameType.PING && (r.header.flags & Flag.ACK) !== 0) {
        pingAnswered = true;
      } else if (r.header.type === FrameType.DATA) {
        // A count, then -1 once the stream ended with all its bytes.
        const count = (received.get(r.header.streamId) ?? 0) + r.header.length;
        const ended = (r.header.flags & Flag.END_STREAM) !== 0;
        if (ended) equal(count, body.length, `stream ${r.header.streamId}`);
        received.set(r.header.streamId, ended ? -1 : count);
      }
    }
    ok(pingAnswered, "the PING was not answered");
    deepEqual(errors.map((e) => e.message), []);
    // The high-water mark (256 KiB), one frame past it, and small frames.
    ok(largestWrite < 600 * 1024, `a write of ${largestWrite} octets: the backlog grew past it`);
  } finally {
    await peer.close();
    server.close();
    await server.closed;
  }
});

/** Writes all of `bytes`. */

serverTest(
  "server never sends DATA larger than the client's SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2)",
  async (h) => {
    h.peer.out.windowUpdate(0, 1 << 20);
    await h.peer.flush();
    await sendHeaders(h, 1, req("/size?n=40000"));
    const response = await h.peer.expectResponse(1);
    equal(response.body.length, 40_000);
    ok(response.dataLengths.every((n) => n <= MAX_FRAME), `frames: ${response.dataLengths}`);
    ok(response.dataLengths.some((n) => n === MAX_FRAME), `frames: ${response.dataLengths}`);
  },
  { handshake: [[SettingId.INITIAL_WINDOW_SIZE, 1 << 20]] },
);

serverTest(
  "server splits a large response head into HEADERS and CONTINUATION frames (RFC 9113 §4.3, §6.10)",
  async (h) => {
    await sendHeaders(h, 1, req("/"));
    const head = await nextHead(h, 1);
    equal(field(head.fields!, "x-big"), "v".repeat(40_000));
    const frames = h.peer.log.filter((r) => r.header.streamId === 1);
    equal(frames[0]!.header.type, FrameType.HEADERS);
    ok(frames.length >= 3, "expected HEADERS and at least two CONTINUATION frames");
    for (const r of frames.slice(1, -1)) equal(r.header.type, FrameType.CONTINUATION);
    ok(frames.every((r) => r.header.length <= MAX_FRAME));
  },
  {
    handler: () => new Response(null, { status: 204, headers: { "x-big": "v".repeat(40_000) } }),
  },
);

// ---- §4.3 Field section compression, §6.10 CONTINUATION --------------------------------

serverTest(
  "server answers a truncated header block with GOAWAY COMPRESSION_ERROR (RFC 9113 §4.3)",
  async (h) => {
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, [
      ...PLAIN_GET,
      0x40,
      0x05,
      ...bytes("x-a"),
    ]);
    // Stream 1 was never processed, so GOAWAY names stream 0 (§6.8).
    await h.peer.expectGoaway(ErrorCode.COMPRESSION_ERROR, 0);
  },
);

serverTest(
  "server answers PRIORITY between HEADERS and CONTINUATION with GOAWAY PROTOCOL_ERROR (RFC 9113 §4.3, §6.10)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    h.peer.out.raw(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 3));
    h.peer.out.priority(1, 0, 16);
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(3));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR);
  },
);

serverTest(
  "server answers HEADERS of another stream inside a header block with GOAWAY PROTOCOL_ERROR (RFC 9113 §4.3)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    h.peer.out.raw(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 3));
    h.peer.out.raw(FrameType.HEADERS, Flag.END_STREAM | Flag.END_HEADERS, 3, block);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR);
  },
);

serverTest(
  "server answers DATA inside a header block with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.10)",
  async (h) => {
    const block = h.peer.encode(req("/", { method: "POST" }));
    h.peer.out.raw(FrameType.HEADERS, 0, 1, block.subarray(0, 3));
    h.peer.out.data(1, encoder.encode("x"), true);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR);
  },
);

serverTest(
  "server answers an unknown frame inside a header block with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.5, §6.10)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    h.peer.out.raw(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 3));
    h.peer.out.raw(0x20, 0, 1, new Uint8Array(4));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR);
  },
);

serverTest(
  "server answers CONTINUATION of another stream inside a header block with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.10)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    h.peer.out.raw(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 3));
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 3, block.subarray(3));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR);
  },
);

serverTest(
  "server answers CONTINUATION on stream 0 inside a header block with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.10)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    h.peer.out.raw(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 3));
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 0, block.subarray(3));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR);
  },
);

serverTest(
  "server answers CONTINUATION after HEADERS with END_HEADERS with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.10)",
  async (h) => {
    h.peer.out.raw(FrameType.HEADERS, Flag.END_HEADERS, 1, h.peer.encode(req("/hang")));
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 1, new Uint8Array([0x82]));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server answers CONTINUATION after CONTINUATION with END_HEADERS with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.10)",
  async (h) => {
    const block = h.peer.encode(req("/hang"));
    h.peer.out.raw(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 2));
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(2));
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 1, new Uint8Array([0x82]));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server answers CONTINUATION after DATA with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.10)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    h.peer.out.data(1, encoder.encode("x"), false);
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 1, new Uint8Array([0x82]));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server answers CONTINUATION on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.10)",
  async (h) => {
    await sendRaw(h, FrameType.CONTINUATION, Flag.END_HEADERS, 0, [0x82]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server assembles a header block split across many CONTINUATION frames (RFC 9113 §6.10)",
  async (h) => {
    const block = h.peer.encode(req("/headers", { extra: ["x-long", "y".repeat(300)] }));
    h.peer.out.raw(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 1));
    for (let i = 1; i < block.length; i++) {
      const last = i === block.length - 1;
      h.peer.out.raw(
        FrameType.CONTINUATION,
        last ? Flag.END_HEADERS : 0,
        1,
        block.subarray(i, i + 1),
      );
    }
    await h.peer.flush();
    const response = await h.peer.expectResponse(1);
    equal(response.status, 200);
    equal(JSON.parse(decoder.decode(response.body))["x-long"], "y".repeat(300));
  },
);

serverTest(
  "server keeps its HPACK context in step with a header block on a refused stream (RFC 9113 §4.3)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    // The block of stream 3 adds x-a to the dynamic table although the stream is refused.
    await sendHeaders(h, 3, req("/headers", { extra: ["x-a", "indexed-value"] }));
    await h.peer.expectReset(3, ErrorCode.REFUSED_STREAM);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    const block = h.peer.encode(req("/headers", { extra: ["x-a", "indexed-value"] }));
    ok(block.some((b) => b >= 0xbe), "the second block refers to the dynamic table");
    h.peer.out.headers(5, block, true, MAX_FRAME);
    await h.peer.flush();
    const response = await h.peer.expectResponse(5);
    equal(JSON.parse(decoder.decode(response.body))["x-a"], "indexed-value");
  },
  { server: { settings: { maxConcurrentStreams: 1 } } },
);

{
  // The handler's request and its clones share the stream's signal: a reset aborts both.
  const seen: string[] = [];
  let handled!: () => void;
  const handlerRan = new Promise<void>((resolve) => handled = resolve);
  serverTest(
    "RST_STREAM aborts request.signal and a clone's signal (RFC 9113 §6.4)",
    async (h) => {
      await sendHeaders(h, 1, req("/watch"));
      await settle(handlerRan, TIMEOUT_MS);
      h.peer.out.rstStream(1, ErrorCode.CANCEL);
      await h.peer.flush();
      const deadline = Date.now() + TIMEOUT_MS;
      while (seen.length < 2 && Date.now() < deadline) await delay(5);
      deepEqual(seen.sort(), ["clone", "original"]);
      await expectServes(h, 3);
    },
    {
      handler: (request) => {
        if (new URL(request.url).pathname !== "/watch") return new Response("ok");
        const clone = request.clone();
        request.signal.addEventListener("abort", () => seen.push("original"));
        clone.signal.addEventListener("abort", () => seen.push("clone"));
        handled();
        return new Promise<Response>((resolve) =>
          clone.signal.addEventListener("abort", () => resolve(new Response(null)))
        );
      },
    },
  );
}
