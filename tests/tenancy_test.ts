/**
 * Tenants isolated (issue 16, findings 4 and 5), over loopback sockets: a
 * backend announces only the hosts its service may claim, and the per-service
 * tunnel cap holds against concurrent handshakes, TCP and WebSocket alike.
 */
import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { createRouter, type Router, type RouterOptions } from "../router/create_router.ts";
import {
  type ReverseServer,
  serveReverse,
  type ServeReverseOptions,
  TunnelRefusedError,
} from "../backend/serve_reverse.ts";
import { ConfigError, loadConfig } from "../config.ts";
import { waitUntil, withTimeout } from "./_helpers.ts";

const TOKENS = { api: "api-token-0123456789abcdef", web: "web-token-0123456789abcdef" };
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const root = new URL("..", import.meta.url).pathname;

function startRouter(options: RouterOptions = {}): Router {
  return createRouter({
    hostname: "127.0.0.1",
    port: 0,
    tunnelPort: 0,
    quiet: true,
    ...options,
  });
}

/** A backend on `router`'s tunnel port that gives up after a refusal or 5 s. */
function dial(
  router: Router,
  options: ServeReverseOptions,
  handler: (request: Request) => Response,
) {
  return serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    quiet: true,
    ...options,
  }, handler);
}

async function connected(server: ReverseServer): Promise<ReverseServer> {
  await withTimeout(server.connected, 5000, "backend tunnel");
  return server;
}

/** The refusal a backend gets, after which it has stopped. */
async function refusal(server: ReverseServer): Promise<TunnelRefusedError> {
  let refused: unknown;
  await withTimeout(server.connected.catch((error) => refused = error), 5000, "refusal");
  await server.shutdown();
  ok(refused instanceof TunnelRefusedError, `expected a refusal, got ${refused}`);
  return refused;
}

/** A request through curl (fetch cannot set Host), with the router's answer. */
async function get(
  router: Router,
  host: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const args = ["-sS", "--http1.1", "--max-time", "10", "-H", `Host: ${host}`];
  for (const [name, value] of Object.entries(headers)) args.push("-H", `${name}: ${value}`);
  args.push("-w", "\n%{http_code}", `http://127.0.0.1:${router.addr.port}/`);
  const { stdout } = await new Deno.Command("curl", { args, stdout: "piped" }).output();
  const out = decoder.decode(stdout);
  const cut = out.lastIndexOf("\n");
  return { status: Number(out.slice(cut + 1)), text: out.slice(0, cut) };
}

async function metrics(router: Router): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${router.adminAddr!.port}/metrics`);
  return await response.text();
}

// ---- raw sockets ------------------------------------------------------------------------

async function writeAll(conn: Deno.Conn, text: string): Promise<void> {
  let rest = encoder.encode(text);
  while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
}

/** Reads one response head (and its body, when it has a length), within `ms`. */
async function readResponse(
  conn: Deno.Conn,
  ms = 5000,
): Promise<{ status: number; body: string }> {
  let text = "";
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  const done = () => {
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) return false;
    const status = Number(text.slice(9, 12));
    if (status === 101) return true;
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? 0);
    return encoder.encode(text.slice(end + 4)).length >= length;
  };
  while (!done()) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf).catch(() => null),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    if (n === "timeout") {
      conn.close();
      throw new Error(`Timed out after ${ms} ms; got ${JSON.stringify(text)}`);
    }
    if (n === null) throw new Error(`Closed before a whole response: ${JSON.stringify(text)}`);
    text += decoder.decode(buf.subarray(0, n));
  }
  const end = text.indexOf("\r\n\r\n");
  return { status: Number(text.slice(9, 12)), body: text.slice(end + 4) };
}

/**
 * Opens a connection and sends `request`; keeps the connection on 101 (the
 * tunnel then waits for our SETTINGS, which never come), closes it otherwise.
 */
async function open(
  port: number,
  request: string,
): Promise<{ status: number; body: string; conn: Deno.Conn | null }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, request);
    const response = await readResponse(conn);
    if (response.status === 101) return { ...response, conn };
    conn.close();
    return { ...response, conn: null };
  } catch (error) {
    try {
      conn.close();
    } catch {
      // Closed by the timeout.
    }
    throw error;
  }
}

function tcpHandshake(service: string, ...fields: string[]): string {
  return [
    `GET /.well-known/ptth/${service} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Connection: upgrade",
    "Upgrade: ptth",
    "ALPN: h2",
    ...fields,
  ].join("\r\n") + "\r\n\r\n";
}

function webSocketUpgrade(...fields: string[]): string {
  return [
    "GET /.well-known/ptth/tunnel HTTP/1.1",
    "Host: 127.0.0.1",
    "Connection: Upgrade",
    "Upgrade: websocket",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Protocol: ptth",
    ...fields,
  ].join("\r\n") + "\r\n\r\n";
}

function closeAll(conns: Iterable<Deno.Conn | null>): void {
  for (const conn of conns) {
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }
}

/** Opens handshakes until one is answered 101 (a slot freed), for at most `ms`. */
async function openWhenFree(port: number, request: string, ms: number): Promise<Deno.Conn> {
  const deadline = Date.now() + ms;
  for (;;) {
    const attempt = await open(port, request);
    if (attempt.status === 101) return attempt.conn!;
    equal(attempt.status, 429, attempt.body);
    if (Date.now() > deadline) throw new Error(`No slot freed within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// ---- finding 4: hosts belong to their service ---------------------------------------------

Deno.test("finding 4: a backend with the web token cannot announce api.example.com, and api's cookies never reach web", async () => {
  const lines: string[] = [];
  await using router = startRouter({
    tokens: TOKENS,
    serviceHosts: { api: ["api.example.com"], web: ["web.example.com"] },
    tunnelWait: 5000,
    admin: { port: 0 },
    quiet: false,
    log: (line) => lines.push(line),
  });
  const seenByWeb: string[] = [];
  const web = (request: Request) => {
    seenByWeb.push(`${request.headers.get("cookie")} ${request.headers.get("authorization")}`);
    return new Response("web");
  };
  const api = () => new Response("api");
  const apiOptions = { service: "api", token: TOKENS.api, hosts: ["api.example.com"] };
  let apiBackend = await connected(dial(router, apiOptions, api));
  await using _web = await connected(
    dial(router, { service: "web", token: TOKENS.web, hosts: ["web.example.com"] }, web),
  );

  const attack = await refusal(
    dial(router, { service: "web", token: TOKENS.web, hosts: ["api.example.com"] }, web),
  );
  equal(attack.status, 403);
  equal(
    attack.reason,
    "Host api.example.com not allowed for service web: no pattern of the service covers it",
  );
  equal(router.pool.size, 2, "the attacker's tunnel never joined");
  ok(
    lines.some((line) => line.includes("403") && line.includes("Host api.example.com")),
    `the refusal is logged: ${lines.join("\n")}`,
  );
  match(await metrics(router), /ptth_handshake_failures_total\{reason="host_not_allowed"\} 1\n/);

  // The api backend reconnects: a request sent meanwhile waits for it, never goes to web.
  const secrets = { cookie: "session=api-secret", authorization: "Bearer api-user" };
  await apiBackend.shutdown();
  await waitUntil(() => router.pool.count("api") === 0, 3000, "api tunnel gone");
  const during = await Deno.connect({ hostname: "127.0.0.1", port: router.addr.port });
  try {
    await writeAll(
      during,
      "GET / HTTP/1.1\r\nHost: api.example.com\r\nCookie: session=api-secret\r\n" +
        "Authorization: Bearer api-user\r\nConnection: close\r\n\r\n",
    );
    // Time for the router to take the request while no api tunnel is up (web's is).
    await new Promise((resolve) => setTimeout(resolve, 200));
    apiBackend = await connected(dial(router, apiOptions, api));
    deepEqual(await readResponse(during), { status: 200, body: "api" });
  } finally {
    closeAll([during]);
  }
  try {
    for (let i = 0; i < 5; i++) {
      deepEqual(await get(router, "api.example.com", secrets), { status: 200, text: "api" });
    }
    deepEqual(await get(router, "web.example.com"), { status: 200, text: "web" });
    deepEqual(seenByWeb, ["null null"], "web saw its own request only, no api cookie");
  } finally {
    await apiBackend.shutdown();
  }
});

Deno.test("finding 4: an anonymous backend beside tokens cannot announce *.com, over TCP or WebSocket", async () => {
  await using router = startRouter({
    tokens: TOKENS,
    allowAnonymous: true,
    serviceHosts: { api: ["api.example.com"] },
  });
  const tcp = await refusal(dial(router, { hosts: ["*.com"] }, () => new Response("evil")));
  equal(tcp.status, 403);
  equal(
    tcp.reason,
    "Host *.com not allowed for service default: " +
      "anonymous tunnels announce no hosts on a router with tokens",
  );
  const ws = await open(router.addr.port, webSocketUpgrade("PTTH-Hosts: *.com"));
  equal(ws.status, 403);
  match(ws.body, /^Host \*\.com not allowed for service default: anonymous tunnels/);
  // An anonymous tunnel that announces nothing is still welcome, and a token's
  // service cannot announce beyond its patterns either.
  await using _plain = await connected(dial(router, {}, () => new Response("default")));
  const wide = await refusal(
    dial(
      router,
      { service: "api", token: TOKENS.api, hosts: ["*.example.com"] },
      () => new Response("api"),
    ),
  );
  equal(wide.status, 403, "*.example.com is wider than api.example.com");
  const none = await refusal(
    dial(
      router,
      { service: "web", token: TOKENS.web, hosts: ["web.example.com"] },
      () => new Response("web"),
    ),
  );
  equal(
    none.reason,
    "Host web.example.com not allowed for service web: the service has no host patterns configured",
  );
  equal(router.pool.size, 1);
});

Deno.test("finding 4: a host a route names cannot be announced, exact or under a wildcard route", async () => {
  await using router = startRouter({
    tokens: TOKENS,
    serviceHosts: { api: ["*.example.com"] },
    routes: [
      { host: "www.example.com", service: "web" },
      { host: "*.shop.example.com", service: "*" },
    ],
  });
  const announce = (hosts: string[]) =>
    dial(router, { service: "api", token: TOKENS.api, hosts }, () => new Response("api"));
  for (const host of ["www.example.com", "a.shop.example.com", "*.shop.example.com"]) {
    const refused = await refusal(announce([host]));
    equal(refused.status, 403, host);
    equal(refused.reason, `Host ${host} not allowed for service api: a route names it`);
  }
  // A wildcard that would catch a routed name is refused too; a free name is not.
  equal((await refusal(announce(["api.example.com", "*.example.com"]))).status, 403);
  await using _api = await connected(announce(["api.example.com", "*.api.example.com"]));
  deepEqual(router.pool.list()[0]!.hosts, ["api.example.com", "*.api.example.com"]);
});

Deno.test("finding 4: with no tokens at all, anonymous backends announce hosts as before, except routed ones", async () => {
  await using router = startRouter({ routes: [{ host: "www.example.com", service: "web" }] });
  await using _open = await connected(
    dial(router, { hosts: ["app.example.org", "*.example.org"] }, () => new Response("app")),
  );
  deepEqual(await get(router, "app.example.org"), { status: 200, text: "app" });
  const routed = await refusal(dial(router, { hosts: ["www.example.com"] }, () => new Response()));
  equal(routed.reason, "Host www.example.com not allowed for service default: a route names it");
});

Deno.test("finding 4: overlapping host patterns of two services are a configuration error", async () => {
  const flags = ["--service-hosts", "api=api.example.com", "--service-hosts", "web=*.example.com"];
  const message = 'Invalid --service-hosts: "*.example.com" of service "web" overlaps ' +
    '"api.example.com" of service "api" (a host belongs to at most one service)';
  throws(() => loadConfig(flags, () => undefined, () => "{}"), new ConfigError(message));
  throws(
    () =>
      loadConfig(
        [],
        (name) =>
          name === "PTTH_SERVICE_HOSTS" ? "api=*.a.example.com,web=*.example.com" : undefined,
        () => "{}",
      ),
    { name: "ConfigError", message: /^Invalid PTTH_SERVICE_HOSTS: "\*\.example\.com" of service/ },
  );
  const file = JSON.stringify({ serviceHosts: { api: ["x.example.com"], web: "x.example.com" } });
  throws(
    () => loadConfig(["--config", "ptth.json"], () => undefined, () => file),
    {
      name: "ConfigError",
      message: /^Invalid config key "serviceHosts" in ptth\.json: "x\.example\.com" of service/,
    },
  );
  // Disjoint patterns load, from each source.
  deepEqual(
    loadConfig(
      ["--service-hosts", "api=api.example.com", "--service-hosts", "api=*.api.example.com"],
      () => undefined,
      () => "{}",
    )
      .serviceHosts,
    { api: ["api.example.com", "*.api.example.com"] },
  );
  // createRouter checks its options the same way, before it listens.
  throws(
    () => startRouter({ serviceHosts: { api: ["*.example.com"], web: ["*.b.example.com"] } }),
    ConfigError,
  );
  throws(() => startRouter({ serviceHosts: { api: ["api.example.com:443"] } }), ConfigError);
  // Through the CLI: one line and exit code 2, before anything listens.
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "mod.ts",
      ...flags,
      "--port",
      "0",
      "--tunnel-port",
      "0",
      "--admin-port",
      "off",
    ],
    cwd: root,
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  const text = decoder.decode(stderr);
  equal(code, 2, text);
  equal(text, `ptth: ${message} (see --help)\n`);
});

// ---- finding 5: the tunnel cap is reserved at the handshake -------------------------------

Deno.test("finding 5: 50 concurrent handshakes with a cap of 2 admit exactly 2, and a closed tunnel frees its slot", async () => {
  await using router = startRouter({
    tokens: TOKENS,
    maxTunnelsPerService: 2,
    // Slots must come free because tunnels close, not because their handshakes time out.
    handshakeTimeout: 60_000,
    // All 50 come from one address: the per-address cap on handshakes in progress must not
    // be what refuses them.
    maxPendingHandshakesPerAddress: 100,
  });
  const port = router.tunnelAddr.port;
  const request = tcpHandshake("api", `Authorization: Bearer ${TOKENS.api}`);
  // Each sends its handshake at once and never its SETTINGS: none joins the pool.
  const results = await Promise.all(Array.from({ length: 50 }, () => open(port, request)));
  const admitted = results.filter((result) => result.status === 101);
  try {
    equal(admitted.length, 2, `statuses: ${results.map((result) => result.status)}`);
    for (const result of results) {
      if (result.status === 101) continue;
      equal(result.status, 429);
      equal(result.body, "Too many tunnels for service api\n");
    }
    equal(router.pool.size, 0, "no tunnel has sent its SETTINGS yet");
    equal((await open(port, request)).status, 429, "still full");

    // A tunnel that leaves before joining frees its slot.
    admitted[0]!.conn!.close();
    admitted[0]!.conn = await openWhenFree(port, request, 5000);
    equal((await open(port, request)).status, 429, "full again");

    // So does a tunnel that leaves the pool.
    admitted[0]!.conn!.close();
    const backend = await connected(
      dial(router, { service: "api", token: TOKENS.api }, () => new Response("api")),
    );
    equal(router.pool.count("api"), 1);
    equal((await open(port, request)).status, 429, "the pooled tunnel holds its slot");
    await backend.shutdown();
    await waitUntil(() => router.pool.size === 0, 3000, "backend gone");
    admitted[0]!.conn = await openWhenFree(port, request, 5000);
  } finally {
    closeAll(admitted.map((result) => result.conn));
  }
});

Deno.test("finding 5: concurrent WebSocket tunnels are held to the cap too", async () => {
  await using router = startRouter({ maxTunnelsPerService: 2, handshakeTimeout: 60_000 });
  const port = router.addr.port;
  const upgrade = webSocketUpgrade();
  const results = await Promise.all(Array.from({ length: 20 }, () => open(port, upgrade)));
  const admitted = results.filter((result) => result.status === 101);
  try {
    equal(admitted.length, 2, `statuses: ${results.map((result) => result.status)}`);
    for (const result of results) {
      if (result.status !== 101) {
        equal(result.status, 429);
        equal(result.body, "Too many tunnels for service default\n");
      }
    }
    // The TCP port shares the count.
    equal((await open(router.tunnelAddr.port, tcpHandshake("default"))).status, 429);
    admitted[1]!.conn!.close();
    admitted[1]!.conn = await openWhenFree(port, upgrade, 5000);
  } finally {
    closeAll(admitted.map((result) => result.conn));
  }
});

Deno.test("finding 5: a refused or failed handshake holds no slot", async () => {
  await using router = startRouter({
    tokens: TOKENS,
    serviceHosts: { api: ["api.example.com"] },
    maxTunnelsPerService: 1,
  });
  const port = router.tunnelAddr.port;
  const auth = `Authorization: Bearer ${TOKENS.api}`;
  const conns: Array<Deno.Conn | null> = [];
  const attempt = async (at: number, request: string) => {
    const result = await open(at, request);
    conns.push(result.conn);
    return result;
  };
  try {
    // A host refusal after the credentials passed, then a wrong token: neither takes the slot.
    equal(
      (await attempt(port, tcpHandshake("api", auth, "PTTH-Hosts: web.example.com"))).status,
      403,
    );
    const wrong = tcpHandshake("api", "Authorization: Bearer wrong-token-0123456789");
    equal((await attempt(port, wrong)).status, 403);
    // A WebSocket admitted whose upgrade then fails (no Sec-WebSocket-Key) gives its slot back.
    const noKey = webSocketUpgrade("PTTH-Service: api", auth)
      .replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    const failed = await attempt(router.addr.port, noKey);
    equal(failed.status, 400, failed.body);
    match(failed.body, /sec-websocket-key/i);
    equal(
      (await attempt(port, tcpHandshake("api", auth, "PTTH-Hosts: api.example.com"))).status,
      101,
    );
    equal((await attempt(port, tcpHandshake("api", auth))).status, 429);
    const upgrade = webSocketUpgrade("PTTH-Service: api", auth);
    equal((await attempt(router.addr.port, upgrade)).status, 429);
  } finally {
    closeAll(conns);
  }
});

Deno.test("behind a trusted balancer, failed WebSocket tunnel handshakes count against the client, not the balancer", async () => {
  await using router = startRouter({
    tokens: TOKENS,
    trustedProxies: ["127.0.0.1"],
    authFailuresPerMinute: 3,
  });
  const port = router.addr.port;
  const attempt = async (client: string, token: string) => {
    const result = await open(
      port,
      webSocketUpgrade(
        `Authorization: Bearer ${token}`,
        "PTTH-Service: api",
        `X-Forwarded-For: ${client}`,
      ),
    );
    closeAll([result.conn]);
    return result.status;
  };
  // A stranger behind the balancer guesses tokens until it is rate-limited…
  const guesses = [];
  for (let i = 0; i < 5; i++) guesses.push(await attempt("6.6.6.6", "a-wrong-token-0123456789"));
  deepEqual(guesses, [403, 403, 403, 429, 429]);
  // …and a backend behind the same balancer still opens its tunnel.
  equal(await attempt("10.1.1.1", TOKENS.api), 101);
});
