/**
 * The router's public server (the edge) against hostile and careless
 * clients, over real loopback sockets: file-descriptor exhaustion and
 * connection limits (finding 1), stalled tunnel handshakes (2), slowloris
 * and idle connections (3), a client choosing the scheme (11), Host
 * injection (12), resets in the first millisecond (7), and requests
 * HTTP/2 forbids (9); then HTTP/1.1 behaviour (keep-alive, pipelining,
 * bodies, 100-continue, upgrades) and interop with curl, nghttp, h2load
 * and wrk.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { baseUrl, startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";
import { ackSettings, field, RawPeer } from "./_raw_peer.ts";
import { ClientSession } from "../h2/client.ts";
import { ErrorCode, FrameType } from "../h2/constants.ts";
import { serveReverse } from "../backend/serve_reverse.ts";
import { upgradeWebSocket } from "../backend/upgrade_websocket.ts";
import { StreamWebSocket } from "../ws/socket.ts";
import { type Router, TlsConfigError } from "../router/create_router.ts";
import { testCerts } from "./_certs.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const root = new URL("..", import.meta.url).pathname;

/** Opens a plain TCP connection to the router's public port. */
function connect(router: Router): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: router.addr.port });
}

/** Reads until the peer closes (or `ms` pass: then throws); the text read. */
async function readToEnd(conn: Deno.Conn, ms = 5000): Promise<string> {
  const chunks: string[] = [];
  const buf = new Uint8Array(16 * 1024);
  await withTimeout(
    (async () => {
      while (true) {
        let n: number | null;
        try {
          n = await conn.read(buf);
        } catch {
          n = null; // A reset ends it too.
        }
        if (n === null) return;
        chunks.push(decoder.decode(buf.subarray(0, n)));
      }
    })(),
    ms,
    "the connection's end",
  );
  return chunks.join("");
}

/** What was read past the last response on a connection (pipelined answers). */
const leftovers = new WeakMap<Deno.Conn, string>();

/** Reads one HTTP/1.1 response (head and a content-length or chunked body) off `conn`. */
async function readResponse(
  conn: Deno.Conn,
  ms = 5000,
): Promise<{ status: number; head: string; body: string }> {
  let text = leftovers.get(conn) ?? "";
  const buf = new Uint8Array(16 * 1024);
  const more = async () => {
    const n = await withTimeout(conn.read(buf), ms, "a response");
    if (n === null) throw new Error(`connection closed after ${JSON.stringify(text)}`);
    text += decoder.decode(buf.subarray(0, n));
  };
  leftovers.delete(conn);
  while (!text.includes("\r\n\r\n")) await more();
  const headEnd = text.indexOf("\r\n\r\n");
  const head = text.slice(0, headEnd);
  const status = Number(head.split(" ")[1]);
  const length = /\r\ncontent-length: (\d+)/i.exec(head)?.[1];
  let rest = text.slice(headEnd + 4);
  if (length !== undefined) {
    while (rest.length < Number(length)) {
      await more();
      rest = text.slice(headEnd + 4);
    }
    leftovers.set(conn, rest.slice(Number(length)));
    return { status, head, body: rest.slice(0, Number(length)) };
  }
  if (/\r\ntransfer-encoding: chunked/i.test(head)) {
    while (!/(^|\r\n)0\r\n\r\n/.test(rest)) {
      await more();
      rest = text.slice(headEnd + 4);
    }
    let body = "";
    for (let at = 0;;) {
      const lineEnd = rest.indexOf("\r\n", at);
      const size = parseInt(rest.slice(at, lineEnd), 16);
      if (size === 0) {
        leftovers.set(conn, rest.slice(lineEnd + 4));
        break;
      }
      body += rest.slice(lineEnd + 2, lineEnd + 2 + size);
      at = lineEnd + 2 + size + 2;
    }
    return { status, head, body };
  }
  return { status, head, body: rest };
}

/** Sends `text` on a new connection and reads one response. */
async function exchange(router: Router, text: string) {
  const conn = await connect(router);
  try {
    await conn.write(encoder.encode(text));
    return await readResponse(conn);
  } finally {
    conn.close();
  }
}

/** Polls the async `check` every 50 ms until it holds, for at most `ms`. */
async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The status and text of a GET, or status 0 when the request failed. */
async function get(url: string): Promise<{ status: number; text: string }> {
  try {
    const response = await fetch(url);
    return { status: response.status, text: await response.text() };
  } catch {
    return { status: 0, text: "" };
  }
}

/** A raw HTTP/2 client (prior knowledge) on the public port, past the handshake. */
async function h2Client(router: Router): Promise<RawPeer> {
  const peer = new RawPeer(await connect(router));
  peer.out.append(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  peer.out.settings([]);
  await peer.flush();
  const first = await peer.nextFrame();
  ok(first !== null && first.header.type === FrameType.SETTINGS, "the router's SETTINGS");
  await ackSettings(peer);
  return peer;
}

/** Sends a request's header block as it is (however malformed) on `stream`. */
async function sendHeaders(peer: RawPeer, stream: number, fields: string[], end = true) {
  peer.out.headers(stream, peer.encode(fields), end, 16_384);
  await peer.flush();
}

/** A backend that records what reaches it and answers with the URL it saw. */
async function recordingBackend(router: Router) {
  const seen: Array<{ url: string; proto: string | null; host: string | null }> = [];
  const backend = await startBackend(router, (request) => {
    seen.push({
      url: request.url,
      proto: request.headers.get("x-forwarded-proto"),
      host: request.headers.get("host"),
    });
    return new Response(request.url);
  });
  return { seen, backend };
}

// ---- finding 1: connections past the limits, descriptors past the process's limit --------------

/** The CLI in a child process under `ulimit -n`, and the ports of its banner. */
async function childRouter(limit: number, args: string[]) {
  const command = `ulimit -n ${limit} && exec "${Deno.execPath()}" run -A mod.ts ` +
    "--hostname 127.0.0.1 --port 0 --tunnel-port 0 --admin-port 0 --log-level warn " +
    args.join(" ");
  const child = new Deno.Command("bash", {
    args: ["-c", command],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  const readMore = async (ms: number) => {
    const { value, done } = await withTimeout(reader.read(), ms, "router output");
    if (done) throw new Error(`router exited; it said:\n${log}`);
    log += value;
  };
  while (!/Routes:[^\n]*\n/.test(log)) await readMore(20_000);
  const port = (pattern: RegExp) => Number(pattern.exec(log)![1]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    publicPort: port(/HTTP traffic on http:\/\/127\.0\.0\.1:(\d+)/),
    tunnelPort: port(/reverse tunnels on tcp:\/\/127\.0\.0\.1:(\d+)/),
    adminPort: port(/dashboard at http:\/\/127\.0\.0\.1:(\d+)/),
    get log() {
      return log;
    },
    get exited() {
      return exited;
    },
    /** Reads output until `pattern` shows up. */
    async waitFor(pattern: RegExp, ms: number) {
      const deadline = Date.now() + ms;
      while (!pattern.test(log)) await readMore(Math.max(1, deadline - Date.now()));
    },
    async stop() {
      if (!exited) child.kill("SIGTERM");
      const result = await withTimeout(status, 10_000, "router exit");
      // Drain what is left so the pipe closes.
      (async () => {
        try {
          while (!(await reader.read()).done);
        } catch {
          // Cancelled.
        }
      })();
      return result;
    },
  };
}

/** Opens up to `count` idle connections to `port`, stopping at the first that does not connect. */
async function openIdle(port: number, count: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < count; i++) {
    try {
      conns.push(await withTimeout(Deno.connect({ hostname: "127.0.0.1", port }), 2000, "connect"));
    } catch {
      break; // The backlog is full: enough.
    }
  }
  return conns;
}

Deno.test({
  name:
    "finding 1: idle connections past the file-descriptor limit never end the router, which answers once descriptors free up",
  // A connect that the kernel never completes leaves its op behind when abandoned.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const router = await childRouter(96, []);
    let idle: Deno.TcpConn[] = [];
    let status: Deno.CommandStatus;
    try {
      idle = await openIdle(router.publicPort, 150);
      await new Promise((resolve) => setTimeout(resolve, 500));
      ok(!router.exited, `the router exited after ${idle.length} connections:\n${router.log}`);
      ok(idle.length > 96, `only ${idle.length} connections opened`);
      // The accept loop ran out of descriptors, said so once, and carries on.
      await router.waitFor(/public listener not accepting: too many open files; retrying/, 10_000);
      ok(!router.exited, `the router exited:\n${router.log}`);
      for (const conn of idle) conn.close();
      idle = [];
      // Descriptors are free again: a request is answered (503: no backend yet)...
      const base = `http://127.0.0.1:${router.publicPort}`;
      await eventually(async () => (await get(`${base}/`)).status === 503, 10_000, "an answer");
      // ...and the tunnel listener still takes a backend (its accept loop used to end here).
      await using backend = serveReverse({
        hostname: "127.0.0.1",
        port: router.tunnelPort,
        quiet: true,
      }, () => new Response("after the flood"));
      await withTimeout(backend.connected, 10_000, "the backend's tunnel");
      await eventually(
        async () => (await get(`${base}/`)).text === "after the flood",
        5000,
        "a request through the tunnel",
      );
      const ready = await get(`http://127.0.0.1:${router.adminPort}/readyz`);
      deepEqual(ready, { status: 200, text: "ready\n" });
    } finally {
      for (const conn of idle) conn.close();
      status = await router.stop();
    }
    ok(status.success, `router exit code ${status.code}:\n${router.log}`);
  },
});

Deno.test("finding 1: past maxConnections new connections wait, /readyz says so, and are served once room frees", async () => {
  await using router = startRouter({
    maxConnections: 8,
    headerTimeout: 700,
    tunnelWait: 0,
    admin: { port: 0 },
  });
  const idle = await openIdle(router.addr.port, 12);
  try {
    equal(idle.length, 12);
    const ready = await fetch(`http://127.0.0.1:${router.adminAddr!.port}/readyz`);
    equal(ready.status, 503);
    equal(
      await ready.text(),
      "not ready: public listener not accepting: at its limit of 8 connections\n",
    );
    // This request waits in the backlog until the header timeout frees the silent ones.
    const started = performance.now();
    const response = await withTimeout(fetch(`${baseUrl(router)}/`), 5000, "the waiting request");
    equal(response.status, 503);
    await response.body?.cancel();
    ok(performance.now() - started > 300, "answered before the idle ones were closed");
    const after = await get(`http://127.0.0.1:${router.adminAddr!.port}/readyz`);
    deepEqual(after, { status: 200, text: "ready\n" });
  } finally {
    for (const conn of idle) conn.close();
  }
});

Deno.test("at maxConnections the longest idle keep-alive connection is closed to make room", async () => {
  await using router = startRouter({ maxConnections: 3, tunnelWait: 0 });
  const kept: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const conn = await connect(router);
      await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
      equal((await readResponse(conn)).status, 503);
      kept.push(conn);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const started = performance.now();
    const { status } = await exchange(
      router,
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    equal(status, 503);
    ok(performance.now() - started < 2000, "the new connection waited");
    // The first (idle the longest) was closed; the others are still usable.
    equal(await readToEnd(kept[0]!), "");
    await kept[2]!.write(encoder.encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    equal((await readResponse(kept[2]!)).status, 503);
  } finally {
    for (const conn of kept) conn.close();
  }
});

Deno.test("over maxConnectionsPerAddress a connection is closed at once, others go on", async () => {
  await using router = startRouter({ maxConnectionsPerAddress: 2, tunnelWait: 0 });
  const a = await connect(router);
  const b = await connect(router);
  const c = await connect(router);
  try {
    equal(await readToEnd(c, 2000), "", "the third connection is closed");
    await a.write(encoder.encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    equal((await readResponse(a)).status, 503);
  } finally {
    for (const conn of [a, b, c]) conn.close();
  }
});

// ---- finding 2: stalled tunnel handshakes -----------------------------------------------------

Deno.test("finding 2: stalled one-byte handshakes past the pending caps never keep a backend out; /readyz names the listener", async () => {
  await using router = startRouter({
    maxPendingHandshakes: 4,
    maxPendingHandshakesPerAddress: 4,
    handshakeTimeout: 800,
    admin: { port: 0 },
  });
  const port = router.tunnelAddr.port;
  const stalled: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(encoder.encode("G"));
      stalled.push(conn);
    }
    const readyz = `http://127.0.0.1:${router.adminAddr!.port}/readyz`;
    await eventually(
      async () => (await get(readyz)).text.includes("tunnel listener"),
      3000,
      "/readyz naming the tunnel listener",
    );
    deepEqual(await get(readyz), {
      status: 503,
      text: "not ready: tunnel listener not accepting: at its limit of 4 pending handshakes\n",
    });
    // A backend dialing now waits in the backlog behind them, and gets in once they time out.
    await using _backend = await startBackend(router, () => new Response("in"));
    equal(await (await fetch(`${baseUrl(router)}/`)).text(), "in");
    await waitUntil(() => router.pool.size === 1, 5000, "the tunnel");
  } finally {
    for (const conn of stalled) conn.close();
  }
});

Deno.test("finding 2: over maxPendingHandshakesPerAddress a tunnel connection is closed at once", async () => {
  await using router = startRouter({ maxPendingHandshakesPerAddress: 2, handshakeTimeout: 5000 });
  const port = router.tunnelAddr.port;
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 3; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    equal(await readToEnd(conns[2]!, 2000), "");
  } finally {
    for (const conn of conns) conn.close();
  }
});

// ---- finding 3: slowloris and idle connections ------------------------------------------------

Deno.test("finding 3: a request head dribbled in is cut at the header timeout", async () => {
  await using router = startRouter({ headerTimeout: 500, tunnelWait: 0 });
  const conn = await connect(router);
  const started = performance.now();
  let writing = true;
  // One octet of an endless header section every 50 ms: the connection never idles.
  const dribble = (async () => {
    await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: "));
    while (writing) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      try {
        await conn.write(encoder.encode("x"));
      } catch {
        return;
      }
    }
  })();
  try {
    equal(await readToEnd(conn, 3000), "");
    const ms = performance.now() - started;
    ok(ms >= 450 && ms < 2000, `closed after ${ms.toFixed(0)} ms`);
  } finally {
    writing = false;
    conn.close();
    await dribble;
  }
});

Deno.test("finding 3: a kept-alive connection is closed after the idle timeout, a busy one is not", async () => {
  await using router = startRouter({ clientIdleTimeout: 600, headerTimeout: 400 });
  await using _backend = await startBackend(router, async (request) => {
    // Longer than both timeouts: a request in flight holds its connection open.
    if (new URL(request.url).pathname === "/slow") {
      await new Promise((resolve) => setTimeout(resolve, 1200));
    }
    return new Response("done");
  });
  const conn = await connect(router);
  try {
    await conn.write(encoder.encode("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"));
    deepEqual(
      await readResponse(conn, 5000).then((r) => [r.status, r.body]),
      [200, "done"],
    );
    const idleFrom = performance.now();
    equal(await readToEnd(conn, 3000), "");
    const ms = performance.now() - idleFrom;
    ok(ms >= 500 && ms < 2500, `idle connection closed after ${ms.toFixed(0)} ms`);
  } finally {
    conn.close();
  }
});

Deno.test("finding 3: HTTP/2 without SETTINGS is cut at the header timeout; an idle one gets GOAWAY", async () => {
  await using router = startRouter({ headerTimeout: 400, clientIdleTimeout: 600 });
  const silent = await connect(router);
  try {
    await silent.write(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    const started = performance.now();
    await readToEnd(silent, 3000);
    const ms = performance.now() - started;
    ok(ms >= 300 && ms < 2000, `closed after ${ms.toFixed(0)} ms`);
  } finally {
    silent.close();
  }
  const peer = await h2Client(router);
  try {
    const started = performance.now();
    const goaway = await peer.expectGoaway(ErrorCode.NO_ERROR);
    ok(goaway !== null);
    await peer.expectClosed();
    const ms = performance.now() - started;
    ok(ms >= 400 && ms < 3000, `idle HTTP/2 connection closed after ${ms.toFixed(0)} ms`);
  } finally {
    await peer.close();
  }
});

// ---- finding 11: the scheme comes from the listener ------------------------------------------

Deno.test("finding 11: on the plain port an https target or :scheme never reaches the backend as https", async () => {
  await using router = startRouter();
  const { seen, backend } = await recordingBackend(router);
  await using _ = backend;
  const h1 = await exchange(
    router,
    "GET https://a.example/path?q HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
  );
  equal(h1.status, 200);
  equal(h1.body, "http://a.example/path?q");
  const session = new ClientSession(await connect(router));
  try {
    const response = await session.request({
      method: "GET",
      scheme: "https",
      authority: "b.example",
      path: "/h2",
    });
    equal(await response.text(), "http://b.example/h2");
  } finally {
    session.close();
  }
  deepEqual(seen.map((s) => [s.url, s.proto]), [
    ["http://a.example/path?q", "http"],
    ["http://b.example/h2", "http"],
  ]);
});

// ---- finding 12: Host must be host [":" port] ------------------------------------------------

Deno.test("finding 12: a Host with a path, userinfo or a bad port gets 400 and reaches no backend", async () => {
  await using router = startRouter();
  const { seen, backend } = await recordingBackend(router);
  await using _ = backend;
  for (const host of ["victim.example/admin?", "a@b", "a.example:99999", "a.example:x"]) {
    const { status, body } = await exchange(
      router,
      `GET /public HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    equal(status, 400, `Host: ${host}`);
    match(body, /Bad Request: Invalid Host field/);
  }
  const peer = await h2Client(router);
  try {
    let stream = 1;
    for (const authority of ["victim.example/admin?", "a@b", "a.example:99999"]) {
      await sendHeaders(peer, stream, [
        ":method",
        "GET",
        ":scheme",
        "http",
        ":authority",
        authority,
        ":path",
        "/public",
      ]);
      equal((await peer.expectResponse(stream)).status, 400, `:authority ${authority}`);
      stream += 2;
    }
  } finally {
    await peer.close();
  }
  // A good request still gets through, and it is the only one the backend saw.
  equal(
    (await exchange(router, "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")).status,
    200,
  );
  deepEqual(seen.map((s) => s.url), ["http://a/ok"]);
});

// ---- finding 7: resets and disconnects reach the backend at once -----------------------------

/** A backend whose handler waits for its request's signal, and reports how long it waited. */
async function abortWatchingBackend(router: Router) {
  let resolveAborted!: (ms: number) => void;
  const aborted = new Promise<number>((resolve) => resolveAborted = resolve);
  const backend = await startBackend(router, async (request) => {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      request.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolveAborted(performance.now() - started);
        resolve();
      }, { once: true });
    });
    return new Response("too late");
  });
  return { aborted, backend };
}

Deno.test("finding 7: an HTTP/2 client's RST_STREAM 1 ms after its HEADERS aborts the backend's request", async () => {
  await using router = startRouter();
  const { aborted, backend } = await abortWatchingBackend(router);
  await using _ = backend;
  const peer = await h2Client(router);
  try {
    await sendHeaders(peer, 1, [
      ":method",
      "GET",
      ":scheme",
      "http",
      ":authority",
      "a",
      ":path",
      "/",
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1));
    peer.out.rstStream(1, ErrorCode.CANCEL);
    await peer.flush();
    const ms = await withTimeout(aborted, 2000, "the backend's signal");
    ok(ms < 1000, `aborted after ${ms.toFixed(0)} ms`);
  } finally {
    await peer.close();
  }
});

Deno.test("finding 7: a client dropping its HTTP/2 or HTTP/1.1 connection at once aborts the backend's request", async () => {
  await using router = startRouter();
  for (const protocol of ["h2", "http/1.1"]) {
    const { aborted, backend } = await abortWatchingBackend(router);
    try {
      const conn = await connect(router);
      if (protocol === "h2") {
        const peer = new RawPeer(conn);
        peer.out.append(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        peer.out.settings([]);
        peer.out.headers(
          1,
          peer.encode([":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/"]),
          true,
          16_384,
        );
        await peer.flush();
        await new Promise((resolve) => setTimeout(resolve, 1));
        await peer.close();
      } else {
        await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        await new Promise((resolve) => setTimeout(resolve, 1));
        conn.close();
      }
      const ms = await withTimeout(aborted, 2000, `the backend's signal (${protocol})`);
      ok(ms < 1000, `${protocol}: aborted after ${ms.toFixed(0)} ms`);
    } finally {
      await backend.shutdown();
    }
  }
});

// ---- finding 9: requests HTTP/2 forbids are answered 400 and never forwarded ------------------

Deno.test("finding 9: each malformed HTTP/2 request gets 400 then RST_STREAM and never reaches the backend", async () => {
  await using router = startRouter();
  const { seen, backend } = await recordingBackend(router);
  await using _ = backend;
  const base = [":method", "GET", ":scheme", "http", ":authority", "a.example", ":path", "/x"];
  const cases: Array<[string, string[], boolean]> = [
    ["content-length on a GET that ends with its HEADERS", [...base, "content-length", "5"], true],
    ["CONNECT with :scheme and :path", [
      ":method",
      "CONNECT",
      ":scheme",
      "http",
      ":authority",
      "a.example:443",
      ":path",
      "/",
    ], true],
    ["a value with leading whitespace", [...base, "x-a", " x"], true],
    ["a value with trailing whitespace", [...base, "x-a", "x\t"], true],
    ["a connection-specific field", [...base, "connection", "keep-alive"], true],
    ["transfer-encoding", [...base, "transfer-encoding", "chunked"], false],
    ["te other than trailers", [...base, "te", "gzip"], true],
    ["an upper-case field name", [...base, "X-Upper", "1"], true],
    ["no :path", [":method", "GET", ":scheme", "http", ":authority", "a.example"], true],
    ["a pseudo-header after a field", [
      ":method",
      "GET",
      ":scheme",
      "http",
      "x-a",
      "1",
      ":authority",
      "a.example",
      ":path",
      "/",
    ], true],
  ];
  const peer = await h2Client(router);
  try {
    let stream = 1;
    for (const [what, fields, end] of cases) {
      await sendHeaders(peer, stream, fields, end);
      const response = await peer.expectFrame(
        `400 for ${what}`,
        (r) => r.header.streamId === stream && r.fields !== undefined,
      );
      equal(field(response.fields!, ":status"), "400", what);
      await peer.expectReset(stream, ErrorCode.PROTOCOL_ERROR);
      stream += 2;
    }
    // OPTIONS * is the router's to answer, not a request for "/*".
    await sendHeaders(peer, stream, [
      ":method",
      "OPTIONS",
      ":scheme",
      "http",
      ":authority",
      "a.example",
      ":path",
      "*",
    ]);
    const options = await peer.expectResponse(stream);
    equal(options.status, 200);
    ok(field(options.fields, "allow")?.includes("GET"));
    stream += 2;
    // A plain CONNECT (a tunnel elsewhere) is not served either.
    await sendHeaders(peer, stream, [":method", "CONNECT", ":authority", "a.example:443"], false);
    equal((await peer.expectResponse(stream)).status, 405);
    stream += 2;
    // The connection is fine: a good request goes through.
    await sendHeaders(peer, stream, base);
    equal((await peer.expectResponse(stream)).status, 200);
  } finally {
    await peer.close();
  }
  deepEqual(seen.map((s) => s.url), ["http://a.example/x"]);
});

Deno.test("HTTP/1.1: OPTIONS * is answered by the router and never forwarded", async () => {
  await using router = startRouter();
  const { seen, backend } = await recordingBackend(router);
  await using _ = backend;
  const { status, head } = await exchange(
    router,
    "OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
  );
  equal(status, 200);
  match(head, /\r\nallow: GET, HEAD, POST/);
  deepEqual(seen, []);
});

// ---- HTTP/1.1 on the edge ---------------------------------------------------------------------

/** A backend echoing method, path and body. */
function echoBackend(router: Router) {
  return startBackend(router, async (request) => {
    const body = request.body ? await request.text() : "";
    return new Response(`${request.method} ${new URL(request.url).pathname} ${body}`);
  });
}

Deno.test("HTTP/1.1: pipelined requests are answered in order on one connection", async () => {
  await using router = startRouter();
  await using _backend = await echoBackend(router);
  const conn = await connect(router);
  try {
    await conn.write(encoder.encode(
      "GET /a HTTP/1.1\r\nHost: a\r\n\r\n" +
        "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" +
        "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ));
    equal((await readResponse(conn)).body, "GET /a ");
    equal((await readResponse(conn)).body, "POST /b hello");
    equal((await readResponse(conn)).body, "POST /c abc");
  } finally {
    conn.close();
  }
});

Deno.test("HTTP/1.1: a chunked body in pieces, and 100 Continue before a body the client holds back", async () => {
  await using router = startRouter();
  await using _backend = await echoBackend(router);
  const conn = await connect(router);
  try {
    await conn.write(encoder.encode(
      "PUT /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nwiki",
    ));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await conn.write(encoder.encode("\r\n5\r\npedia\r\n0\r\nX-Trailer: dropped\r\n\r\n"));
    equal((await readResponse(conn)).body, "PUT /up wikipedia");
    await conn.write(encoder.encode(
      "POST /wait HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    ));
    const buf = new Uint8Array(256);
    const n = await withTimeout(conn.read(buf), 3000, "100 Continue");
    equal(decoder.decode(buf.subarray(0, n!)), "HTTP/1.1 100 Continue\r\n\r\n");
    await conn.write(encoder.encode("body"));
    equal((await readResponse(conn)).body, "POST /wait body");
  } finally {
    conn.close();
  }
});

Deno.test("HTTP/1.1: a request that smuggles a second one is refused whole and the connection closed", async () => {
  await using router = startRouter();
  const { seen, backend } = await recordingBackend(router);
  await using _ = backend;
  const conn = await connect(router);
  try {
    await conn.write(encoder.encode(
      "POST /front HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    ));
    const text = await readToEnd(conn);
    match(text, /^HTTP\/1.1 400 Bad Request\r\n/);
    match(text, /\r\nconnection: close\r\n/);
    equal(text.match(/HTTP\/1.1/g)?.length, 1, "one answer only");
  } finally {
    conn.close();
  }
  deepEqual(seen, []);
});

Deno.test("HTTP/1.1: a head over maxHeaderBytes gets 431, a request line over it 414", async () => {
  await using router = startRouter({ maxHeaderBytes: 1024 });
  const big = await exchange(
    router,
    `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"b".repeat(2000)}\r\n\r\n`,
  );
  equal(big.status, 431);
  const long = await exchange(router, `GET /${"a".repeat(2000)} HTTP/1.1\r\nHost: a\r\n\r\n`);
  equal(long.status, 414);
});

Deno.test("HTTP/1.1: HEAD has no body, HTTP/1.0 gets its Host from the listener and a closing answer", async () => {
  await using router = startRouter();
  const { seen, backend } = await recordingBackend(router);
  await using _ = backend;
  const head = await exchange(router, "HEAD /h HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  equal(head.status, 200);
  equal(head.body, "");
  const conn = await connect(router);
  try {
    await conn.write(encoder.encode("GET /old HTTP/1.0\r\n\r\n"));
    const text = await readToEnd(conn);
    match(text, /^HTTP\/1.1 200 OK\r\n/);
    ok(text.endsWith(`http://127.0.0.1:${router.addr.port}/old`), text);
  } finally {
    conn.close();
  }
  equal(seen.length, 2);
});

Deno.test("HTTP/1.1: a short body the app never read is drained and the connection reused", async () => {
  // Declared over maxBodyBytes: the proxy answers 413 without reading it.
  await using router = startRouter({ maxBodyBytes: 4, tunnelWait: 0 });
  const conn = await connect(router);
  try {
    await conn.write(encoder.encode(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789" +
        "GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
    ));
    equal((await readResponse(conn)).status, 413);
    equal((await readResponse(conn)).status, 503, "the next request on the same connection");
  } finally {
    conn.close();
  }
});

Deno.test("HTTP/1.1: a long unread body closes the connection after the answer", async () => {
  await using router = startRouter({ maxBodyBytes: 4, tunnelWait: 0 });
  const conn = await connect(router);
  try {
    await conn.write(
      encoder.encode("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"),
    );
    await conn.write(new Uint8Array(100_000));
    const text = await readToEnd(conn);
    match(text, /^HTTP\/1.1 413 /);
    match(text, /\r\nconnection: close\r\n/);
  } finally {
    conn.close();
  }
});

// ---- interop ---------------------------------------------------------------------------------

/** Runs a tool to its end within `ms`, `input` on its stdin; its stdout. */
async function run(tool: string, args: string[], ms = 30_000, input?: string): Promise<string> {
  const child = new Deno.Command(tool, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(ms),
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode(input));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const out = decoder.decode(stdout);
  if (code !== 0) throw new Error(`${tool} exited with ${code}: ${out}${decoder.decode(stderr)}`);
  return out;
}

Deno.test("interop: curl (HTTP/1.1, h2c), nghttp, h2load and wrk against the router's public port", async () => {
  await using router = startRouter();
  await using _backend = await echoBackend(router);
  const base = baseUrl(router);
  equal(await run("curl", ["-sS", "--http1.1", "-d", "one", `${base}/c1`]), "POST /c1 one");
  equal(
    await run("curl", ["-sS", "--http2-prior-knowledge", "-d", "two", `${base}/c2`]),
    "POST /c2 two",
  );
  const chunked = await run("curl", [
    "-sS",
    "-H",
    "Transfer-Encoding: chunked",
    "-d",
    "three",
    `${base}/c3`,
  ]);
  equal(chunked, "POST /c3 three");
  const nghttp = await run("nghttp", ["-nv", "-t", "10", `${base}/n`]);
  match(nghttp, /recv HEADERS frame/);
  ok(!/recv RST_STREAM|recv GOAWAY.*error_code=[^N]/.test(nghttp), nghttp);
  const h2load = await run("h2load", ["-n", "500", "-c", "4", "-m", "10", `${base}/h2load`]);
  match(h2load, /requests: 500 total, 500 started, 500 done, 500 succeeded, 0 failed, 0 errored/);
  const wrk = await run("wrk", ["-t1", "-c8", "-d1s", `${base}/wrk`]);
  match(wrk, /Requests\/sec/);
  ok(!/Non-2xx|Socket errors/.test(wrk), wrk);
});

// ---- TLS ---------------------------------------------------------------------------------------

Deno.test("a certificate and key that do not match: createRouter throws, the CLI says so in one line and exits 2", async () => {
  const certs = await testCerts();
  // The CA's certificate with the server's key: each valid, not a pair.
  let thrown: unknown = null;
  try {
    await using _router = startRouter({ tls: { cert: certs.ca, key: certs.key } });
  } catch (error) {
    thrown = error;
  }
  ok(thrown instanceof TlsConfigError, `threw ${thrown}`);
  const dir = await Deno.makeTempDir({ prefix: "ptth-tls-" });
  try {
    await Deno.writeTextFile(`${dir}/cert.pem`, certs.ca);
    await Deno.writeTextFile(`${dir}/key.pem`, certs.key);
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "mod.ts",
        ...["--hostname", "127.0.0.1", "--port", "0", "--tunnel-port", "0", "--admin-port", "off"],
        ...["--tls-cert", `${dir}/cert.pem`, "--tls-key", `${dir}/key.pem`],
      ],
      cwd: root,
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output();
    const text = decoder.decode(stderr);
    equal(code, 2, text);
    equal(text.trim().split("\n").length, 1, text);
    match(text, /^ptth: Invalid TLS certificate or key for the public port: .+ \(see --help\)\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("over TLS, ALPN picks HTTP/2 or HTTP/1.1 and the URL's scheme is https", async () => {
  const certs = await testCerts();
  await using router = startRouter({ tls: { cert: certs.cert, key: certs.key } });
  const { seen, backend } = await recordingBackend(router);
  await using _ = backend;
  const base = `https://localhost:${router.addr.port}`;
  for (const version of ["--http1.1", "--http2"]) {
    const out = await run(
      "curl",
      [
        "-sS",
        "--cacert",
        "/dev/stdin",
        version,
        "-w",
        " %{http_version}",
        `${base}/tls`,
      ],
      20_000,
      certs.ca,
    );
    equal(out, `https://localhost:${router.addr.port}/tls ${version === "--http2" ? 2 : 1.1}`);
  }
  deepEqual(seen.map((s) => s.proto), ["https", "https"]);
});

Deno.test("finding 3: TLS handshakes that never complete stay counted against the limits until they end", async () => {
  // Deno keeps the socket of a TLS connection closed during its handshake open until the
  // client acts, so the edge keeps counting it (past the header timeout, or refused over the
  // per-address limit) instead of forgetting a descriptor still held.
  const certs = await testCerts();
  await using router = startRouter({
    tls: { cert: certs.cert, key: certs.key },
    headerTimeout: 300,
    maxConnections: 3,
    maxConnectionsPerAddress: 2,
    admin: { port: 0 },
  });
  const readyz = `http://127.0.0.1:${router.adminAddr!.port}/readyz`;
  const stalled: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const conn = await connect(router);
      await conn.write(new Uint8Array([0x16, 0x03, 0x01]));
      stalled.push(conn);
    }
    await new Promise((resolve) => setTimeout(resolve, 600));
    deepEqual(await get(readyz), {
      status: 503,
      text: "not ready: public listener not accepting: at its limit of 3 connections\n",
    });
    // The clients going away frees their places: a real client then gets through.
    for (const conn of stalled) conn.close();
    stalled.length = 0;
    await eventually(async () => (await get(readyz)).status === 200, 5000, "ready again");
    const out = await run(
      "curl",
      ["-sS", "--cacert", "/dev/stdin", `https://localhost:${router.addr.port}/`],
      20_000,
      certs.ca,
    );
    match(out, /Service Unavailable/);
  } finally {
    for (const conn of stalled) conn.close();
  }
});

Deno.test("a WebSocket over HTTP/2 (RFC 8441 extended CONNECT) reaches a backend through the router", async () => {
  await using router = startRouter();
  await using _backend = await startBackend(router, (request) => {
    const { socket, response } = upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(`echo ${event.data}`);
    return response;
  });
  const session = new ClientSession(await connect(router));
  try {
    await session.connection.ready;
    equal(session.connection.peerEnablesConnectProtocol, true);
    const up = new TransformStream<Uint8Array, Uint8Array>();
    const response = await session.request({
      method: "CONNECT",
      protocol: "websocket",
      scheme: "http",
      authority: "a.example",
      path: "/chat",
      headers: ["sec-websocket-version", "13"],
      body: up.readable,
    });
    equal(response.status, 200);
    const socket = new StreamWebSocket({ readable: response.body!, writable: up.writable }, {
      role: "client",
    });
    const echoed = new Promise<string>((resolve) => socket.onmessage = (e) => resolve(e.data));
    socket.onopen = () => socket.send("over h2");
    equal(await withTimeout(echoed, 5000, "the echo"), "echo over h2");
    const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
    socket.close(1000);
    equal((await withTimeout(closed, 5000, "the close")).code, 1000);
  } finally {
    session.close();
  }
});

Deno.test("a chunked body that breaks in the packet of its head gets 400 and the connection closes, never held", async () => {
  await using router = startRouter({ clientIdleTimeout: 60_000, headerTimeout: 60_000 });
  for (const broken of ["Z\r\n", "5 \r\nhello\r\n", "0x5\r\nhello\r\n", "3\r\nhello\r\n"]) {
    const conn = await connect(router);
    try {
      await conn.write(
        encoder.encode(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${broken}`),
      );
      // Answered and closed at once (the timeouts here are a minute): nothing is left waiting.
      const text = await readToEnd(conn, 5000);
      match(text, /^HTTP\/1\.1 400 /, JSON.stringify(broken));
    } finally {
      conn.close();
    }
  }
});

Deno.test("HTTP/2: a list of equal content-lengths is held to --max-body-bytes; unequal ones get 400", async () => {
  await using router = startRouter({ maxBodyBytes: 10 });
  const { backend, seen } = await recordingBackend(router);
  await using _ = backend;
  const peer = await h2Client(router);
  try {
    const request = (length: string) => [
      ":method",
      "POST",
      ":scheme",
      "http",
      ":authority",
      "a.example",
      ":path",
      "/up",
      "content-length",
      length,
    ];
    await sendHeaders(peer, 1, request("100000, 100000"), false);
    peer.out.data(1, new Uint8Array(16_000), false);
    await peer.flush();
    equal((await peer.expectResponse(1)).status, 413, "equal lengths: the one length counts");
    await sendHeaders(peer, 3, request("5, 6"), false);
    equal((await peer.expectResponse(3)).status, 400, "unequal lengths: malformed");
    equal(seen.length, 0, "nothing reached the backend");
  } finally {
    await peer.close();
  }
});
