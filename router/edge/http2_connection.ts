/**
 * One HTTP/2 connection of the edge: the codec's server role
 * (`serveConnection`) with settings for public clients, requests the
 * router answers itself (`OPTIONS *`, an invalid `:authority`, CONNECT
 * without a protocol), malformed ones answered 400 before their reset
 * (RFC 9113 §8.1.1), and the edge's deadlines: the preface and SETTINGS
 * within the header timeout, GOAWAY after the idle timeout without a stream.
 *
 * @module
 */

import type { ByteIO, Connection } from "../../h2/connection.ts";
import type { RequestHead } from "../../h2/message.ts";
import { serveConnection } from "../../h2/server.ts";
import { isValidHost } from "../host.ts";
import { refusedPath } from "../request_path.ts";
import type { EdgeConnection, EdgeContext } from "./connection.ts";
import { markEdgeRequest } from "./edge_request.ts";

/** Concurrent streams a public client may open (RFC 9113 §6.5.2: 100 at least is advised). */
const MAX_CONCURRENT_STREAMS = 100;
/**
 * Receive windows: what a client may send before the router reads. The
 * connection's bounds the unread upload octets one public connection can
 * make the router hold.
 */
const STREAM_WINDOW = 1024 * 1024;
const CONNECTION_WINDOW = 1024 * 1024;

const ALLOW = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";

function plain(status: number, text: string): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/**
 * The router's answer to a request it does not pass on, or `null`.
 *
 * @param head The checked request head.
 * @returns 200 for `OPTIONS *`, 405 for CONNECT (without `:protocol`) and
 *   TRACE, 400 for a missing or invalid authority; else `null`.
 *
 * @example
 * ```ts
 * import { screenRequest } from "./http2_connection.ts";
 * import { equal } from "node:assert/strict";
 * const head = {
 *   method: "GET", scheme: "http", authority: "a@b", path: "/", protocol: null,
 *   headers: [], hasHost: false, contentLength: -1,
 * };
 * equal(screenRequest(head)?.status, 400);
 * equal(screenRequest({ ...head, authority: "example.com" }), null);
 * ```
 */
export function screenRequest(head: RequestHead): Response | null {
  const method = head.method;
  if (
    (method === "CONNECT" && head.protocol === null) || method === "TRACE" || method === "TRACK"
  ) {
    return plain(405, `Method Not Allowed: the router does not serve ${method} requests`);
  }
  // RFC 9110 §9.3.7: OPTIONS * is about the server: answered here, never sent on as "/*".
  if (head.path === "*") {
    return new Response(null, { headers: { allow: ALLOW, "content-length": "0" } });
  }
  // RFC 9113 §8.3.1 and RFC 9110 §7.2: the authority is host [":" port], and there must be one.
  if (head.authority === "" || !isValidHost(head.authority)) {
    return plain(400, "Bad Request: missing or invalid :authority");
  }
  // Checked on the path as the client wrote it: a URL parser would turn a backslash
  // into a slash before the routes could refuse it (router/request_path.ts).
  const refused = refusedPath(head.path);
  return refused === null ? null : plain(400, `Bad Request: the path has ${refused}`);
}

/**
 * Serves HTTP/2 on one public connection.
 *
 * @example Answer a request from a codec client over loopback
 * ```ts
 * import { Http2EdgeConnection } from "./http2_connection.ts";
 * import { ClientSession } from "../../h2/client.ts";
 * import { equal } from "node:assert/strict";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = (listener.addr as Deno.NetAddr).port;
 * const client = new ClientSession(await Deno.connect({ hostname: "127.0.0.1", port }));
 * const conn = await listener.accept();
 * const edge = new Http2EdgeConnection(conn, conn.remoteAddr as Deno.NetAddr, {
 *   scheme: "http", localAuthority: "127.0.0.1", maxHeaderBytes: 65536,
 *   headerTimeout: 10_000, idleTimeout: 60_000, log: () => {},
 *   handler: (request) => new Response(new URL(request.url).protocol),
 *   onError: () => new Response(null, { status: 500 }),
 * }, Date.now() + 10_000);
 * const response = await client.request({
 *   method: "GET", scheme: "https", authority: "example.com", path: "/",
 * });
 * equal(await response.text(), "http:");
 * client.close();
 * await edge.closed;
 * listener.close();
 * ```
 */
export class Http2EdgeConnection implements EdgeConnection {
  /** Resolves when the connection has closed. */
  readonly closed: Promise<void>;
  #connection: Connection;
  #ctx: EdgeContext;
  #remote: Deno.NetAddr;
  #readyBy: number;
  #lastActive = Date.now();
  #goingAway = false;

  /**
   * @param io The connection (after the preface's first bytes were put back, for h2c).
   * @param remote The client's address.
   * @param ctx What the server's connections share.
   * @param readyBy When the client's preface and SETTINGS must have arrived (ms since the epoch).
   */
  constructor(io: ByteIO, remote: Deno.NetAddr, ctx: EdgeContext, readyBy: number) {
    this.#ctx = ctx;
    this.#remote = remote;
    this.#readyBy = readyBy;
    this.#connection = serveConnection(io, this.#handle, {
      settings: {
        maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
        initialWindowSize: STREAM_WINDOW,
        maxHeaderListSize: ctx.maxHeaderBytes,
        // RFC 8441: WebSockets over HTTP/2 reach the app as upgrades.
        enableConnectProtocol: true,
      },
      connectionWindowSize: CONNECTION_WINDOW,
      scheme: ctx.scheme,
      screen: screenRequest,
      answerMalformed: true,
      onError: ctx.onError,
    });
    this.closed = this.#connection.closed;
    this.#connection.ready.then(() => this.#readyBy = 0);
  }

  #handle = (request: Request): Response | Promise<Response> => {
    this.#lastActive = Date.now();
    markEdgeRequest(request);
    return this.#ctx.handler(request, this.#remote);
  };

  /** @inheritdoc */
  get idleSince(): number {
    return this.#connection.activePeerStreams === 0 && this.#readyBy === 0 ? this.#lastActive : -1;
  }

  /** @inheritdoc */
  tick(now: number): void {
    if (this.#readyBy !== 0) {
      if (now >= this.#readyBy) this.close();
      return;
    }
    if (this.#connection.activePeerStreams > 0) {
      this.#lastActive = now;
      return;
    }
    if (!this.#goingAway && now - this.#lastActive >= this.#ctx.idleTimeout) this.drain();
  }

  /** @inheritdoc */
  drain(): void {
    if (this.#goingAway) return;
    this.#goingAway = true;
    // GOAWAY, then the close once the streams in flight are done (RFC 9113 §6.8).
    this.#connection.shutdown();
  }

  /** @inheritdoc */
  close(): void {
    this.#connection.close();
  }
}
