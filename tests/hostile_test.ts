/**
 * Hostile peers against both HTTP/2 roles, over real loopback sockets.
 *
 * The server role (`serveConnection`) under attack (`serveConnection`) with the floods and
 * amplifications of RFC 9113 §10.5 and the HTTP/2 CVEs: rapid reset
 * (CVE-2023-44487) and its server-provoked variant, PING, SETTINGS, empty
 * DATA and empty CONTINUATION floods (CVE-2019-9512/9515/9518, CVE-2024-27316),
 * HPACK bombs (RFC 7541 §7.3), oversized header blocks, window overflows and
 * zero-increment WINDOW_UPDATE floods. Each case asserts the exact answer
 * (GOAWAY ENHANCE_YOUR_CALM, 431, RST_STREAM …), that the work done stays
 * bounded, and that no handler is left running.
 *
 * The single-frame cases of RFC 9113 are in the conformance_*_test.ts files and
 * client_role_test.ts and are not repeated here.
 */

import { equal, ok } from "node:assert/strict";
import type { Connection, LocalSettings } from "../h2/connection.ts";
import {
  CLIENT_PREFACE,
  ErrorCode,
  errorCodeName,
  Flag,
  FrameType,
  SettingId,
} from "../h2/constants.ts";
import { ConnectionError, type Http2Error } from "../h2/errors.ts";
import { FrameWriter, type GoawayFrame, type RstStreamFrame } from "../h2/frame.ts";
import { type Http2Handler, serveConnection } from "../h2/server.ts";
import { waitUntil } from "./_helpers.ts";
import {
  ackSettings,
  isPingAck,
  isSettingsAck,
  loopbackPair,
  RawPeer,
  type ReceivedFrame,
  settle,
  TIMEOUT_MS,
} from "./_raw_peer.ts";
import {
  blast,
  decoder,
  encoder,
  expectGoawayAfter,
  expectTunnelDropped,
  fleet,
  hpackString,
  MAX_FRAME,
  nextRequest,
  startGet,
  type Witness,
  writeBlock,
} from "./_hostile.ts";

/**
 * The flood budget of h2/connection.ts (FLOOD_BURST frames at once, refilled
 * at FLOOD_RATE per second), mirrored here to bound what a flood may cost.
 */
const FLOOD_BURST = 5000;

const FLOOD_RATE = 1000;

/** The most budgeted frames a peer can get processed in `ms` milliseconds. */
function floodBound(ms: number): number {
  return FLOOD_BURST + Math.ceil((FLOOD_RATE * ms) / 1000) + 64;
}

// ---- server role harness ---------------------------------------------------------------

interface HandlerStats {
  /** Handler invocations. */
  calls: number;
  /** Handlers that have not returned yet. */
  running: number;
  /** The most handlers that ran at once. */
  peak: number;
  /** Lets every `/stuck` handler return. */
  release: () => void;
}

interface Served extends AsyncDisposable, Witness {
  peer: RawPeer;
  server: Connection;
  /** Protocol errors the server reported. */
  errors: Http2Error[];
  stats: HandlerStats;
  /** When the server connection was made: its flood budget refills from then on. */
  since: number;
}

/**
 * The handler: `/hang` returns only once its stream is aborted (the way a slow
 * backend call would), `/stuck` only once the test releases it, whatever
 * happens to its stream (a handler that ignores cancellation), anything else
 * answers "ok". All count invocations.
 */
function countingHandler(stats: HandlerStats): Http2Handler {
  let released!: () => void;
  const release = new Promise<void>((resolve) => released = resolve);
  stats.release = released;
  return async (request) => {
    stats.calls++;
    stats.peak = Math.max(stats.peak, ++stats.running);
    try {
      const path = new URL(request.url).pathname;
      if (path === "/stuck") {
        await release;
        return new Response("unstuck");
      }
      if (path === "/hang") {
        return await new Promise<Response>((resolve) => {
          const answer = () => resolve(new Response(null, { status: 499 }));
          if (request.signal.aborted) answer();
          request.signal.addEventListener("abort", answer, { once: true });
        });
      }
      return new Response("ok");
    } finally {
      stats.running--;
    }
  };
}

/**
 * Serves one loopback connection with the counting handler; `handshake`
 * exchanges preface and SETTINGS both ways before the case runs.
 */
async function serve(handshake = true, settings: LocalSettings = {}): Promise<Served> {
  const [client, accepted] = await loopbackPair();
  const errors: Http2Error[] = [];
  const stats: HandlerStats = { calls: 0, running: 0, peak: 0, release: () => {} };
  const since = Date.now();
  const server = serveConnection(accepted, countingHandler(stats), {
    settings,
    onProtocolError: (error) => errors.push(error),
  });
  const peer = new RawPeer(client);
  const served: Served = {
    peer,
    server,
    errors,
    stats,
    since,
    saw: (code) => errors.some((e) => e instanceof ConnectionError && e.code === code),
    async [Symbol.asyncDispose]() {
      stats.release();
      await peer.close();
      if (await settle(server.closed, TIMEOUT_MS) === "timeout") {
        server.close();
        await server.closed;
        throw new Error("Server connection did not close after the client left");
      }
      // Every aborted handler must have returned: nothing leaks past the connection.
      await waitUntil(() => stats.running === 0, TIMEOUT_MS, "handlers to finish");
    },
  };
  if (handshake) {
    try {
      peer.out.append(CLIENT_PREFACE);
      peer.out.settings([]);
      await peer.flush();
      const first = await peer.nextFrame();
      ok(first !== null && first.header.type === FrameType.SETTINGS, "server preface");
      await ackSettings(peer);
    } catch (error) {
      await served[Symbol.asyncDispose]();
      throw error;
    }
  }
  return served;
}

/** The field list of a request. */
function req(path: string, method = "GET", extra: string[] = []): string[] {
  return [":method", method, ":scheme", "http", ":authority", "localhost", ":path", path, ...extra];
}

/** Sends GET / on `streamId` and expects 200 "ok": the connection still serves. */
async function expectServes(s: Served, streamId: number, block?: Uint8Array): Promise<void> {
  s.peer.out.headers(streamId, block ?? s.peer.encode(req("/")), true, MAX_FRAME);
  await s.peer.flush();
  const response = await s.peer.expectResponse(streamId);
  equal(response.status, 200);
  equal(decoder.decode(response.body), "ok");
}

// HPACK by hand (RFC 7541), for blocks the raw peer's encoder would not produce.

/**
 * GET http://localhost/ from static entries and a literal that is not indexed:
 * it leaves the dynamic table alone, so it may follow hand-made blocks.
 */
const PLAIN_GET = [0x82, 0x86, 0x84, 0x01, ...hpackString("localhost")];

/** Frames of a type among those read. */
function ofType(frames: readonly ReceivedFrame[], type: number): ReceivedFrame[] {
  return frames.filter((r) => r.header.type === type);
}

Deno.test("server bounds a rapid-reset flood (CVE-2023-44487) by its running handlers, not by a GOAWAY: at most SETTINGS_MAX_CONCURRENT_STREAMS run, reset requests wait for none", async () => {
  // Cancelling is what a proxy does for every client that goes away: 20,000
  // cancelled requests must not cost the connection. What a reset stream may
  // leave behind, a handler that runs on, is bounded instead: handlers that
  // ignore the reset hold their slots, and later requests wait.
  await using s = await serve(true, { maxConcurrentStreams: 100 });
  const out = new FrameWriter();
  const ATTACK = 20_000;
  for (let i = 0; i < ATTACK; i++) {
    const id = 1 + 2 * i;
    out.headers(id, s.peer.encode(req("/stuck")), true, MAX_FRAME);
    out.rstStream(id, ErrorCode.CANCEL);
  }
  await s.peer.writeRaw(out.bytes());
  const before = await s.peer.sync(); // Fails on a GOAWAY.
  equal(s.stats.peak, 100, "handlers running at once");
  equal(s.stats.calls, 100, "handlers called for 20,000 reset requests");
  equal(ofType(before, FrameType.HEADERS).length, 0, "responses sent to reset streams");
  equal(ofType(before, FrameType.RST_STREAM).length, 0, "resets of streams the peer reset");
  equal(s.errors.length, 0, s.errors.map((e) => e.message).join("; "));
  // A request now waits for a handler to return, and is answered once one does.
  const next = 1 + 2 * ATTACK;
  s.peer.out.headers(next, s.peer.encode(req("/")), true, MAX_FRAME);
  await s.peer.flush();
  const early = await s.peer.sync();
  equal(ofType(early, FrameType.HEADERS).length, 0, "answered while 100 handlers still ran");
  s.stats.release();
  const response = await s.peer.expectResponse(next);
  equal(response.status, 200);
  equal(decoder.decode(response.body), "ok");
  await waitUntil(() => s.stats.running === 0, TIMEOUT_MS, "the stuck handlers to return");
  equal(s.stats.peak, 100);
  await expectServes(s, next + 2);
});

Deno.test("server bounds the handlers of streams it is provoked into resetting (zero WINDOW_UPDATE after each request, MadeYouReset CVE-2025-8671), without a GOAWAY", async () => {
  // The peer never sends RST_STREAM: it makes the server reset each stream with a
  // stream error right after the handler started.
  await using s = await serve(true, { maxConcurrentStreams: 100 });
  const out = new FrameWriter();
  const ATTACK = 20_000;
  for (let i = 0; i < ATTACK; i++) {
    const id = 1 + 2 * i;
    // A GET that does not end its stream: its handler starts at once (no body to wait for).
    out.headers(id, s.peer.encode(req("/stuck")), false, MAX_FRAME);
    out.raw(FrameType.WINDOW_UPDATE, 0, id, new Uint8Array(4));
  }
  await s.peer.writeRaw(out.bytes());
  const before = await s.peer.sync();
  const resets = ofType(before, FrameType.RST_STREAM);
  equal(resets.length, ATTACK, "one RST_STREAM per provoked stream error");
  for (const reset of resets) {
    equal(errorCodeName((reset.frame as RstStreamFrame).errorCode), "PROTOCOL_ERROR");
  }
  equal(s.stats.peak, 100, "handlers running at once");
  equal(s.stats.calls, 100, "handlers called");
  s.stats.release();
  await waitUntil(() => s.stats.running === 0, TIMEOUT_MS, "the stuck handlers to return");
  await expectServes(s, 1 + 2 * ATTACK);
});

Deno.test("server bounds handlers with a body whose streams are reset after they started: the wait holds only open streams", async () => {
  await using s = await serve(true, { maxConcurrentStreams: 10 });
  // Ten handlers that will not return, each holding a slot after its stream is reset.
  for (let i = 0; i < 10; i++) {
    s.peer.out.headers(1 + 2 * i, s.peer.encode(req("/stuck")), true, MAX_FRAME);
  }
  await s.peer.flush();
  await waitUntil(() => s.stats.running === 10, TIMEOUT_MS, "ten stuck handlers");
  for (let i = 0; i < 10; i++) s.peer.out.rstStream(1 + 2 * i, ErrorCode.CANCEL);
  // Ten more open streams now wait for a handler slot; their resets take them out.
  for (let i = 10; i < 20; i++) {
    s.peer.out.headers(1 + 2 * i, s.peer.encode(req("/", "POST")), false, MAX_FRAME);
    s.peer.out.data(1 + 2 * i, encoder.encode("body"), false);
  }
  await s.peer.flush();
  await s.peer.sync();
  for (let i = 10; i < 20; i++) s.peer.out.rstStream(1 + 2 * i, ErrorCode.CANCEL);
  await s.peer.flush();
  await s.peer.sync();
  equal(s.server.activePeerStreams, 0, "streams left open");
  equal(s.stats.calls, 10, "handlers called for requests reset while they waited");
  s.stats.release();
  await waitUntil(() => s.stats.running === 0, TIMEOUT_MS, "the stuck handlers to return");
  await expectServes(s, 41);
  equal(s.stats.calls, 11);
});

Deno.test("server never calls the handler for a request with a body reset in the same read, and keeps serving below the flood budget", async () => {
  await using s = await serve();
  const out = new FrameWriter();
  const PAIRS = 2000;
  for (let i = 0; i < PAIRS; i++) {
    const id = 1 + 2 * i;
    out.headers(id, s.peer.encode(req("/hang", "POST")), false, MAX_FRAME);
    out.data(id, encoder.encode("body"), false);
    out.rstStream(id, ErrorCode.CANCEL);
  }
  await s.peer.writeRaw(out.bytes());
  await s.peer.sync();
  // Only a pair split between two reads of the socket may reach the handler.
  ok(s.stats.calls < PAIRS / 20, `${s.stats.calls} handler calls for ${PAIRS} reset requests`);
  await expectServes(s, 1 + 2 * PAIRS);
});

Deno.test("server answers a flood of malformed requests with RST_STREAM PROTOCOL_ERROR each, never calling the handler, and keeps the connection", async () => {
  // A proxy may pass requests on that the backend finds malformed: each is a stream
  // error that ends one request, not a flood (RFC 9113 §8.1.1).
  await using s = await serve();
  const out = new FrameWriter();
  const ATTACK = 20_000;
  for (let i = 0; i < ATTACK; i++) {
    // §8.2.1: an upper-case field name makes the request malformed (RST_STREAM PROTOCOL_ERROR).
    out.headers(1 + 2 * i, s.peer.encode(req("/", "GET", ["X-Bad", "1"])), true, MAX_FRAME);
  }
  await s.peer.writeRaw(out.bytes());
  const resets = ofType(await s.peer.sync(), FrameType.RST_STREAM);
  equal(resets.length, ATTACK);
  for (const reset of resets) {
    equal(errorCodeName((reset.frame as RstStreamFrame).errorCode), "PROTOCOL_ERROR");
  }
  equal(s.stats.calls, 0);
  await expectServes(s, 1 + 2 * ATTACK);
});

Deno.test("server still cuts off a flood of RST_STREAM on closed streams with GOAWAY ENHANCE_YOUR_CALM", async () => {
  // One reset per stream is a cancellation; the same stream reset again and again is
  // a frame that only costs (RFC 9113 §10.5).
  await using s = await serve();
  await expectServes(s, 1);
  const out = new FrameWriter();
  for (let i = 0; i < 20_000; i++) out.rstStream(1, ErrorCode.CANCEL);
  const writing = blast(s.peer, out.bytes());
  await expectGoawayAfter(s.peer, ErrorCode.ENHANCE_YOUR_CALM, s);
  await writing;
});

// ---- PING, SETTINGS, empty frame floods ------------------------------------------------

Deno.test("server cuts off a PING flood from a peer that does not read with GOAWAY ENHANCE_YOUR_CALM", async () => {
  await using s = await serve(false);
  // Preface, SETTINGS and 20,000 PINGs in one write, before reading anything.
  const out = new FrameWriter();
  out.append(CLIENT_PREFACE);
  out.settings([]);
  const ATTACK = 20_000;
  for (let i = 0; i < ATTACK; i++) out.ping(false, new Uint8Array(8).fill(i & 0xff));
  await blast(s.peer, out.bytes());
  const { counts } = await expectGoawayAfter(s.peer, ErrorCode.ENHANCE_YOUR_CALM, s);
  const acks = counts.get(FrameType.PING) ?? 0;
  ok(acks <= floodBound(Date.now() - s.since), `${acks} PING ACKs`);
  ok(acks < ATTACK / 2, `${acks} PING ACKs: the flood was answered`);
});

/**
 * Floods in batches of 500 control frames, reading the answers of each batch
 * as a well-behaved reader would, until GOAWAY: it must be ENHANCE_YOUR_CALM,
 * after no more answers than the flood budget allows.
 */
async function floodWhileReading(
  s: Served,
  what: string,
  send: (batch: number, i: number) => void,
  isAnswer: (frame: NonNullable<Awaited<ReturnType<RawPeer["nextFrame"]>>>) => boolean,
): Promise<void> {
  let answers = 0;
  let goaway: GoawayFrame | null = null;
  for (let batch = 0; batch < 40 && goaway === null; batch++) {
    for (let i = 0; i < 500; i++) send(batch, i);
    await s.peer.flush().catch(() => {});
    while (true) {
      const r = await s.peer.nextFrame();
      if (r === null) break;
      if (r.header.type === FrameType.GOAWAY) {
        goaway = r.frame as GoawayFrame;
        break;
      }
      if (isAnswer(r) && ++answers % 500 === 0) break;
    }
  }
  ok(goaway !== null, `no GOAWAY after ${answers} ${what}`);
  equal(errorCodeName(goaway.errorCode), "ENHANCE_YOUR_CALM");
  await s.peer.expectClosed();
  ok(answers <= floodBound(Date.now() - s.since), `${answers} ${what}`);
}

Deno.test("server answers a PING flood from a peer that reads only within the flood budget, then GOAWAY ENHANCE_YOUR_CALM", async () => {
  await using s = await serve();
  await floodWhileReading(
    s,
    "PING ACKs",
    (batch) => s.peer.out.ping(false, new Uint8Array(8).fill(batch)),
    isPingAck,
  );
});

Deno.test("server keeps serving a peer whose PINGs stay within the flood budget", async () => {
  await using s = await serve();
  for (let batch = 0; batch < 4; batch++) {
    for (let i = 0; i < 500; i++) s.peer.out.ping(false, new Uint8Array(8).fill(i & 0xff));
    await s.peer.sync(new Uint8Array([0x62, batch, 0, 0, 0, 0, 0, 0]));
  }
  await expectServes(s, 1);
});

Deno.test("server cuts off a SETTINGS flood from a peer that does not read with GOAWAY ENHANCE_YOUR_CALM", async () => {
  await using s = await serve(false);
  const out = new FrameWriter();
  out.append(CLIENT_PREFACE);
  const ATTACK = 20_000;
  for (let i = 0; i < ATTACK; i++) out.settings([[SettingId.MAX_CONCURRENT_STREAMS, 100 + i]]);
  await blast(s.peer, out.bytes());
  const { counts } = await expectGoawayAfter(s.peer, ErrorCode.ENHANCE_YOUR_CALM, s);
  const acks = (counts.get(FrameType.SETTINGS) ?? 0) - 1; // The first is the server's own.
  ok(acks <= floodBound(Date.now() - s.since), `${acks} SETTINGS ACKs`);
  ok(acks < ATTACK / 2, `${acks} SETTINGS ACKs: the flood was answered`);
});

Deno.test("server answers a SETTINGS flood from a peer that reads only within the flood budget, then GOAWAY ENHANCE_YOUR_CALM", async () => {
  await using s = await serve();
  await floodWhileReading(
    s,
    "SETTINGS ACKs",
    () => s.peer.out.settings([[SettingId.HEADER_TABLE_SIZE, 4096]]),
    isSettingsAck,
  );
});

Deno.test("server applies SETTINGS that repeat INITIAL_WINDOW_SIZE thousands of times over a thousand open streams cheaply", async () => {
  // Each entry changes every open stream's window (RFC 9113 §6.9.2): applied
  // entry by entry, one 16 KiB frame costs entries × streams updates.
  await using s = await serve();
  const STREAMS = 1000;
  for (let i = 0; i < STREAMS; i++) {
    s.peer.out.headers(1 + 2 * i, s.peer.encode(req("/hang", "POST")), false, MAX_FRAME);
  }
  await s.peer.sync();
  await waitUntil(() => s.stats.calls === STREAMS, TIMEOUT_MS, "handlers to start");
  const entries: Array<[number, number]> = [];
  for (let i = 0; i < Math.floor(MAX_FRAME / 6); i++) {
    entries.push([SettingId.INITIAL_WINDOW_SIZE, i % 2 === 0 ? 1000 : 65_535]);
  }
  const FRAMES = 300;
  for (let i = 0; i < FRAMES; i++) s.peer.out.settings(entries);
  const started = Date.now();
  await s.peer.sync(new Uint8Array([0x73, 0x65, 0x74, 0, 0, 0, 0, 0]));
  const elapsed = Date.now() - started;
  ok(elapsed < 2000, `${FRAMES} SETTINGS frames took ${elapsed} ms`);
  equal(s.errors.length, 0, s.errors.map(String).join("; "));
});

Deno.test("server does not let a later INITIAL_WINDOW_SIZE in the same SETTINGS frame hide a window overflow (RFC 9113 §6.5.3, §6.9.2)", async () => {
  await using s = await serve();
  s.peer.out.headers(1, s.peer.encode(req("/hang", "POST")), false, MAX_FRAME);
  s.peer.out.windowUpdate(1, 1); // The stream's send window is now 65,536.
  s.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 0x7fff_ffff], [
    SettingId.INITIAL_WINDOW_SIZE,
    1,
  ]]);
  await s.peer.flush();
  await expectGoawayAfter(s.peer, ErrorCode.FLOW_CONTROL_ERROR, s);
});

Deno.test("server cuts off a flood of empty DATA frames with GOAWAY ENHANCE_YOUR_CALM (CVE-2019-9518)", async () => {
  await using s = await serve();
  const out = new FrameWriter();
  out.headers(1, s.peer.encode(req("/hang", "POST")), false, MAX_FRAME);
  for (let i = 0; i < 20_000; i++) out.data(1, new Uint8Array(0), false);
  const writing = blast(s.peer, out.bytes());
  await expectGoawayAfter(s.peer, ErrorCode.ENHANCE_YOUR_CALM, s);
  await writing;
});

Deno.test("server cuts off a flood of DATA frames made only of padding with GOAWAY ENHANCE_YOUR_CALM (CVE-2019-9518)", async () => {
  await using s = await serve();
  const out = new FrameWriter();
  out.headers(1, s.peer.encode(req("/hang", "POST")), false, MAX_FRAME);
  // PADDED with a pad length of 0: one octet of flow control, nothing delivered.
  for (let i = 0; i < 20_000; i++) out.raw(FrameType.DATA, Flag.PADDED, 1, new Uint8Array(1));
  const writing = blast(s.peer, out.bytes());
  await expectGoawayAfter(s.peer, ErrorCode.ENHANCE_YOUR_CALM, s);
  await writing;
});

// ---- CONTINUATION floods, HPACK bombs, oversized headers -------------------------------

Deno.test("server cuts off endless CONTINUATION frames without END_HEADERS with GOAWAY ENHANCE_YOUR_CALM (CVE-2024-27316)", async () => {
  await using s = await serve();
  const out = new FrameWriter();
  // The block starts with a real request and goes on with a literal that never ends.
  out.raw(FrameType.HEADERS, 0, 1, new Uint8Array(PLAIN_GET));
  const filler = new Uint8Array(MAX_FRAME).fill(0x61);
  for (let i = 0; i < 256; i++) out.raw(FrameType.CONTINUATION, 0, 1, filler); // 4 MiB
  const writing = blast(s.peer, out.bytes());
  await expectGoawayAfter(s.peer, ErrorCode.ENHANCE_YOUR_CALM, s);
  await writing;
  equal(s.stats.calls, 0);
});

Deno.test("server cuts off a flood of empty CONTINUATION frames with GOAWAY ENHANCE_YOUR_CALM", async () => {
  // Empty fragments never grow the block, so the block size limit alone never ends them.
  await using s = await serve();
  const out = new FrameWriter();
  out.raw(FrameType.HEADERS, 0, 1, new Uint8Array(PLAIN_GET));
  for (let i = 0; i < 50_000; i++) out.raw(FrameType.CONTINUATION, 0, 1, new Uint8Array(0));
  const writing = blast(s.peer, out.bytes());
  await expectGoawayAfter(s.peer, ErrorCode.ENHANCE_YOUR_CALM, s);
  await writing;
  equal(s.stats.calls, 0);
});

Deno.test("server answers an HPACK bomb (a 4 KiB entry referenced thousands of times) with 431 at no memory cost and keeps serving (RFC 7541 §7.3)", async () => {
  await using s = await serve();
  const before = Deno.memoryUsage().heapUsed;
  // Stream 1 adds a 4,000-octet value to the dynamic table (index 62) and refers to it
  // 16,000 times: a 64 MB header list from a 16 KiB block.
  const entry = [0x40, ...hpackString("x-bomb"), ...hpackString("a".repeat(4000))];
  const bomb = new Uint8Array([...PLAIN_GET, ...entry, ...new Array(10_000).fill(0xbe)]);
  s.peer.out.raw(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, bomb);
  await s.peer.flush();
  equal((await s.peer.expectResponse(1)).status, 431);
  // Stream 3 does it 140,000 times across CONTINUATION frames: a 560 MB header list.
  const refs = new Uint8Array([...PLAIN_GET, ...new Array(140_000).fill(0xbe)]);
  writeBlock(s.peer.out, 3, refs, true);
  await s.peer.flush();
  equal((await s.peer.expectResponse(3)).status, 431);
  const grown = Deno.memoryUsage().heapUsed - before;
  ok(grown < 64 * 1024 * 1024, `heap grew by ${grown} octets`);
  equal(s.stats.calls, 0);
  // The HPACK context stayed in step: a request that refers to the entry once is served.
  await expectServes(s, 5, new Uint8Array([...PLAIN_GET, 0xbe]));
  equal(s.stats.calls, 1);
});

/** PLAIN_GET plus a literal field without indexing: name "x-big", a value of `size` octets. */
function getWithBigField(size: number): Uint8Array {
  return new Uint8Array([
    ...PLAIN_GET,
    0x00,
    ...hpackString("x-big"),
    ...hpackString("b".repeat(size)),
  ]);
}

Deno.test("server answers a 100 KB header value spread over CONTINUATION frames with 431 and keeps serving", async () => {
  await using s = await serve();
  const block = getWithBigField(100_000);
  writeBlock(s.peer.out, 1, block, true, 4096);
  await s.peer.flush();
  equal((await s.peer.expectResponse(1)).status, 431);
  await expectServes(s, 3);
  equal(s.stats.calls, 1);
});

Deno.test("server answers a header block far beyond its SETTINGS_MAX_HEADER_LIST_SIZE with GOAWAY ENHANCE_YOUR_CALM before buffering it", async () => {
  await using s = await serve();
  const block = getWithBigField(1_000_000);
  writeBlock(s.peer.out, 1, block, true);
  const writing = blast(s.peer, s.peer.out.bytes().slice());
  s.peer.out.reset();
  await expectGoawayAfter(s.peer, ErrorCode.ENHANCE_YOUR_CALM, s);
  await writing;
  equal(s.stats.calls, 0);
});

// ---- flow control ----------------------------------------------------------------------

Deno.test("server answers a connection window pushed past 2^31-1 by several WINDOW_UPDATEs with GOAWAY FLOW_CONTROL_ERROR (RFC 9113 §6.9.1)", async () => {
  await using s = await serve();
  s.peer.out.windowUpdate(0, 0x4000_0000);
  await s.peer.flush();
  await s.peer.sync(); // 65,535 + 2^30 is still a valid window.
  s.peer.out.windowUpdate(0, 0x4000_0000);
  await s.peer.flush();
  await expectGoawayAfter(s.peer, ErrorCode.FLOW_CONTROL_ERROR, s);
});

Deno.test("server resets a stream whose window is pushed past 2^31-1 by several WINDOW_UPDATEs and keeps serving (RFC 9113 §6.9.1)", async () => {
  await using s = await serve();
  s.peer.out.headers(1, s.peer.encode(req("/hang", "POST")), false, MAX_FRAME);
  s.peer.out.windowUpdate(1, 0x4000_0000);
  s.peer.out.windowUpdate(1, 0x4000_0000);
  await s.peer.flush();
  await s.peer.expectReset(1, ErrorCode.FLOW_CONTROL_ERROR);
  await expectServes(s, 3);
});

Deno.test("server resets a stream whose window overflows after SETTINGS_INITIAL_WINDOW_SIZE 2^31-1 and keeps serving (RFC 9113 §6.9.1)", async () => {
  await using s = await serve();
  s.peer.out.settings([[SettingId.INITIAL_WINDOW_SIZE, 0x7fff_ffff]]);
  s.peer.out.headers(1, s.peer.encode(req("/hang", "POST")), false, MAX_FRAME);
  s.peer.out.windowUpdate(1, 1);
  await s.peer.flush();
  await s.peer.expectReset(1, ErrorCode.FLOW_CONTROL_ERROR);
  await expectServes(s, 3);
});

Deno.test("server cuts off a flood of zero-increment WINDOW_UPDATEs on closed streams from a peer that does not read", async () => {
  // Each one is a stream error the server must answer with RST_STREAM (RFC 9113 §6.9):
  // answering all of them would queue output without bound for a peer that never reads.
  await using s = await serve();
  await expectServes(s, 1);
  const out = new FrameWriter();
  for (let i = 0; i < 50_000; i++) out.raw(FrameType.WINDOW_UPDATE, 0, 1, new Uint8Array(4));
  const writing = blast(s.peer, out.bytes());
  const { resets } = await expectGoawayAfter(s.peer, ErrorCode.ENHANCE_YOUR_CALM, s);
  await writing;
  ok(resets.length <= floodBound(Date.now() - s.since), `${resets.length} RST_STREAM frames`);
});

Deno.test("server cuts off a flood of malformed PRIORITY frames, each a stream error, with GOAWAY ENHANCE_YOUR_CALM", async () => {
  await using s = await serve();
  const out = new FrameWriter();
  out.headers(1, s.peer.encode(req("/hang", "POST")), false, MAX_FRAME);
  // §6.3: a PRIORITY frame of 4 octets is a stream error FRAME_SIZE_ERROR; the first
  // resets stream 1, the others meet a stream already reset and get no RST_STREAM.
  for (let i = 0; i < 50_000; i++) out.raw(FrameType.PRIORITY, 0, 1, new Uint8Array(4));
  const writing = blast(s.peer, out.bytes());
  await expectGoawayAfter(s.peer, ErrorCode.ENHANCE_YOUR_CALM, s);
  await writing;
});

// ---- stream errors on idle streams ------------------------------------------------------

for (
  const [what, type, payload, code] of [
    ["PRIORITY of 4 octets", FrameType.PRIORITY, [0, 0, 0, 0], ErrorCode.FRAME_SIZE_ERROR],
    [
      "PRIORITY depending on itself",
      FrameType.PRIORITY,
      [0, 0, 0, 5, 16],
      ErrorCode.PROTOCOL_ERROR,
    ],
    ["WINDOW_UPDATE of 0", FrameType.WINDOW_UPDATE, [0, 0, 0, 0], ErrorCode.PROTOCOL_ERROR],
  ] as const
) {
  Deno.test(`server answers ${what} on an idle stream with GOAWAY ${errorCodeName(code)}, never RST_STREAM on an idle stream (RFC 9113 §5.1, §6.4)`, async () => {
    // An idle stream cannot be reset (§6.4: RST_STREAM MUST NOT be sent for it), and a
    // reset the peer may ignore would let it open the stream later as if nothing happened.
    await using s = await serve();
    s.peer.out.raw(type, 0, 5, new Uint8Array(payload));
    s.peer.out.headers(5, s.peer.encode(req("/")), true, MAX_FRAME);
    await s.peer.flush();
    const { resets, counts } = await expectGoawayAfter(s.peer, code, s);
    equal(resets.length, 0, "RST_STREAM on an idle stream");
    equal(counts.get(FrameType.HEADERS) ?? 0, 0, "a response on the stream");
    equal(s.stats.calls, 0);
  });
}

Deno.test("router drops a backend that sends a malformed PRIORITY on a stream the router never opened, rather than resetting an idle stream it may open later", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  peer.out.raw(FrameType.PRIORITY, 0, id + 2, new Uint8Array(4)); // The router's next stream.
  await peer.flush();
  const { resets } = await expectGoawayAfter(peer, ErrorCode.FRAME_SIZE_ERROR, f);
  equal(resets.length, 0, "RST_STREAM on an idle stream");
  equal((await pending).status, 502);
  await expectTunnelDropped(f);
});

// ---- a hostile backend against the router ----------------------------------------------
