/**
 * The baseline: the benchmark handler served directly by `Deno.serve` on
 * 127.0.0.1 and a free port. Prints `{"event":"listening","port":N}` on
 * stdout once it listens.
 *
 *     deno run -A bench/direct.ts
 *
 * @module
 */

import { createBenchHandler } from "./handlers.ts";

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(JSON.stringify({ event: "listening", port })),
}, createBenchHandler());

Deno.addSignalListener("SIGTERM", () => server.shutdown());
await server.finished;
