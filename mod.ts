/**
 * ptth: ReverseHTTP for Deno. A backend that cannot accept inbound
 * connections dials OUT to a public router; on that connection the roles flip
 * and the router sends it requests as HTTP/2 streams.
 *
 * Run a router with `deno run -A jsr:@ptth/router`, then serve any
 * fetch-style handler behind it:
 *
 * ```ts ignore
 * import { serveReverse } from "jsr:@ptth/router";
 * serveReverse((request) => new Response("bar"));
 * ```
 *
 * @example Router and backend in one program
 * ```ts
 * import { createRouter, serveReverse } from "./mod.ts";
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
  type AdminOptions,
  createRouter,
  type LocalSettings,
  type LogFormat,
  type LogLevel,
  type ProxyApp,
  type ProxyEnv,
  type RequestRecord,
  type Router,
  type RouterEvent,
  type RouterEventListener,
  RouterEvents,
  type RouterOptions,
  type RouteSpec,
  type TunnelInfo,
} from "./router.ts";
export {
  type ByteIO,
  type ReverseHandler,
  type ReverseHandlerInfo,
  type ReverseServer,
  serveReverse,
  type ServeReverseInit,
  type ServeReverseOptions,
  StreamWebSocket,
  TunnelRefusedError,
  upgradeWebSocket,
  type UpgradeWebSocketOptions,
  type WebSocketUpgrade,
} from "./backend.ts";
export type { Tunnel, TunnelList } from "./pool.ts";
export { main, VERSION } from "./cli.ts";

import { main } from "./cli.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
