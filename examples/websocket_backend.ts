/**
 * A WebSocket chat room behind the router, with hono's helper pattern: every
 * message is sent to everyone in the room, and server-sent events announce
 * who joins.
 *
 *     deno run -A examples/router.ts
 *     deno run -A examples/websocket_backend.ts
 *     # in a browser console on http://localhost:8888/:
 *     #   const ws = new WebSocket("ws://localhost:8888/chat/ada");
 *     #   ws.onmessage = (e) => console.log(e.data); ws.onopen = () => ws.send("hello");
 *
 * Add `router: "wss://router.example/.well-known/ptth/tunnel"` to reach a
 * router through its HTTPS port only.
 *
 * @module
 */
import { Hono } from "hono";
import { serveReverse } from "../mod.ts";
import { upgradeWebSocket, type WebSocketRouteContext } from "../backend/hono.ts";

const room = new Set<WebSocketRouteContext>();
const joined = new Set<(name: string) => void>();

const app = new Hono();
app.get("/", (c) => c.text("WebSocket: /chat/:name, server-sent events: /joins"));
app.get(
  "/chat/:name",
  upgradeWebSocket((c) => {
    const name = c.req.param("name") ?? "someone";
    return {
      onOpen: (_event, ws) => {
        room.add(ws);
        for (const tell of joined) tell(name);
      },
      onMessage: (event, _ws) => {
        for (const peer of room) peer.send(`${name}: ${event.data}`);
      },
      onClose: (_event, ws) => {
        room.delete(ws);
      },
    };
  }),
);
app.get("/joins", (c) => {
  let tell: (name: string) => void = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      tell = (name) => controller.enqueue(new TextEncoder().encode(`data: ${name} joined\n\n`));
      joined.add(tell);
    },
    cancel: () => {
      joined.delete(tell);
    },
  });
  return c.body(body, 200, { "content-type": "text/event-stream" });
});

const server = serveReverse(app.fetch);
Deno.addSignalListener("SIGINT", () => server.shutdown());
await server.finished;
