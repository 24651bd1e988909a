/**
 * Conformance of the server role (`serveConnection`) with RFC 9113 §3–§8 and
 * RFC 7541, driven by a raw-frame client over a real loopback socket. Each
 * case asserts the exact outcome: GOAWAY with a code (connection error),
 * RST_STREAM on a stream with a code (stream error, after which the
 * connection must still serve), or a normal response. The case list follows
 * h2spec's sections.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import type { ByteIO, Connection } from "../h2/connection.ts";
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  ErrorCode,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  MAX_WINDOW_SIZE,
  SettingId,
} from "../h2/constants.ts";
import type { Http2Error } from "../h2/errors.ts";
import {
  type FrameHeader,
  FrameWriter,
  type GoawayFrame,
  readFrameHeader,
  type SettingsFrame,
} from "../h2/frame.ts";
import { HpackEncoder } from "../h2/hpack/mod.ts";
import { type Http2Handler, serveConnection, type ServeConnectionOptions } from "../h2/server.ts";
import {
  ackSettings,
  concat,
  describeFrame,
  field,
  isSettingsAck,
  loopbackPair,
  RawPeer,
  type ReceivedFrame,
  rejectErrors,
  settle,
  TIMEOUT_MS,
} from "./_raw_peer.ts";
import { waitUntil } from "./_helpers.ts";

const MAX_FRAME = DEFAULT_MAX_FRAME_SIZE;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Resolves after a handler delay; the timer always completes before the test ends. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The handler behind every test unless one brings its own:
 * `/hang` answers only once the stream is aborted, `/size?n=N` sends N bytes,
 * `/echo` returns the request body, `/headers` the request fields as JSON.
 */
const defaultHandler: Http2Handler = async (request) => {
  const url = new URL(request.url);
  switch (url.pathname) {
    case "/hang":
      return await new Promise<Response>((resolve) => {
        const answer = () => resolve(new Response(null, { status: 499 }));
        if (request.signal.aborted) answer();
        request.signal.addEventListener("abort", answer, { once: true });
      });
    case "/size":
      return new Response(new Uint8Array(Number(url.searchParams.get("n"))).fill(0x61));
    case "/echo":
      return new Response(new Uint8Array(await request.arrayBuffer()));
    case "/headers":
      return Response.json(Object.fromEntries(request.headers));
    case "/slow":
      await delay(50);
      return new Response("slow");
    default:
      return new Response("ok");
  }
};

interface HarnessOptions {
  handler?: Http2Handler;
  /** Gets a copy of every write of the server, in order. */
  writes?: Uint8Array[];
  server?: ServeConnectionOptions;
  /** Our SETTINGS in the handshake; `false` skips the handshake. */
  handshake?: Array<[number, number]> | false;
}

/** A served connection and the raw client talking to it. */
interface Harness extends AsyncDisposable {
  peer: RawPeer;
  server: Connection;
  /** Protocol errors the server reported. */
  errors: Http2Error[];
  /** The settings of the server's preface. */
  serverSettings: Map<number, number>;
}

async function startServer(options: HarnessOptions = {}): Promise<Harness> {
  const [client, accepted] = await loopbackPair();
  const errors: Http2Error[] = [];
  const io = options.writes === undefined ? accepted : recordingWrites(accepted, options.writes);
  const server = serveConnection(io, options.handler ?? defaultHandler, {
    ...options.server,
    onProtocolError: (error) => errors.push(error),
  });
  const peer = new RawPeer(client);
  const harness: Harness = {
    peer,
    server,
    errors,
    serverSettings: new Map(),
    async [Symbol.asyncDispose]() {
      await peer.close();
      if (await settle(server.closed, TIMEOUT_MS) === "timeout") {
        server.close();
        await server.closed;
        throw new Error("Server connection did not close after the client left");
      }
    },
  };
  if (options.handshake !== false) {
    try {
      await handshake(harness, options.handshake ?? []);
    } catch (error) {
      await harness[Symbol.asyncDispose]();
      throw error;
    }
  }
  return harness;
}

/** `conn`, with a copy of the bytes of every write pushed to `writes`. */
function recordingWrites(conn: Deno.TcpConn, writes: Uint8Array[]): ByteIO {
  return {
    read: (p) => conn.read(p),
    async write(p) {
      const n = await conn.write(p);
      // A partial write would leave a frame split across two records.
      ok(n === p.length, `a partial write: ${n} of ${p.length} bytes`);
      writes.push(p.slice());
      return n;
    },
    close: () => conn.close(),
    setNoDelay: (noDelay) => conn.setNoDelay(noDelay),
  };
}

/** Type, stream and flags of each whole frame in `bytes` (one write of whole frames). */
function framesOf(bytes: Uint8Array): Array<Omit<FrameHeader, "length">> {
  const frames: Array<Omit<FrameHeader, "length">> = [];
  for (let at = 0; at + FRAME_HEADER_LENGTH <= bytes.length;) {
    const header: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
    readFrameHeader(bytes, at, header);
    frames.push({ type: header.type, flags: header.flags, streamId: header.streamId });
    at += FRAME_HEADER_LENGTH + header.length;
  }
  return frames;
}

/** Preface and SETTINGS both ways, each acknowledged (RFC 9113 §3.4, §6.5.3). */
async function handshake(h: Harness, settings: Array<[number, number]>): Promise<void> {
  const { peer } = h;
  peer.out.append(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  peer.out.settings(settings);
  await peer.flush();
  // §3.4: the server preface is a SETTINGS frame, the first frame it sends.
  const first = await peer.nextFrame();
  ok(first !== null, "Server closed instead of sending its preface");
  equal(first.header.type, FrameType.SETTINGS, `First frame: ${describeFrame(first)}`);
  const frame = first.frame as SettingsFrame;
  equal(frame.ack, false);
  for (const [id, value] of frame.settings) h.serverSettings.set(id, value);
  await ackSettings(peer);
}

/** Runs `fn` against a fresh server; everything is closed afterwards. */
function serverTest(
  name: string,
  fn: (h: Harness) => Promise<void>,
  options: HarnessOptions = {},
): void {
  Deno.test(name, async () => {
    await using h = await startServer(options);
    await fn(h);
  });
}

/** The field list of a request. */
function req(
  path: string,
  options: { method?: string; extra?: string[]; authority?: string } = {},
): string[] {
  return [
    ":method",
    options.method ?? "GET",
    ":scheme",
    "http",
    ":authority",
    options.authority ?? "localhost",
    ":path",
    path,
    ...(options.extra ?? []),
  ];
}

/** Sends a header block as one HEADERS frame. */
async function sendHeaders(
  h: Harness,
  streamId: number,
  fields: string[],
  endStream = true,
): Promise<void> {
  h.peer.out.headers(streamId, h.peer.encode(fields), endStream, MAX_FRAME);
  await h.peer.flush();
}

/** Sends a raw frame. */
async function sendRaw(
  h: Harness,
  type: number,
  flags: number,
  streamId: number,
  payload: ArrayLike<number>,
): Promise<void> {
  h.peer.out.raw(type, flags, streamId, new Uint8Array(payload));
  await h.peer.flush();
}

/** Sends GET / on `streamId` and expects a 200 "ok": the connection still serves. */
async function expectServes(h: Harness, streamId: number): Promise<void> {
  await sendHeaders(h, streamId, req("/"));
  const response = await h.peer.expectResponse(streamId);
  equal(response.status, 200);
  equal(decoder.decode(response.body), "ok");
}

/** Reads the next DATA frame on `streamId`, skipping other frames. */
async function nextData(
  h: Harness,
  streamId: number,
): Promise<{ length: number; endStream: boolean }> {
  const received = await h.peer.expectFrame(
    `DATA on stream ${streamId}`,
    (r) => r.header.type === FrameType.DATA && r.header.streamId === streamId,
    rejectErrors,
  );
  const frame = received.frame as { data: Uint8Array; endStream: boolean };
  return { length: frame.data.length, endStream: frame.endStream };
}

/** Reads the response head on `streamId`. */
async function nextHead(h: Harness, streamId: number): Promise<ReceivedFrame> {
  return await h.peer.expectFrame(
    `response head on stream ${streamId}`,
    (r) => r.fields !== undefined && r.header.streamId === streamId,
    rejectErrors,
  );
}

/** Asserts no DATA with payload arrived on `streamId` among `frames`. */
function noData(frames: ReceivedFrame[], streamId: number): void {
  const data = frames.filter((r) =>
    r.header.type === FrameType.DATA && r.header.streamId === streamId && r.header.length > 0
  );
  deepEqual(data.map(describeFrame), [], "DATA sent beyond the flow-control window");
}

/** Asserts equal bytes without printing two large arrays when they differ. */
function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  ok(
    actual.length === expected.length && actual.every((b, i) => b === expected[i]),
    `${what}: ${actual.length} bytes that differ from the ${expected.length} expected`,
  );
}

function bytes(text: string): number[] {
  return [...encoder.encode(text)];
}

/** A hand-made header block prefix: GET http://localhost/ without touching the dynamic table. */
const PLAIN_GET = [0x82, 0x86, 0x84, 0x01, 0x09, ...bytes("localhost")];

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
const LARGE_FRAMES: HarnessOptions = {
  server: { settings: { maxFrameSize: 262_144, initialWindowSize: 1 << 20 } },
  handshake: [[SettingId.INITIAL_WINDOW_SIZE, 1 << 20]],
};

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
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

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

// ---- §5.1 Stream states -----------------------------------------------------------------

serverTest(
  "server answers DATA on an idle stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1)",
  async (h) => {
    h.peer.out.data(1, encoder.encode("x"), true);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers RST_STREAM on an idle stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1, §6.4)",
  async (h) => {
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers WINDOW_UPDATE on an idle stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1)",
  async (h) => {
    h.peer.out.windowUpdate(1, 100);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers CONTINUATION on an idle stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1)",
  async (h) => {
    await sendRaw(h, FrameType.CONTINUATION, Flag.END_HEADERS, 1, h.peer.encode(req("/")));
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server accepts PRIORITY on an idle stream and later opens it (RFC 9113 §5.1)",
  async (h) => {
    h.peer.out.priority(1, 0, 100);
    h.peer.out.priority(9, 1, 1, true);
    await h.peer.flush();
    deepEqual((await h.peer.sync()).map(describeFrame), []);
    await expectServes(h, 1);
  },
);

serverTest(
  "server answers DATA on a half-closed (remote) stream with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.data(1, encoder.encode("x"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers HEADERS on a half-closed (remote) stream with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendHeaders(h, 1, ["x-trailer", "1"]);
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers CONTINUATION on a half-closed (remote) stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1, §6.10)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.CONTINUATION, Flag.END_HEADERS, 1, [0x82]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server accepts WINDOW_UPDATE, PRIORITY and RST_STREAM on a half-closed (remote) stream (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.windowUpdate(1, 1000);
    h.peer.out.priority(1, 0, 200);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    deepEqual((await h.peer.sync()).map(describeFrame), []);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers DATA after the client's RST_STREAM with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    h.peer.out.data(1, encoder.encode("late"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers HEADERS after the client's RST_STREAM with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    await sendHeaders(h, 1, ["x-trailer", "1"]);
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers WINDOW_UPDATE after the client's RST_STREAM with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    h.peer.out.windowUpdate(1, 10);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers CONTINUATION after the client's RST_STREAM with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 1, new Uint8Array([0x82]));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server answers DATA on a stream closed by END_STREAM both ways with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await expectServes(h, 1);
    h.peer.out.data(1, encoder.encode("late"), true);
    await h.peer.flush();
    // §5.1 allows a stream error or a connection error here; the codec keeps the connection.
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers HEADERS on a stream closed by END_STREAM both ways with GOAWAY STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await expectServes(h, 1);
    await sendHeaders(h, 1, req("/"));
    await h.peer.expectGoaway(ErrorCode.STREAM_CLOSED, 1);
  },
);

serverTest(
  "server accepts PRIORITY, WINDOW_UPDATE and RST_STREAM shortly after a stream closed (RFC 9113 §5.1)",
  async (h) => {
    await expectServes(h, 1);
    h.peer.out.priority(1, 0, 10);
    h.peer.out.windowUpdate(1, 10);
    h.peer.out.rstStream(1, ErrorCode.NO_ERROR);
    await h.peer.flush();
    deepEqual((await h.peer.sync()).map(describeFrame), []);
    await expectServes(h, 3);
  },
);

serverTest(
  "server ignores DATA on a stream it reset and still credits the connection window (RFC 9113 §5.1, §6.9)",
  async (h) => {
    await sendHeaders(
      h,
      1,
      req("/hang", { method: "POST", extra: ["content-length", "1"] }),
      false,
    );
    h.peer.out.data(1, encoder.encode("too long"), false);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    // 65 535 more octets on the reset stream: ignored, but counted and credited back.
    for (let sent = 0; sent < 65_535; sent += 16_383) {
      h.peer.out.data(1, new Uint8Array(Math.min(16_383, 65_535 - sent)), false);
    }
    await h.peer.flush();
    await h.peer.expectFrame(
      "WINDOW_UPDATE on the connection",
      (r) => r.header.type === FrameType.WINDOW_UPDATE && r.header.streamId === 0,
      rejectErrors,
    );
    await expectServes(h, 3);
  },
  { server: { connectionWindowSize: 65_535 } },
);

serverTest(
  "server credits the connection window for DATA that broke content-length (RFC 9113 §6.9, §8.1.1)",
  async (h) => {
    // Each round's 16 000 octets count against the 65 535-octet connection window; if the
    // server did not give them back, the fifth round would overrun it.
    for (let id = 1; id <= 11; id += 2) {
      await sendHeaders(
        h,
        id,
        req("/hang", { method: "POST", extra: ["content-length", "1"] }),
        false,
      );
      h.peer.out.data(id, new Uint8Array(16_000), false);
      await h.peer.flush();
      await h.peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
    }
    await expectServes(h, 13);
  },
  { server: { connectionWindowSize: 65_535 } },
);

serverTest(
  "server credits the connection window for request bodies its handler never read (RFC 9113 §6.9)",
  async (h) => {
    // "/" answers without reading the body; unread octets must not be lost to the window.
    for (let id = 1; id <= 11; id += 2) {
      // One write, so that the body is queued before the handler answers.
      h.peer.out.headers(id, h.peer.encode(req("/", { method: "POST" })), false, MAX_FRAME);
      h.peer.out.data(id, new Uint8Array(16_000), true);
      await h.peer.flush();
      equal((await h.peer.expectResponse(id)).status, 200);
    }
    await expectServes(h, 13);
  },
  { server: { connectionWindowSize: 65_535 } },
);

// ---- §5.1.1 Stream identifiers, §5.1.2 concurrency ----------------------------------------

serverTest(
  "server answers HEADERS on an even stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1.1)",
  async (h) => {
    await sendHeaders(h, 2, req("/"));
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers a stream identifier lower than an earlier one with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1.1)",
  async (h) => {
    await sendHeaders(h, 5, req("/hang"));
    await sendHeaders(h, 3, req("/"));
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 5);
  },
);

serverTest("server accepts stream identifiers that skip numbers (RFC 9113 §5.1.1)", async (h) => {
  await expectServes(h, 1);
  await expectServes(h, 11);
  await expectServes(h, 101);
});

serverTest(
  "server treats DATA on a skipped lower stream as closed with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1.1)",
  async (h) => {
    await sendHeaders(h, 5, req("/hang"));
    h.peer.out.data(3, encoder.encode("x"), true);
    await h.peer.flush();
    await h.peer.expectReset(3, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 7);
  },
);

serverTest(
  "server refuses a stream above SETTINGS_MAX_CONCURRENT_STREAMS with RST_STREAM REFUSED_STREAM (RFC 9113 §5.1.2)",
  async (h) => {
    equal(h.serverSettings.get(SettingId.MAX_CONCURRENT_STREAMS), 2);
    await sendHeaders(h, 1, req("/hang"));
    await sendHeaders(h, 3, req("/hang"));
    await sendHeaders(h, 5, req("/"));
    await h.peer.expectReset(5, ErrorCode.REFUSED_STREAM);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    await expectServes(h, 7);
  },
  { server: { settings: { maxConcurrentStreams: 2 } } },
);

// ---- §5.3 Priority (deprecated, parsed and ignored) --------------------------------------

serverTest(
  "server answers HEADERS depending on its own stream with RST_STREAM PROTOCOL_ERROR (RFC 9113 §5.3.1)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    const payload = new Uint8Array(5 + block.length);
    payload.set([0, 0, 0, 1, 15]);
    payload.set(block, 5);
    await sendRaw(
      h,
      FrameType.HEADERS,
      Flag.END_HEADERS | Flag.END_STREAM | Flag.PRIORITY,
      1,
      payload,
    );
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers PRIORITY depending on its own stream with RST_STREAM PROTOCOL_ERROR (RFC 9113 §5.3.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.priority(1, 1, 16);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server accepts HEADERS with a priority block and PRIORITY frames (RFC 9113 §5.3.2, §6.2)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    const payload = new Uint8Array(5 + block.length);
    payload.set([0x80, 0, 0, 0, 255]);
    payload.set(block, 5);
    await sendRaw(
      h,
      FrameType.HEADERS,
      Flag.END_HEADERS | Flag.END_STREAM | Flag.PRIORITY,
      1,
      payload,
    );
    h.peer.out.priority(1, 0, 1);
    await h.peer.flush();
    equal((await h.peer.expectResponse(1)).status, 200);
  },
);

// ---- §5.4 Error handling, §6.8 GOAWAY -----------------------------------------------------

serverTest(
  "server's GOAWAY after a connection error names the last stream it processed (RFC 9113 §5.4.1, §6.8)",
  async (h) => {
    await expectServes(h, 1);
    await expectServes(h, 3);
    await sendRaw(h, FrameType.PING, 0, 1, new Uint8Array(8));
    const goaway = await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 3);
    ok(goaway.debugData.length > 0, "GOAWAY carries debug data");
  },
);

serverTest(
  "server's graceful GOAWAY names the last stream and refuses later streams (RFC 9113 §6.8)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await h.peer.sync();
    h.server.goaway();
    const goaway = await h.peer.expectFrame(
      "GOAWAY",
      (r) => r.header.type === FrameType.GOAWAY,
      rejectErrors,
    );
    equal((goaway.frame as GoawayFrame).lastStreamId, 1);
    equal((goaway.frame as GoawayFrame).errorCode, ErrorCode.NO_ERROR);
    await sendHeaders(h, 3, req("/"));
    await h.peer.expectReset(3, ErrorCode.REFUSED_STREAM);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    await h.peer.expectClosed();
  },
);

serverTest(
  "server finishes open streams after the client's GOAWAY, then closes (RFC 9113 §6.8)",
  async (h) => {
    await sendHeaders(h, 1, req("/slow"));
    h.peer.out.goaway(0, ErrorCode.NO_ERROR);
    await h.peer.flush();
    const response = await h.peer.expectResponse(1);
    equal(decoder.decode(response.body), "slow");
    await h.peer.expectGoaway(ErrorCode.NO_ERROR, 1);
  },
);

serverTest(
  "server answers GOAWAY on a stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.8)",
  async (h) => {
    await sendRaw(h, FrameType.GOAWAY, 0, 1, new Uint8Array(8));
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers GOAWAY shorter than 8 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.8)",
  async (h) => {
    await sendRaw(h, FrameType.GOAWAY, 0, 0, new Uint8Array(7));
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 0);
  },
);

serverTest("server never answers RST_STREAM with RST_STREAM (RFC 9113 §5.4.2)", async (h) => {
  await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
  h.peer.out.rstStream(1, ErrorCode.CANCEL);
  h.peer.out.rstStream(1, ErrorCode.CANCEL);
  await h.peer.flush();
  deepEqual((await h.peer.sync()).map(describeFrame), []);
  await expectServes(h, 3);
});

serverTest(
  "server keeps serving after RST_STREAM with an unknown error code (RFC 9113 §7)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.rstStream(1, 0xdead);
    await h.peer.flush();
    await expectServes(h, 3);
  },
);

// ---- §6.1 DATA, §6.2 HEADERS: padding and stream 0 ----------------------------------------

serverTest(
  "server answers DATA on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.1)",
  async (h) => {
    h.peer.out.data(0, encoder.encode("x"), true);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest("server strips DATA padding and delivers only the data (RFC 9113 §6.1)", async (h) => {
  await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
  h.peer.out.data(1, encoder.encode("hello"), false, 10);
  h.peer.out.data(1, encoder.encode(" world"), true, 255);
  await h.peer.flush();
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "hello world");
});

serverTest("server accepts DATA made only of padding (RFC 9113 §6.1)", async (h) => {
  await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
  await sendRaw(h, FrameType.DATA, Flag.PADDED, 1, [5, 0, 0, 0, 0, 0]);
  h.peer.out.data(1, encoder.encode("x"), true);
  await h.peer.flush();
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "x");
});

serverTest(
  "server answers DATA whose padding fills the payload with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    await sendRaw(h, FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, [6, 1, 2, 3, 4, 5]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server answers a PADDED DATA frame without the pad length octet with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §4.2, §6.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    await sendRaw(h, FrameType.DATA, Flag.PADDED, 1, []);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 1);
  },
);

serverTest(
  "server answers HEADERS on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.2)",
  async (h) => {
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 0, PLAIN_GET);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server accepts padded HEADERS, with and without priority (RFC 9113 §6.2)",
  async (h) => {
    const one = h.peer.encode(req("/"));
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED, 1, [
      3,
      ...one,
      0,
      0,
      0,
    ]);
    equal((await h.peer.expectResponse(1)).status, 200);
    const two = h.peer.encode(req("/"));
    const flags = Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED | Flag.PRIORITY;
    await sendRaw(h, FrameType.HEADERS, flags, 3, [2, 0, 0, 0, 1, 9, ...two, 0, 0]);
    equal((await h.peer.expectResponse(3)).status, 200);
  },
);

serverTest(
  "server answers HEADERS whose padding exceeds the block with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.2)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED, 1, [
      block.length + 1,
      ...block,
    ]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers HEADERS whose padding eats into the priority fields with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.2)",
  async (h) => {
    const flags = Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED | Flag.PRIORITY;
    await sendRaw(h, FrameType.HEADERS, flags, 1, [3, 0, 0, 0, 0, 16, 0, 0]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers HEADERS too short for its priority fields with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §4.2, §6.2)",
  async (h) => {
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, 1, [0, 0, 0]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 0);
  },
);

// ---- §6.3 PRIORITY, §6.4 RST_STREAM --------------------------------------------------------

serverTest(
  "server answers PRIORITY on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.3)",
  async (h) => {
    await sendRaw(h, FrameType.PRIORITY, 0, 0, [0, 0, 0, 1, 16]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers PRIORITY of 4 octets with RST_STREAM FRAME_SIZE_ERROR (RFC 9113 §6.3)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.PRIORITY, 0, 1, [0, 0, 0, 0]);
    await h.peer.expectReset(1, ErrorCode.FRAME_SIZE_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers RST_STREAM on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.4)",
  async (h) => {
    await sendRaw(h, FrameType.RST_STREAM, 0, 0, [0, 0, 0, 8]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers RST_STREAM of 3 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.4)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.RST_STREAM, 0, 1, [0, 0, 8]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 1);
  },
);

serverTest(
  "server answers RST_STREAM of 5 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.4)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.RST_STREAM, 0, 1, [0, 0, 0, 8, 0]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 1);
  },
);

serverTest(
  "server stops a stream the client reset and aborts its handler (RFC 9113 §6.4)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await h.peer.sync();
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    deepEqual(
      (await h.peer.sync()).filter((r) => r.header.streamId === 1).map(describeFrame),
      [],
      "nothing is sent on a stream the client reset",
    );
    await expectServes(h, 3);
  },
);

Deno.test("server cancels a streaming response body at once when the client resets the stream (RFC 9113 §6.4)", async () => {
  let cancelled: (reason: unknown) => void;
  const cancel = new Promise<unknown>((resolve) => cancelled = resolve);
  await using h = await startServer({
    handler: (request) =>
      new URL(request.url).pathname !== "/stream" ? new Response("ok") : new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode("first chunk"));
          },
          cancel: (reason) => cancelled(reason),
        }),
      ),
  });
  await sendHeaders(h, 1, req("/stream"));
  await nextData(h, 1);
  h.peer.out.rstStream(1, ErrorCode.CANCEL);
  await h.peer.flush();
  ok(await settle(cancel, TIMEOUT_MS) !== "timeout", "the response source was not cancelled");
  await expectServes(h, 3);
});

// ---- §6.5 SETTINGS ------------------------------------------------------------------------

serverTest("server acknowledges an empty SETTINGS frame (RFC 9113 §6.5.3)", async (h) => {
  h.peer.out.settings([]);
  await h.peer.flush();
  const ack = await h.peer.expectFrame("SETTINGS ACK", isSettingsAck, rejectErrors);
  equal(ack.header.length, 0);
});

serverTest(
  "server answers SETTINGS ACK with a payload with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.5)",
  async (h) => {
    await sendRaw(h, FrameType.SETTINGS, Flag.ACK, 0, [0, 4, 0, 0, 0, 1]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS on a stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.5)",
  async (h) => {
    await sendRaw(h, FrameType.SETTINGS, 0, 1, [0, 3, 0, 0, 0, 100]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS whose length is not a multiple of 6 with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.5)",
  async (h) => {
    await sendRaw(h, FrameType.SETTINGS, 0, 0, [0, 3, 0, 0, 100]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS_ENABLE_PUSH of 2 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.5.2)",
  async (h) => {
    h.peer.out.settings([[SettingId.ENABLE_PUSH, 2]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 with GOAWAY FLOW_CONTROL_ERROR (RFC 9113 §6.5.2)",
  async (h) => {
    h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 0x8000_0000]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.FLOW_CONTROL_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS_MAX_FRAME_SIZE below 16384 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.5.2)",
  async (h) => {
    h.peer.out.settings([[SettingId.MAX_FRAME_SIZE, 16_383]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS_MAX_FRAME_SIZE above 2^24-1 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.5.2)",
  async (h) => {
    h.peer.out.settings([[SettingId.MAX_FRAME_SIZE, 16_777_216]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers SETTINGS_ENABLE_CONNECT_PROTOCOL of 2 with GOAWAY PROTOCOL_ERROR (RFC 8441 §3)",
  async (h) => {
    h.peer.out.settings([[SettingId.ENABLE_CONNECT_PROTOCOL, 2]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server processes the values of one SETTINGS frame in order (RFC 9113 §6.5.3)",
  async (h) => {
    h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 100], [SettingId.INITIAL_WINDOW_SIZE, 1]]);
    await h.peer.flush();
    await h.peer.expectFrame("SETTINGS ACK", isSettingsAck, rejectErrors);
    await sendHeaders(h, 1, req("/size?n=5"));
    equal((await nextData(h, 1)).length, 1);
  },
);

serverTest(
  "server honours a SETTINGS_HEADER_TABLE_SIZE of 0 with a table size update (RFC 7541 §4.2)",
  async (h) => {
    // From now on our decoder requires the server's blocks to shrink the table to 0 first.
    h.peer.decoder.setMaxTableSize(0);
    await expectServes(h, 1);
    await expectServes(h, 3);
    equal(h.peer.decoder.dynamicTable.length, 0);
  },
  { handshake: [[SettingId.HEADER_TABLE_SIZE, 0]] },
);

// ---- §6.7 PING ----------------------------------------------------------------------------

serverTest("server answers PING with a PING ACK echoing the payload (RFC 9113 §6.7)", async (h) => {
  const data = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3]);
  h.peer.out.ping(false, data);
  await h.peer.flush();
  const ack = await h.peer.expectFrame(
    "PING",
    (r) => r.header.type === FrameType.PING,
    rejectErrors,
  );
  equal(ack.header.flags, Flag.ACK);
  equal(ack.header.streamId, 0);
  deepEqual(ack.payload, data);
});

serverTest("server does not answer a PING ACK (RFC 9113 §6.7)", async (h) => {
  h.peer.out.ping(true, new Uint8Array(8).fill(7));
  await h.peer.flush();
  const before = await h.peer.sync();
  deepEqual(before.filter((r) => r.header.type === FrameType.PING).map(describeFrame), []);
});

serverTest(
  "server answers PING on a stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.7)",
  async (h) => {
    await sendRaw(h, FrameType.PING, 0, 1, new Uint8Array(8));
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers PING of 6 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.7)",
  async (h) => {
    await sendRaw(h, FrameType.PING, 0, 0, new Uint8Array(6));
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 0);
  },
);

// ---- §6.9 WINDOW_UPDATE and flow control ----------------------------------------------------

serverTest(
  "server answers a connection WINDOW_UPDATE of 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.9)",
  async (h) => {
    await sendRaw(h, FrameType.WINDOW_UPDATE, 0, 0, [0, 0, 0, 0]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers a stream WINDOW_UPDATE of 0 with RST_STREAM PROTOCOL_ERROR (RFC 9113 §6.9)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.WINDOW_UPDATE, 0, 1, [0, 0, 0, 0]);
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers WINDOW_UPDATE of 3 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.9)",
  async (h) => {
    await sendRaw(h, FrameType.WINDOW_UPDATE, 0, 0, [0, 0, 1]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 0);
  },
);

serverTest(
  "server answers a stream WINDOW_UPDATE of 5 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.9)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.WINDOW_UPDATE, 0, 1, [0, 0, 0, 1, 0]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 1);
  },
);

serverTest(
  "server answers a connection window above 2^31-1 with GOAWAY FLOW_CONTROL_ERROR (RFC 9113 §6.9.1)",
  async (h) => {
    h.peer.out.windowUpdate(0, MAX_WINDOW_SIZE - 65_535);
    await h.peer.flush();
    deepEqual((await h.peer.sync()).map(describeFrame), [], "a window of exactly 2^31-1 is fine");
    h.peer.out.windowUpdate(0, 1);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.FLOW_CONTROL_ERROR, 0);
  },
);

serverTest(
  "server answers a stream window above 2^31-1 with RST_STREAM FLOW_CONTROL_ERROR (RFC 9113 §6.9.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.windowUpdate(1, MAX_WINDOW_SIZE - 65_535);
    await h.peer.flush();
    deepEqual((await h.peer.sync()).map(describeFrame), []);
    h.peer.out.windowUpdate(1, 1);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.FLOW_CONTROL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers a SETTINGS_INITIAL_WINDOW_SIZE change that overflows a stream window with GOAWAY FLOW_CONTROL_ERROR (RFC 9113 §6.9.2)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.windowUpdate(1, MAX_WINDOW_SIZE - 65_535);
    await h.peer.flush();
    await h.peer.sync();
    h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 65_536]]);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.FLOW_CONTROL_ERROR, 1);
  },
);

serverTest(
  "server sends 1-octet DATA frames, each only after WINDOW_UPDATE, with an initial window of 1 (RFC 9113 §6.9.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/size?n=3"));
    await nextHead(h, 1);
    let received = 0;
    while (true) {
      const data = await nextData(h, 1);
      if (data.length === 0) {
        ok(data.endStream);
        break;
      }
      equal(data.length, 1);
      received++;
      if (data.endStream) break;
      const before = await h.peer.sync();
      noData(before, 1);
      // After the last octet, an empty DATA with END_STREAM needs no window.
      const end = before.find((r) => r.header.type === FrameType.DATA && r.header.streamId === 1);
      if (end !== undefined) {
        equal(received, 3);
        ok((end.header.flags & Flag.END_STREAM) !== 0);
        break;
      }
      h.peer.out.windowUpdate(1, 1);
      await h.peer.flush();
    }
    equal(received, 3);
  },
  { handshake: [[SettingId.INITIAL_WINDOW_SIZE, 1]] },
);

serverTest(
  "server applies a SETTINGS_INITIAL_WINDOW_SIZE increase to open streams (RFC 9113 §6.9.2)",
  async (h) => {
    await sendHeaders(h, 1, req("/size?n=5"));
    await nextHead(h, 1);
    noData(await h.peer.sync(), 1);
    h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 5]]);
    await h.peer.flush();
    let received = 0;
    while (true) {
      const data = await nextData(h, 1);
      received += data.length;
      if (data.endStream) break;
    }
    equal(received, 5);
  },
  { handshake: [[SettingId.INITIAL_WINDOW_SIZE, 0]] },
);

serverTest(
  "server tracks a stream window made negative by SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113 §6.9.2)",
  async (h) => {
    await sendHeaders(h, 1, req("/size?n=10"));
    await nextHead(h, 1);
    equal((await nextData(h, 1)).length, 3);
    noData(await h.peer.sync(), 1);
    // The window goes from 0 to 1 - 3 = -2.
    h.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 1]]);
    await h.peer.flush();
    noData(await h.peer.sync(), 1);
    h.peer.out.windowUpdate(1, 2);
    await h.peer.flush();
    noData(await h.peer.sync(), 1);
    // Now -2 + 2 + 1 = 1: exactly one octet may go.
    h.peer.out.windowUpdate(1, 1);
    await h.peer.flush();
    equal((await nextData(h, 1)).length, 1);
    noData(await h.peer.sync(), 1);
    h.peer.out.windowUpdate(1, 100);
    await h.peer.flush();
    let rest = 0;
    while (true) {
      const data = await nextData(h, 1);
      rest += data.length;
      if (data.endStream) break;
    }
    equal(rest, 6);
  },
  { handshake: [[SettingId.INITIAL_WINDOW_SIZE, 3]] },
);

serverTest(
  "server never exceeds the connection window and resumes on its WINDOW_UPDATE (RFC 9113 §6.9.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/size?n=70000"));
    await nextHead(h, 1);
    let sent = 0;
    while (sent < 65_535) {
      const data = await nextData(h, 1);
      ok(data.length <= MAX_FRAME);
      sent += data.length;
    }
    equal(sent, 65_535);
    noData(await h.peer.sync(), 1);
    h.peer.out.windowUpdate(0, 70_000 - 65_535);
    await h.peer.flush();
    while (true) {
      const data = await nextData(h, 1);
      sent += data.length;
      if (data.endStream) break;
    }
    equal(sent, 70_000);
  },
  { handshake: [[SettingId.INITIAL_WINDOW_SIZE, 1 << 20]] },
);

serverTest(
  "server answers DATA beyond its stream window with RST_STREAM FLOW_CONTROL_ERROR (RFC 9113 §6.9.1)",
  async (h) => {
    equal(h.serverSettings.get(SettingId.INITIAL_WINDOW_SIZE), 100);
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    h.peer.out.data(1, new Uint8Array(101), false);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.FLOW_CONTROL_ERROR);
    await expectServes(h, 3);
  },
  { server: { settings: { initialWindowSize: 100 } } },
);

serverTest(
  "server counts DATA padding against its stream window (RFC 9113 §6.1, §6.9.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    // 50 octets of data, the pad length octet and 50 of padding: 101 > 100.
    h.peer.out.data(1, new Uint8Array(50), false, 50);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.FLOW_CONTROL_ERROR);
    await expectServes(h, 3);
  },
  { server: { settings: { initialWindowSize: 100 } } },
);

serverTest(
  "server answers DATA beyond its connection window with GOAWAY FLOW_CONTROL_ERROR (RFC 9113 §6.9.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    for (let i = 0; i < 4; i++) h.peer.out.data(1, new Uint8Array(16_384), false);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.FLOW_CONTROL_ERROR, 1);
  },
  { server: { connectionWindowSize: 65_535 } },
);

serverTest(
  "server replenishes its windows as the handler reads a large body (RFC 9113 §6.9)",
  async (h) => {
    await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
    let streamWindow = 16_384;
    let connectionWindow = 65_535;
    let remaining = 200_000;
    while (remaining > 0) {
      const n = Math.min(remaining, streamWindow, connectionWindow, MAX_FRAME);
      if (n === 0) {
        const update = await h.peer.expectFrame(
          "WINDOW_UPDATE",
          (r) => r.header.type === FrameType.WINDOW_UPDATE,
          rejectErrors,
        );
        const increment = (update.frame as { increment: number }).increment;
        if (update.header.streamId === 0) connectionWindow += increment;
        else streamWindow += increment;
        continue;
      }
      remaining -= n;
      streamWindow -= n;
      connectionWindow -= n;
      h.peer.out.data(1, new Uint8Array(n), remaining === 0);
      await h.peer.flush();
    }
    // Room for the echoed body in our own windows.
    h.peer.out.windowUpdate(0, 200_000);
    h.peer.out.windowUpdate(1, 200_000);
    await h.peer.flush();
    equal((await h.peer.expectResponse(1)).body.length, 200_000);
  },
  { server: { settings: { initialWindowSize: 16_384 }, connectionWindowSize: 65_535 } },
);

// ---- §8.1 HTTP message framing --------------------------------------------------------------

serverTest("server delivers a body followed by trailers (RFC 9113 §8.1)", async (h) => {
  await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
  h.peer.out.data(1, encoder.encode("body"), false);
  await h.peer.flush();
  await sendHeaders(h, 1, ["x-checksum", "abc"], true);
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "body");
});

serverTest(
  "server answers trailers without END_STREAM with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    await sendHeaders(h, 1, ["x-checksum", "abc"], false);
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers trailers with a pseudo-header with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    await sendHeaders(h, 1, [":path", "/", "x-checksum", "abc"], true);
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers DATA after trailers with RST_STREAM STREAM_CLOSED (RFC 9113 §8.1, §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    await sendHeaders(h, 1, ["x-checksum", "abc"], true);
    h.peer.out.data(1, encoder.encode("late"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server ends a request it answered early with RST_STREAM NO_ERROR (RFC 9113 §8.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/", { method: "POST" }), false);
    const response = await h.peer.expectResponse(1);
    equal(decoder.decode(response.body), "ok");
    await h.peer.expectReset(1, ErrorCode.NO_ERROR);
    // The client may still send what it had in flight: ignored.
    h.peer.out.data(1, encoder.encode("rest"), true);
    await h.peer.flush();
    await expectServes(h, 3);
  },
);

Deno.test("server sends the head and a body that is ready at once in one write, the DATA ending the stream (RFC 9113 §8.1)", async () => {
  const writes: Uint8Array[] = [];
  // Flushes at the end of each job (the codec's default, pinned here): a head
  // queued before its body was known to be ready would leave in a write of its own.
  await using h = await startServer({ writes, server: { schedule: queueMicrotask } });
  // new Response("ok") declares no content-length: the end is known only by
  // seeing the body's source done right after its one chunk.
  await sendHeaders(h, 1, req("/"));
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "ok");
  const ofStream1 = writes.map((bytes) => framesOf(bytes).filter((f) => f.streamId === 1))
    .filter((frames) => frames.length > 0);
  deepEqual(ofStream1, [[
    { type: FrameType.HEADERS, streamId: 1, flags: Flag.END_HEADERS },
    { type: FrameType.DATA, streamId: 1, flags: Flag.END_STREAM },
  ]]);
});

Deno.test("server sends the head of a body whose first chunk is not ready at once (RFC 9113 §8.1)", async () => {
  let headSeen!: () => void;
  const seen = new Promise<void>((resolve) => headSeen = resolve);
  await using h = await startServer({
    handler: () =>
      new Response(
        new ReadableStream<Uint8Array>({
          // The first chunk waits for the client to have the head: a server that held
          // the head back for the first chunk would never send either.
          async start(controller) {
            await seen;
            controller.enqueue(encoder.encode("late"));
            controller.close();
          },
        }),
      ),
  });
  await sendHeaders(h, 1, req("/stream"));
  const head = await nextHead(h, 1);
  equal(head.header.flags & Flag.END_STREAM, 0);
  headSeen();
  deepEqual(await nextData(h, 1), { length: 4, endStream: true });
});

/** A byte stream of `length` patterned octets in uneven chunks; counts the reads into a reader's own views. */
function patternedByteStream(length: number, pattern: (i: number) => number) {
  const seen = { intoReaderViews: 0 };
  let produced = 0;
  const stream = new ReadableStream({
    type: "bytes",
    pull(controller) {
      // Chunks of uneven sizes, written into the reader's own view when it brings one.
      const want = Math.min(length - produced, 1 + ((produced * 13) % 90_000));
      const view = controller.byobRequest?.view as Uint8Array | null | undefined;
      const chunk = view ? view.subarray(0, Math.min(want, view.length)) : new Uint8Array(want);
      for (let i = 0; i < chunk.length; i++) chunk[i] = pattern(produced + i);
      produced += chunk.length;
      if (view) {
        seen.intoReaderViews++;
        controller.byobRequest!.respond(chunk.length);
      } else controller.enqueue(chunk);
      if (produced === length) controller.close();
    },
  });
  return { stream, seen };
}

/** A byte pattern that does not repeat with any chunk or buffer size the tests use. */
const patternOctet = (i: number) => (i * 7 + (i >> 11)) % 251;

/** Collects a stream's DATA until END_STREAM, granting the stream's window back as it goes. */
async function receiveBody(h: Harness, streamId: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let ended = false; !ended;) {
    const r = await h.peer.expectFrame(
      `DATA on stream ${streamId}`,
      (f) => f.header.type === FrameType.DATA && f.header.streamId === streamId,
      rejectErrors,
    );
    const data = (r.frame as { data: Uint8Array }).data;
    parts.push(data);
    ended = (r.header.flags & Flag.END_STREAM) !== 0;
    if (!ended && data.length > 0) {
      h.peer.out.windowUpdate(streamId, data.length);
      await h.peer.flush();
    }
  }
  return concat(parts);
}

/**
 * Serves `source` as a body of `declared` octets (large frames, stream window
 * `window`) and checks that the client gets exactly that many patterned octets.
 */
async function expectPatternedBody(
  source: ReadableStream<Uint8Array>,
  declared: number,
  window: number,
): Promise<void> {
  await using h = await startServer({
    handler: () => new Response(source, { headers: { "content-length": String(declared) } }),
    server: LARGE_FRAMES.server,
    handshake: [[SettingId.INITIAL_WINDOW_SIZE, window]],
  });
  h.peer.out.windowUpdate(0, 1 << 24);
  await sendHeaders(h, 1, req("/"));
  const received = await receiveBody(h, 1);
  equal(received.length, declared);
  const wrong = received.findIndex((b, i) => b !== patternOctet(i));
  equal(wrong, -1, `octet ${wrong} differs`);
}

for (
  const [window, LENGTH] of [[1 << 20, 1_000_003], [16_384, 1_000_003], [1 << 20, 100_000]]
) {
  Deno.test(`server reads a long byte-stream body into its own buffers and sends it byte for byte, stream window ${window}, ${LENGTH} octets (RFC 9113 §6.1, §6.9)`, async () => {
    // With a 16 KiB window each chunk leaves in pieces, waiting for WINDOW_UPDATE
    // between them while the next read fills the other buffer. A body just over
    // the length at which buffers are reused is read the same way.
    const body = patternedByteStream(LENGTH, patternOctet);
    await expectPatternedBody(body.stream, LENGTH, window);
    ok(body.seen.intoReaderViews > 0, "the body was not read into the server's buffers");
  });
}

for (
  const [perRead, length, declared, largestBuffer] of [
    [Infinity, 2_000_000, 2_000_000, 256 * 1024],
    [16_384, 2_000_000, 2_000_000, 64 * 1024],
    [Infinity, 100_000, 100_000, 64 * 1024],
    [Infinity, 2_000_000, 1_000_000, 256 * 1024],
  ]
) {
  Deno.test(`server reads a byte-stream body into buffers that grow only while reads fill them (${length} octets, ${declared} declared, ${perRead} a read at most)`, async () => {
    // A fast source (an upload that keeps the socket full) gets buffers of the
    // frame size a tunnel takes; a slow one keeps two of 64 KiB, so that many
    // slow uploads do not each hold half a megabyte. No read asks for more than
    // the declared length leaves: a source with more ends there (cancelled).
    let produced = 0;
    let largest = 0;
    let cancelled = false;
    const source = new ReadableStream({
      type: "bytes",
      pull(controller) {
        const view = controller.byobRequest!.view as Uint8Array;
        largest = Math.max(largest, view.byteLength);
        const n = Math.min(view.byteLength, perRead, length - produced);
        for (let k = 0; k < n; k++) view[k] = patternOctet(produced + k);
        produced += n;
        controller.byobRequest!.respond(n);
        if (produced === length) controller.close();
      },
      cancel() {
        cancelled = true;
      },
    });
    await expectPatternedBody(source, declared, 1 << 24);
    equal(largest, largestBuffer);
    if (declared < length) {
      await waitUntil(() => cancelled, TIMEOUT_MS, "the source cancelled at the declared length");
    }
  });
}

Deno.test("server resets a response whose body source fails with RST_STREAM INTERNAL_ERROR (RFC 9113 §8.1)", async () => {
  let pulls = 0;
  await using h = await startServer({
    handler: (request) =>
      new URL(request.url).pathname !== "/fails" ? new Response("ok") : new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (pulls++ === 0) controller.enqueue(encoder.encode("part"));
            else controller.error(new Error("source failed"));
          },
        }),
      ),
  });
  await sendHeaders(h, 1, req("/fails"));
  // A truncated body must not end like a complete one: no END_STREAM, a reset instead.
  const reset = await h.peer.expectFrame(
    "RST_STREAM on stream 1",
    (r) => r.header.type === FrameType.RST_STREAM && r.header.streamId === 1,
    (r) =>
      r.header.streamId === 1 && (r.header.flags & Flag.END_STREAM) !== 0
        ? `END_STREAM before the reset: ${describeFrame(r)}`
        : r.header.type === FrameType.GOAWAY
        ? describeFrame(r)
        : null,
  );
  equal((reset.frame as { errorCode: number }).errorCode, ErrorCode.INTERNAL_ERROR);
  await expectServes(h, 3);
});

// §8.1.1 content-length
serverTest("server accepts DATA matching content-length (RFC 9113 §8.1.1)", async (h) => {
  await sendHeaders(h, 1, req("/echo", { method: "POST", extra: ["content-length", "5"] }), false);
  h.peer.out.data(1, encoder.encode("ab"), false);
  h.peer.out.data(1, encoder.encode("cde"), true);
  await h.peer.flush();
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "abcde");
});

serverTest(
  "server answers one DATA frame longer than content-length with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1)",
  async (h) => {
    await sendHeaders(
      h,
      1,
      req("/hang", { method: "POST", extra: ["content-length", "4"] }),
      false,
    );
    h.peer.out.data(1, encoder.encode("12345"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers several DATA frames summing over content-length with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1)",
  async (h) => {
    await sendHeaders(
      h,
      1,
      req("/hang", { method: "POST", extra: ["content-length", "4"] }),
      false,
    );
    h.peer.out.data(1, encoder.encode("12"), false);
    h.peer.out.data(1, encoder.encode("345"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers END_STREAM before content-length octets with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1)",
  async (h) => {
    await sendHeaders(
      h,
      1,
      req("/hang", { method: "POST", extra: ["content-length", "10"] }),
      false,
    );
    h.peer.out.data(1, encoder.encode("12345"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

Deno.test("server answers HEADERS with END_STREAM and a non-zero content-length with RST_STREAM PROTOCOL_ERROR, without calling the handler (RFC 9113 §8.1.1)", async () => {
  const paths: string[] = [];
  await using h = await startServer({
    handler: (request) => {
      paths.push(new URL(request.url).pathname);
      return new Response("ok");
    },
  });
  await sendHeaders(h, 1, req("/bad", { method: "POST", extra: ["content-length", "5"] }), true);
  await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
  await expectServes(h, 3);
  deepEqual(paths, ["/"]);
});

serverTest(
  "server answers an invalid content-length with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1)",
  async (h) => {
    await sendHeaders(
      h,
      1,
      req("/hang", { method: "POST", extra: ["content-length", "abc"] }),
      false,
    );
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

// §8.2 fields
const MALFORMED_FIELDS: Array<[string, string[]]> = [
  ["an upper-case field name (RFC 9113 §8.2.1)", ["X-Upper", "1"]],
  ["a field name with a space (RFC 9113 §8.2.1)", ["x bad", "1"]],
  ["a field name with a colon inside (RFC 9113 §8.2.1)", ["x:bad", "1"]],
  ["an empty field name (RFC 9113 §8.2.1)", ["", "1"]],
  ["a field value with CR LF (RFC 9113 §8.2.1)", ["x-a", "1\r\nx-b: 2"]],
  ["a field value with NUL (RFC 9113 §8.2.1)", ["x-a", "1\x002"]],
  ["a field value with leading whitespace (RFC 9113 §8.2.1)", ["x-a", " 1"]],
  ["a field value with trailing whitespace (RFC 9113 §8.2.1)", ["x-a", "1\t"]],
  ["the connection field (RFC 9113 §8.2.2)", ["connection", "keep-alive"]],
  ["the keep-alive field (RFC 9113 §8.2.2)", ["keep-alive", "timeout=5"]],
  ["the proxy-connection field (RFC 9113 §8.2.2)", ["proxy-connection", "keep-alive"]],
  ["the transfer-encoding field (RFC 9113 §8.2.2)", ["transfer-encoding", "chunked"]],
  ["the upgrade field (RFC 9113 §8.2.2)", ["upgrade", "h2c"]],
  ["te other than trailers (RFC 9113 §8.2.2)", ["te", "gzip"]],
  ["a host differing from :authority (RFC 9113 §8.3.1)", ["host", "example.org"]],
  ["a non-ASCII field name (RFC 9113 §8.2.1)", ["x-caf\xe9", "1"]],
];

for (const [what, extra] of MALFORMED_FIELDS) {
  serverTest(`server answers a request with ${what} with RST_STREAM PROTOCOL_ERROR`, async (h) => {
    await sendHeaders(h, 1, req("/", { extra }));
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  });
}

serverTest("server accepts te: trailers (RFC 9113 §8.2.2)", async (h) => {
  await sendHeaders(h, 1, req("/headers", { extra: ["te", "trailers"] }));
  equal((await h.peer.expectResponse(1)).status, 200);
});

serverTest('server joins cookie crumbs with "; " (RFC 9113 §8.2.3)', async (h) => {
  await sendHeaders(h, 1, req("/headers", { extra: ["cookie", "a=1", "cookie", "b=2"] }));
  const body = JSON.parse(decoder.decode((await h.peer.expectResponse(1)).body));
  equal(body.cookie, "a=1; b=2");
});

serverTest(
  "server never sends connection-specific fields and sends pseudo-headers first (RFC 9113 §8.2.2, §8.3)",
  async (h) => {
    await sendHeaders(h, 1, req("/"));
    const response = await h.peer.expectResponse(1);
    equal(response.fields[0], ":status");
    for (const name of ["connection", "keep-alive", "upgrade", "proxy-connection", "te"]) {
      equal(field(response.fields, name), undefined, name);
    }
    for (let i = 0; i < response.fields.length; i += 2) {
      equal(response.fields[i], response.fields[i]!.toLowerCase());
    }
    equal(field(response.fields, "x-kept"), "yes");
  },
  {
    handler: () =>
      new Response("ok", {
        headers: {
          connection: "close",
          "keep-alive": "timeout=5",
          upgrade: "websocket",
          "proxy-connection": "close",
          te: "gzip",
          "x-kept": "yes",
        },
      }),
  },
);

serverTest(
  "server answers a header list above its SETTINGS_MAX_HEADER_LIST_SIZE with 431 (RFC 9113 §10.5.1)",
  async (h) => {
    equal(h.serverSettings.get(SettingId.MAX_HEADER_LIST_SIZE), 300);
    await sendHeaders(h, 1, req("/", { extra: ["x-big", "z".repeat(400)] }));
    equal((await h.peer.expectResponse(1)).status, 431);
    await expectServes(h, 3);
  },
  { server: { settings: { maxHeaderListSize: 300 } } },
);

// §8.3 pseudo-header fields
const MALFORMED_HEADS: Array<[string, string[]]> = [
  ["a pseudo-header after a regular field (RFC 9113 §8.3)", [
    ":method",
    "GET",
    ":scheme",
    "http",
    "x-a",
    "1",
    ":path",
    "/",
    ":authority",
    "localhost",
  ]],
  ["an unknown pseudo-header (RFC 9113 §8.3)", [...req("/"), ":foo", "bar"]],
  ["the response pseudo-header :status (RFC 9113 §8.3)", [":status", "200", ...req("/")]],
  ["a duplicate :method (RFC 9113 §8.3.1)", [":method", "GET", ...req("/")]],
  ["a duplicate :path (RFC 9113 §8.3.1)", [...req("/"), ":path", "/"]],
  ["a duplicate :scheme (RFC 9113 §8.3.1)", [":scheme", "https", ...req("/")]],
  ["a duplicate :authority (RFC 9113 §8.3.1)", [":authority", "localhost", ...req("/")]],
  ["no :method (RFC 9113 §8.3.1)", [":scheme", "http", ":authority", "localhost", ":path", "/"]],
  ["no :scheme (RFC 9113 §8.3.1)", [":method", "GET", ":authority", "localhost", ":path", "/"]],
  ["no :path (RFC 9113 §8.3.1)", [":method", "GET", ":scheme", "http", ":authority", "localhost"]],
  ["an empty :path (RFC 9113 §8.3.1)", req("")],
  ["a :path not starting with / (RFC 9113 §8.3.1)", req("foo")],
  ["CONNECT with :scheme and :path (RFC 9113 §8.5)", req("/", { method: "CONNECT" })],
  ["CONNECT without :authority (RFC 9113 §8.5)", [":method", "CONNECT"]],
  ["userinfo in :authority (RFC 9113 §8.3.1)", req("/", { authority: "user@localhost" })],
  [
    "a path in :authority (RFC 9113 §8.3.1, RFC 3986 §3.2)",
    req("/", {
      authority: "localhost/admin",
    }),
  ],
  ["an invalid host and no :authority (RFC 9113 §8.3.1, RFC 3986 §3.2)", [
    ":method",
    "GET",
    ":scheme",
    "http",
    ":path",
    "/",
    "host",
    "localhost?x",
  ]],
  ["an invalid :scheme (RFC 9113 §8.3.1, RFC 3986 §3.1)", [
    ":method",
    "GET",
    ":scheme",
    "http://evil",
    ":authority",
    "localhost",
    ":path",
    "/",
  ]],
  ["an extended CONNECT :protocol that was not enabled (RFC 8441 §4)", [
    ...req("/", { method: "CONNECT" }),
    ":protocol",
    "websocket",
  ]],
];

for (const [what, fields] of MALFORMED_HEADS) {
  serverTest(`server answers a request with ${what} with RST_STREAM PROTOCOL_ERROR`, async (h) => {
    await sendHeaders(h, 1, fields);
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  });
}

serverTest(
  "server takes the authority from Host when :authority is absent (RFC 9113 §8.3.1)",
  async (h) => {
    await sendHeaders(h, 1, [
      ":method",
      "GET",
      ":scheme",
      "http",
      ":path",
      "/url",
      "host",
      "example.com:8080",
    ]);
    equal(decoder.decode((await h.peer.expectResponse(1)).body), "http://example.com:8080/url");
  },
  { handler: (request) => new Response(request.url) },
);

serverTest("server accepts an IPv6 :authority with a port (RFC 3986 §3.2.2)", async (h) => {
  await sendHeaders(h, 1, req("/url", { authority: "[::1]:8443" }));
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "http://[::1]:8443/url");
}, { handler: (request) => new Response(request.url) });

serverTest(
  "server answers HEAD with a head that ends the stream and no DATA (RFC 9110 §9.3.2)",
  async (h) => {
    await sendHeaders(h, 1, req("/", { method: "HEAD" }));
    const response = await h.peer.expectResponse(1);
    equal(response.status, 200);
    deepEqual(response.dataLengths, []);
  },
);

serverTest("server answers POST with a body and trailers (RFC 9113 §8.1)", async (h) => {
  await sendHeaders(h, 1, req("/echo", { method: "POST", extra: ["te", "trailers"] }), false);
  h.peer.out.data(1, encoder.encode("a"), false);
  h.peer.out.data(1, encoder.encode("b"), false);
  h.peer.out.headers(1, h.peer.encode(["x-sum", "2"]), true, MAX_FRAME);
  await h.peer.flush();
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "ab");
});

serverTest("server accepts OPTIONS with :path * (RFC 9113 §8.3.1)", async (h) => {
  await sendHeaders(h, 1, req("*", { method: "OPTIONS" }));
  equal((await h.peer.expectResponse(1)).status, 200);
});

// ---- §8.4 Server push ----------------------------------------------------------------------

serverTest(
  "server answers PUSH_PROMISE from the client with GOAWAY PROTOCOL_ERROR (RFC 9113 §8.4)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.pushPromise(1, 2, h.peer.encode(req("/pushed")));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server answers PUSH_PROMISE on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.6)",
  async (h) => {
    h.peer.out.pushPromise(0, 2, new Uint8Array([0x82]));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

// ---- RFC 7541 HPACK -------------------------------------------------------------------------

async function expectCompressionError(h: Harness, block: number[]): Promise<void> {
  await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, block);
  await h.peer.expectGoaway(ErrorCode.COMPRESSION_ERROR);
}

serverTest(
  "server answers an indexed field of index 0 with GOAWAY COMPRESSION_ERROR (RFC 7541 §6.1)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x80]);
  },
);

serverTest(
  "server answers an index past the dynamic table with GOAWAY COMPRESSION_ERROR (RFC 7541 §2.3.3)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0xbe]);
  },
);

serverTest(
  "server answers a literal whose name index is past the tables with GOAWAY COMPRESSION_ERROR (RFC 7541 §2.3.3)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x0f, 0x30, 0x01, 0x61]);
  },
);

serverTest(
  "server answers a table size update above SETTINGS_HEADER_TABLE_SIZE with GOAWAY COMPRESSION_ERROR (RFC 7541 §6.3)",
  async (h) => {
    equal(h.serverSettings.get(SettingId.HEADER_TABLE_SIZE), 4096);
    await expectCompressionError(h, [0x3f, 0xe2, 0x1f, ...PLAIN_GET]); // 4097
  },
);

serverTest(
  "server answers a table size update after a field with GOAWAY COMPRESSION_ERROR (RFC 7541 §4.2)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x20]);
  },
);

serverTest(
  "server accepts table size updates at the start of a block (RFC 7541 §4.2, §6.3)",
  async (h) => {
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, [
      0x20,
      0x3f,
      0xe1,
      0x1f, // 0, then 4096
      ...PLAIN_GET,
    ]);
    equal((await h.peer.expectResponse(1)).status, 200);
  },
);

serverTest(
  "server answers a reference to an entry evicted by a size update with GOAWAY COMPRESSION_ERROR (RFC 7541 §4.3)",
  async (h) => {
    // 0x41 adds ":authority: localhost" to the dynamic table as index 62.
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, [
      0x82,
      0x86,
      0x84,
      0x41,
      0x09,
      ...bytes("localhost"),
    ]);
    equal((await h.peer.expectResponse(1)).status, 200);
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, [
      0x82,
      0x86,
      0x84,
      0xbe,
    ]);
    equal((await h.peer.expectResponse(3)).status, 200, "index 62 is in the table");
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 5, [
      0x20,
      0x3f,
      0xe1,
      0x1f,
      0x82,
      0x86,
      0x84,
      0xbe,
    ]);
    await h.peer.expectGoaway(ErrorCode.COMPRESSION_ERROR, 3);
  },
);

serverTest(
  "server answers a Huffman string containing EOS with GOAWAY COMPRESSION_ERROR (RFC 7541 §5.2)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x00, 0x01, 0x61, 0x84, 0xff, 0xff, 0xff, 0xff]);
  },
);

serverTest(
  "server answers Huffman padding longer than 7 bits with GOAWAY COMPRESSION_ERROR (RFC 7541 §5.2)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x00, 0x01, 0x61, 0x82, 0x1f, 0xff]);
  },
);

serverTest(
  "server answers Huffman padding that is not a prefix of EOS with GOAWAY COMPRESSION_ERROR (RFC 7541 §5.2)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x00, 0x01, 0x61, 0x81, 0x18]);
  },
);

serverTest(
  "server accepts a Huffman-encoded value with valid padding (RFC 7541 §5.2)",
  async (h) => {
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, [
      0x82,
      0x86,
      0x01,
      0x09,
      ...bytes("localhost"),
      0x04,
      0x06,
      ...bytes("/heade"),
      0x00,
      0x01,
      0x61,
      0x81,
      0x1f,
    ]);
    const response = await h.peer.expectResponse(1);
    // :path was "/heade": the handler's default branch answers.
    equal(response.status, 200);
  },
);

serverTest(
  "server answers an integer that overflows with GOAWAY COMPRESSION_ERROR (RFC 7541 §5.1)",
  async (h) => {
    await expectCompressionError(h, [
      ...PLAIN_GET,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0x7f,
    ]);
  },
);

serverTest(
  "server answers a string longer than the block with GOAWAY COMPRESSION_ERROR (RFC 7541 §5.2)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x00, 0x01, 0x61, 0x05, 0x61]);
  },
);

serverTest("server keeps its dynamic table across header blocks (RFC 7541 §2.3.2)", async (h) => {
  await sendHeaders(h, 1, req("/headers", { extra: ["x-session", "s1"] }));
  await h.peer.expectResponse(1);
  const block = h.peer.encode(req("/headers", { extra: ["x-session", "s1"] }));
  ok(block.length < 6, `second block is all table references (${block.length} octets)`);
  h.peer.out.headers(3, block, true, MAX_FRAME);
  await h.peer.flush();
  const body = JSON.parse(decoder.decode((await h.peer.expectResponse(3)).body));
  equal(body["x-session"], "s1");
});

serverTest(
  "server decodes a header block whose string literal spans CONTINUATION frames (RFC 9113 §4.3)",
  async (h) => {
    const block = h.peer.encode(req("/headers", { extra: ["x-span", "w".repeat(40)] }));
    const middle = block.length - 20;
    h.peer.out.raw(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, middle));
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(middle));
    await h.peer.flush();
    const body = JSON.parse(decoder.decode((await h.peer.expectResponse(1)).body));
    equal(body["x-span"], "w".repeat(40));
  },
);
