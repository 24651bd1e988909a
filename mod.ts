/**
 * ptth: ReverseHTTP for Deno. A backend that cannot accept inbound
 * connections dials OUT to a public router; on that connection the roles flip
 * and the router sends it requests as HTTP/2 streams.
 *
 * This module is what a backend imports: `serveReverse`, `upgradeWebSocket`
 * and their types, and nothing of the router (no hono, no admin, no CLI).
 * Run as a program it starts a router: `deno run -A jsr:@ptth/router`.
 * Embed a router with `jsr:@ptth/router/router`.
 *
 * Run a router, then serve any fetch-style handler behind it:
 *
 * ```ts ignore
 * import { serveReverse } from "jsr:@ptth/router";
 * serveReverse((request) => new Response("bar"));
 * ```
 *
 * @example Router and backend in one program
 * ```ts
 * import { serveReverse } from "jsr:@ptth/router";
 * import { createRouter } from "jsr:@ptth/router/router";
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

export * from "./backend.ts";

// Run as a program, this is the router's CLI. It is loaded only then, so that
// a backend importing this module loads none of the router.
if (import.meta.main) {
  const cli = "./cli.ts";
  const { main } = await import(cli);
  Deno.exit(await main(Deno.args));
}
