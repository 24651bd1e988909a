/**
 * A hono app behind the router: `serveReverse(app.fetch)` is all it takes.
 *
 *     deno run -A examples/hono_backend.ts
 *     curl http://localhost:8888/hello/deno
 *
 * @module
 */
import { Hono } from "hono";
import { serveReverse } from "../mod.ts";

const app = new Hono();
app.get("/foo", (c) => c.text("bar"));
app.get("/hello/:name", (c) => c.json({ hello: c.req.param("name"), via: "ptth" }));
app.post("/echo", async (c) => c.body(await c.req.arrayBuffer()));

const server = serveReverse(app.fetch);
Deno.addSignalListener("SIGINT", () => server.shutdown());
await server.finished;
