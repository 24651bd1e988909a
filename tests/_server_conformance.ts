/**
 * The raw-frame harness of the server role's conformance tests: a `serveConnection` server on a
 * loopback socket, a RawPeer client, and helpers to send requests and read what comes back.
 *
 * @module
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import type { ByteIO, Connection } from "../h2/connection.ts";
import {
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_LENGTH,
  FrameType,
  SettingId,
} from "../h2/constants.ts";
import type { Http2Error } from "../h2/errors.ts";
import { type FrameHeader, readFrameHeader, type SettingsFrame } from "../h2/frame.ts";
import { type Http2Handler, serveConnection, type ServeConnectionOptions } from "../h2/server.ts";
import {
  ackSettings,
  describeFrame,
  loopbackPair,
  RawPeer,
  type ReceivedFrame,
  rejectErrors,
  settle,
  TIMEOUT_MS,
} from "./_raw_peer.ts";

export const MAX_FRAME = DEFAULT_MAX_FRAME_SIZE;
export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

/** Resolves after a handler delay; the timer always completes before the test ends. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The handler behind every test unless one brings its own:
 * `/hang` answers only once the stream is aborted, `/size?n=N` sends N bytes,
 * `/echo` returns the request body, `/headers` the request fields as JSON.
 */
export const defaultHandler: Http2Handler = async (request) => {
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

export interface HarnessOptions {
  handler?: Http2Handler;
  /** Gets a copy of every write of the server, in order. */
  writes?: Uint8Array[];
  server?: ServeConnectionOptions;
  /** Our SETTINGS in the handshake; `false` skips the handshake. */
  handshake?: Array<[number, number]> | false;
}

/** A served connection and the raw client talking to it. */
export interface Harness extends AsyncDisposable {
  peer: RawPeer;
  server: Connection;
  /** Protocol errors the server reported. */
  errors: Http2Error[];
  /** The settings of the server's preface. */
  serverSettings: Map<number, number>;
}

export async function startServer(options: HarnessOptions = {}): Promise<Harness> {
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
export function recordingWrites(conn: Deno.TcpConn, writes: Uint8Array[]): ByteIO {
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
export function framesOf(bytes: Uint8Array): Array<Omit<FrameHeader, "length">> {
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
export async function handshake(h: Harness, settings: Array<[number, number]>): Promise<void> {
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
export function serverTest(
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
export function req(
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
export async function sendHeaders(
  h: Harness,
  streamId: number,
  fields: string[],
  endStream = true,
): Promise<void> {
  h.peer.out.headers(streamId, h.peer.encode(fields), endStream, MAX_FRAME);
  await h.peer.flush();
}

/** Sends a raw frame. */
export async function sendRaw(
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
export async function expectServes(h: Harness, streamId: number): Promise<void> {
  await sendHeaders(h, streamId, req("/"));
  const response = await h.peer.expectResponse(streamId);
  equal(response.status, 200);
  equal(decoder.decode(response.body), "ok");
}

/** Reads the next DATA frame on `streamId`, skipping other frames. */
export async function nextData(
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
export async function nextHead(h: Harness, streamId: number): Promise<ReceivedFrame> {
  return await h.peer.expectFrame(
    `response head on stream ${streamId}`,
    (r) => r.fields !== undefined && r.header.streamId === streamId,
    rejectErrors,
  );
}

/** Asserts no DATA with payload arrived on `streamId` among `frames`. */
export function noData(frames: ReceivedFrame[], streamId: number): void {
  const data = frames.filter((r) =>
    r.header.type === FrameType.DATA && r.header.streamId === streamId && r.header.length > 0
  );
  deepEqual(data.map(describeFrame), [], "DATA sent beyond the flow-control window");
}

/** Asserts equal bytes without printing two large arrays when they differ. */
export function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  ok(
    actual.length === expected.length && actual.every((b, i) => b === expected[i]),
    `${what}: ${actual.length} bytes that differ from the ${expected.length} expected`,
  );
}

export function bytes(text: string): number[] {
  return [...encoder.encode(text)];
}

/** A hand-made header block prefix: GET http://localhost/ without touching the dynamic table. */
export const PLAIN_GET = [0x82, 0x86, 0x84, 0x01, 0x09, ...bytes("localhost")];

export const LARGE_FRAMES: HarnessOptions = {
  server: { settings: { maxFrameSize: 262_144, initialWindowSize: 1 << 20 } },
  handshake: [[SettingId.INITIAL_WINDOW_SIZE, 1 << 20]],
};

export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/**
 * One frame sent raw after the handshake, and the connection error it must get:
 * `[name, type, flags, stream, payload, code, lastStreamId?]`.
 */
export type ConnectionErrorCase = [
  name: string,
  type: number,
  flags: number,
  streamId: number,
  payload: ArrayLike<number>,
  code: number,
  lastStreamId?: number,
];

/** Registers a test per case: the frame goes out, GOAWAY with the code must come back. */
export function connectionErrorCases(cases: ConnectionErrorCase[]): void {
  for (const [name, type, flags, streamId, payload, code, lastStreamId] of cases) {
    serverTest(name, async (h) => {
      await sendRaw(h, type, flags, streamId, payload);
      await h.peer.expectGoaway(code, lastStreamId);
    });
  }
}
