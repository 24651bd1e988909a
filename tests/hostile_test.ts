/**
 * Hostile peers against both HTTP/2 roles, over real loopback sockets.
 *
 * Part one attacks the server role (`serveConnection`) with the floods and
 * amplifications of RFC 9113 §10.5 and the HTTP/2 CVEs: rapid reset
 * (CVE-2023-44487) and its server-provoked variant, PING, SETTINGS, empty
 * DATA and empty CONTINUATION floods (CVE-2019-9512/9515/9518, CVE-2024-27316),
 * HPACK bombs (RFC 7541 §7.3), oversized header blocks, window overflows and
 * zero-increment WINDOW_UPDATE floods. Each case asserts the exact answer
 * (GOAWAY ENHANCE_YOUR_CALM, 431, RST_STREAM …), that the work done stays
 * bounded, and that no handler is left running.
 *
 * Part two is a hostile backend against the router: a raw-frame peer dials
 * the tunnel port, plays the HTTP/2 server and answers with frames for streams
 * the router never opened, PUSH_PROMISE, malformed response heads and floods.
 * The public client gets 502 (or 503 once the tunnel is gone), the router
 * drops that tunnel only when the error is a connection error, and a second,
 * well-behaved backend on another tunnel keeps serving throughout.
 *
 * The single-frame cases of RFC 9113 are in conformance_test.ts and
 * client_role_test.ts and are not repeated here.
 */

import {
  TUNNEL_CONNECTION_WINDOW,
  TUNNEL_MAX_FRAME_SIZE,
  TUNNEL_STREAM_WINDOW,
} from "../tunnel/settings.ts";
import { equal, ok } from "node:assert/strict";
import type { Connection, LocalSettings } from "../h2/connection.ts";
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  ErrorCode,
  errorCodeName,
  Flag,
  FrameType,
  SettingId,
} from "../h2/constants.ts";
import { ConnectionError, type Http2Error } from "../h2/errors.ts";
import {
  FrameWriter,
  type GoawayFrame,
  type RstStreamFrame,
  type SettingsFrame,
} from "../h2/frame.ts";
import { type Http2Handler, serveConnection } from "../h2/server.ts";
import type { Router } from "../router/create_router.ts";
import type { RequestRecord } from "../router/events.ts";
import { baseUrl, startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";
import { upgradeWebSocket } from "../backend/upgrade_websocket.ts";
import { serveReverse } from "../backend/serve_reverse.ts";
import {
  ackSettings,
  isPingAck,
  isSettingsAck,
  loopbackPair,
  RawPeer,
  type ReceivedFrame,
  rejectErrors,
  settle,
  TIMEOUT_MS,
} from "./_raw_peer.ts";

const MAX_FRAME = DEFAULT_MAX_FRAME_SIZE;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

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

/**
 * Writes `bytes` without waiting for the peer to take them: a flood is
 * written while the endpoint answers, and the endpoint may close midway.
 */
function blast(peer: RawPeer, bytes: Uint8Array): Promise<void> {
  return peer.writeRaw(bytes).catch(() => {}); // The endpoint hung up on the flood: expected.
}

/** What came before the endpoint's GOAWAY, by frame type. */
interface Outcome {
  /** The GOAWAY, or `null` when a TCP reset destroyed it (see {@linkcode expectGoawayAfter}). */
  goaway: GoawayFrame | null;
  counts: Map<number, number>;
  resets: ReceivedFrame[];
}

/** The endpoint under test, asked whether it raised a connection error with a code. */
interface Witness {
  saw(code: number): boolean;
}

/**
 * Reads everything up to the endpoint's GOAWAY, which must carry `code`, and
 * then the end of the connection. Frames before it are counted by type.
 *
 * An endpoint that closes while a flood it did not read is still arriving makes
 * the kernel answer with a TCP reset, and the reset may destroy the GOAWAY
 * before the peer reads it. Only then, the endpoint's own report of the
 * connection error (`witness`) stands in for the GOAWAY that was sent.
 */
async function expectGoawayAfter(
  peer: RawPeer,
  code: number,
  witness: Witness,
  timeoutMs = 10_000,
): Promise<Outcome> {
  const counts = new Map<number, number>();
  const resets: ReceivedFrame[] = [];
  while (true) {
    const received = await peer.nextFrame(timeoutMs);
    if (received === null) {
      if (peer.wasReset && witness.saw(code)) return { goaway: null, counts, resets };
      throw new Error(
        `Connection closed without GOAWAY ${errorCodeName(code)}; frames by type: ` +
          JSON.stringify(Object.fromEntries(counts)),
      );
    }
    const type = received.header.type;
    if (type === FrameType.GOAWAY) {
      const goaway = received.frame as GoawayFrame;
      equal(
        errorCodeName(goaway.errorCode),
        errorCodeName(code),
        `GOAWAY code (debug: ${decoder.decode(goaway.debugData)})`,
      );
      ok(witness.saw(code), `the endpoint did not report ${errorCodeName(code)}`);
      await peer.expectClosed();
      return { goaway, counts, resets };
    }
    counts.set(type, (counts.get(type) ?? 0) + 1);
    if (type === FrameType.RST_STREAM) resets.push(received);
  }
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

/** An HPACK integer with an `n`-bit prefix; `first` holds the pattern bits. */
function hpackInt(value: number, n: number, first = 0): number[] {
  const max = (1 << n) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** A raw (not Huffman) string literal. */
function hpackString(text: string): number[] {
  return [...hpackInt(text.length, 7), ...encoder.encode(text)];
}

/**
 * GET http://localhost/ from static entries and a literal that is not indexed:
 * it leaves the dynamic table alone, so it may follow hand-made blocks.
 */
const PLAIN_GET = [0x82, 0x86, 0x84, 0x01, ...hpackString("localhost")];

/** Sends one header block as HEADERS plus CONTINUATION frames of `frameSize` octets. */
function writeBlock(
  out: FrameWriter,
  streamId: number,
  block: Uint8Array,
  endStream: boolean,
  frameSize = MAX_FRAME,
): void {
  out.headers(streamId, block, endStream, frameSize);
}

// ---- rapid reset -------------------------------------------------------------------------

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

const GOOD_TOKEN = "token-for-the-good-service-0001";

/** A router with two services: `good` (a real backend) and `default` (the hostile peer). */
interface Fleet extends AsyncDisposable, Witness {
  router: Router;
  /** The router's log lines. */
  logs: string[];
  /** Dials the tunnel port as a raw HTTP/2 backend (service `default`) and shakes hands. */
  hostile(): Promise<RawPeer>;
}

async function fleet(): Promise<Fleet> {
  const logs: string[] = [];
  const router = startRouter({
    tokens: { good: GOOD_TOKEN },
    allowAnonymous: true,
    routes: [{ path: "/good", service: "good" }, { service: "default" }],
    tunnelWait: 0,
    quiet: false,
    log: (line) => logs.push(line),
  });
  const peers: RawPeer[] = [];
  let backend;
  try {
    backend = await startBackend(router, (request) => {
      return new Response(`good ${new URL(request.url).pathname}`);
    }, { service: "good", token: GOOD_TOKEN });
  } catch (error) {
    await router.shutdown();
    throw error;
  }
  // The good backend is asked every few milliseconds for the whole case.
  const statuses: number[] = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const { status, text } = await publicGet(router, "/good/ping");
      statuses.push(status);
      if (status !== 200 || text !== "good /good/ping") break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    router,
    logs,
    saw: (code) => logs.some((line) => line.includes(`ConnectionError ${errorCodeName(code)}:`)),
    async hostile() {
      const peer = await rawTunnel(router);
      peers.push(peer);
      return peer;
    },
    async [Symbol.asyncDispose]() {
      watching = false;
      await watcher;
      for (const peer of peers) await peer.close();
      await backend[Symbol.asyncDispose]();
      await router.shutdown();
      ok(statuses.length > 0, "the good backend was never asked");
      equal(
        statuses.filter((s) => s !== 200).length,
        0,
        `the good backend failed while the hostile one misbehaved: ${statuses.join(",")}`,
      );
    },
  };
}

async function publicGet(router: Router, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${baseUrl(router)}${path}`);
  return { status: response.status, text: await response.text() };
}

/** The request records the router emits, collected as they come. */
function requestRecords(router: Router): RequestRecord[] {
  const records: RequestRecord[] = [];
  router.events.on((event) => {
    if (event.type === "request") records.push(event.request);
  });
  return records;
}

/** A raw HTTP/2 backend (as the Go original speaks) with a tunnel in the router's pool. */
async function rawTunnel(
  router: Router,
  settings: Array<[number, number]> = [],
): Promise<RawPeer> {
  const before = router.pool.size;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
  const peer = new RawPeer(conn, { readPreface: true });
  // It speaks first, with its SETTINGS.
  peer.out.settings([[SettingId.MAX_CONCURRENT_STREAMS, 100], ...settings]);
  await peer.flush();
  const first = await peer.nextFrame();
  ok(first !== null && first.header.type === FrameType.SETTINGS, "router preface");
  equal((first.frame as SettingsFrame).ack, false);
  await ackSettings(peer);
  await waitUntil(() => router.pool.size > before, TIMEOUT_MS, "raw tunnel in the pool");
  return peer;
}

/** Starts a public request whose result is awaited later: a failure must not go unhandled. */
function startGet(router: Router, path: string): Promise<{ status: number; text: string }> {
  const pending = publicGet(router, path);
  pending.catch(() => {}); // Awaited by the caller.
  return pending;
}

/** Waits for the request the router forwards on the hostile tunnel; returns its stream id. */
async function nextRequest(peer: RawPeer): Promise<number> {
  const received = await peer.expectFrame(
    "a forwarded request",
    (r) => r.header.type === FrameType.HEADERS && r.fields !== undefined,
    rejectErrors,
  );
  return received.header.streamId;
}

/** A raw backend's answer: 200 with `body`. */
async function answer(peer: RawPeer, streamId: number, body: string): Promise<void> {
  peer.out.headers(streamId, peer.encode([":status", "200"]), false, MAX_FRAME);
  peer.out.data(streamId, encoder.encode(body), true);
  await peer.flush();
}

/** After a connection error: the tunnel is gone, its service has none left, `good` serves. */
async function expectTunnelDropped(f: Fleet): Promise<void> {
  await waitUntil(() => f.router.pool.size === 1, TIMEOUT_MS, "the hostile tunnel to leave");
  equal(f.router.pool.list()[0]!.service, "good");
  equal((await publicGet(f.router, "/x")).status, 503);
  const good = await publicGet(f.router, "/good/after");
  equal(good.status, 200);
  equal(good.text, "good /good/after");
}

/** After a stream error: the hostile tunnel still takes requests and is answered. */
async function expectTunnelServes(f: Fleet, peer: RawPeer): Promise<void> {
  equal(f.router.pool.size, 2);
  const pending = startGet(f.router, "/again");
  await answer(peer, await nextRequest(peer), "fine");
  const response = await pending;
  equal(response.status, 200);
  equal(response.text, "fine");
}

/** Hostile answers to a forwarded request on stream `id` that are connection errors. */
const CONNECTION_ERRORS: Array<[string, number, (peer: RawPeer, id: number) => void]> = [
  [
    "sends HEADERS on an even stream the router never opened (RFC 9113 §5.1.1)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) => peer.out.headers(id + 1, peer.encode([":status", "200"]), true, MAX_FRAME),
  ],
  [
    "sends HEADERS on an odd stream the router never used (RFC 9113 §5.1)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) => peer.out.headers(id + 10, peer.encode([":status", "200"]), true, MAX_FRAME),
  ],
  [
    "sends DATA on an idle stream (RFC 9113 §5.1)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) => peer.out.data(id + 2, encoder.encode("unasked"), true),
  ],
  [
    "sends PUSH_PROMISE though the router disabled push (RFC 9113 §6.6, §8.4)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) => peer.out.pushPromise(id, id + 1, peer.encode([":method", "GET", ":path", "/p"])),
  ],
  [
    "sends a response head the router cannot decode (RFC 9113 §4.3)",
    ErrorCode.COMPRESSION_ERROR,
    (peer, id) =>
      peer.out.raw(
        FrameType.HEADERS,
        Flag.END_HEADERS,
        id,
        new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x7f]),
      ),
  ],
  [
    "sends WINDOW_UPDATE overflowing the router's connection window (RFC 9113 §6.9.1)",
    ErrorCode.FLOW_CONTROL_ERROR,
    (peer) => peer.out.windowUpdate(0, 0x7fff_ffff),
  ],
  [
    "sends a frame larger than the router's SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2)",
    ErrorCode.FRAME_SIZE_ERROR,
    (peer, id) => peer.out.data(id, new Uint8Array(TUNNEL_MAX_FRAME_SIZE + 1), true),
  ],
  [
    "sends CONTINUATION without HEADERS (RFC 9113 §6.10)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) =>
      peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, id, new Uint8Array([0x88])),
  ],
  [
    "interleaves another stream's frame in a response header block (RFC 9113 §4.3)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) => {
      peer.out.raw(FrameType.HEADERS, 0, id, new Uint8Array([0x88]));
      peer.out.ping(false, new Uint8Array(8));
    },
  ],
];

for (const [what, code, act] of CONNECTION_ERRORS) {
  Deno.test(`router drops a backend tunnel that ${what}: GOAWAY ${errorCodeName(code)}, 502, the other tunnel serves`, async () => {
    await using f = await fleet();
    const peer = await f.hostile();
    const pending = startGet(f.router, "/x");
    const id = await nextRequest(peer);
    act(peer, id);
    await peer.flush().catch(() => {});
    await expectGoawayAfter(peer, code, f);
    equal((await pending).status, 502);
    await expectTunnelDropped(f);
  });
}

const MALFORMED_RESPONSES: Array<[string, string[]]> = [
  ["an upper-case field name (RFC 9113 §8.2.1)", [":status", "200", "X-Upper", "1"]],
  ["a connection-specific field (RFC 9113 §8.2.2)", [":status", "200", "connection", "close"]],
  ["transfer-encoding (RFC 9113 §8.2.2)", [":status", "200", "transfer-encoding", "chunked"]],
  ["no :status (RFC 9113 §8.3.2)", ["content-type", "text/plain"]],
  [":status 101 (RFC 9113 §8.6)", [":status", "101"]],
  ["a :status of four digits (RFC 9113 §8.3.2)", [":status", "2000"]],
  ["two :status fields (RFC 9113 §8.3)", [":status", "200", ":status", "204"]],
  ["a request pseudo-header (RFC 9113 §8.3)", [":status", "200", ":path", "/"]],
  ["a pseudo-header after a field (RFC 9113 §8.3)", ["x-a", "1", ":status", "200"]],
  ["a field value with a line feed (RFC 9113 §8.2.1)", [":status", "200", "x-a", "1\n2"]],
  // Deno.serve panics on a header value with a control character: it must never get one.
  ["a field value with a control character (RFC 9110 §5.5)", [":status", "200", "x-a", "1\x012"]],
  ["a field value with DEL (RFC 9110 §5.5)", [":status", "200", "x-a", "1\x7f"]],
  ["a :status above 599 (RFC 9110 §15)", [":status", "600"]],
  ["a :status of 999 (RFC 9110 §15)", [":status", "999"]],
];

for (const [what, fields] of MALFORMED_RESPONSES) {
  Deno.test(`router answers 502 to a backend response with ${what}, resets only that stream and keeps the tunnel`, async () => {
    await using f = await fleet();
    const peer = await f.hostile();
    const pending = startGet(f.router, "/x");
    const id = await nextRequest(peer);
    peer.out.headers(id, peer.encode(fields), true, MAX_FRAME);
    await peer.flush();
    await peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
    equal((await pending).status, 502);
    await expectTunnelServes(f, peer);
  });
}

Deno.test("router answers 502 to an interim (1xx) response that ends the stream, without waiting for the header timeout (RFC 9113 §8.1)", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  peer.out.headers(id, peer.encode([":status", "103", "link", "</a>"]), true, MAX_FRAME);
  await peer.flush();
  await peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
  equal((await withTimeout(pending, TIMEOUT_MS, "the public answer")).status, 502);
  await expectTunnelServes(f, peer);
});

Deno.test("router answers 502 to an HPACK bomb in a backend response and keeps the tunnel (RFC 7541 §7.3)", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  // A 4,000-octet entry, then 16,000 references to it: a 64 MB header list.
  const entry = [0x40, ...hpackString("x-bomb"), ...hpackString("a".repeat(4000))];
  const bomb = new Uint8Array([0x88, ...entry, ...new Array(16_000).fill(0xbe)]); // :status 200
  writeBlock(peer.out, id, bomb, true);
  await peer.flush();
  await peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
  equal((await pending).status, 502);
  // The peer's own encoder never saw the entry: the next block evicts it, so both agree again.
  const again = startGet(f.router, "/again");
  const next = await nextRequest(peer);
  const block = new Uint8Array([0x20, 0x3f, 0xe1, 0x1f, 0x88]); // size 0, size 4096, :status 200
  peer.out.raw(FrameType.HEADERS, Flag.END_HEADERS, next, block);
  peer.out.data(next, encoder.encode("fine"), true);
  await peer.flush();
  const response = await again;
  equal(response.status, 200);
  equal(response.text, "fine");
});

Deno.test("router cuts off a backend flooding interim (1xx) responses with GOAWAY ENHANCE_YOUR_CALM", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  const out = new FrameWriter();
  for (let i = 0; i < 20_000; i++) {
    out.headers(id, peer.encode([":status", "103"]), false, MAX_FRAME);
  }
  const writing = blast(peer, out.bytes());
  await expectGoawayAfter(peer, ErrorCode.ENHANCE_YOUR_CALM, f);
  await writing;
  equal((await pending).status, 502);
  await expectTunnelDropped(f);
});

for (
  const [what, frame] of [
    ["PINGs", (out: FrameWriter, i: number) => out.ping(false, new Uint8Array(8).fill(i & 0xff))],
    ["SETTINGS", (out: FrameWriter) => out.settings([[SettingId.MAX_CONCURRENT_STREAMS, 100]])],
    ["RST_STREAM on closed streams", (out: FrameWriter) => out.rstStream(1, ErrorCode.CANCEL)],
    ["empty DATA on a request", (out: FrameWriter) => out.data(1, new Uint8Array(0), false)],
    ["unknown frames", (out: FrameWriter) => out.raw(0xbb, 0, 0, new Uint8Array(8))],
  ] as const
) {
  Deno.test(`router cuts off a backend flooding ${what} with GOAWAY ENHANCE_YOUR_CALM, and the other tunnel serves`, async () => {
    await using f = await fleet();
    const peer = await f.hostile();
    const pending = startGet(f.router, "/x");
    const id = await nextRequest(peer);
    equal(id, 1);
    const out = new FrameWriter();
    if (what === "empty DATA on a request") {
      out.headers(1, peer.encode([":status", "200"]), false, MAX_FRAME);
    }
    if (what === "RST_STREAM on closed streams") {
      out.headers(1, peer.encode([":status", "200"]), false, MAX_FRAME);
      out.data(1, encoder.encode("short"), true);
    }
    for (let i = 0; i < 20_000; i++) frame(out, i);
    const writing = blast(peer, out.bytes());
    await expectGoawayAfter(peer, ErrorCode.ENHANCE_YOUR_CALM, f);
    await writing;
    // Before a head: 502. After it, the body fails (a short body never passes for whole),
    // unless the response was complete before the flood began.
    const outcome = await pending.then((r) => `${r.status} ${r.text}`, () => "body aborted");
    const expected = what === "RST_STREAM on closed streams"
      ? "200 short"
      : what === "empty DATA on a request"
      ? "body aborted"
      : "502";
    ok(outcome.startsWith(expected), `public answer: ${outcome}`);
    await expectTunnelDropped(f);
  });
}

Deno.test("router keeps serving after a backend closes mid-frame, and answers 502", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  // A frame header announcing 100 octets, then only 3 of them, then the end.
  await peer.writeRaw(
    new Uint8Array([0, 0, 100, FrameType.HEADERS, Flag.END_HEADERS, 0, 0, 0, id, 1, 2, 3]),
  );
  peer.conn.closeWrite();
  equal((await pending).status, 502);
  await expectTunnelDropped(f);
});

Deno.test("router does not pass a body cut short by a backend's connection error off as complete", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const response = fetch(`${baseUrl(f.router)}/x`);
  response.catch(() => {}); // Awaited below.
  const id = await nextRequest(peer);
  peer.out.headers(id, peer.encode([":status", "200", "content-length", "100"]), false, MAX_FRAME);
  peer.out.data(id, new Uint8Array(10), false);
  await peer.flush();
  const head = await response;
  equal(head.status, 200);
  peer.out.data(id + 2, new Uint8Array(1), true); // DATA on an idle stream: connection error.
  await peer.flush();
  await expectGoawayAfter(peer, ErrorCode.PROTOCOL_ERROR, f);
  let failed = false;
  try {
    await head.arrayBuffer();
  } catch {
    failed = true;
  }
  ok(failed, "the public client took a truncated body for a complete one");
  await expectTunnelDropped(f);
});

Deno.test("router drops a backend tunnel that answers a stream again after ending it: GOAWAY STREAM_CLOSED (RFC 9113 §5.1)", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  await answer(peer, id, "first");
  const response = await pending;
  equal(response.status, 200);
  equal(response.text, "first");
  await peer.sync(); // The router has closed the stream by now.
  peer.out.headers(id, peer.encode([":status", "200"]), true, MAX_FRAME);
  await peer.flush();
  await expectGoawayAfter(peer, ErrorCode.STREAM_CLOSED, f);
  await expectTunnelDropped(f);
});

// ---- retries after a refusal --------------------------------------------------------------

Deno.test("a request retried after REFUSED_STREAM is recorded with the bytes of the exchange that answered", async () => {
  await using router = startRouter({ allowAnonymous: true, quiet: true });
  const records = requestRecords(router);
  const peer = await rawTunnel(router);
  try {
    const body = new Uint8Array(1000).fill(0x61);
    const pending = fetch(`${baseUrl(router)}/echo`, { method: "POST", body });
    const id = await nextRequest(peer);
    // The raw tunnel got the request (and its body); a real backend comes, then the
    // raw one refuses the stream: the router sends the request again, to the real one.
    await using _echo = await startBackend(router, async (request) => {
      const echo = new Uint8Array(await request.arrayBuffer());
      // The head goes first, the body 50 ms later: the record must wait for it.
      return new Response(
        new ReadableStream({
          async start(controller) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            controller.enqueue(echo);
            controller.close();
          },
        }),
      );
    });
    peer.out.rstStream(id, ErrorCode.REFUSED_STREAM);
    await peer.flush();
    const response = await withTimeout(pending, TIMEOUT_MS, "the retried answer");
    equal(response.status, 200);
    equal((await response.arrayBuffer()).byteLength, 1000);
    await waitUntil(() => records.length === 1, TIMEOUT_MS, "the request record");
    equal(records[0]!.retries, 1);
    equal(records[0]!.bytesIn, 1000);
    equal(records[0]!.bytesOut, 1000);
  } finally {
    await peer.close();
  }
});

Deno.test("the header timeout during the wait for a tunnel to retry on answers 504, not 502, for requests and WebSocket upgrades alike", async () => {
  await using router = startRouter({
    allowAnonymous: true,
    quiet: true,
    responseHeaderTimeout: 300,
    tunnelWait: 3000,
  });
  const records = requestRecords(router);
  const peer = await rawTunnel(router, CONNECT_PROTOCOL);
  let client: Deno.Conn | undefined;
  try {
    const pending = startGet(router, "/slow");
    // Refused, and no other tunnel: the router waits for one until the timeout.
    peer.out.rstStream(await nextRequest(peer), ErrorCode.REFUSED_STREAM);
    await peer.flush();
    equal((await withTimeout(pending, TIMEOUT_MS, "the answer")).status, 504);

    const upgrade = await rawUpgrade(router);
    client = upgrade.conn;
    peer.out.rstStream(await nextRequest(peer), ErrorCode.REFUSED_STREAM);
    await peer.flush();
    equal(await withTimeout(upgrade.status, TIMEOUT_MS, "the upgrade's answer"), 504);
    await waitUntil(() => records.length === 2, TIMEOUT_MS, "both records");
    equal(records[1]!.status, 504);
  } finally {
    client?.close();
    await peer.close();
  }
});

/**
 * Reads a tunnel end's SETTINGS and connection WINDOW_UPDATE, and checks the
 * tunnel settings: `streamWindow`, 256 KiB frames, and a connection window of
 * sixteen stream windows. Returns the SETTINGS for further checks.
 */
async function expectTunnelSettings(
  peer: RawPeer,
  streamWindow: number,
): Promise<Map<number, number>> {
  const frame = await peer.expectFrame(
    "SETTINGS",
    (r) => r.header.type === FrameType.SETTINGS && !(r.frame as SettingsFrame).ack,
  );
  const update = await peer.expectFrame(
    "the connection's WINDOW_UPDATE",
    (r) => r.header.type === FrameType.WINDOW_UPDATE && r.header.streamId === 0,
  );
  const settings = new Map((frame.frame as SettingsFrame).settings);
  equal(settings.get(SettingId.INITIAL_WINDOW_SIZE), streamWindow);
  equal(settings.get(SettingId.MAX_FRAME_SIZE), TUNNEL_MAX_FRAME_SIZE);
  // RFC 9113 §6.9.2: the connection window starts at 65,535 whatever SETTINGS say.
  equal(65_535 + (update.frame as { increment: number }).increment, 16 * streamWindow);
  return settings;
}

Deno.test("the router opens tunnels with 4 MiB stream windows, 256 KiB frames and a connection window of 16 stream windows", async () => {
  for (const http2 of [undefined, { initialWindowSize: 1024 * 1024 }]) {
    await using router = startRouter({ allowAnonymous: true, quiet: true, http2 });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
    const peer = new RawPeer(conn, { readPreface: true });
    try {
      peer.out.settings([]);
      await peer.flush();
      await expectTunnelSettings(peer, http2?.initialWindowSize ?? TUNNEL_STREAM_WINDOW);
    } finally {
      await peer.close();
    }
  }
  equal(TUNNEL_STREAM_WINDOW, 4 * 1024 * 1024);
  equal(TUNNEL_CONNECTION_WINDOW, 64 * 1024 * 1024);
});

Deno.test("a backend serves tunnels with 4 MiB stream windows, extended CONNECT and a connection window of 16 stream windows", async () => {
  for (const http2 of [undefined, { initialWindowSize: 8 * 1024 * 1024 }]) {
    const [ours, theirs] = await loopbackPair();
    // legacy: plain HTTP/2 from the first byte, as with the Go original's router.
    const backend = serveReverse(
      { connect: () => theirs, legacy: true, quiet: true, http2 },
      () => new Response("ok"),
    );
    const peer = new RawPeer(ours);
    try {
      peer.out.append(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
      peer.out.settings([]);
      await peer.flush();
      const settings = await expectTunnelSettings(
        peer,
        http2?.initialWindowSize ?? TUNNEL_STREAM_WINDOW,
      );
      equal(settings.get(SettingId.ENABLE_CONNECT_PROTOCOL), 1);
    } finally {
      await backend.shutdown();
      await peer.close();
    }
  }
});

// ---- WebSocket upgrades that do not go through at once ------------------------------------------

/** A backend that accepts extended CONNECT (RFC 8441 §3), for WebSockets. */
const CONNECT_PROTOCOL: Array<[number, number]> = [[SettingId.ENABLE_CONNECT_PROTOCOL, 1]];

/**
 * Sends a WebSocket upgrade (RFC 6455 §4.1) over TCP; `status` resolves with the
 * status code of the router's answer.
 */
async function rawUpgrade(router: Router): Promise<{ conn: Deno.Conn; status: Promise<number> }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.addr.port });
  await conn.write(
    encoder.encode(
      `GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
  );
  const status = (async () => {
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    if (n === null) throw new Error("closed before the answer");
    return Number(new TextDecoder().decode(buf.subarray(0, n)).split(" ")[1]);
  })();
  status.catch(() => {}); // Awaited by the caller.
  return { conn, status };
}

/** Waits for RST_STREAM on `streamId`; returns its error code. */
async function resetOf(peer: RawPeer, streamId: number): Promise<number> {
  const reset = await peer.expectFrame(
    `RST_STREAM on stream ${streamId}`,
    (r) => r.header.type === FrameType.RST_STREAM && r.header.streamId === streamId,
  );
  return (reset.frame as RstStreamFrame).errorCode;
}

Deno.test("a WebSocket upgrade refused by one backend (REFUSED_STREAM) opens on another", async () => {
  await using router = startRouter({ allowAnonymous: true, quiet: true });
  const records = requestRecords(router);
  const peer = await rawTunnel(router, CONNECT_PROTOCOL);
  try {
    const client = new WebSocket(`ws://127.0.0.1:${router.addr.port}/chat`);
    const opened = new Promise<void>((resolve, reject) => {
      client.onopen = () => resolve();
      client.onclose = (event) => reject(new Error(`closed ${event.code}`));
    });
    const id = await nextRequest(peer);
    await using _echo = await startBackend(router, (request) => {
      const { socket, response } = upgradeWebSocket(request);
      socket.onmessage = (event) => socket.send(`echo ${event.data}`);
      return response;
    });
    peer.out.rstStream(id, ErrorCode.REFUSED_STREAM);
    await peer.flush();
    await withTimeout(opened, TIMEOUT_MS, "the WebSocket on the second backend");
    const echoed = new Promise<string>((resolve) => client.onmessage = (e) => resolve(e.data));
    client.send("hello");
    equal(await withTimeout(echoed, TIMEOUT_MS, "the echo"), "echo hello");
    const closed = new Promise<void>((resolve) => client.onclose = () => resolve());
    client.close();
    await withTimeout(closed, TIMEOUT_MS, "the close");
    await waitUntil(() => records.length === 1, TIMEOUT_MS, "the session's record");
    equal(records[0]!.retries, 1);
    equal(records[0]!.status, 101);
  } finally {
    await peer.close();
  }
});

Deno.test("a backend that does not answer a WebSocket upgrade within the header timeout: 504, and the stream is cancelled", async () => {
  const logs: string[] = [];
  await using router = startRouter({
    allowAnonymous: true,
    quiet: false,
    log: (line) => logs.push(line),
    responseHeaderTimeout: 300,
  });
  const peer = await rawTunnel(router, CONNECT_PROTOCOL);
  let client: Deno.Conn | undefined;
  try {
    const upgrade = await rawUpgrade(router);
    client = upgrade.conn;
    const id = await nextRequest(peer);
    equal(await withTimeout(upgrade.status, TIMEOUT_MS, "the answer"), 504);
    equal(await resetOf(peer, id), ErrorCode.CANCEL);
    ok(
      logs.some((line) =>
        /WebSocket \/chat: tunnel .*: no answer to the upgrade in time/.test(line)
      ),
      logs.join("\n"),
    );
  } finally {
    client?.close();
    await peer.close();
  }
});

Deno.test("a client that leaves before the backend accepts its WebSocket cancels the stream", async () => {
  await using router = startRouter({ allowAnonymous: true, quiet: true });
  const peer = await rawTunnel(router, CONNECT_PROTOCOL);
  try {
    const { conn } = await rawUpgrade(router);
    const id = await nextRequest(peer);
    conn.close();
    equal(await resetOf(peer, id), ErrorCode.CANCEL);
  } finally {
    await peer.close();
  }
});
