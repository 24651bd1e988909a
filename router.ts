/**
 * The ReverseHTTP router: backends dial its tunnel port and become HTTP/2
 * servers on the connections they opened; public HTTP requests arriving at
 * its hono app are proxied over those tunnels as HTTP/2 streams.
 *
 * @example Start a router on free ports and stop it
 * ```ts
 * import { createRouter } from "./router.ts";
 * import { equal } from "node:assert/strict";
 * const router = createRouter({
 *   hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true, tunnelWait: 0,
 * });
 * const response = await fetch(`http://127.0.0.1:${router.addr.port}/`);
 * equal(response.status, 503); // no backend connected yet
 * await response.body?.cancel();
 * await router.shutdown();
 * ```
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { hostPort } from "./addr.ts";
import { ClientSession } from "./h2/client.ts";
import type { LocalSettings } from "./h2/connection.ts";
import { errorCodeName } from "./h2/constants.ts";
import { trustedProxyMatcher } from "./forwarded.ts";
import { type TunnelList, TunnelPool } from "./pool.ts";
import { createProxyApp, type ProxyEnv } from "./proxy.ts";
import { RouteTable } from "./routes.ts";
import { tunnelHttp2 } from "./tunnel/settings.ts";
import { within } from "./tunnel/within.ts";
import { acceptTunnel } from "./tunnel/accept.ts";
import { acceptWebSocketTunnel, DEFAULT_TUNNEL_PATH } from "./tunnel/websocket_accept.ts";
import type { ByteIO } from "./h2/connection.ts";
import { TunnelAuth } from "./tunnel/auth.ts";
import { HandshakeError, type TunnelIdentity } from "./tunnel/handshake.ts";
import { RouterTunnel } from "./tunnel/router_tunnel.ts";
import { probeRtt } from "./tunnel/rtt_probe.ts";
import { RouterEvents, type TunnelInfo } from "./events.ts";
import { Deadlines } from "./deadlines.ts";
import { type AdminOptions, type AdminServer, startAdminServer } from "./admin/server.ts";
import { type LogFormat, Logger, type LogLevel } from "./log/logger.ts";
import { logRouterEvents } from "./log/router_log.ts";

export type { LocalSettings } from "./h2/connection.ts";
export type { Tunnel, TunnelList } from "./pool.ts";
export type { ProxyEnv } from "./proxy.ts";
export type { AdminOptions } from "./admin/server.ts";
export type { LogFormat, LogLevel } from "./log/logger.ts";
export {
  type RequestRecord,
  type RouterEvent,
  type RouterEventListener,
  RouterEvents,
  type TunnelInfo,
} from "./events.ts";

/**
 * One routing rule: requests whose host matches `host` (exact, or `*.suffix`
 * for any subdomain) and whose path starts with `path` go to `service`.
 * Longest match wins: exact host before wildcard, then the longest path.
 */
export interface RouteSpec {
  /** `api.example.com`, `*.apps.example.com`, or omitted for any host. */
  host?: string;
  /** A path prefix on segment boundaries, e.g. `/api`. @default {"/"} */
  path?: string;
  /** The service; `*` with a wildcard host takes the host's first label. */
  service: string;
}

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
  /**
   * The path on the public port where backends open tunnels over WebSocket
   * (through HTTPS-only proxies and load balancers); `""` turns it off.
   * @default {"/.well-known/ptth/tunnel"}
   */
  tunnelPath?: string;
  /** Aborting it shuts the router down gracefully. */
  signal?: AbortSignal;
  /** Certificate and key (PEM) for public HTTPS; HTTP/2 is offered through ALPN. */
  tls?: { cert: string; key: string };
  /** Certificate and key (PEM) for TLS on the tunnel port. */
  tunnelTls?: { cert: string; key: string };
  /**
   * Tokens per service: a backend presenting one of `tokens[s]` may register
   * as service `s` only. Compared in constant time.
   * @default {{}}
   */
  tokens?: Record<string, string | string[]>;
  /**
   * Whether tunnels without a token (and raw HTTP/2 tunnels of the Go original)
   * are accepted; they serve service `default`.
   * @default {true when no token is configured, else false}
   */
  allowAnonymous?: boolean;
  /** The route table; none means every request goes to any tunnel. @default {[]} */
  routes?: RouteSpec[];
  /**
   * Peers whose X-Forwarded-* headers are believed (IP addresses or CIDR
   * ranges); from anyone else those headers are replaced.
   * @default {[]}
   */
  trustedProxies?: string[];
  /** Largest request header section in bytes (431 above). @default {65536} */
  maxHeaderBytes?: number;
  /** Largest request body in bytes (413 above). @default {Infinity} */
  maxBodyBytes?: number;
  /** How long to wait for a backend's response headers (ms; 504 after). @default {60000} */
  responseHeaderTimeout?: number;
  /**
   * How long a request waits for a tunnel of its service to (re)connect before
   * 503, so that a backend restart is invisible to clients (ms).
   * @default {3000}
   */
  tunnelWait?: number;
  /**
   * How many times a failed request is sent again on another tunnel: any
   * request the backend never processed, others only when idempotent; bodies
   * must be absent or small enough to replay (64 KiB).
   * @default {2}
   */
  maxRetries?: number;
  /** How long a stream may move no body bytes either way before it is reset (ms). @default {300000} */
  idleTimeout?: number;
  /** Streams per tunnel at most, below the backend's own limit. @default {Infinity} */
  maxStreamsPerTunnel?: number;
  /** Tunnels per service at most (more are refused with 429). @default {256} */
  maxTunnelsPerService?: number;
  /** Failed handshakes per address per minute before 429. @default {10} */
  authFailuresPerMinute?: number;
  /**
   * PING a tunnel that has been silent this long (ms); under the 30 s after
   * which many NATs drop idle flows.
   * @default {15000}
   */
  keepaliveInterval?: number;
  /** Close a tunnel whose PING is not answered within this long (ms). @default {10000} */
  keepaliveTimeout?: number;
  /**
   * HTTP/2 settings the router advertises on tunnels, over the tunnel defaults
   * (README, "Defaults the endpoints advertise"); the connection window is
   * sixteen stream windows.
   */
  http2?: LocalSettings;
  /** How long a tunnel may take to complete its handshake (ms). @default {10000} */
  handshakeTimeout?: number;
  /** Where log lines go. @default {console.error} */
  log?: (line: string) => void;
  /** Log nothing (tests, embedding). @default {false} */
  quiet?: boolean;
  /** How log lines look: `text` for terminals, `json` for one object a line. @default {"text"} */
  logFormat?: LogFormat;
  /** The least severe level logged: `debug`, `info`, `warn` or `error`. @default {"info"} */
  logLevel?: LogLevel;
  /**
   * An admin listener apart from the public port: `/healthz`, `/readyz`,
   * `/api/tunnels`, `/metrics` (Prometheus) and the dashboard at `/`.
   * @default {none}
   */
  admin?: AdminOptions;
}

/** A running router. */
export interface Router {
  /** The hono app answering public requests; mountable in another app. */
  readonly app: ProxyApp;
  /** The public HTTP(S) address. */
  readonly addr: Deno.NetAddr;
  /** The tunnel address backends dial. */
  readonly tunnelAddr: Deno.NetAddr;
  /** The connected tunnels. */
  readonly pool: TunnelList;
  /** What happens: tunnels, handshakes, requests, PING round trips. */
  readonly events: RouterEvents;
  /** The admin listener's address, when `admin` is set. */
  readonly adminAddr?: Deno.NetAddr;
  /** Resolves when the router has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting, lets in-flight requests finish, then closes every tunnel. */
  shutdown(): Promise<void>;
  /** Same as {@linkcode Router.shutdown}. */
  [Symbol.asyncDispose](): Promise<void>;
}

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

let tunnelCounter = 0;

/**
 * Starts a router: the public HTTP(S) server (`Deno.serve` running the hono
 * app) and the tunnel listener (`Deno.listen`, or `Deno.listenTls`).
 *
 * @param options Ports, TLS, tokens, routes and limits.
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
  const logger = new Logger({
    format: options.logFormat ?? "text",
    level: options.logLevel ?? "info",
    sink: options.quiet ? null : (options.log ?? ((line: string) => console.error(line))),
  });
  // Free-text lines are about things going wrong; requests and tunnels are logged from events.
  const log = (line: string) => logger.warn(line);
  const pool = new TunnelPool<RouterTunnel>();
  const events = new RouterEvents();
  if (logger.enabled("warn")) logRouterEvents(events, pool, logger);
  let closing = false;
  const admin: AdminServer | undefined = options.admin && startAdminServer(options.admin, {
    pool,
    events,
    services: configuredServices(options),
    listening: () => !closing,
    log,
  });
  // Keepalive PINGs only silent tunnels: for the admin's RTTs, PING busy ones too.
  const stopProbe = admin && probeRtt(pool, events, options.keepaliveInterval ?? 15_000);
  const routes = new RouteTable(options.routes ?? []);
  const auth = new TunnelAuth({
    tokens: options.tokens ?? {},
    ...(options.allowAnonymous === undefined ? {} : { allowAnonymous: options.allowAnonymous }),
    failuresPerMinute: options.authFailuresPerMinute ?? 10,
  });
  const app = createProxyApp(pool, {
    routes,
    trusted: trustedProxyMatcher(options.trustedProxies ?? []),
    maxHeaderBytes: options.maxHeaderBytes ?? 65_536,
    maxBodyBytes: options.maxBodyBytes ?? Infinity,
    responseHeaderTimeout: options.responseHeaderTimeout ?? 60_000,
    tunnelWait: options.tunnelWait ?? 3000,
    maxRetries: options.maxRetries ?? 2,
    // A WebSocket's stream must not look idle to the sweep below.
    webSocketPingInterval: Math.min(30_000, (options.idleTimeout ?? 300_000) / 2),
    log,
    events,
    // 504s may come up to a tenth of the timeout (at most 250 ms) late: one timer for all.
    deadlines: new Deadlines(
      Math.min(250, Math.max(10, (options.responseHeaderTimeout ?? 60_000) / 10)),
    ),
  });
  const tunnelListen = {
    hostname: options.tunnelHostname ?? hostname,
    port: options.tunnelPort ?? 8887,
  };
  let listener: Deno.Listener;
  try {
    listener = options.tunnelTls
      ? Deno.listenTls({ ...tunnelListen, ...options.tunnelTls })
      : Deno.listen(tunnelListen);
  } catch (error) {
    stopProbe?.();
    admin?.shutdown();
    throw error;
  }
  const serveOptions = {
    hostname,
    port: options.port ?? 8888,
    onListen: () => {},
    onError: (error: unknown) => {
      log(`public request failed: ${(error as Error)?.message ?? error}`);
      return new Response("Internal Server Error\n", { status: 500 });
    },
  };
  // Tunnels over WebSocket come in on the public port, at their own path.
  const tunnelPath = options.tunnelPath ?? DEFAULT_TUNNEL_PATH;
  const webSocketTunnels = new Set<ClientSession>();
  const context: TunnelContext = { pool, auth, options, log, events };
  const handler = (request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) =>
    tunnelPath !== "" && request.url.includes(tunnelPath) &&
      new URL(request.url).pathname === tunnelPath
      ? attachWebSocket(request, info.remoteAddr, context, webSocketTunnels)
      : app.fetch(request, { remoteAddr: info.remoteAddr });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = options.tls
      ? Deno.serve({ ...serveOptions, ...options.tls }, handler)
      : Deno.serve(serveOptions, handler);
  } catch (error) {
    listener.close();
    stopProbe?.();
    admin?.shutdown();
    throw error;
  }
  const acceptDone = acceptTunnels(listener, context);

  // One timer for all tunnels: streams whose bodies stopped moving are reset.
  const idleTimeout = options.idleTimeout ?? 300_000;
  const sweep = Number.isFinite(idleTimeout)
    ? setInterval(() => {
      const before = Date.now() - idleTimeout;
      for (const tunnel of pool.list()) {
        const n = tunnel.session.connection.resetIdleStreams(before);
        if (n > 0) log(`tunnel ${tunnel.id}: reset ${n} idle stream(s)`);
      }
    }, Math.max(50, Math.min(idleTimeout / 4, 5000)))
    : undefined;

  let stopping: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      closing = true;
      stopProbe?.();
      clearInterval(sweep);
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      // Deno.serve's shutdown cuts upgraded connections: drain WebSocket tunnels first.
      await drainSessions([...webSocketTunnels], 5000);
      await server.shutdown();
      // Then let the backends know, and wait (bounded) for their streams to end.
      await drainSessions(pool.list().map((tunnel) => tunnel.session), 5000);
      for (const tunnel of pool.list()) tunnel.session.close();
      await acceptDone;
      await admin?.shutdown();
    })();
    return stopping;
  };
  options.signal?.addEventListener("abort", () => shutdown(), { once: true });
  const finished = server.finished.then(() => shutdown());
  return {
    app,
    addr: server.addr,
    tunnelAddr: listener.addr as Deno.NetAddr,
    pool,
    events,
    ...(admin ? { adminAddr: admin.addr } : {}),
    finished,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}

/** Services the configuration names (token services, route targets), for the admin listener. */
function configuredServices(options: RouterOptions): string[] {
  const routed = (options.routes ?? []).map((route) => route.service);
  const named = [...Object.keys(options.tokens ?? {}), ...routed];
  return [...new Set(named.filter((service) => service !== "*"))].sort();
}

async function acceptTunnels(listener: Deno.Listener, context: TunnelContext): Promise<void> {
  const pending = new Set<Promise<void>>();
  try {
    for await (const conn of listener) {
      const task = attach(conn, context);
      pending.add(task);
      task.finally(() => pending.delete(task));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) {
      context.log(`tunnel listener failed: ${error}`);
    }
  }
  await Promise.all(pending);
}

async function attach(conn: Deno.Conn, context: TunnelContext): Promise<void> {
  const remoteAddr = conn.remoteAddr as Deno.NetAddr;
  const id = `t${++tunnelCounter}`;
  let accepted;
  try {
    accepted = await acceptTunnel(conn, {
      auth: context.auth,
      address: remoteAddr.hostname,
      timeout: context.options.handshakeTimeout ?? 10_000,
      admit: (identity) => admit(context, identity),
    });
  } catch (error) {
    handshakeFailed(context, remoteAddr, error);
    try {
      conn.close();
    } catch {
      // Closed by the peer.
    }
    return;
  }
  // Returned, not awaited: an async function waiting here would keep its whole
  // frame for the tunnel's life (memory per idle tunnel counts).
  return serveTunnel(accepted.io, {
    id,
    identity: accepted.identity,
    legacy: accepted.legacy,
    reply: accepted.reply,
    remoteAddr,
  }, context);
}

/** Refuses a tunnel beyond the service's tunnel limit (429). */
function admit(context: TunnelContext, identity: TunnelIdentity): void {
  const max = context.options.maxTunnelsPerService ?? 256;
  if (context.pool.count(identity.service) >= max) {
    throw new HandshakeError(429, `Too many tunnels for service ${identity.service}`);
  }
}

/**
 * Reports a refused handshake, logged from the event without the token: only
 * the status and the reason, which it returns.
 */
function handshakeFailed(
  context: TunnelContext,
  remoteAddr: Deno.NetAddr,
  error: unknown,
): { status: number; reason: string } {
  const status = error instanceof HandshakeError ? error.status : 400;
  const reason = error instanceof Error ? error.message : String(error);
  context.events.emit({
    type: "handshake-failed",
    time: Date.now(),
    address: remoteAddr.hostname,
    status,
    reason,
  });
  return { status, reason };
}

/** What the router's tunnel code shares. */
interface TunnelContext {
  pool: TunnelPool<RouterTunnel>;
  auth: TunnelAuth;
  options: RouterOptions;
  log: (line: string) => void;
  events: RouterEvents;
}

/** A tunnel whose handshake is done, on its way into the pool. */
interface TunnelInit {
  id: string;
  identity: TunnelIdentity;
  legacy: boolean;
  /** Bytes to send before the HTTP/2 preface (the handshake's 101). */
  reply: Uint8Array | null;
  remoteAddr: Deno.NetAddr;
  /** Told of the session as soon as it exists. */
  onSession?: (session: ClientSession) => void;
}

/** Lets the sessions' streams finish (GOAWAY), waiting at most `ms`. */
async function drainSessions(sessions: ClientSession[], ms: number): Promise<void> {
  if (sessions.length === 0) return;
  for (const session of sessions) session.shutdown();
  await within(Promise.all(sessions.map((session) => session.closed)), ms, undefined);
}

/**
 * Answers an upgrade on the tunnel path: checks the credentials like the TCP
 * handshake (PROTOCOL.md §11) and serves the tunnel in the WebSocket.
 */
async function attachWebSocket(
  request: Request,
  remoteAddr: Deno.NetAddr,
  context: TunnelContext,
  sessions: Set<ClientSession>,
): Promise<Response> {
  let accepted;
  try {
    accepted = await acceptWebSocketTunnel(request, {
      auth: context.auth,
      address: remoteAddr.hostname,
      admit: (identity) => admit(context, identity),
    });
  } catch (error) {
    const { status, reason } = handshakeFailed(context, remoteAddr, error);
    return new Response(`${reason}\n`, {
      status,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  serveTunnel(accepted.io, {
    id: `t${++tunnelCounter}`,
    identity: accepted.identity,
    legacy: false,
    reply: null,
    remoteAddr,
    onSession: (session) => {
      sessions.add(session);
      session.closed.then(() => sessions.delete(session));
    },
  }, context);
  return accepted.response;
}

/** Runs HTTP/2 on a tunnel whose handshake is done, and keeps it in the pool while it lives. */
async function serveTunnel(io: ByteIO, init: TunnelInit, context: TunnelContext): Promise<void> {
  const { pool, options, log, events } = context;
  const { id, identity, legacy, reply, remoteAddr } = init;
  const from = hostPort(remoteAddr);
  const handshakeTimeout = options.handshakeTimeout ?? 10_000;
  const info: TunnelInfo = {
    id,
    service: identity.service,
    hosts: identity.hosts,
    weight: identity.weight,
    metadata: identity.metadata,
    remoteAddr: from,
    connectedAt: Date.now(),
    legacy,
  };
  const session = new ClientSession(io, {
    ...tunnelHttp2(options.http2),
    ...(reply ? { prelude: reply } : {}),
    // Frames of every request handled in one turn of the event loop leave in one write.
    schedule: setImmediate,
    keepalive: {
      interval: options.keepaliveInterval ?? 15_000,
      timeout: options.keepaliveTimeout ?? 10_000,
    },
    ...(options.maxStreamsPerTunnel === undefined
      ? {}
      : { maxConcurrentStreams: options.maxStreamsPerTunnel }),
    onProtocolError: (error) =>
      log(`tunnel ${id}: ${error.name} ${error.codeName}: ${error.message}`),
    onGoaway: (_last, code) => {
      // A plain drain is logged from the event; an error code is worth a warning.
      if (code !== 0) log(`tunnel ${id}: backend sent GOAWAY ${errorCodeName(code)}`);
      events.emit({ type: "tunnel-draining", time: Date.now(), tunnel: info });
    },
    onRtt: (rttMs) =>
      events.emit({
        type: "ping",
        time: Date.now(),
        tunnelId: id,
        service: identity.service,
        rttMs,
      }),
  });
  init.onSession?.(session);
  // The peer's SETTINGS tell us its limits: only then can it take requests.
  const outcome = await within(session.connection.ready, handshakeTimeout, "timeout" as const);
  if (outcome === "timeout" || !session.available) {
    log(`tunnel ${id} from ${from} did not speak HTTP/2; closed`);
    session.close();
    return;
  }
  const tunnel = new RouterTunnel(id, session, remoteAddr, identity, legacy);
  pool.add(tunnel);
  events.emit({ type: "tunnel-open", time: Date.now(), tunnel: info });
  // Not awaited, for the same reason as in attach().
  return session.closed.then(() => tunnelClosed(events, info, session));
}

function tunnelClosed(events: RouterEvents, info: TunnelInfo, session: ClientSession): void {
  const error = session.connection.error;
  events.emit({
    type: "tunnel-close",
    time: Date.now(),
    tunnel: info,
    error: error ? error.message : null,
  });
}
