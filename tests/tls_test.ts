import { equal, ok, rejects } from "node:assert/strict";
import { createRouter, type RouterOptions } from "../router/create_router.ts";
import {
  type ReverseHandler,
  serveReverse,
  type ServeReverseOptions,
} from "../backend/serve_reverse.ts";
import { waitUntil, withTimeout } from "./_helpers.ts";
import { testCerts } from "./_certs.ts";

const TOKEN = "api-token-0123456789abcdef";

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot run ${cmd}: not installed`);
    }
    throw error;
  }
  if (!output.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/** The test CA and server certificate, made once with openssl (tests/_certs.ts). */
const certs = testCerts;

function startRouter(options: RouterOptions) {
  return createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true, ...options });
}

async function startBackend(
  port: number,
  handler: ReverseHandler,
  options: ServeReverseOptions,
) {
  const backend = serveReverse({ hostname: "localhost", port, quiet: true, ...options }, handler);
  await withTimeout(backend.connected, 5000, "backend tunnel");
  return backend;
}

const echo: ReverseHandler = async (request) =>
  Response.json({
    url: request.url,
    method: request.method,
    body: await request.text(),
    proto: request.headers.get("x-forwarded-proto"),
    host: request.headers.get("x-forwarded-host"),
  });

/** Which HTTP version a TLS client negotiates: curl if it has HTTP/2, else nghttp. */
async function negotiatedVersion(port: number, ca: string): Promise<string> {
  const curl = await run("curl", ["-V"]).catch(() => "");
  if (/\bHTTP2\b/.test(curl)) {
    const file = await Deno.makeTempFile({ prefix: "ptth-ca-", suffix: ".pem" });
    try {
      await Deno.writeTextFile(file, ca);
      return await run("curl", [
        "--http2",
        "--cacert",
        file,
        "--resolve",
        `localhost:${port}:127.0.0.1`,
        "--max-time",
        "10",
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        `https://localhost:${port}/`,
      ]);
    } finally {
      await Deno.remove(file);
    }
  }
  // nghttp speaks only HTTP/2: it fails unless ALPN selects h2.
  const nghttp = await run("nghttp", ["-v", "-t", "10", `https://127.0.0.1:${port}/`]).catch((
    error,
  ) => {
    throw new Error(
      "Needs curl with HTTP/2 (Debian package curl) or nghttp (nghttp2-client) to check ALPN",
      { cause: error },
    );
  });
  ok(/h2 (is )?(selected|negotiated)|negotiated protocol: h2/i.test(nghttp), nghttp);
  return "2";
}

Deno.test("public HTTPS: fetch with the private CA works, and curl negotiates HTTP/2 (ALPN h2)", async () => {
  const { ca, cert, key } = await certs();
  await using router = startRouter({ tls: { cert, key } });
  await using _backend = await startBackend(router.tunnelAddr.port, echo, {
    hostname: "127.0.0.1",
  });
  await waitUntil(() => router.pool.size === 1, 3000, "tunnel in the pool");
  const port = router.addr.port;
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    const response = await fetch(`https://localhost:${port}/hello?x=1`, {
      client,
      method: "POST",
      body: "over https",
    });
    equal(response.status, 200);
    const seen = await response.json();
    equal(seen.url, `https://localhost:${port}/hello?x=1`, ":scheme is https");
    equal(seen.method, "POST");
    equal(seen.body, "over https");
    equal(seen.proto, "https");
    equal(seen.host, `localhost:${port}`);
  } finally {
    client.close();
  }
  // Without the CA the certificate cannot be verified.
  await rejects(fetch(`https://localhost:${port}/`), TypeError);
  equal((await negotiatedVersion(port, ca)).trim(), "2");
});

Deno.test("tunnel TLS: a backend trusting the CA serves; one without it cannot verify and gets nothing", async () => {
  const { ca, cert, key } = await certs();
  await using router = startRouter({ tunnelTls: { cert, key }, tokens: { api: TOKEN } });
  const port = router.tunnelAddr.port;
  await using _good = await startBackend(port, () => new Response("good"), {
    tls: { caCerts: [ca] },
    token: TOKEN,
    service: "api",
  });
  let strayRequests = 0;
  const stray = () => {
    strayRequests++;
    return new Response("stray");
  };
  // System roots only: the private CA's certificate does not verify.
  const untrusting = serveReverse({
    hostname: "localhost",
    port,
    tls: true,
    token: TOKEN,
    service: "api",
    quiet: true,
    maxReconnectDelay: 200,
  }, stray);
  // Plain TCP to the TLS port: the router's TLS handshake fails on "GET …".
  const plain = serveReverse({
    hostname: "127.0.0.1",
    port,
    token: TOKEN,
    service: "api",
    quiet: true,
    handshakeTimeout: 1000,
    maxReconnectDelay: 200,
  }, stray);
  try {
    await waitUntil(
      () => untrusting.lastError !== null && plain.lastError !== null,
      5000,
      "both failed",
    );
    ok(
      /certificate|UnknownIssuer/i.test(untrusting.lastError!.message),
      `cannot verify: ${untrusting.lastError!.message}`,
    );
    equal(untrusting.isConnected, false);
    equal(plain.isConnected, false);
    await waitUntil(() => router.pool.size === 1, 3000, "the good tunnel in the pool");
    const bodies = await Promise.all(
      Array.from(
        { length: 20 },
        () => fetch(`http://127.0.0.1:${router.addr.port}/`).then((r) => r.text()),
      ),
    );
    equal(bodies.filter((b) => b === "good").length, 20);
    equal(strayRequests, 0);
    equal(router.pool.size, 1);
  } finally {
    await untrusting.shutdown();
    await plain.shutdown();
  }
});

Deno.test("tunnel TLS carries a raw HTTP/2 (legacy) tunnel where anonymous tunnels are allowed", async () => {
  const { ca, cert, key } = await certs();
  await using router = startRouter({ tunnelTls: { cert, key } });
  await using _backend = await startBackend(
    router.tunnelAddr.port,
    () => new Response("raw h2 over tls"),
    { tls: { caCerts: [ca] }, legacy: true },
  );
  await waitUntil(() => router.pool.size === 1, 3000, "tunnel in the pool");
  const response = await fetch(`http://127.0.0.1:${router.addr.port}/`);
  equal(await response.text(), "raw h2 over tls");
});

Deno.test("public HTTPS and tunnel TLS at once, with tokens, end to end", async () => {
  const { ca, cert, key } = await certs();
  await using router = startRouter({
    tls: { cert, key },
    tunnelTls: { cert, key },
    tokens: { api: TOKEN },
    serviceHosts: { api: ["localhost"] },
  });
  await using _backend = await startBackend(router.tunnelAddr.port, echo, {
    tls: { caCerts: [ca] },
    token: TOKEN,
    service: "api",
    hosts: ["localhost"],
  });
  await waitUntil(() => router.pool.size === 1, 3000, "tunnel in the pool");
  const port = router.addr.port;
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    const large = "x".repeat(1 << 20);
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        fetch(`https://localhost:${port}/echo/${i}`, {
          client,
          method: "PUT",
          body: i === 0 ? large : `body ${i}`,
        }).then((r) => r.json())),
    );
    for (const [i, seen] of responses.entries()) {
      equal(seen.url, `https://localhost:${port}/echo/${i}`);
      equal(seen.method, "PUT");
      equal(seen.body, i === 0 ? large : `body ${i}`);
      equal(seen.proto, "https");
    }
  } finally {
    client.close();
  }
});

Deno.test("tunnel TLS adds no delayed-ACK stall to small requests (TCP_NODELAY under TLS)", async () => {
  // Regression: a TlsConn from Deno.connectTls cannot turn Nagle's algorithm off, and each
  // request then waited ~40 ms for a delayed ACK. The median of 10 requests is far below that.
  const { ca, cert, key } = await certs();
  await using router = startRouter({ tunnelTls: { cert, key } });
  await using _backend = await startBackend(router.tunnelAddr.port, () => new Response("small"), {
    tls: { caCerts: [ca] },
  });
  await waitUntil(() => router.pool.size === 1, 3000, "tunnel in the pool");
  const times: number[] = [];
  for (let i = 0; i < 11; i++) {
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${router.addr.port}/`);
    equal(await response.text(), "small");
    if (i > 0) times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  ok(
    times[5]! < 25,
    `median request time ${times[5]!.toFixed(1)} ms: ${times.map((t) => t.toFixed(1))}`,
  );
});
