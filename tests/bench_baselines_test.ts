/**
 * The benchmark's baselines run as the benchmark starts them, over real
 * loopback sockets: the nginx hop (bench/lib/nginx.ts: Debian's nginx, one
 * worker, keepalive upstream) in front of a `Deno.serve` of the benchmark
 * handler, and the Go original (bench/go_original/, built like the Go
 * interop fixtures) answering the benchmark's routes as bench/handlers.ts
 * does. A baseline that answers differently would make every ratio wrong.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { createBenchHandler } from "../bench/handlers.ts";
import { benchConfig } from "../bench/lib/config.ts";
import { createContext, type RunContext } from "../bench/lib/context.ts";
import { buildGoOriginal, startGoOriginal } from "../bench/lib/go_original.ts";
import { nginxConfig, startNginx } from "../bench/lib/nginx.ts";
import type { Target } from "../bench/lib/targets.ts";

const root = new URL("..", import.meta.url).pathname;

async function withContext(fn: (ctx: RunContext) => Promise<void>): Promise<void> {
  const tmpDir = await Deno.makeTempDir({ prefix: "ptth-bench-test-" });
  const ctx = createContext({
    suite: "bench",
    quick: true,
    config: benchConfig(true),
    root,
    benchDir: `${root}bench/`,
    tmpDir,
    sink: () => {},
  });
  try {
    await fn(ctx);
  } finally {
    await ctx.procs.stopAll(1000);
    await Deno.remove(tmpDir, { recursive: true });
  }
}

/** A request with a bound: every wait in these tests ends. */
function get(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
}

async function curlH2c(url: string): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command("curl", {
    args: ["-sS", "--max-time", "10", "--http2-prior-knowledge", "-w", " %{http_version}", url],
  }).output();
  return { code: out.code, out: new TextDecoder().decode(out.stdout) };
}

Deno.test("nginx accepts the hop's configuration (nginx -t)", async () => {
  const prefix = await Deno.makeTempDir({ prefix: "ptth-nginx-test-" });
  try {
    const conf = `${prefix}/nginx.conf`;
    await Deno.writeTextFile(
      conf,
      nginxConfig({
        prefix,
        port: 1,
        h2cPort: 2,
        upstreamPort: 3,
        user: Deno.uid() === 0 ? "root" : undefined,
      }),
    );
    const out = await new Deno.Command("/usr/sbin/nginx", {
      args: ["-t", "-p", prefix, "-c", conf, "-e", `${prefix}/error.log`],
    }).output();
    equal(out.code, 0, new TextDecoder().decode(out.stderr));
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});

Deno.test("the nginx hop proxies HTTP/1.1 and h2c to its upstream over one kept-alive connection", async () => {
  const upstreamPorts: number[] = [];
  const handler = createBenchHandler();
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request, info) => {
      upstreamPorts.push(info.remoteAddr.port);
      return handler(request);
    },
  );
  await withContext(async (ctx) => {
    const upstream: Target = {
      key: "direct",
      port: server.addr.port,
      h2cPort: server.addr.port,
      router: null,
      routerPids: [],
      backendPids: [Deno.pid],
      procs: [],
    };
    const nginx = await startNginx(ctx, upstream);
    equal(nginx.routerPids.length, 1, "one worker, measured as the router");
    ok(nginx.routerPids[0] !== nginx.router!.pid, "the worker, not the master");
    deepEqual(nginx.backendPids, [Deno.pid]);
    for (let i = 0; i < 3; i++) {
      const response = await get(`http://127.0.0.1:${nginx.port}/tiny`);
      equal(response.status, 200);
      equal(await response.text(), "bar");
    }
    const h2 = await curlH2c(`http://127.0.0.1:${nginx.h2cPort}/tiny`);
    equal(h2.code, 0);
    equal(h2.out, "bar 2");
    equal(upstreamPorts.length, 4);
    equal(new Set(upstreamPorts).size, 1, "the upstream keepalive pool reused one connection");
    // A body larger than nginx's default client_max_body_size (1 MiB), streamed through.
    const body = new Uint8Array(3 * 1024 * 1024).fill(7);
    const upload = await get(`http://127.0.0.1:${nginx.port}/upload`, { method: "POST", body });
    deepEqual(await upload.json(), { bytes: body.length });
  });
});

Deno.test("the Go original serves the benchmark's routes as bench/handlers.ts does", async () => {
  const handler = createBenchHandler();
  await using direct = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  await withContext(async (ctx) => {
    const go = await startGoOriginal(ctx, await buildGoOriginal(ctx));
    equal(go.routerPids.length, 1);
    equal(go.backendPids.length, 1);
    const bytes = 1024 * 1024 + 17;
    const echoBody = "x".repeat(1024);
    const requests: [string, RequestInit][] = [
      ["/tiny", {}],
      ["/echo", { method: "POST", body: echoBody }],
      [`/download?bytes=${bytes}`, {}],
      ["/upload", { method: "PUT", body: new Uint8Array(bytes) }],
      ["/missing", {}],
    ];
    for (const [path, init] of requests) {
      const [ours, theirs] = await Promise.all([
        get(`http://127.0.0.1:${direct.addr.port}${path}`, init),
        get(`http://127.0.0.1:${go.port}${path}`, init),
      ]);
      equal(theirs.status, ours.status, path);
      const [a, b] = await Promise.all([ours.bytes(), theirs.bytes()]);
      if (path === "/missing") continue;
      equal(
        theirs.headers.get("content-type")?.split(";")[0],
        ours.headers.get("content-type")?.split(";")[0],
        path,
      );
      if (path === "/upload") {
        deepEqual(JSON.parse(new TextDecoder().decode(b)), JSON.parse(new TextDecoder().decode(a)));
      } else {
        deepEqual(b, a, path);
      }
    }
    // h2c with prior knowledge on the public port, as h2load speaks it.
    const h2 = await curlH2c(`http://127.0.0.1:${go.h2cPort}/tiny`);
    equal(h2.out, "bar 2");
  });
});
