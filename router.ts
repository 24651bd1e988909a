/**
 * The ReverseHTTP router: backends dial its tunnel port and become HTTP/2
 * servers on the connections they opened; public HTTP requests arriving at
 * its hono app are proxied over those tunnels as HTTP/2 streams.
 *
 * @example Start a router on free ports and stop it
 * ```ts
 * import { createRouter } from "jsr:@ptth/router/router";
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

export {
  type AdminOptions,
  createRouter,
  ListenError,
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
  TlsConfigError,
  type Tunnel,
  type TunnelInfo,
  type TunnelList,
} from "./router/create_router.ts";
