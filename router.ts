/**
 * The ReverseHTTP router: backends dial its tunnel port and become HTTP/2
 * servers on the connections they opened; public HTTP requests arriving at
 * its hono app are proxied over those tunnels as HTTP/2 streams.
 *
 * @example Start a router on free ports and stop it
 * ```ts
 * import { createRouter } from "./router.ts";
 * import { equal } from "node:assert/strict";
 * const router = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
 * const response = await fetch(`http://127.0.0.1:${router.addr.port}/`);
 * equal(response.status, 503); // no backend connected yet
 * await response.body?.cancel();
 * await router.shutdown();
 * ```
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import { ClientSession, isUnprocessed } from "./h2/client.ts";
import type { LocalSettings } from "./h2/connection.ts";
import { errorCodeName } from "./h2/constants.ts";
import type { Http2Error } from "./h2/errors.ts";
import { type Tunnel, TunnelPool } from "./pool.ts";

/** Options of {@linkcode createRouter}. */
export interface RouterOptions {
  /** Interface for the public HTTP port. @default {"0.0.0.0"} */
  hostname?: string;
  /** Public HTTP port; 0 picks a free one. @default {8888} */
  port?: number;
  /** Interface for the tunnel port. @default {hostname} */
  tunnelHostname?: string;
  /** Port backends dial; 0 picks a free one. @default {8887} */
  tunnelPort?: number;
  /** Aborting it shuts the router down gracefully. */
  signal?: AbortSignal;
  /** HTTP/2 settings the router advertises on tunnels. */
  http2?: LocalSettings;
  /** How long a tunnel may take to send its SETTINGS before it is dropped (ms). @default {10000} */
  handshakeTimeout?: number;
  /** Where log lines go. @default {console.error} */
  log?: (line: string) => void;
  /** Log nothing (tests, embedding). @default {false} */
  quiet?: boolean;
}

/** A running router. */
export interface Router {
  /** The hono app answering public requests; mountable in another app. */
  readonly app: ProxyApp;
  /** The public HTTP address. */
  readonly addr: Deno.NetAddr;
  /** The tunnel address backends dial. */
  readonly tunnelAddr: Deno.NetAddr;
  /** The connected tunnels. */
  readonly pool: TunnelPool;
  /** Resolves when the router has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting, lets in-flight requests finish, then closes every tunnel. */
  shutdown(): Promise<void>;
  /** Same as {@linkcode Router.shutdown}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Request fields a proxy must not forward (RFC 9110 §7.6.1) plus those HTTP/2
 * forbids (RFC 9113 §8.2.2); `host` becomes `:authority`.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "transfer-encoding",
  "upgrade",
  "host",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
]);

/** Bindings the public server passes to the proxy app: the client's address. */
export type ProxyEnv = { Bindings: { remoteAddr?: Deno.NetAddr } };

export type { LocalSettings } from "./h2/connection.ts";
export type { Tunnel } from "./pool.ts";

/**
 * The router's hono app (a `Hono` instance), typed by what embedding needs:
 * `fetch` serves one request, `request` is hono's test helper.
 */
export interface ProxyApp {
  /** Serves one public request. */
  fetch(request: Request, env?: ProxyEnv["Bindings"]): Response | Promise<Response>;
  /** Serves a request built from a path or URL (hono's `app.request`). */
  request(input: string | URL | Request, init?: RequestInit): Response | Promise<Response>;
}

/** A tunnel as the router holds it: the pool's view plus the HTTP/2 session. */
class SessionTunnel implements Tunnel {
  readonly id: string;
  readonly session: ClientSession;
  readonly remoteAddr: Deno.NetAddr;
  readonly connectedAt: number = Date.now();
  constructor(id: string, session: ClientSession, remoteAddr: Deno.NetAddr) {
    this.id = id;
    this.session = session;
    this.remoteAddr = remoteAddr;
  }
  get inFlight(): number {
    return this.session.inFlight;
  }
  get available(): boolean {
    return this.session.available;
  }
  get closed(): Promise<void> {
    return this.session.closed;
  }
}

/**
 * Builds the hono app that proxies every request to a tunnel of `pool`.
 *
 * @param pool Where tunnels come from.
 * @param log Where log lines go.
 * @returns The app; `app.fetch(request, { remoteAddr })` serves one request.
 *
 * @example No tunnel gives 503
 * ```ts
 * import { createProxyApp } from "./router.ts";
 * import { TunnelPool } from "./pool.ts";
 * import { equal } from "node:assert/strict";
 * const app = createProxyApp(new TunnelPool(), () => {});
 * const response = await app.request("/foo");
 * equal(response.status, 503);
 * ```
 */
export function createProxyApp(pool: TunnelPool, log: (line: string) => void): ProxyApp {
  const app = new Hono<ProxyEnv>();
  app.all("*", (c) => proxy(c, pool as TunnelPool<SessionTunnel>, log));
  return app;
}

async function proxy(
  c: Context<ProxyEnv>,
  pool: TunnelPool<SessionTunnel>,
  log: (line: string) => void,
): Promise<Response> {
  const request = c.req.raw;
  const url = new URL(request.url);
  const headers = forwardedHeaders(request, url, c.env?.remoteAddr);
  const length = request.headers.get("content-length");
  let tunnel = pool.pick();
  // A stream the backend refused was never processed (RFC 9113 §8.7): try another tunnel.
  for (let attempt = 0; tunnel !== undefined; attempt++) {
    try {
      return await tunnel.session.request({
        method: request.method,
        scheme: url.protocol.slice(0, -1),
        authority: url.host,
        path: url.pathname + url.search,
        headers,
        body: request.body,
        contentLength: length === null ? -1 : Number(length),
        signal: request.signal,
      });
    } catch (error) {
      // The client went away: nobody reads this answer (499 as nginx logs it).
      if (request.signal.aborted) return new Response(null, { status: 499 });
      const refused = isUnprocessed(error);
      if (refused && request.body === null && attempt < 3) {
        tunnel = pool.pick(tunnel) ?? pool.pick();
        continue;
      }
      const reason = describe(error);
      log(`${request.method} ${url.pathname}: tunnel ${tunnel.id} failed: ${reason}`);
      return c.text(
        `Bad Gateway: the tunnel failed before the response headers (${reason})\n`,
        502,
      );
    }
  }
  return c.text(
    "Service Unavailable: no backend tunnel is connected to this router\n",
    503,
  );
}

function describe(error: unknown): string {
  const h2 = error as Http2Error;
  if (typeof h2?.code === "number") return `${errorCodeName(h2.code)}: ${h2.message}`;
  return (error as Error)?.message ?? String(error);
}

/** The request's fields minus hop-by-hop ones, plus X-Forwarded-*, as a flat list. */
function forwardedHeaders(request: Request, url: URL, remote?: Deno.NetAddr): string[] {
  const fields: string[] = [];
  const connection = request.headers.get("connection");
  // RFC 9110 §7.6.1: fields named in Connection are hop-by-hop too.
  const named = connection ? new Set(connection.toLowerCase().split(/\s*,\s*/)) : null;
  for (const [name, value] of request.headers) {
    if (HOP_BY_HOP.has(name) || named?.has(name)) {
      if (name === "te" && value === "trailers") fields.push(name, value);
      continue;
    }
    fields.push(name, value);
  }
  // Set, not appended: a client cannot forge earlier hops (trusted proxies come later).
  if (remote) fields.push("x-forwarded-for", remote.hostname);
  fields.push("x-forwarded-proto", url.protocol.slice(0, -1), "x-forwarded-host", url.host);
  return fields;
}

let tunnelCounter = 0;

/**
 * Starts a router: the public HTTP server (`Deno.serve` running the hono app)
 * and the tunnel listener (`Deno.listen`).
 *
 * @param options Ports, interfaces and limits.
 * @returns The running router.
 *
 * @example Embed a router in a program
 * ```ts
 * import { createRouter } from "./router.ts";
 * import { equal } from "node:assert/strict";
 * await using router = createRouter({ port: 0, tunnelPort: 0, quiet: true });
 * equal(router.pool.size, 0);
 * ```
 */
export function createRouter(options: RouterOptions = {}): Router {
  const hostname = options.hostname ?? "0.0.0.0";
  const log = options.quiet ? () => {} : (options.log ?? ((line: string) => console.error(line)));
  const pool = new TunnelPool<SessionTunnel>();
  const app = createProxyApp(pool, log);
  const listener = Deno.listen({
    hostname: options.tunnelHostname ?? hostname,
    port: options.tunnelPort ?? 8887,
  });
  const server = Deno.serve({
    hostname,
    port: options.port ?? 8888,
    onListen: () => {},
    onError: (error) => {
      log(`public request failed: ${(error as Error)?.message ?? error}`);
      return new Response("Internal Server Error\n", { status: 500 });
    },
  }, (request, info) => app.fetch(request, { remoteAddr: info.remoteAddr }));
  const acceptDone = acceptTunnels(listener, pool, options, log);
  let stopping: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      await server.shutdown();
      // Then let the backends know, and wait (bounded) for their streams to end.
      const tunnels = pool.list();
      for (const tunnel of tunnels) tunnel.session.shutdown();
      await Promise.race([
        Promise.all(tunnels.map((t) => t.session.closed)),
        new Promise((resolve) => setTimeout(resolve, 5000)),
      ]);
      for (const tunnel of pool.list()) tunnel.session.close();
      await acceptDone;
    })();
    return stopping;
  };
  options.signal?.addEventListener("abort", () => shutdown(), { once: true });
  return {
    app,
    addr: server.addr,
    tunnelAddr: listener.addr as Deno.NetAddr,
    pool,
    get finished() {
      return server.finished.then(() => shutdown());
    },
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

async function acceptTunnels(
  listener: Deno.TcpListener,
  pool: TunnelPool<SessionTunnel>,
  options: RouterOptions,
  log: (line: string) => void,
): Promise<void> {
  const pending = new Set<Promise<void>>();
  try {
    for await (const conn of listener) {
      const task = attach(conn, pool, options, log);
      pending.add(task);
      task.finally(() => pending.delete(task));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) log(`tunnel listener failed: ${error}`);
  }
  await Promise.all(pending);
}

async function attach(
  conn: Deno.TcpConn,
  pool: TunnelPool<SessionTunnel>,
  options: RouterOptions,
  log: (line: string) => void,
): Promise<void> {
  const remoteAddr = conn.remoteAddr as Deno.NetAddr;
  const id = `t${++tunnelCounter}`;
  const session = new ClientSession(conn, {
    settings: options.http2,
    onProtocolError: (error) =>
      log(`tunnel ${id}: ${error.name} ${error.codeName}: ${error.message}`),
    onGoaway: (_last, code) => log(`tunnel ${id}: backend sent GOAWAY ${errorCodeName(code)}`),
  });
  // The peer's SETTINGS tell us its limits: only then can it take requests.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) =>
    timer = setTimeout(() => resolve("timeout"), options.handshakeTimeout ?? 10_000)
  );
  const outcome = await Promise.race([session.connection.ready, timeout]);
  clearTimeout(timer);
  if (outcome === "timeout" || !session.available) {
    log(`tunnel ${id} from ${remoteAddr.hostname}:${remoteAddr.port} did not speak HTTP/2; closed`);
    session.close();
    return;
  }
  const tunnel = new SessionTunnel(id, session, remoteAddr);
  pool.add(tunnel);
  log(
    `tunnel ${id} connected from ${remoteAddr.hostname}:${remoteAddr.port} (${pool.size} connected)`,
  );
  await session.closed;
  const error = session.connection.error;
  log(`tunnel ${id} closed${error ? `: ${error.message}` : ""} (${pool.size} connected)`);
}
