/**
 * The router's side of opening a tunnel: tell a PTTH handshake from a raw
 * HTTP/2 backend of the Go original by the first bytes, check the handshake,
 * and answer 101 or a refusal.
 *
 * @module
 */

import type { ByteIO } from "../../h2/connection.ts";
import { CLIENT_PREFACE, ErrorCode } from "../../h2/constants.ts";
import { FrameWriter } from "../../h2/frame.ts";
import type { TunnelAuth } from "./auth.ts";
import {
  encodeHandshakeResponse,
  findHeadEnd,
  HandshakeError,
  MAX_HANDSHAKE_BYTES,
  parseHandshakeRequest,
  type TunnelIdentity,
} from "../../tunnel/handshake.ts";
import { PrefixedIO } from "../../tunnel/prefixed_io.ts";
import { within } from "../../tunnel/within.ts";

/** A tunnel ready for HTTP/2: the byte stream and who is on the other end. */
export interface AcceptedTunnel {
  /** The connection, with any bytes read during detection put back. */
  io: ByteIO;
  /** What the backend serves. */
  identity: TunnelIdentity;
  /** Whether it skipped the handshake (raw HTTP/2, as the Go original). */
  legacy: boolean;
  /**
   * The 101 answer still to send, or `null` (raw HTTP/2). The caller sends it
   * in the same write as its HTTP/2 preface: on TLS, where Nagle's algorithm
   * cannot be turned off, two small writes would wait for a delayed ACK.
   */
  reply: Uint8Array | null;
}

/** Options of {@linkcode acceptTunnel}. */
export interface AcceptOptions {
  /** Token and anonymous policy. */
  auth: TunnelAuth;
  /** The peer's IP address, for rate limiting and logs. */
  address: string;
  /** The whole handshake must complete within this many ms. */
  timeout: number;
  /** How long a silent peer is given before it is taken for a raw HTTP/2 server (ms). */
  legacyWait?: number;
  /**
   * A last check before 101 (the hosts it may announce, the tunnels-per-service
   * cap), told whether the tunnel came without a token; throw HandshakeError to refuse.
   */
  admit?: (identity: TunnelIdentity, anonymous: boolean) => void;
}

const ANONYMOUS: TunnelIdentity = { service: "default", hosts: [], weight: 1, metadata: {} };

/** Reads once, as bytes, so a read still in flight can be handed on. */
async function readChunk(io: ByteIO, size = 1024): Promise<Uint8Array | null> {
  // Small reads: a handshake head is a few hundred bytes, and every byte of this
  // buffer a raw HTTP/2 peer fills stays alive until the codec has read it.
  const buf = new Uint8Array(size);
  const n = await io.read(buf);
  return n === null ? null : buf.subarray(0, n);
}

/** Whether the bytes start like an HTTP/2 server's preface, a SETTINGS frame on stream 0. */
function looksLikeSettings(bytes: Uint8Array): boolean {
  return bytes.length >= 9 && bytes[3] === 0x04 && (bytes[4]! & ~0x01) === 0 &&
    bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0 && bytes[8] === 0;
}

/**
 * Runs the router's side of a tunnel's opening on a fresh connection.
 *
 * @param io The accepted connection.
 * @param options Auth, address, timeouts.
 * @returns The tunnel, ready for HTTP/2 in the client role.
 * @throws {HandshakeError} When it is refused; the refusal has been sent and
 *   the caller should close `io`.
 *
 * @example A raw HTTP/2 backend is accepted where anonymous tunnels are
 * ```ts
 * import { acceptTunnel } from "./accept.ts";
 * import { TunnelAuth } from "./auth.ts";
 * import { memoryPipe } from "../../h2/memory_pipe.ts";
 * import { equal } from "node:assert/strict";
 * const [router, backend] = memoryPipe();
 * // An HTTP/2 server speaks first: an empty SETTINGS frame.
 * await backend.write(new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]));
 * const tunnel = await acceptTunnel(router, {
 *   auth: new TunnelAuth(), address: "127.0.0.1", timeout: 1000,
 * });
 * equal(tunnel.legacy, true);
 * equal(tunnel.identity.service, "default");
 * backend.close();
 * ```
 */
export async function acceptTunnel(io: ByteIO, options: AcceptOptions): Promise<AcceptedTunnel> {
  const deadline = Date.now() + options.timeout;
  let answer = true; // Refusals get an HTTP/1.1 answer, except to raw HTTP/2 peers.
  try {
    const first = readChunk(io);
    const chunk = await within(first, options.legacyWait ?? 1000, "silent" as const);
    if (chunk === "silent" || (chunk !== null && chunk[0] !== 0x47 /* G */)) {
      // Raw HTTP/2 (the Go original): the server speaks first with SETTINGS, or
      // waits silently for our preface. Anything else is not a tunnel.
      if (chunk !== "silent" && !looksLikeSettings(chunk)) {
        throw new HandshakeError(400, "Not a tunnel: expected a PTTH handshake or HTTP/2");
      }
      answer = false; // No HTTP/1.1 answer makes sense to an HTTP/2 peer (nor its 429 below).
      if (!options.auth.anonymousAllowed) {
        throw new HandshakeError(401, "Raw HTTP/2 tunnel refused: this router requires a token");
      }
      options.admit?.(ANONYMOUS, true);
      const io2 = chunk === "silent"
        ? new PrefixedIO(io, new Uint8Array(0), first)
        : new PrefixedIO(io, chunk);
      return { io: io2, identity: ANONYMOUS, legacy: true, reply: null };
    }
    if (chunk === null) throw new HandshakeError(400, "Connection closed before the handshake");
    // A PTTH handshake: read the whole head (bounded), then decide.
    let head = chunk;
    let end = findHeadEnd(head, head.length);
    while (end < 0) {
      if (head.length >= MAX_HANDSHAKE_BYTES) {
        throw new HandshakeError(400, "Malformed handshake: head too large");
      }
      const more = await within(readChunk(io), deadline - Date.now(), "timeout" as const);
      if (more === "timeout") throw new HandshakeError(400, "Handshake timed out");
      if (more === null) throw new HandshakeError(400, "Connection closed during the handshake");
      const joined = new Uint8Array(head.length + more.length);
      joined.set(head);
      joined.set(more, head.length);
      head = joined;
      end = findHeadEnd(head, head.length);
    }
    // However the bytes were split into reads, the head is at most MAX_HANDSHAKE_BYTES.
    if (end > MAX_HANDSHAKE_BYTES) {
      throw new HandshakeError(400, "Malformed handshake: head too large");
    }
    const request = parseHandshakeRequest(head.subarray(0, end - 4));
    await options.auth.check(request.service, request.token, options.address);
    const identity: TunnelIdentity = {
      service: request.service,
      hosts: request.hosts,
      weight: request.weight,
      metadata: request.metadata,
    };
    options.admit?.(identity, request.token === null);
    return {
      io: new PrefixedIO(io, head.subarray(end)),
      identity,
      legacy: false,
      reply: encodeHandshakeResponse(101),
    };
  } catch (error) {
    if (error instanceof HandshakeError) {
      // A raw HTTP/2 backend understands HTTP/2 only: it learns why in a GOAWAY.
      const refusal = answer
        ? encodeHandshakeResponse(error.status, error.message)
        : encodeRawRefusal(error.status, error.message);
      await writeAll(io, refusal).catch(() => {});
    }
    throw error;
  }
}

/**
 * The refusal of a raw HTTP/2 tunnel (PROTOCOL.md §5): the client preface,
 * empty SETTINGS, and GOAWAY NO_ERROR whose debug data is `<status> <reason>`
 * (RFC 9113 §6.8: debug data is opaque, for diagnostics), so that a backend
 * can say why instead of "connection closed".
 */
function encodeRawRefusal(status: number, reason: string): Uint8Array {
  const out = new FrameWriter();
  out.settings([]);
  out.goaway(0, ErrorCode.NO_ERROR, new TextEncoder().encode(`${status} ${reason}`));
  const frames = out.bytes();
  const bytes = new Uint8Array(CLIENT_PREFACE.length + frames.length);
  bytes.set(CLIENT_PREFACE);
  bytes.set(frames, CLIENT_PREFACE.length);
  return bytes;
}

async function writeAll(io: ByteIO, bytes: Uint8Array): Promise<void> {
  while (bytes.length > 0) bytes = bytes.subarray(await io.write(bytes));
}
