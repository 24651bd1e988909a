/**
 * A backend process for the benchmark: opens `--tunnels` tunnels (one
 * `serveReverse` call each, raw HTTP/2) to the router at `--router
 * host:port`, all serving the benchmark handler of bench/handlers.ts.
 *
 *     deno run -A bench/backend.ts --router 127.0.0.1:8887 [--tunnels 1] [--hold N]
 *
 * Prints JSON lines on stdout: `{"event":"ready","tunnels":N,"ms":T}` once
 * every tunnel is up, and `{"event":"released",…}` each time a batch of
 * `/hold` requests is answered. SIGTERM shuts every tunnel down and exits.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type ReverseServer, serveReverse } from "../backend/serve_reverse.ts";
import { createBenchHandler } from "./handlers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    router: { type: "string", default: "127.0.0.1:8887" },
    tunnels: { type: "string", default: "1" },
    hold: { type: "string", default: "Infinity" },
    "hold-timeout": { type: "string", default: "20000" },
    batch: { type: "string", default: "50" },
  },
});

function emit(event: Record<string, unknown>): void {
  console.log(JSON.stringify(event));
}

const tunnels = Number(values.tunnels);
const batch = Number(values.batch);
const handler = createBenchHandler({
  hold: Number(values.hold),
  holdTimeout: Number(values["hold-timeout"]),
  onHoldRelease: (info) => emit({ event: "released", ...info }),
});

const servers: ReverseServer[] = [];
const start = performance.now();
// Dial in batches: a burst of thousands of SYNs would overflow the listen backlog.
for (let n = 0; n < tunnels; n += batch) {
  const group: ReverseServer[] = [];
  for (let k = n; k < Math.min(tunnels, n + batch); k++) {
    group.push(serveReverse({ router: values.router, quiet: true, legacy: true }, handler));
  }
  servers.push(...group);
  await Promise.all(group.map((server) => server.connected));
}
emit({ event: "ready", tunnels: servers.length, ms: performance.now() - start });

const stop = async () => {
  await Promise.all(servers.map((server) => server.shutdown()));
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
