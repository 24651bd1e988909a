/**
 * Interop with the Go original's HTTP/2 stack (golang.org/x/net/http2, from
 * Debian's golang-golang-x-net-dev): a Go backend using Server.ServeConn on a
 * dialed connection behind our router, and our backend behind a Go router
 * using Transport.NewClientConn on the accepted connection.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { serveReverse } from "../backend/serve_reverse.ts";
import { baseUrl, startRouter, waitUntil, withTimeout } from "./_helpers.ts";
import { buildGo } from "./_go.ts";

Deno.test("a Go backend (x/net/http2 Server.ServeConn on a dialed conn) works behind our router", async () => {
  const binary = await buildGo("go_backend");
  await using router = startRouter({ tunnelWait: 0 });
  const child = new Deno.Command(binary, {
    args: [`127.0.0.1:${router.tunnelAddr.port}`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitUntil(() => router.pool.size === 1, 10_000, "Go tunnel");
    const base = baseUrl(router);
    const foo = await fetch(`${base}/foo`);
    equal(foo.status, 200);
    equal(await foo.text(), "bar");

    const request = await (await fetch(`${base}/request?q=1`, { headers: { "x-a": "b" } })).json();
    equal(request.host, `127.0.0.1:${router.addr.port}`);
    equal(request.uri, "/request?q=1");
    equal(request.proto, "HTTP/2.0");
    deepEqual(request.headers["X-A"], ["b"]);
    deepEqual(request.headers["X-Forwarded-For"], ["127.0.0.1"]);

    const body = "0123456789abcdef".repeat(64 * 1024); // 1 MiB
    const echo = await fetch(`${base}/echo`, { method: "POST", body });
    equal(echo.headers.get("x-method"), "POST");
    equal(await echo.text(), body);

    const texts = await Promise.all(
      Array.from({ length: 50 }, () => fetch(`${base}/foo`).then((r) => r.text())),
    );
    deepEqual(new Set(texts), new Set(["bar"]));

    const big = new Uint8Array(await (await fetch(`${base}/big`)).arrayBuffer());
    equal(big.length, 8 * 1024 * 1024);
    ok(big.every((b, i) => b === (i % 65536) % 256));
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  await waitUntil(() => router.pool.size === 0, 5000, "dead Go tunnel leaves the pool");
  const after = await fetch(`${baseUrl(router)}/foo`);
  equal(after.status, 503);
  await after.body?.cancel();
});

Deno.test("our backend works behind a Go router (x/net/http2 Transport on the accepted conn)", async () => {
  const binary = await buildGo("go_router");
  const child = new Deno.Command(binary, { stdout: "piped", stderr: "piped" }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const backendSaw: string[] = [];
  let backend;
  try {
    while (!/listening (\d+)\n/.test(text)) {
      const { value, done } = await withTimeout(lines.read(), 10_000, "Go router port");
      if (done) throw new Error("Go router exited early");
      text += value;
    }
    const port = Number(text.match(/listening (\d+)/)![1]);
    backend = serveReverse({ hostname: "127.0.0.1", port, quiet: true }, (request) => {
      const url = new URL(request.url);
      backendSaw.push(`${request.method} ${url.host}${url.pathname}${url.search}`);
      if (url.pathname === "/foo") return new Response("bar", { headers: { "x-from": "deno" } });
      if (url.pathname === "/echo") {
        return new Response(request.body, {
          headers: { "x-test": request.headers.get("x-test")! },
        });
      }
      if (url.pathname === "/big") return new Response(new Uint8Array(8 * 1024 * 1024).fill(7));
      return new Response(url.pathname);
    });
    for (;;) {
      const { value, done } = await withTimeout(lines.read(), 20_000, "Go router results");
      if (done) break;
      text += value;
    }
    const status = await withTimeout(child.status, 10_000, "Go router exit");
    equal(status.code, 0);
    const results = new Map<
      string,
      {
        status: number;
        body?: string;
        length: number;
        headers?: Record<string, string>;
        error?: string;
      }
    >();
    for (const line of text.split("\n").slice(1)) {
      if (line.trim() === "") continue;
      const result = JSON.parse(line);
      results.set(result.name, result);
    }
    const get = results.get("get")!;
    equal(get.error, undefined);
    equal(get.status, 200);
    equal(get.body, "bar");
    equal(get.headers!["x-from"], "deno");
    const post = results.get("post")!;
    equal(post.status, 200);
    equal(post.length, 1024 * 1024);
    equal(post.headers!["x-test"], "yes");
    for (let i = 0; i < 20; i++) {
      const result = results.get(`concurrent-${i}`)!;
      equal(result.status, 200);
      equal(result.body, `/n/${i}`);
    }
    equal(results.get("big")!.length, 8 * 1024 * 1024);
    ok(backendSaw.includes("GET tunnel.example/foo?x=1"), "full URL with the original host");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await child.stderr.cancel();
    await backend?.shutdown();
  }
});
