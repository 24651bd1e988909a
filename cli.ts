/**
 * The router's command line: `main(args)` loads the configuration (flags,
 * `PTTH_…` environment, a JSON file) and runs a router until SIGINT or
 * SIGTERM; `printUsage()` prints the option table. Run as a program, it is
 * the router: `deno run -A jsr:@ptth/router/cli`.
 *
 * @example Print the version and exit
 * ```ts
 * import { VERSION } from "jsr:@ptth/router/cli";
 * import { match } from "node:assert/strict";
 * match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 *
 * @module
 */

export { main, printUsage, VERSION } from "./router/cli.ts";
import { main } from "./router/cli.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
