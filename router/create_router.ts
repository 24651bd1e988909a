/**
 * `createRouter`: starts the public server and the tunnel listener, and
 * wires the proxy app, the pool, the admin listener and the logs together.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { hostPort } from "./addr.ts";
import { ClientSession } from "../h2/client.ts";
import { errorCodeName } from "../h2/constants.ts";
import { trustedProxyMatcher } from "./forwarded.ts";
import { clientAddressOf, type TrustedProxies } from "./client_address.ts";
import { MessageBudget } from "../ws/message_budget.ts";
import { type TunnelList, TunnelPool } from "./pool.ts";
import { createProxyApp, type ProxyEnv } from "./proxy.ts";
import { RouteTable } from "./routes.ts";
import { tunnelHttp2 } from "../tunnel/settings.ts";
import { within } from "../tunnel/within.ts";
import { acceptTunnel } from "./tunnels/accept.ts";
import { acceptWebSocketTunnel } from "./tunnels/websocket_accept.ts";
import type { ByteIO } from "../h2/connection.ts";
import { TunnelAuth } from "./tunnels/auth.ts";
import { type Reservation, TunnelAdmission } from "./tunnels/admission.ts";
import { HostPolicy } from "./tunnels/host_policy.ts";
import { HandshakeError, type TunnelIdentity } from "../tunnel/handshake.ts";
import { RouterTunnel } from "./tunnels/router_tunnel.ts";
import { probeRtt } from "./tunnels/rtt_probe.ts";
import { RouterEvents, type TunnelInfo } from "./events.ts";
import { Deadlines } from "./deadlines.ts";
import { type AdminServer, startAdminServer } from "./admin/server.ts";
import { AcceptLoop, closeAfterHandshake } from "./edge/accept_loop.ts";
import { EdgeServer } from "./edge/server.ts";
import { listen } from "./listen.ts";
import { Logger } from "../log/logger.ts";
import { logRouterEvents } from "./event_log.ts";
import { RequestQueues } from "./request_queues.ts";
import { ResponseBudget } from "./response_budget.ts";

export type { LocalSettings } from "../h2/connection.ts";
export type { Tunnel, TunnelList } from "./pool.ts";
export type { ProxyEnv } from "./proxy.ts";
export type { AdminOptions, RouterOptions, RouteSpec } from "../config/router_options.ts";
import type { RouterOptions } from "../config/router_options.ts";
import { type ResolvedRouterOptions, withDefaults } from "../config/defaults.ts";
export type { LogFormat, LogLevel } from "../log/logger.ts";
export { ListenError, TlsConfigError } from "./listen.ts";
export {
  type RequestRecord,
  type RouterEvent,
  type RouterEventListener,
  RouterEvents,
  type TunnelInfo,
} from "./events.ts";

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
 * Starts a router: the public HTTP(S) server (the edge, running the hono
 * app) and the tunnel listener (`Deno.listen`, or `Deno.listenTls`).
 *
 * @param options Ports, TLS, tokens, routes and limits.
 * @returns The running router.
 * @throws {TlsConfigError} When a TLS certificate or key cannot be used.
 * @throws {ListenError} When a listener cannot open (port in use, address not local…).
 * @throws {Deno.errors.AddrInUse} When a port is taken.
 *
 * @example Embed a router in a program
 * ```ts
 * import { createRouter } from "jsr:@ptth/router/router";
 * import { equal } from "node:assert/strict";
 * await using router = createRouter({ port: 0, tunnelPort: 0, quiet: true });
 * equal(router.pool.size, 0);
 * ```
 */
export function createRouter(options?: RouterOptions): Router {
  return startRouter(withDefaults(options ?? {}));
}

function startRouter(options: ResolvedRouterOptions): Router {
  // First: overlapping host patterns are a configuration error, thrown before anything listens.
  const hostPolicy = new HostPolicy({
    serviceHosts: options.serviceHosts,
    routes: options.routes,
    tokensConfigured: Object.keys(options.tokens).length > 0,
  });
  const hostname = options.hostname;
  const logger = new Logger({
    format: options.logFormat,
    level: options.logLevel,
    sink: options.quiet ? null : (options.log ?? ((line: string) => console.error(line))),
  });
  // Free-text lines are about things going wrong; requests and tunnels are logged from events.
  const log = (line: string) => logger.warn(line);
  const pool = new TunnelPool<RouterTunnel>();
  const events = new RouterEvents();
  const stopEventLog = logger.enabled("warn") ? logRouterEvents(events, pool, logger) : undefined;
  let closing = false;
  // Filled in once they listen, for the admin listener's readiness.
  const listeners: { public?: EdgeServer; tunnel?: AcceptLoop } = {};
  const admin: AdminServer | undefined = options.admin && startAdminServer(options.admin, {
    pool,
    events,
    services: configuredServices(options),
    listening: () => !closing,
    notAccepting: () => {
      const publicReason = listeners.public?.notAccepting;
      if (publicReason) return `public listener not accepting: ${publicReason}`;
      const tunnelReason = listeners.tunnel?.notAccepting;
      return tunnelReason ? `tunnel listener not accepting: ${tunnelReason}` : null;
    },
    log,
  });
  // Keepalive PINGs only silent tunnels: for the admin's RTTs, PING busy ones too.
  const stopProbe = admin && probeRtt(pool, events, options.keepaliveInterval);
  const routes = new RouteTable(options.routes);
  const queues = new RequestQueues(options.maxQueuedRequests, log);
  const budget = new ResponseBudget(options.maxResponseBuffer, (shed) =>
    events.emit({
      type: "responses-shed",
      time: Date.now(),
      streams: shed.streams,
      bytes: shed.bytes,
      budget: options.maxResponseBuffer,
    }));
  const auth = new TunnelAuth({
    tokens: options.tokens,
    ...(options.allowAnonymous === undefined ? {} : { allowAnonymous: options.allowAnonymous }),
    failuresPerMinute: options.authFailuresPerMinute,
  });
  const admission = new TunnelAdmission({
    maxTunnelsPerService: options.maxTunnelsPerService,
    policy: hostPolicy,
  });
  const trusted = trustedProxyMatcher(options.trustedProxies);
  // Unfinished WebSocket messages, over every socket the router relays or accepts a tunnel on.
  const messageBudget = new MessageBudget(options.maxWebSocketBuffer);
  const app = createProxyApp(pool, {
    routes,
    hostOwners: hostPolicy,
    trusted,
    maxHeaderBytes: options.maxHeaderBytes,
    maxBodyBytes: options.maxBodyBytes,
    responseHeaderTimeout: options.responseHeaderTimeout,
    tunnelWait: options.tunnelWait,
    maxRetries: options.maxRetries,
    queues,
    // A WebSocket's stream must not look idle to the sweep below.
    webSocketPingInterval: Math.min(30_000, options.idleTimeout / 2),
    messageBudget,
    log,
    events,
    // 504s may come up to a tenth of the timeout (at most 250 ms) late: one timer for all.
    deadlines: new Deadlines(
      Math.min(250, Math.max(10, options.responseHeaderTimeout / 10)),
    ),
  });
  let listener: Deno.Listener;
  let publicListener: Deno.Listener;
  try {
    listener = listen("tunnel", {
      hostname: options.tunnelHostname ?? hostname,
      port: options.tunnelPort,
      ...(options.tunnelTls ? { tls: options.tunnelTls } : {}),
    });
    try {
      publicListener = listen("public", {
        hostname,
        port: options.port,
        ...(options.tls ? { tls: options.tls, alpnProtocols: ["h2", "http/1.1"] } : {}),
      });
    } catch (error) {
      listener.close();
      throw error;
    }
  } catch (error) {
    stopProbe?.();
    admin?.shutdown();
    throw error;
  }
  // Tunnels over WebSocket come in on the public port, at their own path.
  const tunnelPath = options.tunnelPath;
  const webSocketTunnels = new Set<ClientSession>();
  const context: TunnelContext = {
    pool,
    auth,
    admission,
    options,
    log,
    events,
    queues,
    budget,
    trusted,
    messageBudget,
  };
  const handler = (request: Request, remoteAddr: Deno.NetAddr) =>
    tunnelPath !== "" && request.url.includes(tunnelPath) &&
      new URL(request.url).pathname === tunnelPath
      ? attachWebSocket(request, remoteAddr, context, webSocketTunnels)
      : app.fetch(request, { remoteAddr });
  const server = new EdgeServer({
    listener: publicListener,
    tls: options.tls !== undefined,
    name: "public",
    handler,
    onError: (error: unknown) => {
      log(`public request failed: ${(error as Error)?.message ?? error}`);
      return new Response("Internal Server Error\n", { status: 500 });
    },
    maxConnections: options.maxConnections,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress,
    headerTimeout: options.headerTimeout,
    idleTimeout: options.clientIdleTimeout,
    maxHeaderBytes: options.maxHeaderBytes,
    log,
  });
  // Tunnels in their handshake are bounded: the handshake timeout bounds each, these caps
  // how many (all told, and per address) a stalled peer or a flood can hold at once.
  const attaching = new Set<Promise<void>>();
  const tunnelLoop = new AcceptLoop(listener, {
    name: "tunnel",
    maxConnections: options.maxPendingHandshakes,
    maxPerAddress: options.maxPendingHandshakesPerAddress,
    what: "pending handshakes",
    log,
    ...(options.tunnelTls ? { dismiss: closeAfterHandshake } : {}),
    handle: (conn, release) => {
      const task = attach(conn, context, release);
      attaching.add(task);
      task.finally(() => attaching.delete(task));
    },
  });
  listeners.public = server;
  listeners.tunnel = tunnelLoop;

  // One timer for all tunnels: streams whose bodies stopped moving are reset.
  const idleTimeout = options.idleTimeout;
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
      budget.stop();
      tunnelLoop.close();
      // The edge's shutdown cuts upgraded connections: drain WebSocket tunnels first.
      await drainSessions([...webSocketTunnels], 5000);
      await server.shutdown();
      // Then let the backends know, and wait (bounded) for their streams to end.
      await drainSessions(pool.list().map((tunnel) => tunnel.session), 5000);
      for (const tunnel of pool.list()) tunnel.session.close();
      await tunnelLoop.done;
      await Promise.all(attaching);
      await admin?.shutdown();
      stopEventLog?.();
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
function configuredServices(options: ResolvedRouterOptions): string[] {
  const routed = options.routes.map((route) => route.service);
  const named = [...Object.keys(options.tokens), ...routed];
  return [...new Set(named.filter((service) => service !== "*"))].sort();
}

/**
 * Takes a tunnel connection through its handshake into the pool. `release`
 * is called once it no longer counts as a pending handshake: when the
 * handshake failed, or the tunnel's SETTINGS arrived (or did not in time).
 */
async function attach(conn: Deno.Conn, context: TunnelContext, release: () => void): Promise<void> {
  const remoteAddr = conn.remoteAddr as Deno.NetAddr;
  const id = `t${++tunnelCounter}`;
  if (context.options.tunnelTls) {
    // Deno cannot close a TLS connection in its handshake (the socket stays until the peer
    // acts): it stays a pending handshake until the TLS handshake ends, then is timed.
    try {
      await (conn as Deno.TlsConn).handshake();
    } catch (error) {
      release();
      handshakeFailed(context, remoteAddr, error);
      try {
        conn.close();
      } catch {
        // Closed by the peer.
      }
      return;
    }
  }
  let accepted;
  let reservation: Reservation | undefined;
  try {
    accepted = await acceptTunnel(conn, {
      auth: context.auth,
      address: remoteAddr.hostname,
      timeout: context.options.handshakeTimeout,
      admit: (identity, anonymous) => {
        reservation = context.admission.admit(identity, anonymous);
      },
    });
  } catch (error) {
    reservation?.release();
    release();
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
    reservation: reservation!,
    onReady: release,
  }, context);
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
  /** Hosts and slots of tunnels from their handshake on. */
  admission: TunnelAdmission;
  options: ResolvedRouterOptions;
  log: (line: string) => void;
  events: RouterEvents;
  /** Each service's queue bound, shared by its tunnels' sessions. */
  queues: RequestQueues;
  /** Counts what every tunnel holds of responses their clients have not read. */
  budget: ResponseBudget;
  /** Which peers are trusted proxies (their X-Forwarded-For names the client). */
  trusted: TrustedProxies;
  /** The budget every WebSocket's unfinished messages share. */
  messageBudget: MessageBudget;
}

/** A tunnel whose handshake is done, on its way into the pool. */
interface TunnelInit {
  id: string;
  identity: TunnelIdentity;
  legacy: boolean;
  /** Bytes to send before the HTTP/2 preface (the handshake's 101). */
  reply: Uint8Array | null;
  remoteAddr: Deno.NetAddr;
  /** Its slot and hosts, taken at the handshake: released when it fails or leaves the pool. */
  reservation: Reservation;
  /** Told of the session as soon as it exists. */
  onSession?: (session: ClientSession) => void;
  /** Told once the tunnel's SETTINGS arrived, or did not in time. */
  onReady?: () => void;
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
  let reservation: Reservation | undefined;
  const address = clientAddressOf(
    request.headers.get("x-forwarded-for"),
    remoteAddr.hostname,
    context.trusted,
  );
  try {
    accepted = await acceptWebSocketTunnel(request, {
      auth: context.auth,
      // Behind a load balancer, failures count against the client, not the balancer: a
      // stranger's wrong tokens must not lock out every backend tunnelling through it.
      address,
      messageBudget: context.messageBudget,
      admit: (identity, anonymous) => {
        reservation = context.admission.admit(identity, anonymous);
      },
    });
  } catch (error) {
    // Admitted, then the upgrade itself failed: the slot was never used.
    reservation?.release();
    const { status, reason } = handshakeFailed(
      context,
      { ...remoteAddr, hostname: address },
      error,
    );
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
    reservation: reservation!,
    onSession: (session) => {
      sessions.add(session);
      session.closed.then(() => sessions.delete(session));
    },
  }, context);
  return accepted.response;
}

/** Runs HTTP/2 on a tunnel whose handshake is done, and keeps it in the pool while it lives. */
async function serveTunnel(io: ByteIO, init: TunnelInit, context: TunnelContext): Promise<void> {
  const { pool, options, log, events, queues, budget } = context;
  const { id, identity, legacy, reply, remoteAddr, reservation } = init;
  const from = hostPort(remoteAddr);
  const handshakeTimeout = options.handshakeTimeout;
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
      interval: options.keepaliveInterval,
      timeout: options.keepaliveTimeout,
    },
    maxConcurrentStreams: options.maxStreamsPerTunnel,
    queueLimit: queues.of(identity.service),
    // A client that stops reading holds its own stream window, never the tunnel's:
    // what those windows hold together is the budget's to bound.
    connectionCredit: "arrival",
    bufferMeter: budget.meter,
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
  // The peer's SETTINGS tell us its limits: only then can it take requests. (`ready` also
  // resolves when the connection closes first: such a tunnel frees its slot at once.)
  const outcome = await within(session.connection.ready, handshakeTimeout, "timeout" as const);
  init.onReady?.();
  if (outcome === "timeout" || !session.available) {
    log(`tunnel ${id} from ${from} did not speak HTTP/2; closed`);
    session.close();
    reservation.release();
    return;
  }
  const tunnel = new RouterTunnel(id, session, remoteAddr, identity, legacy);
  pool.add(tunnel);
  events.emit({ type: "tunnel-open", time: Date.now(), tunnel: info });
  // Not awaited, for the same reason as in attach().
  return session.closed.then(() => tunnelClosed(events, info, session, reservation));
}

/** The tunnel has left the pool (it leaves when its session closes): its slot and hosts go. */
function tunnelClosed(
  events: RouterEvents,
  info: TunnelInfo,
  session: ClientSession,
  reservation: Reservation,
): void {
  reservation.release();
  const error = session.connection.error;
  events.emit({
    type: "tunnel-close",
    time: Date.now(),
    tunnel: info,
    error: error ? error.message : null,
  });
}
