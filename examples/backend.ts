/**
 * A backend behind the router: dials tcp://localhost:8887 (or PTTH_ROUTER)
 * and answers GET /foo with "bar" after 1 ms.
 *
 *     deno run -A examples/backend.ts
 *
 * @module
 */
import { serveReverse } from "../mod.ts";

const server = serveReverse(async (request) => {
  const url = new URL(request.url);
  if (request.method === "GET" && url.pathname === "/foo") {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return new Response("bar");
  }
  return new Response("Not Found\n", { status: 404 });
});

const stop = () => server.shutdown();
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
await server.finished;
