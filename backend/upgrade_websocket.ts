/**
 * `upgradeWebSocket()` for handlers behind a router: the same call as
 * `Deno.upgradeWebSocket`, answering a WebSocket that reached the backend as
 * an HTTP/2 extended CONNECT stream (RFC 8441); any other request is handed
 * to `Deno.upgradeWebSocket`, so one handler serves both ways.
 *
 * @module
 */

import { extendedConnectOf, takeExtendedConnect } from "../h2/extended_connect.ts";
import { StreamWebSocket } from "../ws/socket.ts";

/** Options of {@linkcode upgradeWebSocket}; those of `Deno.upgradeWebSocket` and more. */
export interface UpgradeWebSocketOptions {
  /**
   * The subprotocol to agree on. It must be one the client offered in
   * `Sec-WebSocket-Protocol` (RFC 6455 §4.2.2): otherwise the call throws a
   * `TypeError`, as `Deno.upgradeWebSocket` does.
   * @default {none}
   */
  protocol?: string;
  /**
   * Send a Ping when the socket has been open this long without one (s), as
   * `Deno.upgradeWebSocket` does; 0 for never.
   * @default {0}
   */
  idleTimeout?: number;
  /** The largest message received (bytes); larger ones close with 1009. @default {67108864} */
  maxMessageSize?: number;
}

/** What {@linkcode upgradeWebSocket} returns: the socket and the response to return. */
export interface WebSocketUpgrade {
  /** The server's end of the WebSocket; it opens once `response` went out. */
  socket: WebSocket;
  /** Return this from the handler. */
  response: Response;
}

/**
 * Upgrades a request to a WebSocket, like `Deno.upgradeWebSocket`: returns the
 * socket and the response to return from the handler. Behind a router the
 * socket is a {@linkcode StreamWebSocket} over the request's HTTP/2 stream;
 * otherwise (a request from `Deno.serve`) `Deno.upgradeWebSocket` does the work.
 *
 * @param request The request the handler received.
 * @param options Subprotocol and limits.
 * @returns The socket and the response.
 * @throws {TypeError} When the request is not a WebSocket upgrade.
 *
 * @example An echo server behind a router
 * ```ts
 * import { createRouter } from "jsr:@ptth/router/router";
 * import { serveReverse } from "jsr:@ptth/router";
 * import { upgradeWebSocket } from "jsr:@ptth/router";
 * import { equal } from "node:assert/strict";
 * await using router = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
 * await using backend = serveReverse({ port: router.tunnelAddr.port, quiet: true }, (request) => {
 *   const { socket, response } = upgradeWebSocket(request);
 *   socket.onmessage = (event) => socket.send(event.data);
 *   return response;
 * });
 * await backend.connected;
 * const client = new WebSocket(`ws://127.0.0.1:${router.addr.port}/`);
 * client.onopen = () => client.send("hello");
 * const echo = await new Promise((resolve) => client.onmessage = (e) => resolve(e.data));
 * equal(echo, "hello");
 * client.close();
 * await new Promise((resolve) => client.onclose = resolve);
 * ```
 */
export function upgradeWebSocket(
  request: Request,
  options?: UpgradeWebSocketOptions,
): WebSocketUpgrade {
  options ??= {};
  const link = extendedConnectOf(request);
  if (link === undefined) {
    return Deno.upgradeWebSocket(request, {
      ...(options.protocol === undefined ? {} : { protocol: options.protocol }),
      ...(options.idleTimeout === undefined ? {} : { idleTimeout: options.idleTimeout }),
    });
  }
  if (link.protocol !== "websocket") {
    throw new TypeError(`Cannot upgrade to WebSocket: the stream asked for ${link.protocol}`);
  }
  const headers = new Headers();
  if (options.protocol !== undefined && options.protocol !== "") {
    // RFC 6455 §4.2.2: the protocol chosen must be one the client offered.
    const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",")
      .map((p) => p.trim());
    if (!offered.includes(options.protocol)) {
      throw new TypeError(
        `Cannot upgrade to WebSocket: the client did not offer protocol ${options.protocol}`,
      );
    }
    headers.set("sec-websocket-protocol", options.protocol);
  }
  const { tunnel, response } = takeExtendedConnect(request, headers);
  const url = new URL(request.url);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const socket = new StreamWebSocket(tunnel, {
    role: "server",
    url: url.href,
    protocol: options.protocol ?? "",
    open: tunnel.opened,
    pingInterval: (options.idleTimeout ?? 0) * 1000,
    ...(options.maxMessageSize === undefined ? {} : { maxMessageSize: options.maxMessageSize }),
  });
  return { socket, response };
}
