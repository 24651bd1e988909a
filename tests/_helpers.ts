/**
 * Shared pieces of the end-to-end tests: a router and backends on free
 * loopback ports, and a bounded wait.
 *
 * @module
 */

import { createRouter, type Router, type RouterOptions } from "../router/create_router.ts";
import { type ReverseHandler, type ReverseServer, serveReverse } from "../backend/serve_reverse.ts";
import type { ServeReverseOptions } from "../backend/serve_reverse.ts";

/** Starts a quiet router on 127.0.0.1 with free ports. */
export function startRouter(options: RouterOptions = {}): Router {
  return createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true, ...options });
}

/** Starts a quiet backend connected to `router` and waits for its tunnel. */
export async function startBackend(
  router: Router,
  handler: ReverseHandler,
  options: ServeReverseOptions = {},
): Promise<ReverseServer> {
  const backend = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    quiet: true,
    ...options,
  }, handler);
  await withTimeout(backend.connected, 5000, "backend tunnel");
  return backend;
}

/** The router's public base URL. */
export function baseUrl(router: Router): string {
  return `http://127.0.0.1:${router.addr.port}`;
}

/** Rejects when `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every 10 ms until it holds, for at most `ms`. */
export async function waitUntil(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Two ends of a real loopback TCP connection (for codec tests that want a socket, not a pipe). */
export async function tcpPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  return [client, server as Deno.TcpConn];
}
