/**
 * What the hostile-peer tests share: a router with a good and a hostile backend, a raw tunnel
 * peer, and helpers to send public requests and answer them frame by frame.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { DEFAULT_MAX_FRAME_SIZE, errorCodeName, FrameType, SettingId } from "../h2/constants.ts";
import type { FrameWriter, GoawayFrame, SettingsFrame } from "../h2/frame.ts";
import type { Router } from "../router/create_router.ts";
import type { RequestRecord } from "../router/events.ts";
import { baseUrl, startBackend, startRouter, waitUntil } from "./_helpers.ts";
import { ackSettings, RawPeer, type ReceivedFrame, rejectErrors, TIMEOUT_MS } from "./_raw_peer.ts";

/**
 * Reads everything up to the endpoint's GOAWAY, which must carry `code`, and
 * then the end of the connection. Frames before it are counted by type.
 *
 * An endpoint that closes while a flood it did not read is still arriving makes
 * the kernel answer with a TCP reset, and the reset may destroy the GOAWAY
 * before the peer reads it. Only then, the endpoint's own report of the
 * connection error (`witness`) stands in for the GOAWAY that was sent.
 */
export async function expectGoawayAfter(
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

/**
 * Sends a WebSocket upgrade (RFC 6455 §4.1) over TCP; `status` resolves with the
 * status code of the router's answer.
 */
export async function rawUpgrade(
  router: Router,
): Promise<{ conn: Deno.Conn; status: Promise<number> }> {
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

/**
 * Writes `bytes` without waiting for the peer to take them: a flood is
 * written while the endpoint answers, and the endpoint may close midway.
 */
export function blast(peer: RawPeer, bytes: Uint8Array): Promise<void> {
  return peer.writeRaw(bytes).catch(() => {}); // The endpoint hung up on the flood: expected.
}

export const MAX_FRAME = DEFAULT_MAX_FRAME_SIZE;

export const encoder = new TextEncoder();

export const decoder = new TextDecoder();

/** What came before the endpoint's GOAWAY, by frame type. */
export interface Outcome {
  /** The GOAWAY, or `null` when a TCP reset destroyed it (see {@linkcode expectGoawayAfter}). */
  goaway: GoawayFrame | null;
  counts: Map<number, number>;
  resets: ReceivedFrame[];
}

/** The endpoint under test, asked whether it raised a connection error with a code. */
export interface Witness {
  saw(code: number): boolean;
}

/** An HPACK integer with an `n`-bit prefix; `first` holds the pattern bits. */
export function hpackInt(value: number, n: number, first = 0): number[] {
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
export function hpackString(text: string): number[] {
  return [...hpackInt(text.length, 7), ...encoder.encode(text)];
}

/** Sends one header block as HEADERS plus CONTINUATION frames of `frameSize` octets. */
export function writeBlock(
  out: FrameWriter,
  streamId: number,
  block: Uint8Array,
  endStream: boolean,
  frameSize = MAX_FRAME,
): void {
  out.headers(streamId, block, endStream, frameSize);
}

// ---- rapid reset -------------------------------------------------------------------------

export const GOOD_TOKEN = "token-for-the-good-service-0001";

/** A router with two services: `good` (a real backend) and `default` (the hostile peer). */
export interface Fleet extends AsyncDisposable, Witness {
  router: Router;
  /** The router's log lines. */
  logs: string[];
  /** Dials the tunnel port as a raw HTTP/2 backend (service `default`) and shakes hands. */
  hostile(): Promise<RawPeer>;
}

export async function fleet(): Promise<Fleet> {
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

export async function publicGet(
  router: Router,
  path: string,
): Promise<{ status: number; text: string }> {
  const response = await fetch(`${baseUrl(router)}${path}`);
  return { status: response.status, text: await response.text() };
}

/** The request records the router emits, collected as they come. */
export function requestRecords(router: Router): RequestRecord[] {
  const records: RequestRecord[] = [];
  router.events.on((event) => {
    if (event.type === "request") records.push(event.request);
  });
  return records;
}

/** A raw HTTP/2 backend (as the Go original speaks) with a tunnel in the router's pool. */
export async function rawTunnel(
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
export function startGet(router: Router, path: string): Promise<{ status: number; text: string }> {
  const pending = publicGet(router, path);
  pending.catch(() => {}); // Awaited by the caller.
  return pending;
}

/** Waits for the request the router forwards on the hostile tunnel; returns its stream id. */
export async function nextRequest(peer: RawPeer): Promise<number> {
  const received = await peer.expectFrame(
    "a forwarded request",
    (r) => r.header.type === FrameType.HEADERS && r.fields !== undefined,
    rejectErrors,
  );
  return received.header.streamId;
}

/** A raw backend's answer: 200 with `body`. */
export async function answer(peer: RawPeer, streamId: number, body: string): Promise<void> {
  peer.out.headers(streamId, peer.encode([":status", "200"]), false, MAX_FRAME);
  peer.out.data(streamId, encoder.encode(body), true);
  await peer.flush();
}

/** After a connection error: the tunnel is gone, its service has none left, `good` serves. */
export async function expectTunnelDropped(f: Fleet): Promise<void> {
  await waitUntil(() => f.router.pool.size === 1, TIMEOUT_MS, "the hostile tunnel to leave");
  equal(f.router.pool.list()[0]!.service, "good");
  equal((await publicGet(f.router, "/x")).status, 503);
  const good = await publicGet(f.router, "/good/after");
  equal(good.status, 200);
  equal(good.text, "good /good/after");
}

/** A backend that accepts extended CONNECT (RFC 8441 §3), for WebSockets. */
export const CONNECT_PROTOCOL: Array<[number, number]> = [[SettingId.ENABLE_CONNECT_PROTOCOL, 1]];
