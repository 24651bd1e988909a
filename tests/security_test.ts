/**
 * Authentication, routing and limits, end to end over loopback: a router
 * with tokens and routes, backends of several services, real requests.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { createRouter, type RouterOptions } from "../router/create_router.ts";
import {
  type ReverseServer,
  serveReverse,
  type ServeReverseOptions,
  TunnelRefusedError,
} from "../backend/serve_reverse.ts";
import { waitUntil, withTimeout } from "./_helpers.ts";

const TOKENS = { a: "token-for-service-a-0001", b: "token-for-service-b-0002" };

function router(options: RouterOptions = {}) {
  return createRouter({
    hostname: "127.0.0.1",
    port: 0,
    tunnelPort: 0,
    quiet: true,
    tunnelWait: 0,
    ...options,
  });
}

async function backend(
  r: ReturnType<typeof router>,
  options: ServeReverseOptions,
  handler: (request: Request) => Response | Promise<Response>,
): Promise<ReverseServer> {
  const server = serveReverse({
    hostname: "127.0.0.1",
    port: r.tunnelAddr.port,
    quiet: true,
    ...options,
  }, handler);
  await withTimeout(server.connected, 5000, "tunnel");
  return server;
}

/**
 * Sends a request with a given Host header through curl (fetch cannot set
 * Host), or through fetch when the body is a stream.
 */
async function get(
  r: ReturnType<typeof router>,
  host: string,
  path = "/",
  init: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | ReadableStream<Uint8Array>;
  } = {},
): Promise<{ status: number; text: string; headers: Headers }> {
  const url = `http://127.0.0.1:${r.addr.port}${path}`;
  if (init.body instanceof ReadableStream) {
    const response = await fetch(url, {
      method: init.method ?? "POST",
      body: init.body,
      headers: init.headers,
    });
    return { status: response.status, text: await response.text(), headers: response.headers };
  }
  const args = [
    "-sS",
    "-i",
    "--http1.1",
    "--max-time",
    "10",
    "-H",
    `Host: ${host}`,
    "-X",
    init.method ?? "GET",
  ];
  for (const [name, value] of Object.entries(init.headers ?? {})) {
    args.push("-H", `${name}: ${value}`);
  }
  if (init.body !== undefined) args.push("--data-binary", "@-");
  const child = new Deno.Command("curl", { args: [...args, url], stdin: "piped", stdout: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  if (init.body !== undefined) await writer.write(new TextEncoder().encode(init.body));
  await writer.close();
  const output = new TextDecoder().decode((await child.output()).stdout);
  const split = output.indexOf("\r\n\r\n");
  const lines = output.slice(0, split).split("\r\n");
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(lines[0]!.split(" ")[1]), text: output.slice(split + 4), headers };
}

Deno.test("a backend with a wrong token is refused, stops retrying, and never receives traffic", async () => {
  await using r = router({ tokens: TOKENS });
  let served = 0;
  const errors: unknown[] = [];
  const server = serveReverse({
    hostname: "127.0.0.1",
    port: r.tunnelAddr.port,
    quiet: true,
    service: "a",
    token: "definitely-not-the-right-token",
    onError: (error) => {
      errors.push(error);
      return new Response(null, { status: 500 });
    },
  }, () => {
    served++;
    return new Response("leak");
  });
  const refusal = await withTimeout(server.finished.then(() => null, (e) => e), 5000, "refusal");
  ok(refusal instanceof TunnelRefusedError);
  equal(refusal.status, 403);
  ok(errors[0] instanceof TunnelRefusedError, "onError hears of the refusal");
  await rejects(server.connected, TunnelRefusedError);
  equal(r.pool.size, 0);
  const response = await get(r, "example.com");
  equal(response.status, 503);
  equal(served, 0);
  await server.shutdown();
});

Deno.test("a backend without a token is refused with 401 where tokens are configured", async () => {
  await using r = router({ tokens: TOKENS });
  const server = serveReverse(
    { port: r.tunnelAddr.port, quiet: true, service: "a" },
    () => new Response("x"),
  );
  const refusal = await withTimeout(server.finished.then(() => null, (e) => e), 5000, "refusal");
  equal(refusal?.status, 401);
});

Deno.test("a token for service A cannot register as service B", async () => {
  await using r = router({ tokens: TOKENS });
  const server = serveReverse(
    { port: r.tunnelAddr.port, quiet: true, service: "b", token: TOKENS.a },
    () => new Response("x"),
  );
  const refusal = await withTimeout(server.finished.then(() => null, (e) => e), 5000, "refusal");
  equal(refusal?.status, 403);
  equal(r.pool.size, 0);
});

Deno.test("a raw HTTP/2 backend (Go original style) works where anonymous tunnels are allowed", async () => {
  await using r = router();
  await using _ = await backend(r, { legacy: true }, () => new Response("raw"));
  equal((await get(r, "anything.example")).text, "raw");
  equal(r.pool.list()[0]!.service, "default");
});

Deno.test("a raw HTTP/2 backend is refused where tokens are required", async () => {
  await using r = router({ tokens: TOKENS });
  let served = 0;
  const server = serveReverse({
    port: r.tunnelAddr.port,
    quiet: true,
    legacy: true,
    maxReconnectDelay: 100,
  }, () => {
    served++;
    return new Response("raw");
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  equal(r.pool.size, 0);
  equal((await get(r, "x.example")).status, 503);
  equal(served, 0);
  await server.shutdown();
});

Deno.test("routing by host and path sends each service only its own requests", async () => {
  await using r = router({
    tokens: TOKENS,
    routes: [
      { host: "a.example.com", service: "a" },
      { host: "example.com", path: "/b", service: "b" },
      { host: "example.com", service: "a" },
    ],
  });
  const seen: Record<string, string[]> = { a: [], b: [] };
  await using _a = await backend(r, { service: "a", token: TOKENS.a }, (request) => {
    const url = new URL(request.url);
    seen.a!.push(url.host + url.pathname);
    return new Response("a");
  });
  await using _b = await backend(r, { service: "b", token: TOKENS.b }, (request) => {
    const url = new URL(request.url);
    seen.b!.push(url.host + url.pathname);
    return new Response("b");
  });
  equal((await get(r, "a.example.com", "/b")).text, "a", "exact host beats the path route");
  equal((await get(r, "example.com", "/b/x")).text, "b", "longest path prefix");
  equal((await get(r, "example.com", "/bee")).text, "a", "prefixes match whole segments");
  equal((await get(r, "example.com", "/")).text, "a");
  const unknown = await get(r, "other.example.org");
  equal(unknown.status, 404);
  equal(unknown.text, "Not Found: no route for other.example.org/\n");
  for (const entry of seen.a!) ok(!entry.startsWith("example.com/b/"), `A saw ${entry}`);
  deepEqual(seen.b, ["example.com/b/x"]);
});

Deno.test("wildcard hosts take the service from the first label, and a service without tunnels is 503 with Retry-After", async () => {
  await using r = router({
    tokens: TOKENS,
    routes: [{ host: "*.apps.example.com", service: "*" }],
  });
  await using _a = await backend(r, { service: "a", token: TOKENS.a }, () => new Response("a"));
  equal((await get(r, "a.apps.example.com")).text, "a");
  const missing = await get(r, "b.apps.example.com");
  equal(missing.status, 503);
  equal(missing.headers.get("retry-after"), "1");
  ok(missing.text.includes("service b"));
  equal((await get(r, "apps.example.com")).status, 404, "the bare suffix is not a subdomain");
});

Deno.test("hosts a backend announces route to its service when no route says otherwise", async () => {
  await using r = router({
    tokens: TOKENS,
    allowAnonymous: true,
    serviceHosts: { a: ["a.example.net"] },
  });
  await using _a = await backend(
    r,
    { service: "a", token: TOKENS.a, hosts: ["a.example.net"] },
    () => new Response("a"),
  );
  await using _d = await backend(r, { legacy: true }, () => new Response("default"));
  for (let i = 0; i < 10; i++) equal((await get(r, "a.example.net")).text, "a");
});

Deno.test("weights from the handshake share a service's load in proportion", async () => {
  await using r = router();
  const counts = { heavy: 0, light: 0 };
  const slow = async (which: "heavy" | "light") => {
    counts[which]++;
    await new Promise((resolve) => setTimeout(resolve, 20));
    return new Response(which);
  };
  await using _h = await backend(r, { weight: 3 }, () => slow("heavy"));
  await using _l = await backend(r, { weight: 1 }, () => slow("light"));
  await Promise.all(Array.from({ length: 200 }, () => get(r, "x.example")));
  const ratio = counts.heavy / counts.light;
  ok(ratio > 1.8 && ratio < 5, `heavy/light = ${counts.heavy}/${counts.light}`);
});

Deno.test("too many tunnels for a service are refused with 429", async () => {
  await using r = router({ maxTunnelsPerService: 2 });
  await using _1 = await backend(r, { service: "default" }, () => new Response("1"));
  await using _2 = await backend(r, { service: "default" }, () => new Response("2"));
  const third = serveReverse({
    port: r.tunnelAddr.port,
    quiet: true,
    service: "default",
    maxReconnectDelay: 50,
  }, () => new Response("3"));
  await waitUntil(() => third.lastError instanceof TunnelRefusedError, 5000, "429");
  equal((third.lastError as TunnelRefusedError).status, 429);
  equal(r.pool.size, 2);
  await third.shutdown();
});

Deno.test("request header and body limits answer 431 and 413", async () => {
  await using r = router({ maxHeaderBytes: 4096, maxBodyBytes: 1000 });
  let bodies = 0;
  await using _ = await backend(r, {}, async (request) => {
    bodies += (await request.arrayBuffer()).byteLength;
    return new Response("ok");
  });
  equal((await get(r, "x", "/", { headers: { "x-big": "y".repeat(5000) } })).status, 431);
  equal((await get(r, "x", "/", { method: "POST", body: "z".repeat(1001) })).status, 413);
  const chunked = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < 4; i++) controller.enqueue(new Uint8Array(400));
      controller.close();
    },
  });
  const streamed = await get(r, "x", "/", { method: "POST", body: chunked });
  equal(streamed.status, 413, "a body without content-length is counted as it streams");
  equal((await get(r, "x", "/", { method: "POST", body: "z".repeat(1000) })).status, 200);
  ok(bodies <= 1000 + 1000, "the backend never got more than the limit per request");
});

Deno.test("a backend that sends no response headers in time gives 504", async () => {
  await using r = router({ responseHeaderTimeout: 200 });
  let aborted = false;
  await using _ = await backend(r, {}, (request) =>
    new Promise<Response>((resolve) => {
      request.signal.addEventListener("abort", () => {
        aborted = true;
        resolve(new Response("late"));
      });
    }));
  const started = Date.now();
  const response = await get(r, "x");
  equal(response.status, 504);
  ok(Date.now() - started < 2000);
  await waitUntil(() => aborted, 2000, "the backend's request is cancelled");
});

Deno.test("a stream whose body stops moving is reset after the idle timeout", async () => {
  await using r = router({ idleTimeout: 200 });
  await using _ = await backend(r, {}, () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("first"));
          // ...and then nothing, forever.
        },
      }),
    ));
  const response = await fetch(`http://127.0.0.1:${r.addr.port}/`);
  equal(response.status, 200);
  // The body must fail because the router reset the stream, well before this test's own bound.
  const outcome = await withTimeout(
    response.text().then(() => "complete", (error: Error) => error),
    3000,
    "idle reset",
  );
  ok(outcome instanceof Error, "the body fails instead of completing");
});

Deno.test("maxStreamsPerTunnel caps streams below the backend's own limit", async () => {
  await using r = router({ maxStreamsPerTunnel: 3 });
  let active = 0;
  let peak = 0;
  await using _ = await backend(r, {}, async () => {
    peak = Math.max(peak, ++active);
    await new Promise((resolve) => setTimeout(resolve, 10));
    active--;
    return new Response("ok");
  });
  await Promise.all(Array.from({ length: 30 }, () => get(r, "x")));
  equal(peak, 3);
});

Deno.test("X-Forwarded-* come from the router unless the client is a trusted proxy; Via is added", async () => {
  const echo = (request: Request) =>
    Response.json({
      xff: request.headers.get("x-forwarded-for"),
      proto: request.headers.get("x-forwarded-proto"),
      host: request.headers.get("x-forwarded-host"),
      via: request.headers.get("via"),
    });
  const spoof = {
    "x-forwarded-for": "6.6.6.6",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "evil.example",
    via: "1.1 edge",
  };
  {
    await using r = router();
    await using _ = await backend(r, {}, echo);
    const response = await get(r, "site.example", "/", { headers: spoof });
    const seen = JSON.parse(response.text);
    deepEqual(seen, {
      xff: "127.0.0.1",
      proto: "http",
      host: "site.example",
      via: "1.1 edge, 1.1 ptth",
    });
    equal(response.headers.get("via"), "2 ptth");
  }
  {
    await using r = router({ trustedProxies: ["127.0.0.0/8"] });
    await using _ = await backend(r, {}, echo);
    const seen = JSON.parse((await get(r, "site.example", "/", { headers: spoof })).text);
    deepEqual(seen, {
      xff: "6.6.6.6, 127.0.0.1",
      proto: "https",
      host: "evil.example",
      via: "1.1 edge, 1.1 ptth",
    });
  }
});

Deno.test("with path routes only, a request no route matches gets a 404 naming its host and path", async () => {
  await using r = router({ routes: [{ path: "/api", service: "api" }] });
  const response = await get(r, "127.0.0.1", "/other");
  equal(response.status, 404);
  equal(response.text, "Not Found: no route for 127.0.0.1/other\n");
});
