/**
 * Trust only what is trusted (issue 16, findings 10, 13, 14 and 15), end to
 * end over loopback: the client address behind trusted proxies, the path
 * routes match and backends see, control characters in logs, and the Hosts
 * the admin listener answers.
 */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { createRouter, type Router, type RouterOptions } from "../router/create_router.ts";
import { serveReverse } from "../backend/serve_reverse.ts";
import { InvalidPathError, normalizePath } from "../router/request_path.ts";
import { loadConfig, toRouterOptions } from "../config/load.ts";
import { startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let rest = bytes;
  while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
}

/** A router on free loopback ports that answers at once when no tunnel is there. */
function router(options: RouterOptions = {}): Router {
  return startRouter({ tunnelWait: 0, ...options });
}

const backend = startBackend;

/** A raw response: what came back on the socket, read to its end. */
interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

/** Reads `conn` to its end (bounded), then closes it. */
async function readAll(conn: Deno.Conn, ms = 5000): Promise<string> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(16384);
  try {
    await withTimeout(
      (async () => {
        for (;;) {
          const n = await conn.read(buffer);
          if (n === null) return;
          chunks.push(buffer.slice(0, n));
        }
      })(),
      ms,
      "the answer to end",
    );
  } finally {
    conn.close();
  }
  return chunks.map((chunk) => decoder.decode(chunk, { stream: true })).join("");
}

/**
 * Sends one HTTP/1.1 request written byte for byte (fetch and curl would
 * clean the path or refuse the Host), and reads the answer.
 */
async function rawRequest(
  port: number,
  target: string,
  host = "example.com",
  fields: string[] = [],
): Promise<RawAnswer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = [`GET ${target} HTTP/1.1`, `Host: ${host}`, "Connection: close", ...fields];
  await writeAll(conn, encoder.encode(head.join("\r\n") + "\r\n\r\n"));
  const text = await readAll(conn);
  const split = text.indexOf("\r\n\r\n");
  const status = Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0);
  return { status, head: text.slice(0, split), body: text.slice(split + 4) };
}

// ---- finding 10: the client address behind trusted proxies ----------------------------------

/** A backend that tells what it saw of the client. */
function echoClient(request: Request, info: { remoteAddr: Deno.NetAddr }): Response {
  return Response.json({
    remoteAddr: info.remoteAddr.hostname,
    xff: request.headers.get("x-forwarded-for"),
    forwarded: request.headers.get("forwarded"),
  });
}

async function seenBy(r: Router, fields: Record<string, string>) {
  const response = await fetch(`http://127.0.0.1:${r.addr.port}/`, { headers: fields });
  equal(response.status, 200);
  return await response.json();
}

Deno.test("behind a trusted balancer the backend's remoteAddr is the rightmost untrusted X-Forwarded-For entry", async () => {
  // The router's peer (127.0.0.1) is the balancer: it appended the client's
  // address, 203.0.113.9, to the 6.6.6.6 the client wrote itself.
  await using r = router({ trustedProxies: ["127.0.0.0/8"] });
  await using _ = await backend(r, echoClient);
  deepEqual(await seenBy(r, { "x-forwarded-for": "6.6.6.6, 203.0.113.9" }), {
    remoteAddr: "203.0.113.9",
    xff: "203.0.113.9, 127.0.0.1",
    forwarded: null,
  });
});

Deno.test("X-Forwarded-For: trusted hops are skipped from the right; an entry that is no address ends the walk", async () => {
  await using r = router({ trustedProxies: ["127.0.0.0/8", "10.0.0.0/8"] });
  await using _ = await backend(r, echoClient);
  const cases: [string, string, string][] = [
    // Two trusted hops (10.0.0.7, then the router's peer) after the client.
    ["6.6.6.6, 203.0.113.9, 10.0.0.7", "203.0.113.9", "203.0.113.9, 10.0.0.7, 127.0.0.1"],
    // Every entry trusted: the farthest is the client.
    ["10.0.0.9, 10.0.0.7", "10.0.0.9", "10.0.0.9, 10.0.0.7, 127.0.0.1"],
    // Ports and brackets as some balancers write them.
    ["[2001:db8::5]:4711", "2001:db8::5", "2001:db8::5, 127.0.0.1"],
    ["203.0.113.9:4711, 10.0.0.7", "203.0.113.9", "203.0.113.9, 10.0.0.7, 127.0.0.1"],
    // Not addresses: the trusted hop to the right is all that is known.
    ["6.6.6.6, unknown", "127.0.0.1", "127.0.0.1"],
    ["6.6.6.6, , 10.0.0.7", "10.0.0.7", "10.0.0.7, 127.0.0.1"],
    ["6.6.6.6, 010.0.0.7", "127.0.0.1", "127.0.0.1"],
    ["6.6.6.6, 203.0.113.9 x", "127.0.0.1", "127.0.0.1"],
  ];
  for (const [given, client, chain] of cases) {
    const seen = await seenBy(r, { "x-forwarded-for": given });
    equal(seen.remoteAddr, client, `remoteAddr for ${given}`);
    equal(seen.xff, chain, `X-Forwarded-For for ${given}`);
  }
});

Deno.test("Forwarded (RFC 7239) follows the same rule: cut to the trusted chain, the peer appended; dropped from others", async () => {
  {
    await using r = router({ trustedProxies: ["127.0.0.0/8"] });
    await using _ = await backend(r, echoClient);
    // Without X-Forwarded-For, the client comes from Forwarded's for= nodes.
    deepEqual(
      await seenBy(r, { forwarded: 'for=6.6.6.6, for="203.0.113.9:4711";proto=https' }),
      {
        remoteAddr: "203.0.113.9",
        xff: "203.0.113.9, 127.0.0.1",
        forwarded: 'for="203.0.113.9:4711";proto=https, for=127.0.0.1',
      },
    );
    // An obfuscated node (RFC 7239 §6.3) is no address: the walk stops at it.
    deepEqual(await seenBy(r, { forwarded: "for=6.6.6.6, for=_hidden" }), {
      remoteAddr: "127.0.0.1",
      xff: "127.0.0.1",
      forwarded: "for=127.0.0.1",
    });
  }
  {
    await using r = router();
    await using _ = await backend(r, echoClient);
    deepEqual(
      await seenBy(r, { forwarded: "for=6.6.6.6", "x-forwarded-for": "6.6.6.6" }),
      { remoteAddr: "127.0.0.1", xff: "127.0.0.1", forwarded: null },
    );
  }
});

// ---- finding 13: routes match the path the backend sees -------------------------------------

const ROUTE_TOKENS = { admin: "admin-token-0123456789", web: "web-token-01234567890" };

/** A router routing /admin to `admin` and the rest to `web`, a backend of each; `seen` lists what backends got. */
async function routedPair() {
  const r = router({
    tokens: ROUTE_TOKENS,
    routes: [{ path: "/admin", service: "admin" }, { path: "/", service: "web" }],
  });
  const seen: string[] = [];
  const serve = (service: string) => (request: Request) => {
    const url = new URL(request.url);
    seen.push(`${service} ${url.pathname}`);
    return new Response(`${service} ${url.pathname}${url.search}`);
  };
  const admin = await backend(r, serve("admin"), { service: "admin", token: ROUTE_TOKENS.admin });
  const web = await backend(r, serve("web"), { service: "web", token: ROUTE_TOKENS.web });
  return {
    r,
    seen,
    async [Symbol.asyncDispose]() {
      await admin.shutdown();
      await web.shutdown();
      await r.shutdown();
    },
  };
}

Deno.test("a path is routed as the backend will read it: unreserved escapes decoded, dot segments removed", async () => {
  await using pair = await routedPair();
  const cases: [string, string][] = [
    ["/%61dmin", "admin /admin"],
    ["/%61%64%6D%69%6E/users", "admin /admin/users"],
    ["/a/../admin", "admin /admin"],
    ["/static/%2e%2E/admin?x=1", "admin /admin?x=1"],
    ["/admin/./x/../y", "admin /admin/y"],
    ["/admin;jsessionid=1", "admin /admin;jsessionid=1"],
    ["/caf%c3%a9", "web /caf%C3%A9"],
    ["/.well-known/x", "web /.well-known/x"],
    ["/adminx", "web /adminx"],
    // Slashes merged, as nginx does: a framework that merges them and one that does not agree.
    ["//admin", "admin /admin"],
    ["/web//admin/", "web /web/admin/"],
  ];
  for (const [target, expected] of cases) {
    const answer = await rawRequest(pair.r.addr.port, target);
    equal(answer.status, 200, `${target}: ${answer.body}`);
    equal(answer.body, expected, target);
  }
});

Deno.test("ambiguous path encodings are answered 400 by the router and never forwarded", async () => {
  await using pair = await routedPair();
  const refused: [string, RegExp][] = [
    ["/%2Fadmin", /encoded slash/],
    ["/%2fadmin", /encoded slash/],
    ["/x/%5Cadmin", /encoded backslash/],
    ["/x\\admin", /backslash/],
    ["/admin%00", /NUL/],
    ["/%zz", /two hex digits/],
    ["/admin%4", /two hex digits/],
    ["/%2561dmin", /double encoding/],
    ["/%25%36%31dmin", /double encoding/],
    ["/x/..;/admin", /dot segment with parameters/],
    ["/%C0%AFadmin", /not UTF-8/],
  ];
  for (const [target, reason] of refused) {
    const answer = await rawRequest(pair.r.addr.port, target);
    equal(answer.status, 400, `${target}: ${answer.body}`);
    match(answer.body, /^Bad Request: the path has /, target);
    match(answer.body, reason, target);
  }
  deepEqual(pair.seen, [], "no backend saw a refused request");
});

Deno.test("HTTP/2 clients get the same paths: curl --path-as-is over h2c", async () => {
  await using pair = await routedPair();
  const curl = async (path: string) => {
    const { stdout } = await new Deno.Command("curl", {
      args: [
        "-sS",
        "--http2-prior-knowledge",
        "--path-as-is",
        "--max-time",
        "10",
        "-w",
        " %{http_version} %{http_code}",
        `http://127.0.0.1:${pair.r.addr.port}${path}`,
      ],
      stdout: "piped",
    }).output();
    return decoder.decode(stdout);
  };
  equal(await curl("/%61dmin"), "admin /admin 2 200");
  equal(await curl("/x/../admin"), "admin /admin 2 200");
  match(await curl("/%2Fadmin"), /^Bad Request: the path has an encoded slash \(%2F\)\n 2 400$/);
  deepEqual(pair.seen, ["admin /admin", "admin /admin"]);
});

Deno.test("normalizePath: canonical paths are fixed points, also for a URL parser", () => {
  const samples = ["/", "/a/b", "/%61/./b/../c/", "/%7e%2D_.", "/%c3%a9", "/a;b=c/d", "/é", '/a"b'];
  for (const sample of samples) {
    const once = normalizePath(sample);
    equal(normalizePath(once), once, sample);
    equal(new URL(`http://x${once}`).pathname, once, sample);
  }
  equal(normalizePath("/a/b/.."), "/a/");
  equal(normalizePath("/../../x"), "/x");
  let refused = 0;
  for (const bad of ["x", "\\a", "/a%2F", "/a b", "/%ff", "/%e9"]) {
    try {
      normalizePath(bad);
    } catch (error) {
      ok(error instanceof InvalidPathError, String(error));
      refused++;
    }
  }
  equal(refused, 6);
});

// ---- finding 14: control characters in text logs --------------------------------------------

/** A log line that is one line and shows no control character a terminal would act on. */
// deno-lint-ignore no-control-regex -- control characters are what it finds
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

/** A router logging into `lines`. */
function loggingRouter(lines: string[], options: RouterOptions = {}): Router {
  return router({ quiet: false, log: (line) => lines.push(line), ...options });
}

const FORGED = "\n2025-01-01T00:00:00.000Z INFO  forged\x1b[31m\u2028\u202e\u009b";

async function refusedHandshake(r: Router): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.tunnelAddr.port });
  const head = [
    "GET /.well-known/ptth/default HTTP/1.1",
    "Host: router",
    "Connection: upgrade",
    "Upgrade: ptth",
    "ALPN: h2",
    // A bare LF does not end a field line: the value runs on, and into the reason.
    `PTTH-Hosts: ok.example${FORGED}`,
  ];
  await writeAll(conn, encoder.encode(head.join("\r\n") + "\r\n\r\n"));
  return await readAll(conn);
}

Deno.test("a refused handshake's reason is logged on one line, its control characters escaped (text)", async () => {
  const lines: string[] = [];
  await using r = loggingRouter(lines);
  match(await refusedHandshake(r), /^HTTP\/1\.1 400 /);
  await waitUntil(() => lines.some((line) => line.includes("refused")), 3000, "the log line");
  const line = lines.find((l) => l.includes("refused"))!;
  for (const l of lines) ok(!UNSAFE.test(l), `raw control character in ${JSON.stringify(l)}`);
  match(line, /^\d{4}-\d\d-\d\dT[\d:.]+Z WARN {2}tunnel handshake from 127\.0\.0\.1 refused: 400 /);
  ok(line.includes("bad host ok.example\\n2025-01-01t00:00:00.000z info  forged\\u001b[31m"), line);
  ok(line.includes("\\u2028\\u202e\\u009b"), line);
});

Deno.test("JSON log lines escape what JSON.stringify leaves raw: C1, line separators, bidi controls", async () => {
  const lines: string[] = [];
  await using r = loggingRouter(lines, { logFormat: "json" });
  await refusedHandshake(r);
  await waitUntil(() => lines.some((line) => line.includes("refused")), 3000, "the log line");
  for (const line of lines) {
    ok(!UNSAFE.test(line), `raw control character in ${JSON.stringify(line)}`);
    JSON.parse(line);
  }
  const record = JSON.parse(lines.find((l) => l.includes("refused"))!);
  equal(record.event, "handshake-failed");
  // Escaped, not lost: the value reads back as it came.
  ok(record.reason.endsWith(FORGED.toLowerCase()), record.reason);
});

Deno.test("GOAWAY debug data from a backend is logged on one line, escaped", async () => {
  const lines: string[] = [];
  await using r = loggingRouter(lines);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.tunnelAddr.port });
  try {
    const head = "GET /.well-known/ptth/default HTTP/1.1\r\nHost: router\r\n" +
      "Connection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n\r\n";
    await writeAll(conn, encoder.encode(head));
    // SETTINGS (the tunnel joins the pool), then GOAWAY PROTOCOL_ERROR with hostile debug data.
    await writeAll(conn, new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    await waitUntil(() => r.pool.size === 1, 3000, "the tunnel in the pool");
    const debug = encoder.encode(`bye${FORGED}`);
    const goaway = new Uint8Array(9 + 8 + debug.length);
    const view = new DataView(goaway.buffer);
    view.setUint32(0, (8 + debug.length) << 8 | 7); // length, type GOAWAY
    view.setUint32(9 + 4, 1); // PROTOCOL_ERROR
    goaway.set(debug, 17);
    await writeAll(conn, goaway);
    await waitUntil(() => lines.some((line) => line.includes("closed")), 3000, "the close line");
  } finally {
    conn.close();
  }
  for (const l of lines) ok(!UNSAFE.test(l), `raw control character in ${JSON.stringify(l)}`);
  const closed = lines.find((l) => l.includes("closed"))!;
  ok(closed.includes("bye\\n2025-01-01T00:00:00.000Z INFO  forged\\u001b[31m"), closed);
});

Deno.test("a request path with encoded CR LF is logged on one line", async () => {
  const lines: string[] = [];
  await using r = loggingRouter(lines);
  await using _ = await backend(r, () => new Response("ok"));
  const answer = await rawRequest(
    r.addr.port,
    "/x%0D%0A2025-01-01T00:00:00.000Z%20INFO%20forged%1B[31m",
  );
  equal(answer.status, 200);
  await waitUntil(() => lines.some((line) => line.includes("GET ")), 3000, "the request line");
  for (const l of lines) ok(!UNSAFE.test(l), `raw control character in ${JSON.stringify(l)}`);
  equal(lines.filter((l) => l.includes("forged")).length, 1);
});

Deno.test("the backend logs a refusal reason from its router escaped", async () => {
  // A hostile "router": it refuses the tunnel with control characters in its reason.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(4096));
    const body = encoder.encode("no\x1b[2J\r2025-01-01T00:00:00.000Z INFO  forged\u2028x\n");
    await writeAll(
      conn,
      encoder.encode(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
          "Connection: close\r\n\r\n",
      ),
    );
    await writeAll(conn, body);
    conn.close();
  })();
  const lines: string[] = [];
  const server = serveReverse({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
    token: "some-token-0123456789",
    service: "api",
    log: (line) => lines.push(line),
  }, () => new Response("never"));
  await withTimeout(server.finished.catch(() => {}), 5000, "the refused backend to stop");
  await withTimeout(served, 5000, "the fake router");
  listener.close();
  const refused = lines.find((l) => l.includes("refused"));
  ok(refused, lines.join("\n"));
  for (const l of lines) ok(!UNSAFE.test(l), `raw control character in ${JSON.stringify(l)}`);
  ok(refused.includes("no\\u001b[2J\\r2025-01-01T00:00:00.000Z INFO  forged\\u2028x"), refused);
});

// ---- finding 15: the admin listener answers only Hosts that name it ------------------------

/** A router with an admin listener and one backend, whose metadata holds a secret. */
async function adminRouter(hosts?: string[]) {
  const r = router({ admin: { port: 0, ...(hosts ? { hosts } : {}) } });
  const b = await backend(r, () => new Response("ok"), { metadata: { secret: "s3cr3t" } });
  return {
    port: r.adminAddr!.port,
    async [Symbol.asyncDispose]() {
      await b.shutdown();
      await r.shutdown();
    },
  };
}

Deno.test("DNS rebinding: Host evil.example gets 421 and no data from the admin listener, token or not", async () => {
  await using admin = await adminRouter();
  const port = admin.port;
  for (const path of ["/api/tunnels", "/api/stats", "/metrics", "/", "/nowhere"]) {
    for (const host of [`evil.example:${port}`, "evil.example", "localhost.evil.example"]) {
      const answer = await rawRequest(port, path, host);
      equal(answer.status, 421, `${host} ${path}`);
      match(answer.body, /^Misdirected Request/);
      ok(!answer.body.includes("s3cr3t") && !answer.body.includes("tunnel"), answer.body);
    }
  }
  // Probes stay open to any Host: load balancers probe by whatever name they have.
  equal((await rawRequest(port, "/healthz", "evil.example")).status, 200);
  equal((await rawRequest(port, "/readyz", "evil.example")).status, 200);
});

Deno.test("the admin listener answers loopback names, IP addresses, its own name and --admin-host names", async () => {
  await using admin = await adminRouter(["ops.example.com"]);
  const port = admin.port;
  for (
    const host of [
      `localhost:${port}`,
      "LOCALHOST.",
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      "192.0.2.7",
      `ops.example.com:${port}`,
      "Ops.Example.Com.",
    ]
  ) {
    const answer = await rawRequest(port, "/api/tunnels", host);
    equal(answer.status, 200, host);
    equal(JSON.parse(answer.body).tunnels.length, 1, host);
  }
  for (const host of ["ops.example.com.evil", "x@localhost", "localhost:x", "[::1"]) {
    const answer = await rawRequest(port, "/api/tunnels", host);
    ok(answer.status === 421 || answer.status === 400, `${host}: ${answer.status}`);
  }
});

Deno.test("--admin-host, PTTH_ADMIN_HOSTS and adminHosts reach the admin listener's options", () => {
  const read = () => "{}";
  const fromFlags = loadConfig(
    ["--admin-host", "ops.example.com", "--admin-host", "b.example"],
    () => undefined,
    read,
  );
  deepEqual(toRouterOptions(fromFlags, read).admin?.hosts, ["ops.example.com", "b.example"]);
  const fromEnv = loadConfig(
    [],
    (name) => name === "PTTH_ADMIN_HOSTS" ? "a.example" : undefined,
    read,
  );
  deepEqual(toRouterOptions(fromEnv, read).admin?.hosts, ["a.example"]);
  deepEqual(toRouterOptions(loadConfig([], () => undefined, read), read).admin?.hosts, []);
});

Deno.test("the app embedded in another server refuses a Host that is not host[:port], as the edge does", async () => {
  await using r = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
  for (const host of ["victim.example/admin?", "a@b", "example.com:99999"]) {
    const response = await r.app.fetch(
      new Request("http://127.0.0.1/public", { headers: { host } }),
      {},
    );
    equal(response.status, 400, host);
    equal(await response.text(), "Bad Request: invalid Host\n");
  }
});
