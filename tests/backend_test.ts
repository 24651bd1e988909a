import { equal, ok, throws } from "node:assert/strict";
import { Hono } from "hono";
import { serveReverse } from "../backend/serve_reverse.ts";
import { baseUrl, startRouter, waitUntil, withTimeout } from "./_helpers.ts";

Deno.test("serveReverse(handler) dials PTTH_ROUTER when no address is given", async () => {
  await using router = startRouter();
  Deno.env.set("PTTH_ROUTER", `127.0.0.1:${router.tunnelAddr.port}`);
  try {
    const log: string[] = [];
    await using backend = serveReverse({
      log: (line) => log.push(line),
      handler: () => new Response("env"),
    });
    await withTimeout(backend.connected, 5000, "tunnel");
    equal(await (await fetch(`${baseUrl(router)}/`)).text(), "env");
    ok(log.some((line) => line.includes(`tcp://127.0.0.1:${router.tunnelAddr.port}`)));
  } finally {
    Deno.env.delete("PTTH_ROUTER");
  }
});

Deno.test("serveReverse() accepts the three call shapes of Deno.serve", async () => {
  await using router = startRouter();
  const options = { hostname: "127.0.0.1", port: router.tunnelAddr.port, quiet: true };
  // serveReverse(options, handler) and serveReverse({ ...options, handler })…
  await using a = serveReverse(options, () => new Response("a"));
  await using b = serveReverse({ ...options, handler: () => new Response("b") });
  // …and the bare serveReverse(handler), which finds its router in PTTH_ROUTER.
  Deno.env.set("PTTH_ROUTER", `127.0.0.1:${router.tunnelAddr.port}`);
  let c;
  try {
    c = serveReverse(() => new Response("c"));
  } finally {
    Deno.env.delete("PTTH_ROUTER");
  }
  await using _c = c;
  await withTimeout(Promise.all([a.connected, b.connected, c.connected]), 5000, "tunnels");
  await waitUntil(() => router.pool.size === 3, 5000, "three tunnels");
  const seen = new Set<string>();
  for (let i = 0; i < 90 && seen.size < 3; i++) {
    seen.add(await (await fetch(baseUrl(router))).text());
  }
  equal([...seen].sort().join(), "a,b,c");
  throws(() => serveReverse({} as never), TypeError);
});

Deno.test("serveReverse(app.fetch) serves a hono app behind the tunnel", async () => {
  await using router = startRouter();
  const app = new Hono();
  app.get(
    "/hello/:name",
    (c) => c.json({ hello: c.req.param("name"), host: c.req.header("host") }),
  );
  await using backend = serveReverse({ port: router.tunnelAddr.port, quiet: true }, app.fetch);
  await backend.connected;
  const response = await fetch(`${baseUrl(router)}/hello/deno`);
  const body = await response.json();
  equal(body.hello, "deno");
  equal(body.host, `127.0.0.1:${router.addr.port}`, "the original Host reaches the backend");
});

Deno.test("serveReverse({ connect }) runs over a connection the caller supplies", async () => {
  await using router = startRouter();
  let dials = 0;
  await using backend = serveReverse({
    quiet: true,
    connect: () => {
      dials++;
      return Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
    },
  }, () => new Response("custom"));
  await backend.connected;
  equal(await (await fetch(baseUrl(router))).text(), "custom");
  equal(dials, 1);
});

Deno.test("serveReverse() reconnects after the router restarts on the same port", async () => {
  const first = startRouter();
  const tunnelPort = first.tunnelAddr.port;
  await using backend = serveReverse({
    hostname: "127.0.0.1",
    port: tunnelPort,
    quiet: true,
    maxReconnectDelay: 200,
  }, () => new Response("back"));
  await backend.connected;
  await first.shutdown();
  await waitUntil(() => !backend.isConnected, 5000, "tunnel lost");
  const { createRouter } = await import("../router/create_router.ts");
  await using second = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort, quiet: true });
  await waitUntil(() => second.pool.size === 1, 5000, "tunnel back");
  equal(await (await fetch(baseUrl(second))).text(), "back");
  ok(backend.lastError !== null, "the loss is visible in lastError");
});

Deno.test("shutdown() lets an in-flight request finish before the tunnel closes", async () => {
  await using router = startRouter();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let started!: () => void;
  const inHandler = new Promise<void>((resolve) => started = resolve);
  const backend = serveReverse({ port: router.tunnelAddr.port, quiet: true }, async () => {
    started();
    await gate;
    return new Response("finished");
  });
  await backend.connected;
  const pending = fetch(baseUrl(router));
  await withTimeout(inHandler, 5000, "handler");
  const stopping = backend.shutdown();
  await waitUntil(() => router.pool.list()[0]?.available === false, 5000, "draining tunnel");
  release();
  equal(await (await pending).text(), "finished");
  await withTimeout(stopping, 5000, "shutdown");
  await withTimeout(backend.finished, 1000, "finished");
});

Deno.test("serveReverse({ routers }) keeps a tunnel to every router and survives losing one", async () => {
  const first = startRouter({ tunnelWait: 0 });
  await using second = startRouter({ tunnelWait: 0 });
  await using backend = serveReverse({
    routers: [`127.0.0.1:${first.tunnelAddr.port}`, `127.0.0.1:${second.tunnelAddr.port}`],
    quiet: true,
    reconnect: { initial: 50, max: 200 },
  }, (request) => new Response(new URL(request.url).port));
  await waitUntil(() => backend.tunnels === 2, 5000, "two tunnels");
  equal(backend.status, "connected");
  equal(await (await fetch(baseUrl(first))).text(), String(first.addr.port));
  equal(await (await fetch(baseUrl(second))).text(), String(second.addr.port));
  await first.shutdown();
  await waitUntil(() => backend.tunnels === 1, 5000, "one tunnel left");
  equal(backend.status, "connected");
  equal(await (await fetch(baseUrl(second))).text(), String(second.addr.port));
});

Deno.test("backend status goes connecting, connected, stopped", async () => {
  const port = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = l.addr.port;
    l.close();
    return p;
  })();
  const backend = serveReverse(
    { hostname: "127.0.0.1", port, quiet: true, reconnect: { initial: 20, max: 50 } },
    () => new Response("x"),
  );
  equal(backend.status, "connecting");
  await waitUntil(() => backend.lastError !== null, 2000, "a failed dial");
  const { createRouter } = await import("../router/create_router.ts");
  await using router = createRouter({
    hostname: "127.0.0.1",
    port: 0,
    tunnelPort: port,
    quiet: true,
  });
  await withTimeout(backend.connected, 5000, "connected once the router is up");
  equal(backend.status, "connected");
  await backend.shutdown();
  equal(backend.status, "stopped");
  await waitUntil(() => router.pool.size === 0, 2000, "the router sees the tunnel go");
});

Deno.test("serveReverse({ allAddresses }) shut down before its first lookup finishes lets the program exit", async () => {
  // A re-resolve timer armed after shutdown() would keep the process alive for good:
  // the child is killed after 10 s and then reports no success.
  const script = `
    import { serveReverse } from ${JSON.stringify(new URL("../backend.ts", import.meta.url).href)};
    const server = serveReverse(
      { hostname: "127.0.0.1", port: 1, allAddresses: true, resolveInterval: 100, quiet: true },
      () => new Response("never"),
    );
    await server.shutdown();
    console.log(server.status);
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", new URL("../deno.json", import.meta.url).pathname, "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(10_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const output = await child.output();
  equal(new TextDecoder().decode(output.stdout).trim(), "stopped");
  ok(output.success, `the program did not exit by itself (signal ${output.signal})`);
});

Deno.test("serveReverse() takes back the tcp://host:port its logs print, and refuses http:// at once", async () => {
  await using router = startRouter();
  const port = router.tunnelAddr.port;
  await using backend = serveReverse(
    { router: `tcp://127.0.0.1:${port}`, quiet: true },
    () => new Response("tcp"),
  );
  await withTimeout(backend.connected, 5000, "tunnel");
  equal(await (await fetch(baseUrl(router))).text(), "tcp");
  for (const router of [`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`, "ftp://x:1"]) {
    let error: unknown = null;
    try {
      serveReverse({ router, quiet: true }, () => new Response(""));
    } catch (thrown) {
      error = thrown;
    }
    ok(error instanceof TypeError, router);
    ok(error.message.includes("tcp://host:port"), error.message);
  }
  throws(
    () => serveReverse({ router: "tls://127.0.0.1:1", quiet: true }, () => new Response("")),
    /tls option/,
  );
  throws(
    () => serveReverse({ router: "127.0.0.1:abc", quiet: true }, () => new Response("")),
    /host:port/,
  );
});
