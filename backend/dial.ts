/**
 * The backend's side of opening a tunnel: connect (TCP, TLS or a supplied
 * byte stream), send the PTTH handshake unless in legacy mode, and hand the
 * connection to HTTP/2 once the router answers 101.
 *
 * @module
 */

import type { ByteIO } from "../h2/connection.ts";
import {
  encodeHandshakeRequest,
  findHeadEnd,
  MAX_HANDSHAKE_BYTES,
  parseHandshakeResponse,
  type TunnelIdentity,
} from "../tunnel/handshake.ts";
import { PrefixedIO } from "../tunnel/prefixed_io.ts";
import { within } from "../tunnel/within.ts";

/**
 * The router refused the tunnel: 400 (bad handshake), 401 (token needed),
 * 403 (token not valid for the service) or 429 (too many failures; retry later).
 *
 * @example
 * ```ts
 * import { TunnelRefusedError } from "jsr:@ptth/router";
 * import { equal } from "node:assert/strict";
 * const error = new TunnelRefusedError(403, "Token not valid for service api");
 * equal(error.permanent, true);
 * ```
 */
export class TunnelRefusedError extends Error {
  /** The router's HTTP status. */
  readonly status: number;
  /** The router's one-line reason. */
  readonly reason: string;
  /**
   * Records the router's refusal.
   *
   * @param status The HTTP status.
   * @param reason The one-line reason.
   */
  constructor(status: number, reason: string) {
    super(`Cannot open tunnel: router refused it with ${status}: ${reason}`);
    this.name = "TunnelRefusedError";
    this.status = status;
    this.reason = reason;
  }
  /** Whether retrying cannot help (everything but 429 and 5xx). */
  get permanent(): boolean {
    return this.status !== 429 && this.status < 500;
  }
}

/**
 * The tunnel cannot be secured: the router's certificate does not verify
 * (an unknown CA, a name it does not cover), or its tunnel port speaks TLS
 * to a backend that does not. Retrying cannot help: the backend stops, as
 * for a refused token.
 *
 * @example
 * ```ts
 * import { TunnelTlsError } from "jsr:@ptth/router";
 * import { equal } from "node:assert/strict";
 * equal(new TunnelTlsError("the router's certificate is not trusted").permanent, true);
 * ```
 */
export class TunnelTlsError extends Error {
  /** Always true: a certificate or a TLS setting does not fix itself. */
  readonly permanent = true;
  /**
   * Records why the tunnel cannot be secured.
   *
   * @param detail What is wrong, and what to do about it.
   * @param options The underlying error.
   */
  constructor(detail: string, options?: ErrorOptions) {
    super(`Cannot open tunnel: ${detail}`, options);
    this.name = "TunnelTlsError";
  }
}

/** The TLS failure in a dial error, told in words a user can act on; `null` if it is none. */
function tlsFailure(error: unknown, serverName: string): TunnelTlsError | null {
  const message = error instanceof Error ? error.message : String(error);
  if (!/certificate|UnknownIssuer|NotValidForName|Expired|handshake failure/i.test(message)) {
    return null;
  }
  const why = /NotValidForName|not valid for name/i.test(message)
    ? `the router's certificate does not cover the name ${serverName}`
    : /Expired/i.test(message)
    ? "the router's certificate has expired"
    : "the router's certificate is not trusted: give its CA in tls.caCerts";
  return new TunnelTlsError(`${why} (${message})`, { cause: error });
}

/** How to reach a router. */
export interface DialOptions {
  /** The router's tunnel host. */
  hostname: string;
  /** The router's tunnel port. */
  port: number;
  /** TLS to the tunnel port; `caCerts` (PEM) trusts a private CA. */
  tls?: { caCerts?: string[] } | boolean;
  /** The name to verify the router's certificate against, when dialing it by address. */
  serverName?: string;
  /** Supplies the connection instead of dialing. */
  connect?: () => ByteIO | Promise<ByteIO>;
  /** Skip the handshake (raw HTTP/2, for routers of the Go original). */
  legacy: boolean;
  /** What this backend serves. */
  identity: TunnelIdentity;
  /** The bearer token. */
  token: string | null;
  /** The handshake must complete within this many ms. */
  timeout: number;
}

/**
 * Opens a tunnel to a router.
 *
 * @param options Where and who.
 * @returns The connection, ready for HTTP/2 in the server role.
 * @throws {TunnelRefusedError} When the router refuses the handshake.
 *
 * @example Legacy mode over a supplied connection skips the handshake
 * ```ts
 * import { dialTunnel } from "./dial.ts";
 * import { memoryPipe } from "../h2/memory_pipe.ts";
 * import { equal } from "node:assert/strict";
 * const [a, b] = memoryPipe();
 * const io = await dialTunnel({
 *   hostname: "localhost", port: 8887, connect: () => a, legacy: true,
 *   identity: { service: "default", hosts: [], weight: 1, metadata: {} }, token: null, timeout: 1000,
 * });
 * equal(io, a);
 * b.close();
 * ```
 */
export async function dialTunnel(options: DialOptions): Promise<ByteIO> {
  const { hostname, port } = options;
  let io: ByteIO;
  if (options.connect) io = await options.connect();
  else if (options.tls) {
    const caCerts = typeof options.tls === "object" ? options.tls.caCerts : undefined;
    // A TlsConn has no setNoDelay: turn Nagle's algorithm off on the TCP socket first,
    // or each small write after the TLS handshake waits for a delayed ACK.
    const tcp = await Deno.connect({ hostname, port });
    tcp.setNoDelay(true);
    try {
      const tls = await Deno.startTls(tcp, { hostname, ...(caCerts ? { caCerts } : {}) });
      io = tls;
      // Verified now, not at the first read: a certificate that does not verify is a
      // TunnelTlsError at once, for raw HTTP/2 tunnels too.
      await tls.handshake().catch((error) => {
        tls.close();
        throw tlsFailure(error, options.serverName ?? hostname) ?? error;
      });
    } catch (error) {
      try {
        tcp.close();
      } catch {
        // Taken over by startTls already.
      }
      throw error;
    }
  } else io = await Deno.connect({ hostname, port });
  if (options.legacy) return io;
  try {
    const tunnel = await within(
      handshake(io, options).catch((error) => {
        throw options.tls ? tlsFailure(error, options.serverName ?? hostname) ?? error : error;
      }),
      options.timeout,
      null,
    );
    if (tunnel === null) {
      throw new Error(`Cannot open tunnel: no handshake answer within ${options.timeout} ms`);
    }
    return tunnel;
  } catch (error) {
    // Closing also ends a handshake still waiting for its answer.
    try {
      io.close();
    } catch {
      // Closed already.
    }
    throw error;
  }
}

async function handshake(io: ByteIO, options: DialOptions): Promise<ByteIO> {
  const host = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname;
  let request = encodeHandshakeRequest(`${host}:${options.port}`, options.identity, options.token);
  while (request.length > 0) request = request.subarray(await io.write(request));
  let buf = new Uint8Array(1024);
  let length = 0;
  let end = -1;
  while (end < 0) {
    if (length === buf.length) {
      if (length >= MAX_HANDSHAKE_BYTES) {
        throw new Error("Cannot open tunnel: answer head too large");
      }
      const next = new Uint8Array(buf.length * 2);
      next.set(buf);
      buf = next;
    }
    const n = await io.read(buf.subarray(length));
    if (n === null) {
      throw new Error(
        "Cannot open tunnel: the router closed the connection before answering the handshake",
      );
    }
    length += n;
    // A TLS record (an alert, or a handshake) where an HTTP answer belongs: a TLS port.
    if ((buf[0] === 0x15 || buf[0] === 0x16) && buf[1] === 0x03) {
      throw new TunnelTlsError(
        "the router's tunnel port speaks TLS: set tls (true, or { caCerts })",
      );
    }
    end = findHeadEnd(buf, length);
  }
  const response = parseHandshakeResponse(buf.subarray(0, end - 4));
  if (response.switched) return new PrefixedIO(io, buf.slice(end, length));
  // A refusal carries a one-line reason as its body.
  let body = new TextDecoder().decode(buf.subarray(end, length));
  while (!body.includes("\n") && body.length < 1024) {
    const more = new Uint8Array(1024);
    const n = await io.read(more).catch(() => null);
    if (n === null) break;
    body += new TextDecoder().decode(more.subarray(0, n));
  }
  throw new TunnelRefusedError(response.status, body.split("\n")[0]!.trim() || "no reason given");
}
