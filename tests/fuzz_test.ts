/**
 * Fuzzing both HTTP/2 roles over real loopback sockets: thousands of frame
 * sequences, random (any type 0–12 and beyond, any flags, stream ids, lengths
 * and payloads) or valid conversations mutated (bits flipped, bytes set,
 * frames truncated, duplicated, reordered, dropped, lengths corrupted).
 *
 * After each sequence the raw peer sends a probe (PING, and a request where
 * one can be made) and the endpoint must, within a time bound, either answer
 * it properly or end the connection with GOAWAY carrying an RFC 9113 error
 * code; streams it resets must carry known codes; it must never report an
 * internal error, break a sender rule of RFC 9113 (checked by the raw peer),
 * leave a request unsettled or a connection open after the peer left, or
 * throw anything uncaught. After all sequences the same process still serves
 * a fresh, well-behaved connection.
 *
 * Deterministic: every sequence is built from its own seed, derived from
 * FUZZ_SEED (default below) and its index. A failure names both; replay with
 * `FUZZ_SEED=<seed> FUZZ_ONLY=<index> deno test -A tests/fuzz_test.ts`, and
 * scale the counts with FUZZ_SCALE (e.g. 10 for a long run).
 */

import { equal, fail, ok } from "node:assert/strict";
import { ClientSession } from "../h2/client.ts";
import type { Connection } from "../h2/connection.ts";
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  ErrorCode,
  errorCodeName,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  SettingId,
} from "../h2/constants.ts";
import { ConnectionError, Http2Error } from "../h2/errors.ts";
import { FrameWriter, type GoawayFrame } from "../h2/frame.ts";
import { HpackEncoder } from "../h2/hpack/mod.ts";
import { type Http2Handler, serveConnection } from "../h2/server.ts";
import { baseUrl, startBackend, startRouter, waitUntil } from "./_helpers.ts";
import { concat, describeFrame, RawPeer, type ReceivedFrame } from "./_raw_peer.ts";

const encoder = new TextEncoder();
const MAX_FRAME = DEFAULT_MAX_FRAME_SIZE;
/** How long an endpoint may take to answer the probe or end the connection. */
const BOUND_MS = 2000;

function env(name: string): string | undefined {
  return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted"
    ? Deno.env.get(name)
    : undefined;
}

const MASTER_SEED = Number(env("FUZZ_SEED") ?? 0x2026_1126) >>> 0;
const SCALE = Number(env("FUZZ_SCALE") ?? 1);
const ONLY = env("FUZZ_ONLY") === undefined ? null : Number(env("FUZZ_ONLY"));
/** Sequences run at once, each on its own connection. */
const LANES = 8;

// ---- a seeded PRNG ---------------------------------------------------------------------

/** sfc32: small, fast, and the same everywhere. */
class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  constructor(seed: number) {
    this.#a = 0x9e37_79b9;
    this.#b = 0x243f_6a88;
    this.#c = 0xb7e1_5162;
    this.#d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }
  /** A 32-bit unsigned integer. */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** MurmurHash3's finalizer: every input bit moves every output bit. */
function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The seed of sequence `index` of test `kind` in this run. */
function sequenceSeed(kind: number, index: number): number {
  return fmix(fmix(fmix(MASTER_SEED) + kind) + Math.imul(index, 0x9e37_79b9));
}

// ---- frame generation ------------------------------------------------------------------

/** Values that sit on the edges of what RFC 9113 allows. */
const EDGES = [
  0,
  1,
  2,
  5,
  100,
  4096,
  16_383,
  16_384,
  65_535,
  65_536,
  0xff_ffff,
  0x100_0000,
  0x7fff_ffff,
  0x8000_0000,
  0xffff_ffff,
];

function interesting(rng: Rng): number {
  return rng.chance(0.7) ? rng.pick(EDGES) : rng.next();
}

function frameBytes(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array,
): Uint8Array {
  const out = new FrameWriter(FRAME_HEADER_LENGTH + payload.length);
  out.raw(type, flags, streamId, payload);
  return out.bytes().slice();
}

function uint32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

const REQUEST_PATHS = ["/", "/echo", "/probe", "/big", "/hang"];
const METHODS = ["GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS"];

/** A field list: mostly a plausible request or response, sometimes something odd. */
function randomFields(rng: Rng, role: "server" | "client"): string[] {
  const fields = role === "server"
    ? [
      ":method",
      rng.pick(METHODS),
      ":scheme",
      rng.pick(["http", "https", "h t"]),
      ":authority",
      rng.pick(["localhost", "a.example", "", "x@y"]),
      ":path",
      rng.pick([...REQUEST_PATHS, "", "*", "noslash"]),
    ]
    : [
      ":status",
      rng.pick(["200", "204", "103", "100", "101", "404", "600", "999", "2000", "abc"]),
    ];
  const extra = rng.int(4);
  for (let i = 0; i < extra; i++) {
    fields.push(
      rng.pick(["x-a", "content-length", "te", "connection", "X-Up", ":path", "cookie", "trailer"]),
      rng.pick([
        "1",
        "0",
        "5",
        "trailers",
        "close",
        "a b",
        " lead",
        "a\x01b", // Deno.serve panics on a control character in a response header value.
        "\x7f",
        "x".repeat(rng.int(300)),
      ]),
    );
  }
  return fields;
}

/** One random frame, its length field usually honest. */
function randomFrame(rng: Rng, role: "server" | "client", hpack: HpackEncoder): Uint8Array {
  const type = rng.chance(0.9) ? rng.int(13) : rng.int(256);
  const streamIds = role === "server"
    ? [0, 1, 1, 3, 3, 5, 7, 2, 0x7fff_ffff]
    : [0, 1, 1, 3, 3, 5, 2, 4, 0x7fff_ffff];
  const streamId = rng.chance(0.9) ? rng.pick(streamIds) : rng.next() & 0x7fff_ffff;
  let flags = rng.chance(0.5) ? 0 : rng.pick([0x1, 0x4, 0x5, 0x8, 0x20, 0x24, 0x25, 0x2d]);
  if (rng.chance(0.1)) flags = rng.next() & 0xff;
  let payload: Uint8Array;
  switch (type) {
    case FrameType.HEADERS:
    case FrameType.CONTINUATION:
    case FrameType.PUSH_PROMISE: {
      const block = rng.chance(0.7)
        ? hpack.encode(randomFields(rng, role)).slice()
        : rng.bytes(rng.int(40));
      const head = type === FrameType.PUSH_PROMISE ? [uint32(interesting(rng))] : [];
      const padded = (flags & Flag.PADDED) !== 0 && type !== FrameType.CONTINUATION;
      const priority = type === FrameType.HEADERS && (flags & Flag.PRIORITY) !== 0;
      payload = concat([
        padded ? new Uint8Array([rng.int(8)]) : new Uint8Array(0),
        ...head,
        priority
          ? concat([uint32(interesting(rng)), new Uint8Array([rng.int(256)])])
          : new Uint8Array(0),
        block,
        padded ? new Uint8Array(rng.int(8)) : new Uint8Array(0),
      ]);
      break;
    }
    case FrameType.SETTINGS: {
      const n = rng.chance(0.2) ? 0 : rng.int(5);
      const parts: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        const id = rng.chance(0.9) ? rng.int(10) : rng.int(0x10000);
        const value = id === SettingId.MAX_CONCURRENT_STREAMS && rng.chance(0.5)
          ? rng.int(4)
          : interesting(rng);
        parts.push(new Uint8Array([id >> 8, id & 0xff]), uint32(value));
      }
      payload = concat(parts);
      if (rng.chance(0.05)) payload = payload.subarray(0, Math.max(0, payload.length - 1));
      break;
    }
    case FrameType.WINDOW_UPDATE:
    case FrameType.RST_STREAM:
      payload = uint32(interesting(rng));
      break;
    case FrameType.PRIORITY:
      payload = concat([uint32(rng.chance(0.3) ? streamId : interesting(rng)), rng.bytes(1)]);
      break;
    case FrameType.PING:
      payload = rng.bytes(8);
      break;
    case FrameType.GOAWAY:
      payload = concat([uint32(interesting(rng)), uint32(rng.int(16)), rng.bytes(rng.int(12))]);
      break;
    default:
      payload = rng.bytes(rng.chance(0.9) ? rng.int(32) : rng.int(MAX_FRAME + 100));
  }
  // Off-by-a-few lengths for the fixed-size frames.
  if (rng.chance(0.08)) {
    const delta = rng.pick([-1, 1, 2, -4, 5]);
    const length = Math.max(0, payload.length + delta);
    const next = new Uint8Array(length);
    next.set(payload.subarray(0, length));
    payload = next;
  }
  return frameBytes(type, flags, streamId, payload);
}

/** A valid request conversation, frame by frame (the server role's input). */
function validRequests(rng: Rng, hpack: HpackEncoder): Uint8Array[] {
  const w = () => new FrameWriter();
  const frames: Uint8Array[] = [];
  const emit = (build: (out: FrameWriter) => void) => {
    const out = w();
    build(out);
    frames.push(out.bytes().slice());
  };
  const req = (path: string, method = "GET", extra: string[] = []) =>
    hpack.encode([
      ":method",
      method,
      ":scheme",
      "http",
      ":authority",
      "localhost",
      ":path",
      path,
      ...extra,
    ]).slice();
  emit((o) =>
    o.settings([
      [SettingId.INITIAL_WINDOW_SIZE, rng.pick([65_535, 1_000_000, 10])],
      [SettingId.MAX_FRAME_SIZE, rng.pick([16_384, 65_536])],
      [SettingId.HEADER_TABLE_SIZE, rng.pick([4096, 0, 100])],
      [SettingId.ENABLE_PUSH, 0],
    ])
  );
  emit((o) => o.settingsAck());
  emit((o) => o.headers(1, req("/"), true, MAX_FRAME));
  emit((o) => o.headers(3, req("/echo", "POST", ["content-length", "10"]), false, MAX_FRAME));
  emit((o) => o.data(3, encoder.encode("hello"), false, rng.chance(0.3) ? 3 : 0));
  emit((o) => o.data(3, encoder.encode("world"), true));
  emit((o) => o.ping(false, rng.bytes(8)));
  emit((o) => o.windowUpdate(0, 1 + rng.int(100_000)));
  emit((o) => o.priority(5, 3, 1 + rng.int(256)));
  // A head split across CONTINUATION frames.
  const big = req("/big", "GET", ["x-long", "v".repeat(200 + rng.int(300))]);
  const cut = 1 + rng.int(big.length - 1);
  emit((o) => o.raw(FrameType.HEADERS, Flag.END_STREAM, 5, big.subarray(0, cut)));
  emit((o) => o.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 5, big.subarray(cut)));
  emit((o) => o.headers(7, req("/echo", "POST"), false, MAX_FRAME));
  emit((o) => o.windowUpdate(7, 1 + rng.int(1000)));
  emit((o) => o.data(7, rng.bytes(rng.int(100)), false));
  emit((o) => o.headers(7, hpack.encode(["x-trailer", "t"]).slice(), true, MAX_FRAME));
  emit((o) => o.headers(9, req("/hang"), false, MAX_FRAME));
  emit((o) => o.rstStream(9, ErrorCode.CANCEL));
  if (rng.chance(0.2)) emit((o) => o.goaway(0, ErrorCode.NO_ERROR));
  return frames;
}

/** A valid response conversation for streams 1 (GET) and 3 (POST) (the client role's input). */
function validResponses(rng: Rng, hpack: HpackEncoder): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const emit = (build: (out: FrameWriter) => void) => {
    const out = new FrameWriter();
    build(out);
    frames.push(out.bytes().slice());
  };
  const head = (fields: string[]) => hpack.encode(fields).slice();
  emit((o) => o.settings([[SettingId.MAX_CONCURRENT_STREAMS, rng.pick([1, 2, 100])]]));
  emit((o) =>
    o.headers(1, head([":status", "200", "content-type", "text/plain"]), false, MAX_FRAME)
  );
  emit((o) => o.data(1, encoder.encode("hello"), false));
  emit((o) => o.ping(false, rng.bytes(8)));
  emit((o) => o.data(1, encoder.encode(" world"), true, rng.chance(0.3) ? 4 : 0));
  emit((o) => o.windowUpdate(0, 1 + rng.int(100_000)));
  emit((o) => o.windowUpdate(3, 1 + rng.int(1000)));
  emit((o) => o.headers(3, head([":status", "103", "link", "</s.css>"]), false, MAX_FRAME));
  emit((o) => o.headers(3, head([":status", "200", "content-length", "3"]), false, MAX_FRAME));
  emit((o) => o.data(3, encoder.encode("abc"), false));
  emit((o) => o.headers(3, head(["x-checksum", "1"]), true, MAX_FRAME));
  if (rng.chance(0.3)) emit((o) => o.rstStream(3, ErrorCode.CANCEL));
  if (rng.chance(0.2)) emit((o) => o.goaway(3, ErrorCode.NO_ERROR));
  return frames;
}

/** Mutates a frame list in place and returns it (1 to 4 mutations). */
function mutate(rng: Rng, frames: Uint8Array[], random: () => Uint8Array): Uint8Array[] {
  const n = 1 + rng.int(4);
  for (let m = 0; m < n && frames.length > 0; m++) {
    const i = rng.int(frames.length);
    const frame = frames[i]!.slice();
    switch (rng.int(10)) {
      case 0: // Flip bits.
        for (let k = 1 + rng.int(3); k > 0; k--) frame[rng.int(frame.length)]! ^= 1 << rng.int(8);
        frames[i] = frame;
        break;
      case 1: // Set a byte of the header (type, flags, stream id) or payload.
        frame[rng.int(frame.length)] = rng.next() & 0xff;
        frames[i] = frame;
        break;
      case 2: { // Corrupt the length field.
        const length = rng.chance(0.5)
          ? Math.max(0, frame.length - FRAME_HEADER_LENGTH + rng.pick([-3, -1, 1, 2, 100]))
          : rng.next() & 0xff_ffff;
        frame[0] = length >>> 16;
        frame[1] = (length >>> 8) & 0xff;
        frame[2] = length & 0xff;
        frames[i] = frame;
        break;
      }
      case 3: // Truncate the sequence, maybe inside a frame.
        frames.length = i + 1;
        frames[i] = frame.subarray(0, rng.int(frame.length + 1));
        break;
      case 4: // Duplicate a frame.
        frames.splice(rng.int(frames.length + 1), 0, frame);
        break;
      case 5: { // Swap two frames.
        const j = rng.int(frames.length);
        [frames[i], frames[j]] = [frames[j]!, frames[i]!];
        break;
      }
      case 6: // Drop a frame.
        frames.splice(i, 1);
        break;
      case 7: // Insert a random frame.
        frames.splice(i, 0, random());
        break;
      case 8: // Change the type.
        frame[3] = rng.int(13);
        frames[i] = frame;
        break;
      default: // Change the stream id.
        if (frame.length < FRAME_HEADER_LENGTH) break;
        frame.set(uint32(rng.pick([0, 1, 2, 3, 5, 0x7fff_ffff, rng.next()])), 5);
        frames[i] = frame;
    }
  }
  return frames;
}

/**
 * The bytes that complete a partial frame at the end of `bytes` (from
 * `offset`), so that the probe that follows is read as a frame of its own;
 * `null` when a frame header announces more than `maxFrame`, which the
 * endpoint answers with FRAME_SIZE_ERROR before waiting for its payload.
 */
function completion(bytes: Uint8Array, offset: number, maxFrame: number): Uint8Array | null {
  let pos = offset;
  while (true) {
    if (pos === bytes.length) return new Uint8Array(0);
    if (bytes.length - pos < FRAME_HEADER_LENGTH) {
      const header = new Uint8Array(FRAME_HEADER_LENGTH);
      header.set(bytes.subarray(pos));
      const length = (header[0]! << 16) | (header[1]! << 8) | header[2]!;
      if (length > maxFrame) return null;
      return new Uint8Array(FRAME_HEADER_LENGTH - (bytes.length - pos) + length);
    }
    const length = (bytes[pos]! << 16) | (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
    if (length > maxFrame) return null;
    const end = pos + FRAME_HEADER_LENGTH + length;
    if (end > bytes.length) return new Uint8Array(end - bytes.length);
    pos = end;
  }
}

/**
 * The largest SETTINGS_MAX_FRAME_SIZE any well-formed SETTINGS frame in `bytes`
 * (from `offset`) announces: the frames the endpoint sends may be that large.
 */
function largestFrameAllowed(bytes: Uint8Array, offset: number): number {
  let largest = MAX_FRAME;
  let pos = offset;
  while (bytes.length - pos >= FRAME_HEADER_LENGTH) {
    const length = (bytes[pos]! << 16) | (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
    const end = pos + FRAME_HEADER_LENGTH + length;
    if (end > bytes.length) break;
    const view = new DataView(bytes.buffer, bytes.byteOffset + pos);
    const streamId = view.getUint32(5) & 0x7fff_ffff; // §4.1: the reserved bit is ignored.
    if (bytes[pos + 3] === FrameType.SETTINGS && length % 6 === 0 && streamId === 0) {
      for (let i = FRAME_HEADER_LENGTH; i < FRAME_HEADER_LENGTH + length; i += 6) {
        const value = view.getUint32(i + 2);
        if (view.getUint16(i) === SettingId.MAX_FRAME_SIZE && value <= 0xff_ffff) {
          largest = Math.max(largest, value);
        }
      }
    }
    pos = end;
  }
  return largest;
}

/** Polls `check` every millisecond until it holds, for at most `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

// ---- outcome checks --------------------------------------------------------------------

/** What the raw peer saw after sending a sequence and the probe. */
interface Seen {
  goaway: GoawayFrame | null;
  pingAck: boolean;
  /** The probe request's answer: a status, a reset code, or nothing. */
  probe: { status?: number; reset?: number } | null;
  closed: boolean;
  resets: number[];
}

const PROBE_PING = new Uint8Array([0x70, 0x72, 0x6f, 0x62, 0x65, 0, 0, 0]);

/**
 * Reads until the PING ACK (and the probe answer on `probeStream`, when set)
 * arrived, or the endpoint closed the connection; fails after BOUND_MS.
 */
async function observe(peer: RawPeer, probeStream: number): Promise<Seen> {
  const seen: Seen = { goaway: null, pingAck: false, probe: null, closed: false, resets: [] };
  const deadline = Date.now() + BOUND_MS;
  while (true) {
    if (seen.pingAck && (probeStream === 0 || seen.probe !== null)) return seen;
    let received: ReceivedFrame | null;
    try {
      received = await peer.nextFrame(Math.max(1, deadline - Date.now()));
    } catch (error) {
      throw new Error(
        `No answer and no close within ${BOUND_MS} ms (${(error as Error).message}); seen ${
          JSON.stringify({ ...seen, goaway: seen.goaway && describeGoaway(seen.goaway) })
        }; last frames: ${peer.log.slice(-5).map(describeFrame).join(" | ")}`,
        { cause: error },
      );
    }
    if (received === null) {
      seen.closed = true;
      return seen;
    }
    const { header, frame } = received;
    if (header.type === FrameType.GOAWAY) seen.goaway = frame as GoawayFrame;
    if (header.type === FrameType.RST_STREAM) {
      const code = (frame as { errorCode: number }).errorCode;
      seen.resets.push(code);
      if (header.streamId === probeStream) seen.probe = { reset: code };
    }
    if (
      header.type === FrameType.PING && (header.flags & Flag.ACK) !== 0 &&
      received.payload.join() === PROBE_PING.join()
    ) {
      seen.pingAck = true;
    }
    if (received.fields !== undefined && header.streamId === probeStream && probeStream !== 0) {
      const status = received.fields[1];
      if (status === undefined || !/^\d\d\d$/.test(status)) fail(`probe answered ${status}`);
      if (Number(status) >= 200) seen.probe = { status: Number(status) };
    }
  }
}

function describeGoaway(goaway: GoawayFrame): string {
  return `GOAWAY ${errorCodeName(goaway.errorCode)} last=${goaway.lastStreamId} ` +
    JSON.stringify(new TextDecoder().decode(goaway.debugData));
}

/** A known RFC 9113 error code (§7); what an endpoint sends must be one. */
function known(code: number): boolean {
  return code >= ErrorCode.NO_ERROR && code <= ErrorCode.HTTP_1_1_REQUIRED;
}

/** Checks what the endpoint did and reported; throws a message naming the problem. */
function judge(seen: Seen, reported: readonly Http2Error[], connectionError: Error | null): void {
  for (const code of seen.resets) ok(known(code), `RST_STREAM with unknown code ${code}`);
  // Every error the endpoint raises itself is reported (a peer's GOAWAY code is not).
  for (const error of reported) {
    ok(known(error.code), `reported unknown code ${error.code}: ${error.message}`);
    ok(
      error.code !== ErrorCode.INTERNAL_ERROR,
      `internal error: ${error.message} ${(error.cause as Error)?.stack ?? ""}`,
    );
  }
  if (seen.goaway !== null) {
    ok(known(seen.goaway.errorCode), `GOAWAY with unknown code ${seen.goaway.errorCode}`);
    ok(seen.goaway.errorCode !== ErrorCode.INTERNAL_ERROR, describeGoaway(seen.goaway));
    return;
  }
  if (seen.closed) {
    // Closed without a GOAWAY we could read: only a TCP reset may have destroyed it, and
    // then the endpoint must have had its reason.
    const reason = reported.some((e) => e instanceof ConnectionError) ||
      connectionError instanceof Http2Error;
    ok(reason, "the endpoint closed the connection without GOAWAY and without a reason");
  }
}

/** Per sequence in flight: what was sent and received, for the failure message. */
const traces = new Map<number, () => string>();

function frameNames(type: number): string {
  return Object.entries(FrameType).find(([, v]) => v === type)?.[0] ?? `0x${type.toString(16)}`;
}

/** The frames in `bytes` from `offset`, one line each. */
function describeInput(bytes: Uint8Array, offset: number): string {
  const lines: string[] = [];
  let pos = offset;
  while (bytes.length - pos >= FRAME_HEADER_LENGTH && lines.length < 60) {
    const length = (bytes[pos]! << 16) | (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
    const id = new DataView(bytes.buffer, bytes.byteOffset + pos + 5, 4).getUint32(0) & 0x7fff_ffff;
    const payload = bytes.subarray(
      pos + FRAME_HEADER_LENGTH,
      pos + FRAME_HEADER_LENGTH + Math.min(length, 24),
    );
    lines.push(
      `${frameNames(bytes[pos + 3]!)} flags=0x${bytes[pos + 4]!.toString(16)} stream=${id} ` +
        `length=${length} ${[...payload].map((b) => b.toString(16).padStart(2, "0")).join("")}`,
    );
    pos += FRAME_HEADER_LENGTH + length;
  }
  if (pos < bytes.length) lines.push(`… ${bytes.length - pos} more octets`);
  return lines.join("\n    ");
}

function trace(index: number, bytes: Uint8Array, offset: number, peer: RawPeer): void {
  traces.set(
    index,
    () =>
      `\n  peer frame size limit: ${peer.maxFrameSize}\n  sent:\n    ${
        describeInput(bytes, offset)
      }\n  received:\n    ${peer.log.slice(0, 60).map(describeFrame).join("\n    ")}`,
  );
}

/** Runs `count` sequences `LANES` at a time; collects failures with their seeds. */
async function runLanes(
  kind: number,
  count: number,
  one: (index: number, seed: number, lane: number) => Promise<void>,
  lanes = LANES,
): Promise<{ failures: string[]; ran: number }> {
  const failures: string[] = [];
  let next = ONLY ?? 0;
  const last = ONLY === null ? count : ONLY + 1;
  let ran = 0;
  const uncaught: string[] = [];
  const inFlight = new Set<number>();
  const onRejection = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    uncaught.push(
      `unhandled rejection during sequences ${[...inFlight]}: ${
        event.reason?.stack ?? event.reason
      }`,
    );
  };
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    uncaught.push(
      `uncaught error during sequences ${[...inFlight]}: ${event.error?.stack ?? event.message}`,
    );
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  globalThis.addEventListener("error", onError);
  try {
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        while (next < last && failures.length < 5) {
          const index = next++;
          const seed = sequenceSeed(kind, index);
          inFlight.add(index);
          try {
            await one(index, seed, lane);
          } catch (error) {
            failures.push(
              `sequence ${index} (FUZZ_SEED=${MASTER_SEED} FUZZ_ONLY=${index}, seed ${seed}): ${
                (error as Error)?.stack ?? error
              }${traces.get(index)?.() ?? ""}`,
            );
          } finally {
            traces.delete(index);
            inFlight.delete(index);
            ran++;
          }
        }
      }),
    );
    // Rejections surface a turn after they happen.
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    globalThis.removeEventListener("unhandledrejection", onRejection);
    globalThis.removeEventListener("error", onError);
  }
  return { failures: [...uncaught, ...failures], ran };
}

/** How the sequences ended, for the report: "GOAWAY PROTOCOL_ERROR", "alive", … */
type Tally = Map<string, number>;

function count(tally: Tally, seen: Seen): void {
  const outcome = seen.goaway !== null
    ? `GOAWAY ${errorCodeName(seen.goaway.errorCode)}`
    : seen.closed
    ? "reset"
    : "alive";
  tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
  for (const code of new Set(seen.resets)) {
    const key = `RST_STREAM ${errorCodeName(code)}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
  }
}

function report(
  what: string,
  result: { failures: string[]; ran: number },
  ms: number,
  tally?: Tally,
): void {
  console.log(`${what}: ${result.ran} sequences in ${ms} ms (FUZZ_SEED=${MASTER_SEED})`);
  if (tally) {
    const sorted = [...tally].sort((a, b) => b[1] - a[1]);
    console.log(`  outcomes: ${sorted.map(([k, v]) => `${k} ${v}`).join(", ")}`);
  }
  if (result.failures.length > 0) {
    fail(
      `${result.failures.length} failing ${what} sequence(s):\n\n${result.failures.join("\n\n")}`,
    );
  }
}

async function settle<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- the server role -------------------------------------------------------------------

/** Static entries and a literal that is not indexed: GET /probe, whatever the table holds. */
const PROBE_REQUEST = new Uint8Array([
  0x82,
  0x86,
  0x01,
  9,
  ...encoder.encode("localhost"),
  0x04,
  6,
  ...encoder.encode("/probe"),
]);
const PROBE_STREAM = 0x7fff_fff1;

function serverInput(rng: Rng): { bytes: Uint8Array; prefaceIntact: boolean } {
  const hpack = new HpackEncoder();
  const random = () => randomFrame(rng, "server", hpack);
  let frames: Uint8Array[];
  if (rng.chance(0.5)) {
    // Random frames after a valid preface and SETTINGS most of the time.
    frames = rng.chance(0.85) ? [frameBytes(FrameType.SETTINGS, 0, 0, new Uint8Array(0))] : [];
    for (let n = 1 + rng.int(12); n > 0; n--) frames.push(random());
  } else {
    frames = mutate(rng, validRequests(rng, hpack), random);
  }
  const preface = CLIENT_PREFACE.slice();
  const prefaceIntact = !rng.chance(0.03);
  if (!prefaceIntact) preface[rng.int(preface.length)]! ^= 1 << rng.int(8);
  return { bytes: concat([preface, ...frames]), prefaceIntact };
}

Deno.test("fuzz: the server role survives thousands of random and mutated frame sequences", async () => {
  const stats = { calls: 0, running: 0, abortedAtStart: 0 };
  const handler: Http2Handler = async (request) => {
    stats.calls++;
    stats.running++;
    // A stream reset before its handler ran must not reach it (rapid reset costs nothing).
    if (request.signal.aborted) stats.abortedAtStart++;
    try {
      const path = new URL(request.url).pathname;
      if (path === "/probe") return new Response(null, { status: 204 });
      if (path === "/hang") {
        await new Promise((resolve) => {
          if (request.signal.aborted) resolve(null);
          request.signal.addEventListener("abort", resolve, { once: true });
        });
        return new Response(null, { status: 499 });
      }
      if (path === "/big") return new Response(new Uint8Array(100_000));
      const body = request.body === null ? new Uint8Array(0) : await request.bytes();
      return new Response(body);
    } finally {
      stats.running--;
    }
  };
  const listeners = Array.from(
    { length: LANES },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const COUNT = Math.round(4000 * SCALE);
  const started = Date.now();
  const tally: Tally = new Map();
  try {
    const result = await runLanes(0, COUNT, async (index, seed, lane) => {
      const rng = new Rng(seed);
      const { bytes, prefaceIntact } = serverInput(rng);
      const listener = listeners[lane]!;
      const [conn, accepted] = await Promise.all([
        Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
        listener.accept(),
      ]);
      const reported: Http2Error[] = [];
      const server = serveConnection(accepted, handler, {
        onProtocolError: (error) => reported.push(error),
      });
      const peer = new RawPeer(conn);
      peer.maxFrameSize = largestFrameAllowed(bytes, CLIENT_PREFACE.length);
      trace(index, bytes, CLIENT_PREFACE.length, peer);
      try {
        // Complete a frame the sequence cut short, so the probe is a frame of its own.
        const rest = prefaceIntact ? completion(bytes, CLIENT_PREFACE.length, MAX_FRAME) : null;
        const probe = new FrameWriter();
        probe.ping(false, PROBE_PING);
        probe.headers(PROBE_STREAM, PROBE_REQUEST, true, MAX_FRAME);
        const input = concat([bytes, rest ?? new Uint8Array(0), probe.bytes()]);
        await peer.writeRaw(input).catch(() => {}); // It may hang up on us midway.
        const seen = await observe(peer, PROBE_STREAM);
        count(tally, seen);
        judge(seen, reported, server.error);
        if (!seen.closed) {
          // Alive: it answered the PING, and the probe request properly.
          ok(seen.pingAck);
          ok(
            seen.probe?.status === 204 || (seen.probe?.reset !== undefined),
            `probe answered ${JSON.stringify(seen.probe)}`,
          );
        }
      } finally {
        await peer.close(); // Fails on any RFC 9113 sender rule the server broke.
        await settle(server.closed, BOUND_MS, "the server connection did not close");
      }
    });
    report("server role", result, Date.now() - started, tally);
    console.log(`  handler calls: ${stats.calls}`);
    // No handler outlives its connection.
    await waitUntil(() => stats.running === 0, BOUND_MS, "handlers to finish");
    equal(stats.abortedAtStart, 0, "handlers called for streams already reset");
    ok(stats.calls > 0, "no sequence ever reached the handler");
    // The same process still serves a fresh, well-behaved client.
    const listener = listeners[0]!;
    const [conn, accepted] = await Promise.all([
      Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
      listener.accept(),
    ]);
    const server = serveConnection(accepted, handler);
    const client = new ClientSession(conn);
    const response = await client.request({
      method: "POST",
      scheme: "http",
      authority: "localhost",
      path: "/echo",
      body: encoder.encode("still here"),
    });
    equal(await response.text(), "still here");
    client.close();
    await client.closed;
    await server.closed;
  } finally {
    for (const listener of listeners) listener.close();
  }
});

// ---- the client role -------------------------------------------------------------------

function clientInput(rng: Rng): { handshake: boolean; bytes: Uint8Array } {
  const hpack = new HpackEncoder();
  const random = () => randomFrame(rng, "client", hpack);
  // Most sequences start once the client's requests are out, so frames meet real streams.
  const handshake = rng.chance(0.8);
  let frames: Uint8Array[];
  if (rng.chance(0.5)) {
    frames = handshake || rng.chance(0.2)
      ? []
      : [frameBytes(FrameType.SETTINGS, 0, 0, new Uint8Array(0))];
    for (let n = 1 + rng.int(12); n > 0; n--) frames.push(random());
  } else {
    frames = validResponses(rng, hpack);
    if (!handshake) frames.unshift(frameBytes(FrameType.SETTINGS, 0, 0, new Uint8Array(0)));
    frames = mutate(rng, frames, random);
  }
  return { handshake, bytes: concat(frames) };
}

Deno.test("fuzz: the client role survives thousands of random and mutated frame sequences", async () => {
  const listeners = Array.from(
    { length: LANES },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const COUNT = Math.round(3000 * SCALE);
  const started = Date.now();
  const tally: Tally = new Map();
  try {
    const result = await runLanes(1, COUNT, async (index, seed, lane) => {
      const rng = new Rng(seed);
      const { handshake, bytes } = clientInput(rng);
      const listener = listeners[lane]!;
      const [conn, accepted] = await Promise.all([
        Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
        listener.accept(),
      ]);
      const reported: Http2Error[] = [];
      const client = new ClientSession(conn, { onProtocolError: (error) => reported.push(error) });
      const peer = new RawPeer(accepted, { readPreface: true });
      peer.maxFrameSize = largestFrameAllowed(bytes, 0);
      trace(index, bytes, 0, peer);
      const requests = [
        client.request({ method: "GET", scheme: "http", authority: "a", path: "/a" }),
        client.request({
          method: "POST",
          scheme: "http",
          authority: "a",
          path: "/b",
          body: encoder.encode("xyz"),
          contentLength: 3,
        }),
      ];
      for (const request of requests) request.catch(() => {}); // Settled below.
      try {
        if (handshake) {
          peer.out.settings([]);
          peer.out.settingsAck();
          await peer.flush();
          for (const id of [1, 3]) {
            await peer.expectFrame(
              `request on stream ${id}`,
              (r) => r.header.type === FrameType.HEADERS && r.header.streamId === id,
            );
          }
        }
        const rest = completion(bytes, 0, MAX_FRAME);
        const probe = new FrameWriter();
        probe.ping(false, PROBE_PING);
        await peer.writeRaw(concat([bytes, rest ?? new Uint8Array(0), probe.bytes()])).catch(
          () => {},
        );
        const seen = await observe(peer, 0);
        count(tally, seen);
        judge(seen, reported, client.connection.error);
        if (!seen.closed && client.available) {
          // Alive: a new request must be sent, and its answer delivered.
          const connection: Connection = client.connection;
          if (connection.activeLocalStreams < connection.peerMaxConcurrentStreams) {
            const response = client.request({
              method: "GET",
              scheme: "http",
              authority: "a",
              path: "/probe",
            });
            const answer = response.then((r) => r.status, (e) => e);
            // It goes out, or is refused at once (a peer's SETTINGS may forbid it).
            const request = await settle(
              Promise.race([
                peer.expectFrame(
                  "the probe request",
                  (r) =>
                    r.header.type === FrameType.HEADERS && r.fields?.includes("/probe") === true,
                ),
                answer.then(() => null),
              ]),
              BOUND_MS,
              "the probe request was neither sent nor refused",
            );
            if (request !== null) {
              // :status 204 from the static table: readable whatever the dynamic table holds.
              peer.out.raw(
                FrameType.HEADERS,
                Flag.END_HEADERS | Flag.END_STREAM,
                request.header.streamId,
                new Uint8Array([0x89]),
              );
              await peer.flush().catch(() => {});
            }
            const status = await settle(answer, BOUND_MS, "the probe request did not settle");
            ok(status === 204 || status instanceof Http2Error, `probe: ${status}`);
          }
        }
      } finally {
        client.close();
        // Every request settles, and every body delivered ends or fails.
        for (const request of requests) {
          const response = await settle(
            request.then((r) => r, () => null),
            BOUND_MS,
            "a request did not settle after close",
          );
          if (response !== null) {
            await settle(response.arrayBuffer().catch(() => {}), BOUND_MS, "a body did not end");
          }
        }
        await settle(client.closed, BOUND_MS, "the client connection did not close");
        await peer.close();
      }
    });
    report("client role", result, Date.now() - started, tally);
  } finally {
    for (const listener of listeners) listener.close();
  }
});

// ---- the client role inside the router -------------------------------------------------

Deno.test("fuzz: the router survives backends that answer with random and mutated frames", async () => {
  const logs: string[] = [];
  await using router = startRouter({
    tokens: { good: "token-for-the-good-service-0001" },
    allowAnonymous: true,
    routes: [{ path: "/good", service: "good" }, { service: "default" }],
    tunnelWait: 0,
    maxRetries: 0,
    responseHeaderTimeout: BOUND_MS,
    quiet: false,
    log: (line) => logs.push(line),
  });
  await using _good = await startBackend(router, () => new Response("good"), {
    service: "good",
    token: "token-for-the-good-service-0001",
  });
  const base = baseUrl(router);
  const COUNT = Math.round(500 * SCALE);
  const started = Date.now();
  const statuses = new Map<string, number>();
  // One lane: each sequence's hostile tunnel must be the only one of its service.
  const result = await runLanes(2, COUNT, async (index, seed) => {
    const rng = new Rng(seed);
    const { bytes } = clientInput(rng);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
    const peer = new RawPeer(conn, { readPreface: true });
    peer.maxFrameSize = largestFrameAllowed(bytes, 0);
    trace(index, bytes, 0, peer);
    try {
      peer.out.settings([]);
      await peer.flush();
      await peer.expectFrame("router SETTINGS", (r) => r.header.type === FrameType.SETTINGS);
      peer.out.settingsAck();
      await peer.flush();
      await until(() => router.pool.count("default") === 1, BOUND_MS, "the hostile tunnel");
      const answer = fetch(`${base}/x`).then(
        async (r) => `${r.status}${await r.arrayBuffer().then(() => "", () => " aborted")}`,
        (e) => `fetch failed: ${e}`,
      );
      await peer.expectFrame("the forwarded request", (r) => r.header.type === FrameType.HEADERS);
      const rest = completion(bytes, 0, MAX_FRAME) ?? new Uint8Array(0);
      await peer.writeRaw(concat([bytes, rest])).catch(() => {});
      // Whatever the router makes of it, it has made it once the PING is answered (or it
      // hung up); then the backend leaves, so no request waits for a head that never comes.
      await peer.sync().catch(() => {});
      await peer.close();
      const outcome = await settle(answer, 2 * BOUND_MS, "the public request did not complete");
      statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
      // Whatever status the backend chose (valid ones pass through), or the router's 502/504.
      ok(/^[1-5]\d\d( aborted)?$/.test(outcome), `public answer: ${outcome}`);
    } finally {
      await peer.close();
    }
    await until(() => router.pool.count("default") === 0, BOUND_MS, "the tunnel to leave");
    // The well-behaved tunnel serves after every sequence.
    const good = await fetch(`${base}/good`);
    equal(await good.text(), "good");
    // The router's own errors (not the backend's GOAWAY codes) are never internal, and
    // no public request failed with an exception (Deno.serve's onError, a 500).
    for (const line of logs.splice(0)) {
      ok(!/Error INTERNAL_ERROR/.test(line), line);
      ok(!line.startsWith("public request failed"), line);
    }
  }, 1); // One lane: each sequence's tunnel is the only one of its service.
  console.log(`router answers: ${JSON.stringify(Object.fromEntries(statuses))}`);
  report("router", result, Date.now() - started);
});
