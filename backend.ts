/**
 * The backend side of ReverseHTTP: `serveReverse()` dials OUT to a router and
 * serves HTTP/2 on the connection it opened, calling a fetch-style handler for
 * each request, the way `Deno.serve` does for inbound connections.
 *
 * @example Serve a handler behind a router
 * ```ts
 * import { createRouter } from "jsr:@ptth/router/router";
 * import { serveReverse } from "jsr:@ptth/router";
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

export {
  type Backoff,
  type ByteIO,
  type LinkStatus,
  type LocalSettings,
  type LogFormat,
  type LogLevel,
  type ReverseHandler,
  type ReverseHandlerInfo,
  type ReverseServer,
  serveReverse,
  type ServeReverseInit,
  type ServeReverseOptions,
  StreamWebSocket,
  type StreamWebSocketOptions,
  TunnelRefusedError,
  TunnelTlsError,
  upgradeWebSocket,
  type UpgradeWebSocketOptions,
  type WebSocketEventHandler,
  type WebSocketTransport,
  type WebSocketUpgrade,
} from "./backend/serve_reverse.ts";
