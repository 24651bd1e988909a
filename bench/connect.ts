/**
 * Time to establish a tunnel: `runs` times, calls `serveReverse` against a
 * router that has no other tunnel, fires a request at the router's public
 * port at the same moment (the router holds it until a tunnel is up), and
 * records the time to `connected` and to that first response; then shuts the
 * backend down. For comparison, the time for a new connection's first
 * response from the direct `Deno.serve`. Prints one JSON line (ms lists).
 *
 *     deno run -A bench/connect.ts <router tunnel port> <router port> <direct port> [runs]
 *
 * @module
 */

import { serveReverse } from "../backend/serve_reverse.ts";
import { createBenchHandler } from "./handlers.ts";

const [tunnelPort, publicPort, directPort, runs] = [...Deno.args, "20"].slice(0, 4).map(Number) as [
  number,
  number,
  number,
  number,
];
const handler = createBenchHandler();
const connected: number[] = [];
const firstResponse: number[] = [];
const direct: number[] = [];

// Run 0 warms up (and opens the keep-alive connection to the router); it is not counted.
for (let run = 0; run <= runs; run++) {
  const start = performance.now();
  const answered = fetch(`http://127.0.0.1:${publicPort}/tiny`).then(async (response) => {
    const text = await response.text();
    if (text !== "bar") throw new Error(`Unexpected answer ${response.status}: ${text}`);
    return performance.now() - start;
  });
  const backend = serveReverse(
    { hostname: "127.0.0.1", port: tunnelPort, quiet: true, legacy: true },
    handler,
  );
  await backend.connected;
  const up = performance.now() - start;
  const first = await answered;
  await backend.shutdown();
  if (run > 0) {
    connected.push(up);
    firstResponse.push(first);
  }
  // Let the router see the tunnel go before the next one comes.
  await new Promise((resolve) => setTimeout(resolve, 30));
}

for (let run = 0; run <= runs; run++) {
  const client = Deno.createHttpClient({});
  const start = performance.now();
  const response = await fetch(`http://127.0.0.1:${directPort}/tiny`, { client });
  await response.text();
  if (run > 0) direct.push(performance.now() - start);
  client.close();
}

console.log(JSON.stringify({ connected, firstResponse, direct }));
