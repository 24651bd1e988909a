import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import type { TunnelView } from "../router/admin/app.ts";
import { baseUrl, startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";

const ADMIN_TOKEN = "admin-token-0123456789abcdef";
const API_TOKEN = "api-token-for-admin-tests-01";

function adminUrl(router: { adminAddr?: Deno.NetAddr }, path: string): string {
  return `http://127.0.0.1:${router.adminAddr!.port}${path}`;
}

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

async function tunnels(router: { adminAddr?: Deno.NetAddr }): Promise<TunnelView[]> {
  const response = await fetch(adminUrl(router, "/api/tunnels"));
  equal(response.status, 200);
  return (await response.json()).tunnels;
}

Deno.test("the admin listener is off unless asked for, and loopback-only by default", async () => {
  await using plain = startRouter();
  equal(plain.adminAddr, undefined);
  await using router = startRouter({ admin: { port: 0 } });
  equal(router.adminAddr!.hostname, "127.0.0.1");
  ok(router.adminAddr!.port !== router.addr.port);
});

Deno.test("/healthz answers while the process serves; the router's shutdown stops the admin listener", async () => {
  const router = startRouter({ admin: { port: 0 } });
  const url = adminUrl(router, "/healthz");
  const health = await get(url);
  equal(health.status, 200);
  equal(health.text, "ok\n");
  equal(health.headers.get("cache-control"), "no-store");
  await router.shutdown();
  await rejects(fetch(url));
});

Deno.test("/readyz is ready when listening, or when every ready service has a tunnel up", async () => {
  await using open = startRouter({ admin: { port: 0 } });
  const ready = await get(adminUrl(open, "/readyz"));
  equal(ready.status, 200);
  equal(ready.text, "ready\n");

  await using router = startRouter({
    admin: { port: 0, readyServices: ["api"] },
    tokens: { api: API_TOKEN },
  });
  const before = await get(adminUrl(router, "/readyz"));
  equal(before.status, 503);
  equal(before.text, "not ready: no tunnel for service api\n");
  const backend = await startBackend(router, () => new Response("api"), {
    service: "api",
    token: API_TOKEN,
  });
  equal((await get(adminUrl(router, "/readyz"))).status, 200);
  await backend.shutdown();
  await waitUntil(() => router.pool.size === 0, 5000, "tunnel gone");
  equal((await get(adminUrl(router, "/readyz"))).status, 503);
});

Deno.test("/readyz is not ready once the router is shutting down", async () => {
  const router = startRouter({ admin: { port: 0 } });
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let started!: () => void;
  const inFlight = new Promise<void>((resolve) => started = resolve);
  const backend = await startBackend(router, async () => {
    started();
    await released;
    return new Response("done");
  });
  equal((await get(adminUrl(router, "/readyz"))).status, 200);
  // A request in flight holds the shutdown open: the admin listener still answers meanwhile.
  const request = fetch(`${baseUrl(router)}/`).then((response) => response.text());
  await withTimeout(inFlight, 5000, "request in flight");
  const stopping = router.shutdown();
  const during = await get(adminUrl(router, "/readyz"));
  equal(during.status, 503);
  equal(during.text, "not ready: shutting down\n");
  release();
  equal(await withTimeout(request, 5000, "in-flight request"), "done");
  await withTimeout(stopping, 10_000, "shutdown");
  await backend.shutdown();
});

Deno.test("/api/tunnels lists each tunnel with its identity, load, traffic, RTT and drain state", async () => {
  await using router = startRouter({
    admin: { port: 0 },
    tokens: { api: API_TOKEN },
    serviceHosts: { api: ["api.example.com"] },
    keepaliveInterval: 100,
  });
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let started!: () => void;
  const slowStarted = new Promise<void>((resolve) => started = resolve);
  const backend = await startBackend(router, async (request) => {
    if (new URL(request.url).pathname === "/slow") {
      started();
      await released;
      return new Response("slow");
    }
    return new Response("0123456789");
  }, {
    service: "api",
    token: API_TOKEN,
    hosts: ["api.example.com"],
    metadata: { region: "eu", version: "1.2.3" },
    weight: 3,
  });
  const before = Date.now();
  for (let i = 0; i < 3; i++) {
    const response = await fetch(`${baseUrl(router)}/ok`, { method: "POST", body: "abcde" });
    equal(await response.text(), "0123456789");
  }
  let list: TunnelView[] = [];
  for (let i = 0; i < 100 && !(list[0]?.requests === 3 && list[0].lastRttMs !== null); i++) {
    list = await tunnels(router);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  equal(list.length, 1);
  const [tunnel] = list as [TunnelView];
  const inPool = router.pool.list()[0]!;
  equal(tunnel.id, inPool.id);
  equal(tunnel.service, "api");
  deepEqual(tunnel.hosts, ["api.example.com"]);
  deepEqual(tunnel.metadata, { region: "eu", version: "1.2.3" });
  equal(tunnel.weight, 3);
  match(tunnel.remoteAddr, /^127\.0\.0\.1:\d+$/);
  ok(Date.parse(tunnel.connectedSince) <= before, "connected before the requests");
  equal(tunnel.streamsInFlight, 0);
  equal(tunnel.requests, 3);
  equal(tunnel.errors, 0);
  equal(tunnel.bytesIn, 15);
  equal(tunnel.bytesOut, 30);
  ok(typeof tunnel.lastRttMs === "number" && tunnel.lastRttMs >= 0, `RTT ${tunnel.lastRttMs}`);
  equal(tunnel.draining, false);

  // A backend shutting down drains: the tunnel stays, marked draining, until its stream ends.
  const slow = fetch(`${baseUrl(router)}/slow`);
  await withTimeout(slowStarted, 5000, "slow request started");
  const stopping = backend.shutdown();
  for (let i = 0; i < 100; i++) {
    list = await tunnels(router);
    if (list[0]?.draining) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  equal(list[0]?.draining, true);
  equal(list[0]?.streamsInFlight, 1);
  release();
  equal(await (await slow).text(), "slow");
  await stopping;
  await waitUntil(() => router.pool.size === 0, 5000, "tunnel gone");
  deepEqual(await tunnels(router), []);
});

Deno.test("an admin token guards /metrics and /api/*, compared as a bearer token; probes stay open", async () => {
  await using router = startRouter({ admin: { port: 0, token: ADMIN_TOKEN } });
  for (const path of ["/metrics", "/api/tunnels", "/api/stats"]) {
    const anonymous = await get(adminUrl(router, path));
    equal(anonymous.status, 401, path);
    equal(anonymous.headers.get("www-authenticate"), 'Bearer realm="ptth admin"');
    ok(!anonymous.text.includes(ADMIN_TOKEN));
    const wrong = await get(adminUrl(router, path), {
      authorization: "Bearer wrong-token-000000000",
    });
    equal(wrong.status, 401, path);
    const basic = await get(adminUrl(router, path), { authorization: `Basic ${ADMIN_TOKEN}` });
    equal(basic.status, 401, path);
    const right = await get(adminUrl(router, path), { authorization: `Bearer ${ADMIN_TOKEN}` });
    equal(right.status, 200, path);
  }
  equal((await get(adminUrl(router, "/healthz"))).status, 200);
  equal((await get(adminUrl(router, "/readyz"))).status, 200);
  const page = await get(adminUrl(router, "/"));
  equal(page.status, 200);
  match(page.headers.get("content-type")!, /^text\/html/);
});

Deno.test("the public port serves admin paths from the backends, never the admin app", async () => {
  await using router = startRouter({ admin: { port: 0 } });
  await using _backend = await startBackend(router, (request) => {
    return new Response(`backend ${new URL(request.url).pathname}`);
  });
  for (const path of ["/metrics", "/healthz", "/readyz", "/api/tunnels", "/api/stats", "/"]) {
    const response = await get(`${baseUrl(router)}${path}`);
    equal(response.status, 200, path);
    equal(response.text, `backend ${path}`);
  }
  const unknown = await get(adminUrl(router, "/nothing-here"));
  equal(unknown.status, 404);
});

Deno.test("/api/stats gives the dashboard services, series, tunnels and recent errors", async () => {
  await using router = startRouter({
    admin: { port: 0, readyServices: ["api"] },
    tokens: { api: API_TOKEN },
    routes: [{ path: "/", service: "api" }],
  });
  await using _backend = await startBackend(router, (request) => {
    const failing = new URL(request.url).pathname === "/fail";
    return new Response(failing ? "no" : "yes", { status: failing ? 502 : 200 });
  }, { service: "api", token: API_TOKEN });
  await (await fetch(`${baseUrl(router)}/ok`)).text();
  await (await fetch(`${baseUrl(router)}/fail`, { headers: { "x-request-id": "req-42" } })).text();
  let data = await (await fetch(adminUrl(router, "/api/stats"))).json();
  for (let i = 0; i < 100 && data.services[0]?.total.requests !== 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    data = await (await fetch(adminUrl(router, "/api/stats"))).json();
  }
  equal(data.ready, true);
  equal(data.services.length, 1);
  const [api] = data.services;
  equal(api.service, "api");
  equal(api.tunnels.length, 1);
  equal(api.rate.length, 60);
  equal(api.p95.length, 60);
  deepEqual(api.total, { requests: 2, errors: 1, bytesIn: 0, bytesOut: 5 });
  equal(data.recentErrors.length, 1);
  equal(data.recentErrors[0].requestId, "req-42");
  equal(data.recentErrors[0].status, 502);
  equal(data.recentErrors[0].path, "/fail");
});
