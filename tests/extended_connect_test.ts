/**
 * RFC 8441 in the server role, over a loopback TCP connection: an extended CONNECT
 * reaches the handler as an upgrade GET, `upgradeWebSocket()` takes the
 * stream over, and the answer on the wire is `:status 200` without
 * END_STREAM; refusals and failures stay ordinary responses.
 */
import { deepEqual, equal } from "node:assert/strict";
import { ClientSession } from "../h2/client.ts";
import { type Http2Handler, serveConnection } from "../h2/server.ts";
import { StreamWebSocket } from "../ws/socket.ts";
import { upgradeWebSocket } from "../backend/upgrade_websocket.ts";
import { tcpPair, withTimeout } from "./_helpers.ts";

async function connect(handler: Http2Handler) {
  const [a, b] = await tcpPair();
  const server = serveConnection(b, handler, { settings: { enableConnectProtocol: true } });
  const client = new ClientSession(a);
  return { client, server };
}

async function openWebSocket(client: ClientSession, path: string, headers: string[] = []) {
  await client.connection.ready;
  equal(client.connection.peerEnablesConnectProtocol, true);
  const up = new TransformStream<Uint8Array, Uint8Array>();
  const response = await client.request({
    method: "CONNECT",
    protocol: "websocket",
    scheme: "https",
    authority: "example.com",
    path,
    headers: ["sec-websocket-version", "13", ...headers],
    body: up.readable,
  });
  return { response, up };
}

Deno.test("an extended CONNECT becomes an upgrade GET and a WebSocket over the stream", async () => {
  let seen: Request | undefined;
  const { client, server } = await connect((request) => {
    seen = request;
    const { socket, response } = upgradeWebSocket(request, { protocol: "chat" });
    socket.onmessage = (event) => socket.send(`echo ${event.data}`);
    return response;
  });
  const { response, up } = await openWebSocket(client, "/chat?x=1", [
    "sec-websocket-protocol",
    "chat, other",
  ]);
  equal(response.status, 200, "RFC 8441 §5: 200, not 101");
  equal(response.headers.get("sec-websocket-protocol"), "chat");
  equal(seen!.method, "GET");
  equal(seen!.url, "https://example.com/chat?x=1");
  equal(seen!.headers.get("upgrade"), "websocket");
  equal(seen!.headers.get("connection"), "Upgrade");
  equal(seen!.headers.get("sec-websocket-key")?.length, 24);
  const socket = new StreamWebSocket({ readable: response.body!, writable: up.writable }, {
    role: "client",
  });
  socket.onopen = () => socket.send("one");
  const reply = await withTimeout(
    new Promise<MessageEvent>((resolve) => socket.onmessage = resolve),
    5000,
    "reply",
  );
  equal(reply.data, "echo one");
  const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  socket.close(1000, "bye");
  const event = await withTimeout(closed, 5000, "close");
  deepEqual([event.code, event.reason, event.wasClean], [1000, "", true]);
  client.close();
  await server.closed;
});

Deno.test("a handler that answers otherwise refuses the extended CONNECT with its response", async () => {
  let socketClosed: Promise<CloseEvent> | undefined;
  const { client, server } = await connect((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/nope") return new Response("no such socket", { status: 404 });
    const { socket } = upgradeWebSocket(request);
    socketClosed = new Promise((resolve) => socket.onclose = resolve);
    return new Response("changed my mind", { status: 403 }); // Took the stream, refused anyway.
  });
  const refused = await openWebSocket(client, "/nope");
  equal(refused.response.status, 404);
  equal(await refused.response.text(), "no such socket");
  const changed = await openWebSocket(client, "/mind");
  equal(changed.response.status, 403);
  await changed.response.body?.cancel();
  equal((await withTimeout(socketClosed!, 5000, "socket closed")).code, 1006);
  client.close();
  await server.closed;
});

Deno.test("upgradeWebSocket() refuses a request that did not ask for a WebSocket", async () => {
  const { client, server } = await connect((request) => {
    try {
      upgradeWebSocket(request);
      return new Response("upgraded?");
    } catch (error) {
      return new Response((error as Error).name, { status: 400 });
    }
  });
  await client.connection.ready;
  const response = await client.request({
    method: "GET",
    scheme: "http",
    authority: "example.com",
    path: "/",
  });
  equal(response.status, 400);
  equal(await response.text(), "TypeError");
  client.close();
  await server.closed;
});

Deno.test("upgradeWebSocket() takes a protocol the client offered, and throws for one it did not", async () => {
  const { client, server } = await connect((request) => {
    try {
      return upgradeWebSocket(request, { protocol: "chat" }).response;
    } catch (error) {
      return new Response((error as Error).message, { status: 400 });
    }
  });
  const offered = await openWebSocket(client, "/a", ["sec-websocket-protocol", "superchat, chat"]);
  equal(offered.response.status, 200);
  equal(offered.response.headers.get("sec-websocket-protocol"), "chat");
  await offered.up.writable.close();
  await offered.response.body?.cancel();
  const other = await openWebSocket(client, "/b", ["sec-websocket-protocol", "superchat"]);
  equal(other.response.status, 400);
  equal(
    await other.response.text(),
    "Cannot upgrade to WebSocket: the client did not offer protocol chat",
  );
  client.close();
  await server.closed;
});
