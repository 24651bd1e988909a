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

import { defineWebSocketHelper, type UpgradeWebSocket, WSContext } from "hono/ws";
import { upgradeWebSocket as upgrade, type UpgradeWebSocketOptions } from "./upgrade_websocket.ts";

export type { UpgradeWebSocketOptions } from "./upgrade_websocket.ts";

/**
 * hono middleware upgrading a request to a WebSocket and wiring its events
 * to the handlers `createEvents(c)` returns; requests that are not upgrades
 * go on to the next handler. Mirrors `upgradeWebSocket` of `hono/deno`.
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
export const upgradeWebSocket: UpgradeWebSocket<WebSocket, UpgradeWebSocketOptions> =
  defineWebSocketHelper<WebSocket, UpgradeWebSocketOptions>((c, events, options) => {
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
      send: (source) => socket.send(source),
    });
    socket.onopen = (event) => events.onOpen?.(event, context);
    socket.onmessage = (event) => events.onMessage?.(event, context);
    socket.onclose = (event) => events.onClose?.(event, context);
    socket.onerror = (event) => events.onError?.(event, context);
    return response;
  });
