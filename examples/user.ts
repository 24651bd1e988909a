/**
 * Sends 10 simultaneous GETs through the router to show them multiplexed on
 * one tunnel. The URL comes from the first argument or PTTH_URL.
 *
 *     deno run -A examples/user.ts [http://localhost:8888/foo]
 *
 * @module
 */

const url = Deno.args[0] ?? Deno.env.get("PTTH_URL") ?? "http://localhost:8888/foo";
const results = await Promise.all(Array.from({ length: 10 }, async () => {
  console.log(`> GET ${url}`);
  const response = await fetch(url);
  const body = await response.text();
  console.log(`< ${response.status} ${response.statusText} ${JSON.stringify(body)}`);
  return response.ok;
}));
Deno.exit(results.every(Boolean) ? 0 : 1);
