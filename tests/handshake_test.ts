import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { createRouter, type Router, type RouterOptions } from "../router/create_router.ts";
import { serveReverse, TunnelRefusedError } from "../backend/serve_reverse.ts";
import {
  encodeHandshakeRequest,
  encodeHandshakeResponse,
  findHeadEnd,
  HandshakeError,
  MAX_HANDSHAKE_BYTES,
  parseHandshakeRequest,
  parseHandshakeResponse,
  type TunnelIdentity,
} from "../tunnel/handshake.ts";
import type { RouterTunnel } from "../router/tunnels/router_tunnel.ts";
import { waitUntil, withTimeout } from "./_helpers.ts";

const API_TOKEN = "api-token-0123456789abcdef";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const SWITCHED = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: ptth\r\n" +
  "ALPN: h2\r\n\r\n";
const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/** An empty SETTINGS frame: what an HTTP/2 server sends first. */
const EMPTY_SETTINGS = new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]);

// ---- encode / parse -----------------------------------------------------------------------

/** Parses a request written as lines (the head without its final blank line). */
function parseLines(...lines: string[]) {
  return parseHandshakeRequest(encoder.encode(lines.join("\r\n")));
}

const VALID = [
  "GET /.well-known/ptth/api HTTP/1.1",
  "Host: router:8887",
  "Connection: upgrade",
  "Upgrade: ptth",
  "ALPN: h2",
];

/** The valid request without the lines starting with `name`, plus `line` (first for "get"). */
function variant(name: string | null, line: string | null, extra: string[] = []): string[] {
  const lines = VALID.filter((l) => name === null || !l.toLowerCase().startsWith(name));
  if (line !== null) {
    if (name === "get") lines.unshift(line);
    else lines.push(line);
  }
  return [...lines, ...extra];
}

function assertMalformed(lines: string[], message: RegExp): void {
  throws(() => parseLines(...lines), (error: unknown) => {
    ok(error instanceof HandshakeError, `expected HandshakeError, got ${error}`);
    equal(error.status, 400);
    ok(message.test(error.message), `message ${JSON.stringify(error.message)} !~ ${message}`);
    ok(!error.message.includes("\n"), "the reason is one line");
    return true;
  });
}

Deno.test("handshake request round-trips through encode and parse", () => {
  const identity: TunnelIdentity = {
    service: "api",
    hosts: ["api.example.com", "*.apps.example.com"],
    weight: 250,
    metadata: { version: "1.4.2", region: "eu west", odd: "a,b=c;d%e/é" },
  };
  const bytes = encodeHandshakeRequest("router.example.com:8887", identity, API_TOKEN);
  const end = findHeadEnd(bytes, bytes.length);
  equal(end, bytes.length, "the request is exactly one head");
  const text = decoder.decode(bytes);
  ok(text.startsWith("GET /.well-known/ptth/api HTTP/1.1\r\nHost: router.example.com:8887\r\n"));
  ok(text.includes("\r\nAuthorization: Bearer api-token-0123456789abcdef\r\n"));
  ok(text.includes("\r\nPTTH-Hosts: api.example.com, *.apps.example.com\r\n"));
  ok(text.includes("\r\nPTTH-Weight: 250\r\n"));
  ok(text.includes("region=eu%20west"), "metadata values are percent-encoded");
  const parsed = parseHandshakeRequest(bytes.subarray(0, end - 4));
  deepEqual(parsed, { ...identity, token: API_TOKEN });
});

Deno.test("handshake request defaults: no token, weight 1, no hosts or metadata", () => {
  const bytes = encodeHandshakeRequest("r:1", {
    service: "default",
    hosts: [],
    weight: 1,
    metadata: {},
  }, null);
  equal(
    decoder.decode(bytes),
    "GET /.well-known/ptth/default HTTP/1.1\r\nHost: r:1\r\nConnection: upgrade\r\n" +
      "Upgrade: ptth\r\nALPN: h2\r\n\r\n",
  );
  deepEqual(parseHandshakeRequest(bytes.subarray(0, bytes.length - 4)), {
    service: "default",
    hosts: [],
    weight: 1,
    metadata: {},
    token: null,
  });
});

Deno.test("handshake parser accepts the tolerated variants of a valid request", () => {
  // An empty service is `default`; header names and tokens are case-insensitive;
  // Connection and ALPN may list more than one token (RFC 7639 percent-encodes ids).
  const parsed = parseLines(
    "GET /.well-known/ptth/ HTTP/1.1",
    "host: r",
    "CONNECTION: keep-alive, Upgrade",
    "upgrade: PTTH",
    "alpn: http%2F1.1, h2",
    "authorization: bearer tok",
    "ptth-hosts: API.Example.com,  b.example.com",
    "PTTH-Weight: 0007",
    "PTTH-Metadata: Zone=a, empty=",
  );
  equal(parsed.service, "default");
  equal(parsed.token, "tok");
  deepEqual(parsed.hosts, ["api.example.com", "b.example.com"]);
  equal(parsed.weight, 7);
  deepEqual(parsed.metadata, { zone: "a", empty: "" });
  equal(parseLines("GET /.well-known/ptth/%61pi HTTP/1.1", ...VALID.slice(1)).service, "api");
});

Deno.test("handshake parser: a wrong method or version is 400", () => {
  assertMalformed(variant("get", "POST /.well-known/ptth/api HTTP/1.1"), /expected GET/);
  assertMalformed(variant("get", "GET /.well-known/ptth/api HTTP/1.0"), /expected GET/);
  assertMalformed(variant("get", "GET /.well-known/ptth/api"), /expected GET/);
  assertMalformed(variant("get", "get /.well-known/ptth/api HTTP/1.1"), /expected GET/);
});

Deno.test("handshake parser: a wrong path is 400", () => {
  assertMalformed(
    variant("get", "GET /ptth/api HTTP/1.1"),
    /path must start with \/\.well-known\/ptth\//,
  );
  assertMalformed(variant("get", "GET / HTTP/1.1"), /path must start with/);
  assertMalformed(variant("get", "GET http://r/.well-known/ptth/api HTTP/1.1"), /path must start/);
});

Deno.test("handshake parser: missing or wrong Upgrade, Connection, ALPN or Host is 400", () => {
  assertMalformed(variant("upgrade", null), /Connection: upgrade, Upgrade: ptth/);
  assertMalformed(variant("upgrade", "Upgrade: websocket"), /Upgrade: ptth/);
  assertMalformed(variant("upgrade", "Upgrade: h2c"), /Upgrade: ptth/);
  assertMalformed(variant("connection", null), /Connection: upgrade/);
  assertMalformed(variant("connection", "Connection: keep-alive"), /Connection: upgrade/);
  assertMalformed(variant("alpn", null), /ALPN must offer h2/);
  assertMalformed(variant("alpn", "ALPN: http%2F1.1"), /ALPN must offer h2/);
  assertMalformed(variant("alpn", "ALPN: h2c"), /ALPN must offer h2/);
  assertMalformed(variant("host", null), /missing Host/);
  assertMalformed(variant(null, "this line has no colon"), /bad header line/);
});

Deno.test("handshake parser: a bad service name is 400", () => {
  for (
    const service of [
      "API",
      "-api",
      ".api",
      "a/b",
      "a%2Fb",
      "a%20b",
      "api?x=1",
      "a".repeat(64),
      "%zz", // Bad percent-encoding: a 400 like any bad name, not a crash.
      "%",
    ]
  ) {
    assertMalformed(
      variant("get", `GET /.well-known/ptth/${service} HTTP/1.1`),
      /bad service name/,
    );
  }
  equal(
    parseLines("GET /.well-known/ptth/" + "a".repeat(63) + " HTTP/1.1", ...VALID.slice(1))
      .service.length,
    63,
  );
  equal(parseLines("GET /.well-known/ptth/a0._-z HTTP/1.1", ...VALID.slice(1)).service, "a0._-z");
});

Deno.test("handshake parser: a bad host in PTTH-Hosts is 400", () => {
  for (
    const host of [
      "exa mple.com",
      "-bad.example.com",
      "bad-.example.com",
      "a..b",
      "api.example.com:8080",
      "*.",
      "a.*.example.com",
      "api.example.com.",
      "[::1]",
      "ex_ample.com",
    ]
  ) {
    assertMalformed(variant(null, `PTTH-Hosts: ok.example.com, ${host}`), /bad host/);
  }
});

Deno.test("handshake parser: a bad PTTH-Weight is 400", () => {
  for (const weight of ["0", "1001", "-1", "1.5", "abc", "", "1e2", "10000", " 5 5"]) {
    assertMalformed(variant(null, `PTTH-Weight: ${weight}`), /PTTH-Weight must be 1-1000/);
  }
  equal(parseLines(...variant(null, "PTTH-Weight: 1000")).weight, 1000);
  equal(parseLines(...variant(null, "PTTH-Weight: 1")).weight, 1);
});

Deno.test("handshake parser: bad PTTH-Metadata is 400", () => {
  for (const meta of ["novalue", "=x", "bad key=1", "_x=1", "k!=1", "a=1, b"]) {
    assertMalformed(variant(null, `PTTH-Metadata: ${meta}`), /key=value pairs/);
  }
  assertMalformed(variant(null, "PTTH-Metadata: k=%zz"), /bad value of metadata k/);
  assertMalformed(variant(null, "PTTH-Metadata: k=100%"), /bad value of metadata k/);
});

Deno.test("handshake parser: an Authorization that is not one Bearer token is 400", () => {
  for (
    const value of [
      "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
      "Bearer",
      "Bearer ",
      "Bearer two tokens",
      "Token abc",
      "abc",
    ]
  ) {
    assertMalformed(variant(null, `Authorization: ${value}`), /Authorization must be Bearer/);
  }
  // Two Authorization fields are joined into one value, which is not one token.
  assertMalformed(
    variant(null, "Authorization: Bearer a", ["Authorization: Bearer b"]),
    /Authorization must be Bearer/,
  );
});

Deno.test("handshake response: 101 is recognised only with Upgrade, Connection and ALPN", () => {
  const switched = encodeHandshakeResponse(101);
  equal(decoder.decode(switched), SWITCHED);
  const head = (text: string) => encoder.encode(text);
  deepEqual(parseHandshakeResponse(switched.subarray(0, switched.length - 4)), {
    status: 101,
    switched: true,
  });
  deepEqual(
    parseHandshakeResponse(
      head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: ptth\r\nConnection: upgrade"),
    ),
    { status: 101, switched: false },
    "a 101 without ALPN h2 is not a PTTH switch",
  );
  deepEqual(
    parseHandshakeResponse(
      head(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nALPN: h2",
      ),
    ),
    { status: 101, switched: false },
  );
  deepEqual(parseHandshakeResponse(head("HTTP/1.1 403 Forbidden\r\nContent-Length: 3")), {
    status: 403,
    switched: false,
  });
  throws(() => parseHandshakeResponse(head("SSH-2.0-OpenSSH_9.2")), HandshakeError);
});

Deno.test("handshake response: refusals are text/plain with a one-line reason", () => {
  const bytes = encodeHandshakeResponse(403, "Token not valid\r\nfor service api");
  const text = decoder.decode(bytes);
  const end = findHeadEnd(bytes, bytes.length);
  const body = bytes.subarray(end);
  equal(decoder.decode(body), "Token not valid  for service api\n");
  ok(text.startsWith("HTTP/1.1 403 Forbidden\r\n"));
  ok(text.includes("\r\nContent-Type: text/plain\r\n"));
  ok(text.includes(`\r\nContent-Length: ${body.length}\r\n`));
  ok(text.includes("\r\nConnection: close\r\n"));
  for (
    const [status, phrase] of [[400, "Bad Request"], [401, "Unauthorized"], [
      429,
      "Too Many Requests",
    ]]
  ) {
    ok(
      decoder.decode(encodeHandshakeResponse(status as number, "x")).startsWith(
        `HTTP/1.1 ${status} ${phrase}\r\n`,
      ),
    );
  }
  // The byte count holds for non-ASCII reasons too.
  const utf8 = encodeHandshakeResponse(400, "é");
  ok(decoder.decode(utf8).includes("Content-Length: 3\r\n"));
});

Deno.test("findHeadEnd finds the blank line, or -1", () => {
  const bytes = encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\nPRI");
  equal(findHeadEnd(bytes, bytes.length), bytes.length - 3);
  equal(findHeadEnd(bytes, bytes.length - 4), -1, "only `length` bytes count");
  equal(findHeadEnd(encoder.encode("a\n\nb"), 4), -1, "bare LFs do not end a head");
});

// ---- over real sockets --------------------------------------------------------------------

function startRouter(options: RouterOptions = {}): Router {
  return createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true, ...options });
}

function request(service: string, ...headers: string[]): string {
  return [
    `GET /.well-known/ptth/${service} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Connection: upgrade",
    "Upgrade: ptth",
    "ALPN: h2",
    ...headers,
  ].join("\r\n") + "\r\n\r\n";
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array | string): Promise<void> {
  let rest = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
  while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
}

/** Reads until `enough` holds for the bytes so far, EOF, or the timeout. */
async function readUntil(
  conn: Deno.Conn,
  enough: (bytes: Uint8Array) => boolean,
  ms = 3000,
): Promise<{ bytes: Uint8Array; eof: boolean }> {
  let bytes = new Uint8Array(0);
  const buf = new Uint8Array(65536);
  const deadline = Date.now() + ms;
  while (!enough(bytes)) {
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(`Timed out after ${ms} ms; got ${JSON.stringify(decoder.decode(bytes))}`);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      conn.read(buf).catch(() => null), // A reset counts as the end.
      new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), left)),
    ]);
    clearTimeout(timer);
    if (n === "timeout") {
      conn.close(); // Ends the pending read, so the sanitizers see nothing left over.
      throw new Error(`Timed out after ${ms} ms; got ${JSON.stringify(decoder.decode(bytes))}`);
    }
    if (n === null) return { bytes, eof: true };
    const joined = new Uint8Array(bytes.length + n);
    joined.set(bytes);
    joined.set(buf.subarray(0, n), bytes.length);
    bytes = joined;
  }
  return { bytes, eof: false };
}

/** Sends `parts` (pausing between them) and reads everything until the router closes. */
async function exchange(
  port: number,
  parts: Array<string | Uint8Array>,
  pause = 20,
): Promise<{ text: string; eof: boolean; ms: number }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const started = performance.now();
  try {
    for (const [i, part] of parts.entries()) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      await writeAll(conn, part).catch(() => {}); // The router may have closed already.
    }
    const { bytes, eof } = await readUntil(conn, () => false, 5000);
    return { text: decoder.decode(bytes), eof, ms: performance.now() - started };
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by the timeout.
    }
  }
}

/** Checks a refusal: exact status line, text/plain, a one-line reason, then the close. */
function assertRefusal(
  result: { text: string; eof: boolean },
  status: number,
  reason: RegExp,
): void {
  const phrase: Record<number, string> = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
  };
  ok(
    result.text.startsWith(`HTTP/1.1 ${status} ${phrase[status]}\r\n`),
    `expected ${status}, got ${JSON.stringify(result.text)}`,
  );
  const [head, body] = result.text.split("\r\n\r\n", 2) as [string, string];
  ok(head.includes("\r\nContent-Type: text/plain\r\n"));
  ok(head.includes(`\r\nContent-Length: ${encoder.encode(body).length}\r\n`));
  ok(body.endsWith("\n") && body.indexOf("\n") === body.length - 1, "a one-line reason");
  ok(reason.test(body), `reason ${JSON.stringify(body)} !~ ${reason}`);
  ok(!body.includes(API_TOKEN), "the token is never echoed");
  ok(result.eof, "the router closes the connection after a refusal");
}

Deno.test("a hand-written handshake gets exactly 101, then the router's HTTP/2 client preface", async () => {
  await using router = startRouter({
    tokens: { api: API_TOKEN },
    serviceHosts: { api: ["api.example.com", "*.api.example.com"] },
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
  try {
    await writeAll(
      conn,
      request(
        "api",
        `Authorization: Bearer ${API_TOKEN}`,
        "PTTH-Hosts: api.example.com, *.api.example.com",
        "PTTH-Weight: 7",
        "PTTH-Metadata: version=1.2.3, zone=eu%20west",
      ),
    );
    // 101 head + 24-octet preface + the SETTINGS frame header.
    const need = SWITCHED.length + PREFACE.length + 9;
    const { bytes } = await readUntil(conn, (b) => b.length >= need);
    equal(decoder.decode(bytes.subarray(0, SWITCHED.length)), SWITCHED);
    equal(decoder.decode(bytes.subarray(SWITCHED.length, SWITCHED.length + 24)), PREFACE);
    const settings = bytes.subarray(SWITCHED.length + 24, need);
    equal(settings[3], 0x4, "SETTINGS follows the preface");
    equal(settings[4], 0, "not an ACK");
    deepEqual([...settings.subarray(5, 9)], [0, 0, 0, 0], "on stream 0");
    equal(router.pool.size, 0, "not in the pool before the backend's SETTINGS");
    // Play the HTTP/2 server: our SETTINGS puts the tunnel into the pool.
    await writeAll(conn, EMPTY_SETTINGS);
    await waitUntil(() => router.pool.size === 1, 3000, "tunnel in the pool");
    const [tunnel] = router.pool.list();
    equal(tunnel!.service, "api");
    deepEqual(tunnel!.hosts, ["api.example.com", "*.api.example.com"]);
    equal(tunnel!.weight, 7);
    deepEqual(tunnel!.metadata, { version: "1.2.3", zone: "eu west" });
    equal((tunnel as RouterTunnel).legacy, false);
  } finally {
    conn.close();
  }
  await waitUntil(() => router.pool.size === 0, 3000, "the closed tunnel leaves the pool");
});

Deno.test("bytes sent right after the handshake head are kept for HTTP/2", async () => {
  // Not allowed for backends (they must wait for the 101), but the router must not lose them.
  await using router = startRouter();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
  try {
    const head = encoder.encode(request("default"));
    const both = new Uint8Array(head.length + EMPTY_SETTINGS.length);
    both.set(head);
    both.set(EMPTY_SETTINGS, head.length);
    await writeAll(conn, both);
    await readUntil(conn, (b) => b.length >= SWITCHED.length + 24);
    await waitUntil(() => router.pool.size === 1, 3000, "tunnel in the pool");
  } finally {
    conn.close();
  }
});

Deno.test("a wrong token gets 403 with a one-line reason and the connection is closed", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN, web: "web-token-0123456789" } });
  const port = router.tunnelAddr.port;
  assertRefusal(
    await exchange(port, [request("api", "Authorization: Bearer wrong-token-0123456789")]),
    403,
    /^Token not valid for service api\n$/,
  );
  // A valid token of another service is not valid for this one.
  assertRefusal(
    await exchange(port, [request("api", "Authorization: Bearer web-token-0123456789")]),
    403,
    /Token not valid for service api/,
  );
  // A service without tokens accepts none.
  assertRefusal(
    await exchange(port, [request("other", `Authorization: Bearer ${API_TOKEN}`)]),
    403,
    /Token not valid for service other/,
  );
  equal(router.pool.size, 0);
});

Deno.test("a missing token gets 401; anonymous tunnels may serve only default (403)", async () => {
  {
    await using router = startRouter({ tokens: { api: API_TOKEN } });
    const port = router.tunnelAddr.port;
    assertRefusal(await exchange(port, [request("api")]), 401, /^This router requires a token\n$/);
    assertRefusal(await exchange(port, [request("default")]), 401, /requires a token/);
  }
  {
    await using router = startRouter({ tokens: { api: API_TOKEN }, allowAnonymous: true });
    const port = router.tunnelAddr.port;
    assertRefusal(
      await exchange(port, [request("web")]),
      403,
      /^Anonymous tunnels serve only service default\n$/,
    );
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(conn, request("default"));
    const { bytes } = await readUntil(conn, (b) => b.length >= SWITCHED.length);
    conn.close();
    equal(decoder.decode(bytes.subarray(0, SWITCHED.length)), SWITCHED);
  }
});

Deno.test("a malformed handshake gets 400 with the reason", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN } });
  const port = router.tunnelAddr.port;
  const auth = `Authorization: Bearer ${API_TOKEN}`;
  assertRefusal(
    await exchange(port, [request("api", auth).replace("ALPN: h2\r\n", "")]),
    400,
    /^Malformed handshake: ALPN must offer h2\n$/,
  );
  assertRefusal(
    await exchange(port, [request("api", auth).replace("GET", "POST")]),
    400,
    /^Not a tunnel: expected a PTTH handshake or HTTP\/2\n$/,
  );
  assertRefusal(
    await exchange(port, [request("api", auth).replace("HTTP/1.1", "HTTP/1.0")]),
    400,
    /expected GET … HTTP\/1\.1/,
  );
  assertRefusal(await exchange(port, [request("%zz", auth)]), 400, /bad service name/);
  assertRefusal(await exchange(port, [request("api", auth, "PTTH-Weight: 0")]), 400, /PTTH-Weight/);
  // Something else entirely: a TLS ClientHello on the plain port.
  assertRefusal(
    await exchange(port, [new Uint8Array([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1])]),
    400,
    /Not a tunnel/,
  );
  equal(router.pool.size, 0);
});

Deno.test("a handshake head over 8 KiB gets 400, however it is split", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN } });
  const port = router.tunnelAddr.port;
  const big = request("api", `Authorization: Bearer ${API_TOKEN}`, `X-Pad: ${"a".repeat(9000)}`);
  assertRefusal(await exchange(port, [big]), 400, /^Malformed handshake: head too large\n$/);
  // A short first read, then a second read that completes a head of just over 8 KiB.
  const small = request("api", `Authorization: Bearer ${API_TOKEN}`);
  const pad = MAX_HANDSHAKE_BYTES - small.length + 1 - "X-Pad: \r\n".length;
  const over = small.slice(0, -2) + `X-Pad: ${"a".repeat(pad)}\r\n\r\n`;
  equal(encoder.encode(over).length, MAX_HANDSHAKE_BYTES + 1);
  assertRefusal(
    await exchange(port, [over.slice(0, 40), over.slice(40)], 100),
    400,
    /head too large/,
  );
  // Exactly 8 KiB is fine.
  const exact = small.slice(0, -2) + `X-Pad: ${"a".repeat(pad - 1)}\r\n\r\n`;
  equal(encoder.encode(exact).length, MAX_HANDSHAKE_BYTES);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(conn, exact);
  const { bytes } = await readUntil(conn, (b) => b.length >= SWITCHED.length);
  conn.close();
  equal(decoder.decode(bytes.subarray(0, SWITCHED.length)), SWITCHED);
});

Deno.test("a handshake that never finishes is closed after handshakeTimeout", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN }, handshakeTimeout: 300 });
  const result = await exchange(router.tunnelAddr.port, [
    "GET /.well-known/ptth/api HTTP/1.1\r\nHost: 127.0.0.1\r\n", // …and nothing more.
  ]);
  assertRefusal(result, 400, /^Handshake timed out\n$/);
  ok(result.ms >= 250 && result.ms < 2000, `closed after ${result.ms.toFixed(0)} ms`);
});

Deno.test("after too many failures from one address even a right token gets 429", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN }, authFailuresPerMinute: 3 });
  const port = router.tunnelAddr.port;
  const good = request("api", `Authorization: Bearer ${API_TOKEN}`);
  // A success in between does not count.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(conn, good);
  await readUntil(conn, (b) => b.length >= SWITCHED.length);
  conn.close();
  assertRefusal(await exchange(port, [request("api")]), 401, /requires a token/);
  for (let i = 0; i < 2; i++) {
    assertRefusal(
      await exchange(port, [request("api", "Authorization: Bearer guess-0123456789")]),
      403,
      /Token not valid/,
    );
  }
  assertRefusal(
    await exchange(port, [good]),
    429,
    /^Too many failed handshakes from this address; retry later\n$/,
  );
  assertRefusal(await exchange(port, [request("api", "Authorization: Bearer x")]), 429, /retry/);
});

Deno.test("the default limit is 10 failures per address per minute", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN } });
  const port = router.tunnelAddr.port;
  for (let i = 0; i < 10; i++) {
    assertRefusal(
      await exchange(port, [request("api", "Authorization: Bearer x")]),
      403,
      /not valid/,
    );
  }
  assertRefusal(
    await exchange(port, [request("api", `Authorization: Bearer ${API_TOKEN}`)]),
    429,
    /Too many failed handshakes/,
  );
});

Deno.test("more tunnels than maxTunnelsPerService are refused with 429", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN }, maxTunnelsPerService: 1 });
  const port = router.tunnelAddr.port;
  const good = request("api", `Authorization: Bearer ${API_TOKEN}`);
  const first = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(first, good);
    await readUntil(first, (b) => b.length >= SWITCHED.length + 24);
    await writeAll(first, EMPTY_SETTINGS);
    await waitUntil(() => router.pool.size === 1, 3000, "first tunnel");
    assertRefusal(await exchange(port, [good]), 429, /^Too many tunnels for service api\n$/);
  } finally {
    first.close();
  }
});

Deno.test("a raw HTTP/2 peer over the per-service cap is refused in HTTP/2: a GOAWAY naming the reason", async () => {
  await using router = startRouter({ maxTunnelsPerService: 1 });
  const port = router.tunnelAddr.port;
  const first = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(first, EMPTY_SETTINGS);
    await readUntil(first, (b) => b.length >= 24);
    await waitUntil(() => router.pool.size === 1, 3000, "first tunnel");
    const result = await exchange(port, [EMPTY_SETTINGS]);
    expectRawRefusal(result, "429 Too many tunnels for service default");
  } finally {
    first.close();
  }
});

/**
 * PROTOCOL.md §5: a refused raw HTTP/2 peer gets no HTTP/1.1 answer but the
 * client preface, SETTINGS and a GOAWAY NO_ERROR whose debug data is the reason.
 */
function expectRawRefusal(result: { text: string; eof: boolean }, reason: string): void {
  ok(result.text.startsWith(PREFACE), "the client preface, not an HTTP/1.1 answer");
  ok(!result.text.includes("HTTP/1.1"), result.text);
  ok(result.text.endsWith(reason), `GOAWAY debug data: ${JSON.stringify(result.text.slice(24))}`);
  ok(result.eof);
}

Deno.test("a raw HTTP/2 backend (legacy) is served where anonymous tunnels are allowed", async () => {
  await using router = startRouter();
  await using backend = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    legacy: true,
    quiet: true,
  }, () => new Response("raw h2"));
  await withTimeout(backend.connected, 5000, "legacy tunnel");
  await waitUntil(() => router.pool.size === 1, 3000, "tunnel in the pool");
  const [tunnel] = router.pool.list();
  equal((tunnel as RouterTunnel).legacy, true);
  equal(tunnel!.service, "default");
  const response = await fetch(`http://127.0.0.1:${router.addr.port}/`);
  equal(await response.text(), "raw h2");
});

Deno.test("a raw HTTP/2 backend is refused where tokens are required: a GOAWAY says 401, 503", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN }, tunnelWait: 0 });
  // Byte level: a SETTINGS frame first is answered in HTTP/2, with the reason.
  const result = await exchange(router.tunnelAddr.port, [EMPTY_SETTINGS]);
  expectRawRefusal(result, "401 Raw HTTP/2 tunnel refused: this router requires a token");
  // And a real raw HTTP/2 backend never gets into the pool: it learns why and stops.
  const backend = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    legacy: true,
    quiet: true,
  }, () => new Response("should not be reached"));
  const refusal = await withTimeout(backend.finished.then(() => null, (e) => e), 5000, "stop");
  ok(refusal instanceof TunnelRefusedError);
  equal(refusal.status, 401);
  equal(router.pool.size, 0);
  equal(backend.isConnected, false);
  const response = await fetch(`http://127.0.0.1:${router.addr.port}/`);
  equal(response.status, 503);
  await response.body?.cancel();
});

Deno.test("a silent raw HTTP/2 peer gets the router's client preface after about 1 s", async () => {
  await using router = startRouter();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
  const started = performance.now();
  try {
    const { bytes } = await readUntil(conn, (b) => b.length >= 24 + 9, 5000);
    const ms = performance.now() - started;
    equal(decoder.decode(bytes.subarray(0, 24)), PREFACE, "no 101: the preface comes first");
    equal(bytes[24 + 3], 0x4, "then SETTINGS");
    ok(ms >= 800 && ms < 3000, `preface after ${ms.toFixed(0)} ms`);
  } finally {
    conn.close();
  }
});

Deno.test("a silent peer is refused in HTTP/2 after about 1 s where tokens are required", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN } });
  const result = await exchange(router.tunnelAddr.port, []);
  expectRawRefusal(result, "401 Raw HTTP/2 tunnel refused: this router requires a token");
  ok(result.ms >= 800, `closed after ${result.ms.toFixed(0)} ms`);
});

Deno.test("serveReverse with a wrong token: TunnelRefusedError 403, onError, and no retry", async () => {
  const lines: string[] = [];
  await using router = createRouter({
    hostname: "127.0.0.1",
    port: 0,
    tunnelPort: 0,
    tokens: { api: API_TOKEN },
    log: (line) => lines.push(line),
  });
  const errors: unknown[] = [];
  const backend = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    service: "api",
    token: "wrong-token-0123456789",
    quiet: true,
    maxReconnectDelay: 100,
    onError: (error) => {
      errors.push(error);
      return new Response(null, { status: 500 });
    },
  }, () => new Response("never"));
  const refused = (error: unknown) => {
    ok(error instanceof TunnelRefusedError, `expected TunnelRefusedError, got ${error}`);
    equal(error.status, 403);
    equal(error.reason, "Token not valid for service api");
    equal(error.permanent, true);
    ok(!error.message.includes("wrong-token"), "the token is not in the message");
    return true;
  };
  try {
    await rejects(withTimeout(backend.finished, 5000, "finished"), refused);
    await rejects(withTimeout(backend.connected, 1000, "connected"), refused);
    ok(backend.lastError instanceof TunnelRefusedError);
    equal(errors.length, 1, "onError is told once");
    refused(errors[0]);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const attempts = lines.filter((line) => line.includes("refused: 403"));
    equal(attempts.length, 1, `one attempt only, got: ${attempts.join(" | ")}`);
  } finally {
    // A refused backend has stopped already: shutting it down is not an error, and quick.
    await withTimeout(backend.shutdown(), 3000, "shutdown");
  }
});

Deno.test("serveReverse without a needed token: TunnelRefusedError 401", async () => {
  await using router = startRouter({ tokens: { api: API_TOKEN } });
  const backend = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    service: "api",
    quiet: true,
  }, () => new Response("never"));
  try {
    await rejects(withTimeout(backend.finished, 5000, "finished"), (error: unknown) => {
      ok(error instanceof TunnelRefusedError, `expected TunnelRefusedError, got ${error}`);
      equal(error.status, 401);
      equal(error.reason, "This router requires a token");
      return true;
    });
  } finally {
    await withTimeout(backend.shutdown(), 3000, "shutdown");
  }
});

Deno.test("serveReverse with the right token, hosts, weight and metadata is served", async () => {
  await using router = startRouter({
    tokens: { api: API_TOKEN },
    serviceHosts: { api: ["api.example.com"] },
  });
  await using backend = serveReverse({
    hostname: "127.0.0.1",
    port: router.tunnelAddr.port,
    service: "api",
    token: API_TOKEN,
    hosts: ["api.example.com"],
    weight: 3,
    metadata: { version: "2.0", note: "a, b = c" },
    quiet: true,
  }, (request) => new Response(`api ${new URL(request.url).pathname}`));
  await withTimeout(backend.connected, 5000, "tunnel");
  await waitUntil(() => router.pool.size === 1, 3000, "tunnel in the pool");
  const [tunnel] = router.pool.list();
  equal(tunnel!.service, "api");
  deepEqual(tunnel!.hosts, ["api.example.com"]);
  equal(tunnel!.weight, 3);
  deepEqual(tunnel!.metadata, { version: "2.0", note: "a, b = c" });
  const response = await fetch(`http://127.0.0.1:${router.addr.port}/x`);
  equal(await response.text(), "api /x");
});
