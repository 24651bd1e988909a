/**
 * `serveReverse`: keeps a tunnel to each router (dial, handshake, reconnect)
 * and serves HTTP/2 on it in the server role, calling the handler per stream.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import type { ByteIO, LocalSettings } from "../h2/connection.ts";
import { serveConnection, type StreamInfo } from "../h2/server.ts";
import type { Http2Error } from "../h2/errors.ts";
import { tunnelHttp2 } from "../tunnel/settings.ts";
import { dialTunnel } from "./dial.ts";
import { type Backoff, type LinkStatus, TunnelLink } from "./link.ts";
import { dialWebSocketTunnel } from "./websocket_dial.ts";
import { type LogFormat, Logger, type LogLevel } from "../log/logger.ts";
import { LinkStateLog } from "./link_log.ts";

export type { ByteIO, LocalSettings } from "../h2/connection.ts";
export { TunnelRefusedError, TunnelTlsError } from "./dial.ts";
export {
  upgradeWebSocket,
  type UpgradeWebSocketOptions,
  type WebSocketUpgrade,
} from "./upgrade_websocket.ts";
export {
  StreamWebSocket,
  type StreamWebSocketOptions,
  type WebSocketEventHandler,
  type WebSocketTransport,
} from "../ws/socket.ts";
export type { Backoff, LinkStatus } from "./link.ts";
export type { LogFormat, LogLevel } from "../log/logger.ts";

/** What the handler learns besides the request; mirrors `Deno.ServeHandlerInfo`. */
export interface ReverseHandlerInfo {
  /** The public client's address as the router saw it (from X-Forwarded-For). */
  remoteAddr: Deno.NetAddr;
  /** Resolves when the response has been sent, or the request was cancelled. */
  completed: Promise<void>;
  /** The HTTP/2 stream carrying this request. */
  streamId: number;
}

/** A fetch-style handler; `app.fetch` of a hono app fits. */
export type ReverseHandler = (
  request: Request,
  info: ReverseHandlerInfo,
) => Response | Promise<Response>;

/** Options of {@linkcode serveReverse}. */
export interface ServeReverseOptions {
  /**
   * The router's tunnel host.
   * @default {"localhost", or the host of PTTH_ROUTER=host:port}
   */
  hostname?: string;
  /** The router's tunnel port. @default {8887, or the port of PTTH_ROUTER} */
  port?: number;
  /** Aborting it shuts the backend down gracefully. */
  signal?: AbortSignal;
  /**
   * Turns an error thrown by the handler into a response; the default logs it
   * and answers 500. Also told of a tunnel the router refused
   * ({@linkcode TunnelRefusedError}); its return value is then ignored.
   */
  onError?: (error: unknown) => Response | Promise<Response>;
  /** The bearer token for the router's PTTH handshake. */
  token?: string;
  /** The service this backend serves. @default {"default"} */
  service?: string;
  /** Host names this backend serves, announced to the router. @default {[]} */
  hosts?: string[];
  /** Labels announced to the router: version, region, … @default {{}} */
  metadata?: Record<string, string>;
  /** Relative share of the service's traffic, 1-1000. @default {1} */
  weight?: number;
  /** TLS to the router's tunnel port; `caCerts` (PEM) trusts a private CA. @default {false} */
  tls?: boolean | { caCerts?: string[] };
  /**
   * Skip the PTTH handshake and speak raw HTTP/2 at once, as the Go original
   * does. The default is the handshake when `token`, `service`, `hosts`,
   * `metadata` or `weight` is given, else raw HTTP/2 (works with every router).
   */
  legacy?: boolean;
  /** How long the handshake may take (ms). @default {10000} */
  handshakeTimeout?: number;
  /** Called each time the tunnel is up, with the router address. */
  onListen?: (addr: { hostname: string; port: number }) => void;
  /**
   * Supplies the connection instead of dialing TCP: any byte stream with
   * `read`, `write` and `close` (a `Deno.Conn`, a TLS connection, …).
   */
  connect?: () => ByteIO | Promise<ByteIO>;
  /**
   * HTTP/2 settings the backend advertises, over the tunnel defaults (README,
   * "Defaults the endpoints advertise"); the connection window is sixteen
   * stream windows.
   */
  http2?: LocalSettings;
  /**
   * The router to dial, as `host:port` (its tunnel port) or as the URL of its
   * WebSocket tunnel, `wss://host:port/.well-known/ptth/tunnel` (or `ws://`):
   * the tunnel then runs through the router's public HTTPS port, past proxies
   * and load balancers that pass only HTTPS. Overrides `hostname` and `port`.
   */
  router?: string;
  /**
   * Several routers to keep a tunnel to at once, each as `router` takes it
   * (overrides `router`, `hostname` and `port`). Routers behind DNS or a TCP
   * load balancer then serve the same services with no shared state.
   */
  routers?: string[];
  /**
   * Resolve each router host name (A and AAAA) and keep a tunnel to every
   * address, looking again every `resolveInterval`. @default {false}
   */
  allAddresses?: boolean;
  /** How often to resolve router names again with `allAddresses` (ms). @default {30000} */
  resolveInterval?: number;
  /** Backoff between reconnection attempts, with full jitter. */
  reconnect?: Partial<Backoff>;
  /** Largest pause between reconnection attempts (ms); same as `reconnect.max`. @default {5000} */
  maxReconnectDelay?: number;
  /** How long `shutdown()` lets in-flight requests finish (ms). @default {10000} */
  shutdownTimeout?: number;
  /** PING the tunnel when it has been silent this long (ms). @default {15000} */
  keepaliveInterval?: number;
  /** Drop and redial a tunnel whose PING is not answered within this long (ms). @default {10000} */
  keepaliveTimeout?: number;
  /** Where log lines go. @default {console.error} */
  log?: (line: string) => void;
  /** Log nothing. @default {false} */
  quiet?: boolean;
  /** How log lines look: `text` for terminals, `json` for one object a line. @default {"text"} */
  logFormat?: LogFormat;
  /** The least severe level logged: `debug`, `info`, `warn` or `error`. @default {"info"} */
  logLevel?: LogLevel;
}

/** {@linkcode ServeReverseOptions} with the handler inside. */
export interface ServeReverseInit extends ServeReverseOptions {
  /** The handler. */
  handler: ReverseHandler;
}

/** A running backend; mirrors `Deno.HttpServer`. */
export interface ReverseServer {
  /**
   * Resolves when the backend has stopped for good; rejects with a
   * {@linkcode TunnelRefusedError} when the router refused its token.
   */
  readonly finished: Promise<void>;
  /** Resolves the first time a tunnel is up; rejects if the router refuses it. */
  readonly connected: Promise<void>;
  /** Whether a tunnel is up now. */
  readonly isConnected: boolean;
  /** `connected` when any tunnel is up, `connecting`, `refused` (token rejected) or `stopped`. */
  readonly status: LinkStatus;
  /** How many tunnels are up (one per router address). */
  readonly tunnels: number;
  /** The last connection error, if any; a {@linkcode TunnelRefusedError} when refused. */
  readonly lastError: Error | null;
  /** Sends GOAWAY, lets in-flight requests finish, then stops. */
  shutdown(): Promise<void>;
  /** Same as {@linkcode ReverseServer.shutdown}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves `handler` through a router's tunnel, reconnecting when the tunnel is
 * lost. Called like `Deno.serve`: `serveReverse(handler)`,
 * `serveReverse(options, handler)` or `serveReverse({ handler, ...options })`.
 *
 * @param options Router address and behaviour, or the handler itself.
 * @param handler The handler, when `options` is not it.
 * @returns The running backend.
 *
 * @example A hono app behind the tunnel
 * ```ts
 * import { Hono } from "hono";
 * import { createRouter } from "jsr:@ptth/router/router";
 * import { serveReverse } from "jsr:@ptth/router";
 * import { equal } from "node:assert/strict";
 * const app = new Hono().get("/foo", (c) => c.text("bar"));
 * await using router = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
 * await using backend = serveReverse({
 *   port: router.tunnelAddr.port,
 *   quiet: true,
 *   handler: app.fetch,
 * });
 * await backend.connected;
 * const response = await fetch(`http://127.0.0.1:${router.addr.port}/foo`);
 * equal(await response.text(), "bar");
 * ```
 */
export function serveReverse(handler: ReverseHandler): ReverseServer;
/**
 * Serves `handler` through a router's tunnel, with options.
 *
 * @param options Router address and behaviour.
 * @param handler The handler.
 * @returns The running backend.
 *
 * @example
 * ```ts
 * import { createRouter } from "jsr:@ptth/router/router";
 * import { serveReverse } from "jsr:@ptth/router";
 * await using router = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
 * await using backend = serveReverse(
 *   { hostname: "127.0.0.1", port: router.tunnelAddr.port, quiet: true },
 *   () => new Response("ok"),
 * );
 * await backend.connected;
 * ```
 */
export function serveReverse(options: ServeReverseOptions, handler: ReverseHandler): ReverseServer;
/**
 * Serves `init.handler` through a router's tunnel.
 *
 * @param init Options with the handler inside.
 * @returns The running backend.
 *
 * @example
 * ```ts
 * import { createRouter } from "jsr:@ptth/router/router";
 * import { serveReverse } from "jsr:@ptth/router";
 * await using router = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
 * await using backend = serveReverse({
 *   port: router.tunnelAddr.port,
 *   quiet: true,
 *   handler: () => new Response("ok"),
 * });
 * await backend.connected;
 * ```
 */
export function serveReverse(init: ServeReverseInit): ReverseServer;
export function serveReverse(
  options: ServeReverseOptions | ServeReverseInit | ReverseHandler,
  handler?: ReverseHandler,
): ReverseServer {
  if (typeof options === "function") return new Backend({}, options);
  const fn = handler ?? (options as ServeReverseInit).handler;
  if (typeof fn !== "function") throw new TypeError("Cannot serve: no handler given");
  return new Backend(options, fn);
}

/** A router address to keep a tunnel to. */
interface Target {
  /** What to dial: a host name or an address. */
  hostname: string;
  port: number;
  /** The name the address was resolved from (for TLS verification and logs). */
  serverName: string;
  /** The router's WebSocket tunnel URL, for a tunnel through its public port. */
  url?: string;
}

function parseRouter(value: string, what: string, tls: boolean): Target {
  if (/^wss?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new TypeError(
        `Invalid ${what}: ${JSON.stringify(value)} (expected a ws:// or wss:// URL)`,
      );
    }
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = Number(url.port || (url.protocol === "wss:" ? 443 : 80));
    return { hostname, port, serverName: hostname, url: url.href };
  }
  // The backend's own logs name routers `tcp://host:port` (or `tls://`): take that back too.
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== "tcp" && scheme !== "tls") {
    throw new TypeError(
      `Invalid ${what}: ${JSON.stringify(value)} (expected host:port, tcp://host:port, ` +
        `or a ws:// or wss:// URL for a tunnel through the router's HTTP port)`,
    );
  }
  if (scheme === "tls" && !tls) {
    throw new TypeError(
      `Invalid ${what}: ${JSON.stringify(value)} (tls:// needs the tls option, e.g. tls: true)`,
    );
  }
  const address = scheme === undefined ? value : value.slice(scheme.length + 3);
  const i = address.lastIndexOf(":");
  const port = i < 0 || address.endsWith("]") ? 8887 : Number(address.slice(i + 1));
  const host = i < 0 || address.endsWith("]") ? address : address.slice(0, i);
  const hostname = host.replace(/^\[(.*)\]$/, "$1");
  if (
    hostname === "" || /[/?#@\s]/.test(hostname) || !/^\d+$/.test(String(port)) ||
    port <= 0 || port > 65535
  ) {
    throw new TypeError(`Invalid ${what}: ${JSON.stringify(value)} (expected host:port)`);
  }
  return { hostname, port, serverName: hostname };
}

/** The routers to dial: `routers`, else `hostname`/`port`, else PTTH_ROUTER (commas allowed). */
function targetsOf(options: ServeReverseOptions): Target[] {
  const tls = options.tls !== undefined && options.tls !== false;
  if (options.routers?.length) return options.routers.map((r) => parseRouter(r, "router", tls));
  if (options.router !== undefined) return [parseRouter(options.router, "router", tls)];
  let env: string | undefined;
  if (options.hostname === undefined || options.port === undefined) {
    try {
      env = Deno.env.get("PTTH_ROUTER");
    } catch {
      env = undefined; // No --allow-env: use the defaults.
    }
  }
  const fromEnv = env ? env.split(",").map((r) => parseRouter(r.trim(), "PTTH_ROUTER", tls)) : [];
  if (options.hostname !== undefined || options.port !== undefined || fromEnv.length === 0) {
    const hostname = options.hostname ?? fromEnv[0]?.hostname ?? "localhost";
    return [{ hostname, port: options.port ?? fromEnv[0]?.port ?? 8887, serverName: hostname }];
  }
  return fromEnv;
}

/** Every A and AAAA address of a target, or the target itself when it is an address. */
async function resolveAll(target: Target): Promise<Target[]> {
  // A URL is dialed by name: its host is the Host and the TLS name, whatever the address.
  if (target.url !== undefined) return [target];
  if (/^[\d.]+$/.test(target.hostname) || target.hostname.includes(":")) return [target];
  const lookups = await Promise.allSettled([
    Deno.resolveDns(target.hostname, "A"),
    Deno.resolveDns(target.hostname, "AAAA"),
  ]);
  const addresses = lookups.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
  if (addresses.length === 0) return [target]; // Let dialing report the failure.
  return addresses.map((address) => ({
    hostname: address,
    port: target.port,
    serverName: target.hostname,
  }));
}

const key = (t: Target) => t.url ?? `${t.hostname}|${t.port}`;

class Backend implements ReverseServer {
  readonly finished: Promise<void>;
  readonly connected: Promise<void>;
  #options: ServeReverseOptions;
  #handler: ReverseHandler;
  #targets: Target[];
  #links = new Map<string, TunnelLink>();
  #logger: Logger;
  #stopped = false;
  #resolveConnected!: () => void;
  #rejectConnected!: (error: Error) => void;
  #lastError: Error | null = null;
  #refusal: Error | null = null;
  #resolveFinished!: () => void;
  #rejectFinished!: (error: Error) => void;
  #resolveTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: ServeReverseOptions, handler: ReverseHandler) {
    this.#options = options;
    this.#handler = handler;
    this.#targets = targetsOf(options);
    this.#logger = new Logger({
      format: options.logFormat ?? "text",
      level: options.logLevel ?? "info",
      sink: options.quiet ? null : (options.log ?? ((line) => console.error(line))),
    });
    this.connected = new Promise((resolve, reject) => {
      this.#resolveConnected = resolve;
      this.#rejectConnected = reject;
    });
    this.finished = new Promise((resolve, reject) => {
      this.#resolveFinished = resolve;
      this.#rejectFinished = reject;
    });
    // Callers that never await these must not crash on a refusal.
    this.connected.catch(() => {});
    this.finished.catch(() => {});
    options.signal?.addEventListener("abort", () => this.shutdown(), { once: true });
    this.#start();
  }

  async #start(): Promise<void> {
    if (this.#options.connect || !this.#options.allAddresses) {
      this.#sync(this.#targets);
      return;
    }
    await this.#resolve();
    if (this.#stopped) return; // shutdown() came during the first lookup.
    // Routers come and go behind a name: look again now and then.
    this.#resolveTimer = setInterval(
      () => this.#resolve(),
      this.#options.resolveInterval ?? 30_000,
    );
  }

  async #resolve(): Promise<void> {
    const all = (await Promise.all(this.#targets.map(resolveAll))).flat();
    if (!this.#stopped) this.#sync(all);
  }

  /** Starts links for new addresses and drains links for addresses that went away. */
  #sync(targets: Target[]): void {
    const wanted = new Map(targets.map((t) => [key(t), t]));
    for (const [k, link] of this.#links) {
      if (!wanted.has(k)) {
        this.#links.delete(k);
        this.#logger.info(`${link.label} no longer resolves; draining its tunnel`);
        link.drain(this.#options.shutdownTimeout ?? 10_000);
      }
    }
    for (const [k, target] of wanted) {
      if (this.#links.has(k)) continue;
      const link = this.#link(target);
      this.#links.set(k, link);
      link.finished.then(
        () => this.#maybeFinished(),
        (error) => this.#refused(error),
      );
    }
  }

  #link(target: Target): TunnelLink {
    const o = this.#options;
    const label = o.connect
      ? "the supplied connection"
      : target.url ?? `${o.tls ? "tls" : "tcp"}://${target.hostname}:${target.port}`;
    const identity = {
      service: o.service ?? "default",
      hosts: o.hosts ?? [],
      weight: o.weight ?? 1,
      metadata: o.metadata ?? {},
    };
    const url = o.connect ? undefined : target.url;
    const caCerts = typeof o.tls === "object" ? o.tls.caCerts : undefined;
    const identityGiven = o.token !== undefined || o.service !== undefined ||
      o.hosts !== undefined || o.metadata !== undefined || o.weight !== undefined;
    const states = new LinkStateLog(this.#logger, label);
    const link = new TunnelLink({
      label,
      dial: () =>
        url !== undefined
          ? dialWebSocketTunnel({
            url,
            identity,
            token: o.token ?? null,
            ...(caCerts === undefined ? {} : { caCerts }),
            timeout: o.handshakeTimeout ?? 10_000,
          })
          : dialTunnel({
            hostname: target.hostname,
            port: target.port,
            serverName: target.serverName,
            ...(o.tls === undefined ? {} : { tls: o.tls }),
            ...(o.connect === undefined ? {} : { connect: o.connect }),
            legacy: o.legacy ?? !identityGiven,
            identity,
            token: o.token ?? null,
            timeout: o.handshakeTimeout ?? 10_000,
          }),
      serve: (io) =>
        serveConnection(io, (request, info) => this.#serve(request, info, target.serverName), {
          // RFC 8441: WebSockets reach handlers as extended CONNECT streams.
          ...tunnelHttp2(o.http2, { enableConnectProtocol: true }),
          // Frames of every response ready in one turn of the event loop leave in one write.
          schedule: setImmediate,
          keepalive: {
            interval: o.keepaliveInterval ?? 15_000,
            timeout: o.keepaliveTimeout ?? 10_000,
          },
          onError: o.onError ?? ((error) => {
            this.#logger.error(`handler failed: ${(error as Error)?.stack ?? error}`);
            return new Response("Internal Server Error", { status: 500 });
          }),
          onProtocolError: (error: Http2Error) =>
            this.#logger.warn(`${label}: ${error.name} ${error.codeName}: ${error.message}`),
        }),
      backoff: {
        initial: o.reconnect?.initial ?? 100,
        max: o.reconnect?.max ?? o.maxReconnectDelay ?? 5000,
        healthyAfter: o.reconnect?.healthyAfter ?? 10_000,
      },
      onUp: () => {
        this.#resolveConnected();
        o.onListen?.({ hostname: target.hostname, port: target.port });
        states.up();
      },
      onError: (error) => {
        this.#lastError = error;
        states.failed(error);
      },
    });
    link.finished.then(() => states.stopped(), () => {});
    return link;
  }

  #refused(error: Error): void {
    if (this.#refusal !== null) return;
    // The same credentials go to every router: one refusal stops them all.
    this.#refusal = error;
    this.#lastError = error;
    this.#rejectConnected(error);
    Promise.resolve(this.#options.onError?.(error)).catch(() => {});
    this.#stop(0).then(() => this.#rejectFinished(error));
  }

  #maybeFinished(): void {
    if (this.#stopped && [...this.#links.values()].every((l) => l.status === "stopped")) {
      if (this.#refusal === null) this.#resolveFinished();
    }
  }

  get status(): LinkStatus {
    if (this.#refusal !== null) return "refused";
    const statuses = [...this.#links.values()].map((l) => l.status);
    if (statuses.includes("connected")) return "connected";
    return this.#stopped ? "stopped" : "connecting";
  }

  get tunnels(): number {
    let n = 0;
    for (const link of this.#links.values()) if (link.status === "connected") n++;
    return n;
  }

  get isConnected(): boolean {
    return this.tunnels > 0;
  }

  get lastError(): Error | null {
    return this.#lastError;
  }

  #serve(request: Request, info: StreamInfo, router: string): Response | Promise<Response> {
    // The public client: the router puts it first in X-Forwarded-For, resolved
    // through trusted proxies (PROTOCOL.md §8). Without the field, the router.
    const forwarded = request.headers.get("x-forwarded-for");
    const hostname = forwarded ? forwarded.split(",")[0]!.trim() : router;
    return this.#handler(request, {
      remoteAddr: { transport: "tcp", hostname, port: 0 },
      completed: info.completed,
      streamId: info.streamId,
    });
  }

  async #stop(deadline: number): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#resolveTimer);
    await Promise.all([...this.#links.values()].map((link) => link.drain(deadline)));
  }

  async shutdown(): Promise<void> {
    if (!this.#stopped) {
      await this.#stop(this.#options.shutdownTimeout ?? 10_000);
      this.#maybeFinished();
    }
    await this.finished.catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
