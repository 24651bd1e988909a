/**
 * The backend side of ReverseHTTP: `serveReverse()` dials OUT to a router and
 * serves HTTP/2 on the connection it opened, calling a fetch-style handler for
 * each request, the way `Deno.serve` does for inbound connections.
 *
 * @example Serve a handler behind a router
 * ```ts
 * import { createRouter } from "./router.ts";
 * import { serveReverse } from "./backend.ts";
 * import { equal } from "node:assert/strict";
 * await using router = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
 * await using backend = serveReverse(
 *   { port: router.tunnelAddr.port, quiet: true },
 *   () => new Response("bar"),
 * );
 * await backend.connected;
 * const response = await fetch(`http://127.0.0.1:${router.addr.port}/foo`);
 * equal(await response.text(), "bar");
 * ```
 *
 * @module
 */

import type { ByteIO, LocalSettings } from "./h2/connection.ts";
import { serveConnection, type StreamInfo } from "./h2/server.ts";
import type { Http2Error } from "./h2/errors.ts";
import { dialTunnel, TunnelRefusedError } from "./tunnel/dial.ts";

export type { ByteIO, LocalSettings } from "./h2/connection.ts";
export { TunnelRefusedError } from "./tunnel/dial.ts";

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
  /** HTTP/2 settings the backend advertises. */
  http2?: LocalSettings;
  /** Largest pause between reconnection attempts (ms). @default {5000} */
  maxReconnectDelay?: number;
  /** Where log lines go. @default {console.error} */
  log?: (line: string) => void;
  /** Log nothing. @default {false} */
  quiet?: boolean;
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
 * import { createRouter } from "./router.ts";
 * import { serveReverse } from "./backend.ts";
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
 * import { createRouter } from "./router.ts";
 * import { serveReverse } from "./backend.ts";
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
 * import { createRouter } from "./router.ts";
 * import { serveReverse } from "./backend.ts";
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

function routerFromEnv(): { hostname?: string; port?: number } {
  let value: string | undefined;
  try {
    value = Deno.env.get("PTTH_ROUTER");
  } catch {
    return {}; // No --allow-env: use the defaults.
  }
  if (!value) return {};
  const i = value.lastIndexOf(":");
  if (i < 0) return { hostname: value };
  const port = Number(value.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new TypeError(`Invalid PTTH_ROUTER: ${JSON.stringify(value)} (expected host:port)`);
  }
  return { hostname: value.slice(0, i).replace(/^\[(.*)\]$/, "$1"), port };
}

class Backend implements ReverseServer {
  readonly finished: Promise<void>;
  readonly connected: Promise<void>;
  #options: ServeReverseOptions;
  #handler: ReverseHandler;
  #hostname: string;
  #port: number;
  #log: (line: string) => void;
  #stop = new AbortController();
  #resolveConnected!: () => void;
  #rejectConnected!: (error: Error) => void;
  #current: { goaway(): void; close(): void; closed: Promise<void> } | null = null;
  #isConnected = false;
  #lastError: Error | null = null;

  constructor(options: ServeReverseOptions, handler: ReverseHandler) {
    this.#options = options;
    this.#handler = handler;
    const env = options.hostname === undefined || options.port === undefined ? routerFromEnv() : {};
    this.#hostname = options.hostname ?? env.hostname ?? "localhost";
    this.#port = options.port ?? env.port ?? 8887;
    this.#log = options.quiet ? () => {} : (options.log ?? ((line) => console.error(line)));
    this.connected = new Promise((resolve, reject) => {
      this.#resolveConnected = resolve;
      this.#rejectConnected = reject;
    });
    this.connected.catch(() => {});
    options.signal?.addEventListener("abort", () => this.shutdown(), { once: true });
    this.finished = this.#run();
    // Callers that never await `finished` must not crash on a refusal.
    this.finished.catch(() => {});
  }

  get isConnected(): boolean {
    return this.#isConnected;
  }

  get lastError(): Error | null {
    return this.#lastError;
  }

  #dial(): Promise<ByteIO> {
    const o = this.#options;
    const identityGiven = o.token !== undefined || o.service !== undefined ||
      o.hosts !== undefined || o.metadata !== undefined || o.weight !== undefined;
    return dialTunnel({
      hostname: this.#hostname,
      port: this.#port,
      ...(o.tls === undefined ? {} : { tls: o.tls }),
      ...(o.connect === undefined ? {} : { connect: o.connect }),
      legacy: o.legacy ?? !identityGiven,
      identity: {
        service: o.service ?? "default",
        hosts: o.hosts ?? [],
        weight: o.weight ?? 1,
        metadata: o.metadata ?? {},
      },
      token: o.token ?? null,
      timeout: o.handshakeTimeout ?? 10_000,
    });
  }

  async #run(): Promise<void> {
    let failures = 0;
    const maxDelay = this.#options.maxReconnectDelay ?? 5000;
    while (!this.#stop.signal.aborted) {
      let io: ByteIO;
      try {
        io = await this.#dial();
      } catch (error) {
        this.#lastError = error as Error;
        if (error instanceof TunnelRefusedError && error.permanent) {
          // A refused token will not become valid by retrying: stop and say why.
          this.#log(`ptth backend: ${error.message}; not retrying`);
          this.#rejectConnected(error);
          try {
            await this.#options.onError?.(error);
          } catch {
            // The report is best effort.
          }
          throw error;
        }
        if (failures === 0) {
          this.#log(`ptth backend: cannot reach router: ${(error as Error).message}`);
        }
        await this.#pause(Math.min(maxDelay, 100 * 2 ** failures++) * Math.random());
        continue;
      }
      const connection = serveConnection(io, (request, info) => this.#serve(request, info), {
        settings: this.#options.http2,
        onError: this.#options.onError ?? ((error) => {
          this.#log(`ptth backend: handler failed: ${(error as Error)?.stack ?? error}`);
          return new Response("Internal Server Error", { status: 500 });
        }),
        onProtocolError: (error: Http2Error) =>
          this.#log(`ptth backend: ${error.name} ${error.codeName}: ${error.message}`),
      });
      this.#current = {
        goaway: () => connection.goaway(),
        close: () => connection.close(),
        closed: connection.closed,
      };
      // The tunnel counts as up once the router's SETTINGS arrived.
      await connection.ready;
      if (connection.isOpen) {
        this.#isConnected = true;
        failures = 0;
        this.#resolveConnected();
        this.#options.onListen?.({ hostname: this.#hostname, port: this.#port });
        if (!this.#options.connect) {
          this.#log(`Dialed tcp://${this.#hostname}:${this.#port} and serving HTTP/2 traffic`);
        }
      }
      await connection.closed;
      this.#isConnected = false;
      this.#current = null;
      if (this.#stop.signal.aborted) break;
      this.#lastError = connection.error ?? new Error("Tunnel closed by the router");
      this.#log(`ptth backend: tunnel lost: ${this.#lastError.message}; reconnecting`);
      await this.#pause(Math.min(maxDelay, 100 * 2 ** failures++) * Math.random());
    }
  }

  #pause(ms: number): Promise<void> {
    if (this.#stop.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#stop.signal.addEventListener("abort", done, { once: true });
    });
  }

  #serve(request: Request, info: StreamInfo): Response | Promise<Response> {
    const forwarded = request.headers.get("x-forwarded-for");
    const hostname = forwarded ? forwarded.split(",")[0]!.trim() : this.#hostname;
    return this.#handler(request, {
      remoteAddr: { transport: "tcp", hostname, port: 0 },
      completed: info.completed,
      streamId: info.streamId,
    });
  }

  async shutdown(): Promise<void> {
    // A refused backend has stopped already; shutting it down is not an error.
    if (this.#lastError instanceof TunnelRefusedError && this.#lastError.permanent) {
      return await this.finished.catch(() => {});
    }
    if (!this.#stop.signal.aborted) {
      this.#stop.abort();
      const current = this.#current;
      if (current) {
        current.goaway();
        // In-flight requests get a bounded time to finish.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          current.closed,
          new Promise((resolve) => timer = setTimeout(resolve, 10_000)),
        ]);
        clearTimeout(timer);
        current.close();
      }
    }
    await this.finished;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
