/**
 * hono's WebSocket helper for apps behind a router: the same
 * `upgradeWebSocket((c) => ({ onOpen, onMessage, onClose }))` middleware as
 * `hono/deno`'s, built with `defineWebSocketHelper` on ptth's
 * {@linkcode upgradeWebSocket}, so it answers WebSockets that arrive through
 * a tunnel (RFC 8441 extended CONNECT) and, on `Deno.serve`, direct ones.
 *
 * @example An echo route in a hono app behind a router
 * ```ts
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "jsr:@ptth/router/hono";
 * import { createRouter } from "jsr:@ptth/router/router";
 * import { serveReverse } from "jsr:@ptth/router";
 * import { equal } from "node:assert/strict";
 * const app = new Hono().get(
 *   "/ws",
 *   upgradeWebSocket(() => ({
 *     onMessage: (event, ws) => ws.send(`echo: ${event.data}`),
 *   })),
 * );
 * await using router = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
 * await using backend = serveReverse({ port: router.tunnelAddr.port, quiet: true }, app.fetch);
 * await backend.connected;
 * const client = new WebSocket(`ws://127.0.0.1:${router.addr.port}/ws`);
 * client.onopen = () => client.send("hi");
 * equal(await new Promise((resolve) => client.onmessage = (e) => resolve(e.data)), "echo: hi");
 * client.close();
 * await new Promise((resolve) => client.onclose = resolve);
 * ```
 *
 * @module
 */

import { defineWebSocketHelper, WSContext } from "hono/ws";
import { upgradeWebSocket as upgrade, type UpgradeWebSocketOptions } from "./upgrade_websocket.ts";

export type { UpgradeWebSocketOptions } from "./upgrade_websocket.ts";

/**
 * What a route's WebSocket handlers are given as `ws`: hono's `WSContext`
 * over the socket (`send`, `close`, `readyState`, `protocol`, `url`, `raw`).
 */
export interface WebSocketRouteContext {
  /** Sends a text or binary message (what `onMessage` received can be sent back as it is). */
  send(source: string | ArrayBufferLike | Blob | ArrayBufferView): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** The socket's ready state. */
  readonly readyState: 0 | 1 | 2 | 3;
  /** The subprotocol agreed on. */
  readonly protocol: string | null;
  /** The socket's URL, when it has one. */
  readonly url: URL | null;
  /** The standard `WebSocket` underneath. */
  raw?: WebSocket;
}

/** The handlers a route gives for its WebSocket, as hono's `WSEvents`. */
export interface WebSocketRouteEvents {
  /** The socket opened. */
  onOpen?: (event: Event, ws: WebSocketRouteContext) => void;
  /** A message arrived: `event.data` is a string, or an `ArrayBuffer` / `Blob` for binary. */
  onMessage?: (
    event: MessageEvent<string | Blob | ArrayBufferLike>,
    ws: WebSocketRouteContext,
  ) => void;
  /** The socket closed. */
  onClose?: (event: CloseEvent, ws: WebSocketRouteContext) => void;
  /** The socket failed. */
  onError?: (event: Event, ws: WebSocketRouteContext) => void;
}

/**
 * The part of hono's `Context` a WebSocket route reads: the request, its
 * path parameters, query and headers. hono passes its full `Context`.
 */
export interface WebSocketRouteRequest {
  /** The request. */
  readonly req: {
    /** The standard `Request`. */
    readonly raw: Request;
    /** A path parameter of the route (`/rooms/:name` → `param("name")`). */
    param(name: string): string | undefined;
    /** A query parameter. */
    query(name: string): string | undefined;
    /** A request header. */
    header(name: string): string | undefined;
  };
}

/**
 * hono middleware upgrading a request to a WebSocket and wiring its events
 * to the handlers `createEvents(c)` returns; requests that are not upgrades
 * go on to the next handler. Mirrors `upgradeWebSocket` of `hono/deno`.
 *
 * @param createEvents Makes the socket's handlers for a request.
 * @param options The subprotocol to choose, and the socket's limits.
 * @returns The middleware.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { upgradeWebSocket } from "jsr:@ptth/router/hono";
 * import { equal } from "node:assert/strict";
 * const app = new Hono().get("/ws", upgradeWebSocket(() => ({})), (c) => c.text("not an upgrade"));
 * equal(await (await app.request("/ws")).text(), "not an upgrade");
 * ```
 */
export function upgradeWebSocket(
  createEvents: (
    c: WebSocketRouteRequest,
  ) => WebSocketRouteEvents | Promise<WebSocketRouteEvents>,
  options?: UpgradeWebSocketOptions,
): (c: WebSocketRouteRequest, next: () => Promise<void>) => Promise<Response | void> {
  return helper(createEvents as never, options) as never;
}

const helper = defineWebSocketHelper<WebSocket, UpgradeWebSocketOptions>(
  (c, events, options) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") return;
    const { socket, response } = upgrade(c.req.raw, options ?? {});
    const context = new WSContext<WebSocket>({
      close: (code, reason) => socket.close(code, reason),
      get protocol() {
        return socket.protocol;
      },
      raw: socket,
      get readyState() {
        return socket.readyState as 0 | 1 | 2 | 3;
      },
      url: socket.url ? new URL(socket.url) : null,
      send: (source) => socket.send(source as string | ArrayBufferLike | Blob | ArrayBufferView),
    });
    socket.onopen = (event) => events.onOpen?.(event, context);
    socket.onmessage = (event) => events.onMessage?.(event, context);
    socket.onclose = (event) => events.onClose?.(event, context);
    socket.onerror = (event) => events.onError?.(event, context);
    return response;
  },
);
