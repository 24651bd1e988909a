/**
 * The edge: the router's own server on a listener it opened (`Deno.listen`
 * or `Deno.listenTls`), in place of `Deno.serve`, which has no header-read
 * timeout, no keep-alive idle timeout and no connection limit, and ends when
 * `accept` fails for want of file descriptors.
 *
 * Each connection is admitted by an {@linkcode AcceptLoop} (a total and a
 * per-address cap; at the cap, the longest idle keep-alive connection is
 * closed to make room), then served as HTTP/1.1, or HTTP/2 when TLS
 * negotiates `h2` or a plain connection opens with the HTTP/2 preface. One
 * periodic sweep enforces every connection's deadlines.
 *
 * @module
 */

import type { ByteIO } from "../../h2/connection.ts";
import { PrefixedIO } from "../../tunnel/prefixed_io.ts";
import { hostPort } from "../addr.ts";
import { AcceptLoop, closeAfterHandshake } from "./accept_loop.ts";
import type { EdgeConnection, EdgeContext, EdgeHandler } from "./connection.ts";
import { type EdgeSocket, Http1Connection } from "./http1_connection.ts";
import { Http2EdgeConnection } from "./http2_connection.ts";

export type { EdgeHandler } from "./connection.ts";

/** Options of an {@linkcode EdgeServer}. */
export interface EdgeServerOptions {
  /** The listener, already listening: `Deno.listen` or `Deno.listenTls` (ALPN `h2`, `http/1.1`). */
  listener: Deno.Listener;
  /** Whether the listener is TLS: the URLs' scheme, and ALPN chooses the protocol. */
  tls: boolean;
  /** The listener's name in logs and readiness reasons (`public`, `admin`). */
  name: string;
  /** The app. */
  handler: EdgeHandler;
  /** Answers a request whose handler threw. @default {a plain 500} */
  onError?: (error: unknown) => Response;
  /** Connections at once at most. */
  maxConnections: number;
  /** Connections from one address at once at most. */
  maxConnectionsPerAddress: number;
  /** How long a request head (TLS handshake and HTTP/2 preface included) may take (ms). */
  headerTimeout: number;
  /** How long a connection may sit without a request in flight, or a transfer stall (ms). */
  idleTimeout: number;
  /** Largest request head in bytes (431 above). */
  maxHeaderBytes: number;
  /** Where lines go. */
  log: (line: string) => void;
}

/** The connection of one accepted socket; HTTP/1.1 may hand it to HTTP/2. */
interface Slot {
  conn: EdgeConnection;
}

/**
 * An {@linkcode EdgeConnection} for the TLS handshake. Deno (2.9) runs a
 * TLS connection's handshake on its own once accepted, and closing the
 * connection meanwhile cancels the wait for it but keeps the socket open
 * until the client acts. So a handshake past the header timeout is not
 * closed (that would forget a socket that is still held): it stays counted
 * against the connection limits until it ends, and is closed at once if it
 * completes late.
 */
class TlsHandshake implements EdgeConnection {
  readonly idleSince = -1;
  #conn: Deno.TlsConn;
  #by: number;
  #expired = false;
  #onFail: () => void;
  #closed = false;

  constructor(
    conn: Deno.TlsConn,
    by: number,
    onDone: (alpn: string | null) => void,
    onFail: () => void,
  ) {
    this.#conn = conn;
    this.#by = by;
    this.#onFail = onFail;
    conn.handshake().then(
      (info) => {
        if (this.#closed) return;
        if (this.#expired) this.close();
        else onDone(info.alpnProtocol);
      },
      () => this.close(),
    );
  }

  tick(now: number): void {
    if (now >= this.#by) this.#expired = true;
  }

  drain(): void {
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Closed already.
    }
    this.#onFail();
  }
}

function internalError(): Response {
  return new Response("Internal Server Error\n", { status: 500 });
}

/**
 * Serves an app on a listener, bounded.
 *
 * @example
 * ```ts
 * import { EdgeServer } from "./server.ts";
 * import { equal } from "node:assert/strict";
 * const server = new EdgeServer({
 *   listener: Deno.listen({ hostname: "127.0.0.1", port: 0 }), tls: false, name: "example",
 *   handler: () => new Response("hi"), maxConnections: 100, maxConnectionsPerAddress: 10,
 *   headerTimeout: 10_000, idleTimeout: 60_000, maxHeaderBytes: 65536, log: () => {},
 * });
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * equal(await response.text(), "hi");
 * await server.shutdown();
 * ```
 */
export class EdgeServer {
  /** Where it listens. */
  readonly addr: Deno.NetAddr;
  /** Resolves once the listener is closed and every connection has ended. */
  readonly finished: Promise<void>;

  #slots = new Set<Slot>();
  #loop: AcceptLoop;
  #ctx: EdgeContext;
  #tls: boolean;
  #sweep: ReturnType<typeof setInterval>;
  #draining = false;
  #emptied: (() => void) | null = null;
  #stopping: Promise<void> | null = null;

  /** @param options The listener, the app and the limits. */
  constructor(options: EdgeServerOptions) {
    this.addr = options.listener.addr as Deno.NetAddr;
    this.#tls = options.tls;
    this.#ctx = {
      scheme: options.tls ? "https" : "http",
      localAuthority: hostPort(this.addr),
      handler: options.handler,
      onError: options.onError ?? internalError,
      maxHeaderBytes: options.maxHeaderBytes,
      headerTimeout: options.headerTimeout,
      idleTimeout: options.idleTimeout,
      log: options.log,
    };
    this.#loop = new AcceptLoop(options.listener, {
      name: options.name,
      maxConnections: options.maxConnections,
      maxPerAddress: options.maxConnectionsPerAddress,
      log: options.log,
      makeRoom: () => this.#closeLongestIdle(),
      handle: (conn, release) => this.#serve(conn, release),
      ...(options.tls ? { dismiss: closeAfterHandshake } : {}),
    });
    // One timer for every connection's deadlines; its period bounds how late one is enforced.
    const period = Math.max(
      10,
      Math.min(1000, Math.min(options.headerTimeout, options.idleTimeout) / 4),
    );
    this.#sweep = setInterval(() => this.#tick(), period);
    this.finished = this.#loop.done.then(() => this.#stopping ?? this.shutdown());
  }

  /** Why the listener is not accepting now (`null` while it is). */
  get notAccepting(): string | null {
    return this.#loop.notAccepting;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#slots.size;
  }

  #tick(): void {
    const now = Date.now();
    for (const slot of this.#slots) slot.conn.tick(now);
  }

  /** At the connection limit: closes the keep-alive connection idle the longest (as nginx does). */
  #closeLongestIdle(): void {
    let oldest: Slot | null = null;
    let since = Infinity;
    for (const slot of this.#slots) {
      const idle = slot.conn.idleSince;
      if (idle >= 0 && idle < since) {
        since = idle;
        oldest = slot;
      }
    }
    oldest?.conn.close();
  }

  #serve(conn: Deno.Conn, release: () => void): void {
    const slot: Slot = { conn: null as unknown as EdgeConnection };
    this.#slots.add(slot);
    const done = () => {
      if (!this.#slots.delete(slot)) return;
      release();
      if (this.#slots.size === 0) this.#emptied?.();
    };
    const by = Date.now() + this.#ctx.headerTimeout;
    if (this.#tls) {
      const tls = conn as Deno.TlsConn;
      slot.conn = new TlsHandshake(tls, by, (alpn) => {
        slot.conn = alpn === "h2"
          ? this.#http2(tls, tls.remoteAddr as Deno.NetAddr, by, done)
          : this.#http1(tls, slot, by, done);
        if (this.#draining) slot.conn.drain();
      }, done);
    } else {
      try {
        (conn as Deno.TcpConn).setNoDelay(true);
      } catch {
        // Closed already: the first read says so.
      }
      slot.conn = this.#http1(conn, slot, by, done);
    }
    if (this.#draining) slot.conn.drain();
  }

  #http1(conn: EdgeSocket, slot: Slot, by: number, done: () => void): EdgeConnection {
    const remote = conn.remoteAddr as Deno.NetAddr;
    return new Http1Connection(conn, this.#ctx, {
      firstHeadBy: by,
      // HTTP/2 with prior knowledge (RFC 9113 §3.3) on plain connections; TLS has ALPN.
      onHttp2: this.#tls ? null : (prefix) => {
        slot.conn = this.#http2(new PrefixedIO(conn, prefix), remote, by, done);
        if (this.#draining) slot.conn.drain();
      },
      onClosed: done,
    });
  }

  #http2(io: ByteIO, remote: Deno.NetAddr, by: number, done: () => void): EdgeConnection {
    const connection = new Http2EdgeConnection(io, remote, this.#ctx, by);
    connection.closed.then(done);
    return connection;
  }

  /**
   * Stops accepting, closes idle connections, lets requests in flight finish
   * (closing each connection after its last answer, GOAWAY on HTTP/2), cuts
   * upgraded connections (WebSockets), and after `grace` ms closes whatever
   * is left.
   *
   * @param grace The longest wait for requests in flight (ms).
   * @returns Resolves when every connection has closed.
   */
  shutdown(grace = 30_000): Promise<void> {
    this.#stopping ??= (async () => {
      this.#draining = true;
      this.#loop.close();
      for (const slot of [...this.#slots]) slot.conn.drain();
      if (this.#slots.size > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          new Promise<void>((resolve) => this.#emptied = resolve),
          new Promise<void>((resolve) => timer = setTimeout(resolve, grace)),
        ]);
        clearTimeout(timer);
        for (const slot of [...this.#slots]) slot.conn.close();
      }
      clearInterval(this.#sweep);
      await this.#loop.done;
    })();
    return this.#stopping;
  }
}
