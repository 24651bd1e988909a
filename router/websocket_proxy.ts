/**
 * WebSockets through the router: a public client's upgrade becomes an HTTP/2
 * extended CONNECT stream to a backend (RFC 8441, `:protocol websocket`), and
 * once the backend accepts, the router answers the client's upgrade and
 * relays messages both ways, re-framed per RFC 6455 on the tunnel side.
 * Backpressure holds toward a slow client: the router stops reading the
 * backend's stream (so flow control stops the backend) while the client's
 * socket has too much queued.
 *
 * @module
 */

import { describe, queueFull, text } from "./answers.ts";
import type { Deadlines } from "./deadlines.ts";
import { EarlyStop } from "./early_stop.ts";
import type { RequestTarget } from "./forwarded.ts";
import { isUnprocessed, QueueFullError } from "../h2/client.ts";
import type { TunnelPool } from "./pool.ts";
import { hasToken } from "../tunnel/tokens.ts";
import type { RouterTunnel } from "./tunnels/router_tunnel.ts";
import { CloseCode, isValidCloseCode } from "../ws/frame.ts";
import { StreamWebSocket } from "../ws/socket.ts";
import type { MessageBudget } from "../ws/message_budget.ts";
import { upgradeWebSocket } from "./edge/upgrade.ts";

/** Fields of the client's upgrade that stay on its hop (RFC 8441 §5, RFC 6455 §9). */
const HOP_FIELDS: ReadonlySet<string> = new Set([
  "sec-websocket-key",
  "sec-websocket-extensions",
]);

/** What {@linkcode proxyWebSocket} needs from the proxy. */
export interface WebSocketProxyOptions {
  /** The upgrade's target, read from its URL by the proxy. */
  target: RequestTarget;
  /** Where tunnels come from. */
  pool: TunnelPool<RouterTunnel>;
  /** The service chosen by the routes, or `null` for any tunnel. */
  service: string | null;
  /** The fields to send (forwarded fields already applied). */
  fields: string[];
  /** How long to wait for the backend's answer (ms). */
  responseHeaderTimeout: number;
  /** Where the header timeout and the watch for the client leaving are armed. */
  deadlines: Deadlines;
  /** How long to wait for a tunnel of the service (ms). */
  tunnelWait: number;
  /** How many times an unprocessed CONNECT is sent again elsewhere. */
  maxRetries: number;
  /** PING the backend leg this often (ms), keeping its stream from idling out. @default {30000} */
  pingInterval?: number;
  /** The budget every socket's unfinished messages share (ws/message_budget.ts). */
  messageBudget?: MessageBudget;
  /** Where log lines go. */
  log: (line: string) => void;
  /** Told which tunnel carries the session. */
  onTunnel?: (tunnel: RouterTunnel, attempt: number) => void;
  /** Told the status the backend answered with (its stream then reports `onClose`). */
  onResponse?: (status: number) => void;
  /** Told the DATA bytes each way once the stream closed. */
  onClose?: (bytesSent: number, bytesReceived: number, failure: Error | null) => void;
}

/**
 * Whether a request asks for a WebSocket (RFC 6455 §4.1: a GET with
 * `Upgrade: websocket`).
 *
 * @param method The request's method.
 * @param upgrade Its `Upgrade` field, if any.
 * @returns Whether it is a WebSocket upgrade.
 *
 * @example
 * ```ts
 * import { isWebSocketUpgrade } from "./websocket_proxy.ts";
 * import { equal } from "node:assert/strict";
 * equal(isWebSocketUpgrade("GET", "websocket"), true);
 * equal(isWebSocketUpgrade("GET", "h2c, WebSocket"), true);
 * equal(isWebSocketUpgrade("GET", null), false);
 * equal(isWebSocketUpgrade("POST", "websocket"), false);
 * ```
 */
export function isWebSocketUpgrade(method: string, upgrade: string | null): boolean {
  return method === "GET" && hasToken(upgrade, "websocket");
}

/** Stop reading the backend while the client's socket has more than this many bytes queued. */
const CLIENT_HIGH_WATER_MARK = 1024 * 1024;
/**
 * Close the session (1008) when the backend leg has more than this many bytes
 * queued: the client cannot be paused, so this bounds the router's memory per
 * socket: a largest message (StreamWebSocket's 64 MiB default) and 16 MiB more.
 */
const BACKEND_BUFFER_LIMIT = 80 * 1024 * 1024;

/**
 * Forwards a WebSocket upgrade over a tunnel and relays the session. The
 * client's side is upgraded by the edge (an HTTP/1.1 upgrade or an HTTP/2
 * extended CONNECT), or by `Deno.upgradeWebSocket` for a request from
 * `Deno.serve`.
 *
 * @param request The public upgrade request.
 * @param options Tunnels, fields and limits.
 * @returns The 101 response, or the backend's refusal, or 426/501/502/503/504.
 *
 * @example No tunnel gives 503
 * ```ts
 * import { proxyWebSocket } from "./websocket_proxy.ts";
 * import { Deadlines } from "./deadlines.ts";
 * import { requestTarget } from "./forwarded.ts";
 * import { TunnelPool } from "./pool.ts";
 * import { equal } from "node:assert/strict";
 * const request = new Request("http://example.com/chat", {
 *   headers: { upgrade: "websocket", "sec-websocket-version": "13" },
 * });
 * const response = await proxyWebSocket(request, {
 *   target: requestTarget(new URL(request.url)),
 *   pool: new TunnelPool(), service: null, fields: [], responseHeaderTimeout: 1000,
 *   deadlines: new Deadlines(100), tunnelWait: 0, maxRetries: 0, log: () => {},
 * });
 * equal(response.status, 503);
 * ```
 */
export async function proxyWebSocket(
  request: Request,
  options: WebSocketProxyOptions,
): Promise<Response> {
  // RFC 6455 §4.4: a version we do not speak is answered with the one we do.
  if (request.headers.get("sec-websocket-version") !== "13") {
    return text(426, "Upgrade Required: WebSocket version 13 only", {
      "sec-websocket-version": "13",
    });
  }
  // Read everything from the request now: once upgraded, its headers are gone.
  const { target } = options;
  const url = target.url;
  const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",")
    .map((p) => p.trim()).filter((p) => p !== "");
  const fields: string[] = [];
  for (let i = 0; i < options.fields.length; i += 2) {
    if (!HOP_FIELDS.has(options.fields[i]!)) {
      fields.push(options.fields[i]!, options.fields[i + 1]!);
    }
  }
  const { pool, service } = options;

  // The same stops as a plain request's: the client leaving, the header timeout.
  const early = new EarlyStop(request, options.deadlines, options.responseHeaderTimeout);
  const stopped = (tunnel: RouterTunnel) =>
    early.answer(
      options.log,
      `WebSocket ${target.pathname}: tunnel ${tunnel.id}: no answer to the upgrade in time`,
      `the backend did not accept the WebSocket within ${options.responseHeaderTimeout} ms`,
    );
  let response: Response | null = null;
  let up: TransformStream<Uint8Array, Uint8Array> | null = null;
  try {
    let tunnel = pool.pick(service) ??
      await early.tunnelFor(pool, service, options.tunnelWait);
    for (let attempt = 0; tunnel !== undefined; attempt++) {
      options.onTunnel?.(tunnel, attempt);
      // RFC 8441 §3: extended CONNECT only to a peer that sent SETTINGS_ENABLE_CONNECT_PROTOCOL.
      if (!tunnel.session.connection.peerEnablesConnectProtocol) {
        return text(
          501,
          "Not Implemented: the backend does not accept WebSockets (no RFC 8441 extended CONNECT)",
        );
      }
      up = new TransformStream<Uint8Array, Uint8Array>();
      try {
        const exchange = tunnel.send({
          method: "CONNECT",
          protocol: "websocket",
          scheme: target.scheme,
          authority: target.host,
          path: target.path,
          headers: fields,
          body: up.readable,
          ...(options.onClose === undefined ? {} : { onClose: options.onClose }),
        });
        early.exchange = exchange;
        const head = await exchange.response;
        response = new Response(head.body, { status: head.status, headers: head.headers });
        break;
      } catch (error) {
        if (early.why !== null) return stopped(tunnel);
        if (error instanceof QueueFullError) return queueFull(service);
        const reason = describe(error);
        if (attempt < options.maxRetries && isUnprocessed(error)) {
          const failed = tunnel;
          tunnel = await early.tunnelFor(pool, service, options.tunnelWait, failed);
          if (early.why !== null) return stopped(failed);
          if (tunnel !== undefined) continue;
        }
        options.log(`WebSocket ${target.pathname}: tunnel failed: ${reason}`);
        return text(502, `Bad Gateway: the tunnel failed before the WebSocket opened (${reason})`);
      }
    }
  } finally {
    early.done();
  }
  if (response === null || up === null) {
    return early.unanswered(service);
  }
  options.onResponse?.(response.status);
  // RFC 8441 §5: any 2xx opens the tunnel; anything else is the backend's refusal.
  if (response.status < 200 || response.status >= 300) {
    up.writable.close().catch(() => {});
    response.headers.append("via", "2 ptth");
    return response;
  }
  const chosen = response.headers.get("sec-websocket-protocol");
  const inbound = response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
  if (chosen !== null && !offered.includes(chosen)) {
    inbound.cancel().catch(() => {});
    return text(502, `Bad Gateway: the backend chose protocol ${chosen}, which was not offered`);
  }
  let upgraded: { socket: WebSocket; response: Response };
  try {
    upgraded = upgradeWebSocket(request, {
      ...(chosen === null ? {} : { protocol: chosen }),
      ...(options.messageBudget === undefined ? {} : { messageBudget: options.messageBudget }),
    });
  } catch (error) {
    inbound.cancel().catch(() => {});
    return text(400, `Bad Request: cannot upgrade to WebSocket (${(error as Error).message})`);
  }
  relay(upgraded.socket, { readable: inbound, writable: up.writable }, url, chosen ?? "", options);
  upgraded.response.headers.append("via", "1.1 ptth");
  return upgraded.response;
}

/** Copies messages and closes between the client's socket and the backend's stream. */
function relay(
  client: WebSocket,
  transport: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> },
  url: URL,
  protocol: string,
  options: WebSocketProxyOptions,
): void {
  client.binaryType = "arraybuffer";
  const clientOpen = new Promise<void>((resolve, reject) => {
    client.addEventListener("open", () => resolve(), { once: true });
    client.addEventListener("close", () => reject(new Error("Client left before opening")), {
      once: true,
    });
  });
  const backend = new StreamWebSocket(transport, {
    role: "client",
    url: url.href.replace(/^http/, "ws"),
    protocol,
    // Nothing is read from the backend before the client can take it.
    open: clientOpen,
    anyCloseCode: true,
    pingInterval: options.pingInterval ?? 30_000,
    ...(options.messageBudget === undefined ? {} : { messageBudget: options.messageBudget }),
    // A slow client: stop reading, and HTTP/2 flow control stops the backend.
    beforeRead: () =>
      client.bufferedAmount > CLIENT_HIGH_WATER_MARK
        ? drained(client, CLIENT_HIGH_WATER_MARK / 2)
        : undefined,
  });
  backend.binaryType = "arraybuffer";
  backend.onmessage = (event) => {
    if (client.readyState === WebSocket.OPEN) client.send(event.data);
  };
  backend.onclose = (event) => {
    if (client.readyState !== WebSocket.OPEN && client.readyState !== WebSocket.CONNECTING) return;
    if (event.code === CloseCode.NO_STATUS) return client.close();
    // The backend leg broke (tunnel lost, stream reset): 1011, since clients such as
    // Deno's reject 1014 (Bad Gateway, IANA-registered after RFC 6455).
    const code = event.code === CloseCode.ABNORMAL ? CloseCode.INTERNAL_ERROR : event.code;
    try {
      client.close(code, event.reason);
    } catch {
      client.close(CloseCode.INTERNAL_ERROR);
    }
  };
  client.onmessage = (event) => {
    if (backend.readyState !== WebSocket.OPEN) return;
    backend.send(event.data);
    // The client cannot be paused (the WebSocket API reads on): bound what waits for the backend.
    if (backend.bufferedAmount > BACKEND_BUFFER_LIMIT) {
      options.log(`WebSocket ${url.pathname}: backend too slow; closing`);
      client.close(CloseCode.POLICY_VIOLATION, "Backend is not reading fast enough");
      backend.close(CloseCode.POLICY_VIOLATION, "Too much queued for the backend");
    }
  };
  client.onclose = (event) => {
    if (backend.readyState === WebSocket.CLOSED) return;
    // Deno reports a connection lost without a Close frame as 1006 or 0.
    const abnormal = event.code !== CloseCode.NO_STATUS && !isValidCloseCode(event.code);
    if (abnormal || backend.readyState === WebSocket.CONNECTING) {
      // The client vanished: so does the stream (the backend sees 1006, as it would directly).
      return backend.terminate();
    }
    if (event.code === CloseCode.NO_STATUS) return backend.close();
    backend.close(event.code, event.reason);
  };
  client.onerror = () => {};
  backend.onerror = () => {};
}

/** Resolves once `socket.bufferedAmount` is at most `low`, or the socket is no longer open. */
async function drained(socket: WebSocket, low: number): Promise<void> {
  // The WebSocket API has no drain event: poll.
  let wait = 2;
  while (socket.bufferedAmount > low && socket.readyState === WebSocket.OPEN) {
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 25);
  }
}
