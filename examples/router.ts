/**
 * Starts a router: tunnels on :8887, public HTTP on :8888 (the Go original's ports).
 *
 *     deno run -A examples/router.ts
 *
 * @module
 */
import { main } from "../cli.ts";

Deno.exit(await main(Deno.args));
