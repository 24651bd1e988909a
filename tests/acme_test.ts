/**
 * Automatic HTTPS against a real ACME CA: Debian's Pebble with real HTTP-01
 * validation (its validation authority connects to our responder), a TLS
 * server that picks the manager's certificate by SNI, and clients (curl,
 * node:tls) that trust only Pebble's root.
 */

import assert, { deepEqual, equal, match, notEqual } from "node:assert/strict";
import * as tls from "node:tls";
import { AcmeManager, type ManagedCertificate } from "../router/acme/manager.ts";
import { registerAcmeMetrics } from "../router/acme/acme_metrics.ts";
import { MetricsRegistry } from "../router/admin/metrics.ts";
import { Logger } from "../log/logger.ts";
import { type Pebble, startPebble } from "./_pebble.ts";
import { testCerts } from "./_certs.ts";
import { waitUntil, withTimeout } from "./_helpers.ts";

/** The HTTP-01 responder a router's public port would be: challenges first, 404 otherwise. */
interface Responder {
  port: number;
  /** Challenge requests answered, by Host. */
  answered: Map<string, number>;
  manager?: AcmeManager;
  close(): Promise<void>;
}

function startResponder(refuse: (host: string) => boolean = () => false): Responder {
  const answered = new Map<string, number>();
  const responder: Responder = {
    port: 0,
    answered,
    close: async () => await server.shutdown(),
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const host = (request.headers.get("host") ?? "").replace(/:\d+$/, "");
      const body = responder.manager?.challengeResponse(new URL(request.url).pathname) ?? null;
      if (body === null || refuse(host)) return new Response("not found", { status: 404 });
      answered.set(host, (answered.get(host) ?? 0) + 1);
      return new Response(body);
    },
  );
  responder.port = server.addr.port;
  return responder;
}

/** A TLS server choosing the manager's certificate by SNI, as the router's edge will. */
function startTlsServer(manager: AcmeManager): Promise<{ port: number; close(): Promise<void> }> {
  const contexts = new WeakMap<ManagedCertificate, tls.SecureContext>();
  const server = tls.createServer({
    SNICallback(name, done) {
      const certificate = manager.certificateFor(name);
      if (!certificate) return done(new Error(`No certificate for ${name}`));
      let context = contexts.get(certificate);
      if (!context) {
        context = tls.createSecureContext({ cert: certificate.cert, key: certificate.key });
        contexts.set(certificate, context);
      }
      done(null, context);
    },
  }, (socket) => {
    socket.on("data", () => {
      // A minimal HTTP/1.1 answer per request (each test request fits one read).
      const body = `hello ${(socket as tls.TLSSocket & { servername?: string }).servername}\n`;
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    });
    socket.on("error", () => {});
  });
  server.on("tlsClientError", () => {});
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A TLS client trusting only `ca`, for one server name; `ask` sends a line and reads the answer. */
async function connect(port: number, name: string, ca: string) {
  const socket = tls.connect({ host: "127.0.0.1", port, servername: name, ca });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", () => resolve());
      socket.once("error", reject);
    }),
    10_000,
    `TLS handshake for ${name}`,
  );
  return {
    serial: socket.getPeerCertificate().serialNumber,
    ask: () =>
      withTimeout(
        new Promise<string>((resolve, reject) => {
          socket.once("data", (data) => resolve(String(data).split("\r\n\r\n")[1]!));
          socket.once("error", reject);
          socket.write(`GET / HTTP/1.1\r\nhost: ${name}\r\n\r\n`);
        }),
        10_000,
        `answer over TLS for ${name}`,
      ),
    close: () =>
      new Promise<void>((resolve) => {
        socket.once("close", () => resolve());
        socket.destroy();
      }),
  };
}

/** A TLS handshake that must fail; resolves with the error message. */
async function handshakeFails(port: number, name: string, ca: string): Promise<string> {
  const socket = tls.connect({ host: "127.0.0.1", port, servername: name, ca });
  try {
    return await withTimeout(
      new Promise<string>((resolve, reject) => {
        socket.once("secureConnect", () => reject(new Error(`Handshake for ${name} succeeded`)));
        socket.once("error", (error) => resolve(error.message));
      }),
      10_000,
      `failed TLS handshake for ${name}`,
    );
  } finally {
    socket.destroy();
  }
}

/** Resolves with the next `count` certificates the manager issues. */
function nextCertificates(manager: AcmeManager, count: number): Promise<ManagedCertificate[]> {
  return new Promise((resolve) => {
    const seen: ManagedCertificate[] = [];
    const off = manager.onCertificate((certificate) => {
      seen.push(certificate);
      if (seen.length === count) {
        off();
        resolve(seen);
      }
    });
  });
}

interface Setup {
  pebble: Pebble;
  responder: Responder;
  stateDir: string;
  logs: string[];
  root: string;
  manager(
    names: string[],
    more?: Partial<ConstructorParameters<typeof AcmeManager>[0]>,
  ): AcmeManager;
  close(): Promise<void>;
}

async function setUp(
  validitySeconds = 3600,
  refuse?: (host: string) => boolean,
): Promise<Setup> {
  const responder = startResponder(refuse);
  const pebble = await startPebble({ httpPort: responder.port, validitySeconds });
  const stateDir = await Deno.makeTempDir({ prefix: "ptth-acme-state-" });
  const logs: string[] = [];
  const managers: AcmeManager[] = [];
  return {
    pebble,
    responder,
    stateDir,
    logs,
    root: await pebble.root(),
    manager(names, more = {}) {
      const manager = new AcmeManager({
        email: "ops@example.com",
        names: () => names,
        directoryUrl: pebble.directoryUrl,
        caCerts: [pebble.caCert],
        stateDir,
        retryDelay: 200,
        retryMaxDelay: 1_000,
        logger: new Logger({ format: "json", sink: (line) => logs.push(line) }),
        ...more,
      });
      responder.manager = manager;
      managers.push(manager);
      return manager;
    },
    async close() {
      for (const manager of managers) await manager.close();
      await responder.close();
      await pebble.stop();
      await Deno.remove(stateDir, { recursive: true });
    },
  };
}

async function curl(port: number, name: string, caFile: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("curl", {
    args: [
      "-sS",
      "--max-time",
      "10",
      "--resolve",
      `${name}:${port}:127.0.0.1`,
      "--cacert",
      caFile,
      "--data",
      "x",
      `https://${name}:${port}/`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`curl failed: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

Deno.test("acme: obtains certificates through real HTTP-01 and serves HTTPS with them", async () => {
  const setup = await setUp();
  try {
    const manager = setup.manager(["a.test", "B.test."]);
    const issued = nextCertificates(manager, 2);
    await manager.start();
    const certificates = await withTimeout(issued, 60_000, "two certificates from Pebble");
    deepEqual(certificates.map((c) => c.name).sort(), ["a.test", "b.test"]);
    // Pebble's validation authority fetched each challenge from our responder.
    assert((setup.responder.answered.get("a.test") ?? 0) >= 1);
    assert((setup.responder.answered.get("b.test") ?? 0) >= 1);

    const server = await startTlsServer(manager);
    const caFile = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(caFile, setup.root);
      equal(await curl(server.port, "a.test", caFile), "hello a.test\n");
      equal(await curl(server.port, "b.test", caFile), "hello b.test\n");
    } finally {
      await server.close();
      await Deno.remove(caFile);
    }

    // Private keys and their folders are the owner's alone.
    const ca = `${setup.stateDir}/acme/${
      new URL(setup.pebble.directoryUrl).host.replace(":", "_")
    }_dir`;
    equal((await Deno.stat(`${ca}/account.key.pem`)).mode! & 0o777, 0o600);
    equal((await Deno.stat(`${ca}/certificates/a.test/key.pem`)).mode! & 0o777, 0o600);
    equal((await Deno.stat(`${ca}/certificates/a.test/cert.pem`)).mode! & 0o777, 0o600);
    equal((await Deno.stat(`${ca}/certificates/a.test`)).mode! & 0o777, 0o700);
    equal((await Deno.stat(setup.stateDir)).mode! & 0o777, 0o700);
    match(setup.logs.join("\n"), /"msg":"Certificate issued","name":"a.test"/);
  } finally {
    await setup.close();
  }
});

Deno.test("acme: renews at two thirds of the lifetime and swaps without dropping connections", async () => {
  // Pebble without ARI: a 9 s certificate is renewed about 6 s after it starts.
  const setup = await setUp(9);
  try {
    const manager = setup.manager(["renew.test"]);
    const first = nextCertificates(manager, 1);
    await manager.start();
    const [old] = await withTimeout(first, 60_000, "first certificate");
    const server = await startTlsServer(manager);
    try {
      const before = await connect(server.port, "renew.test", setup.root);
      equal(await before.ask(), "hello renew.test\n");
      const renewed = nextCertificates(manager, 1);
      const [fresh] = await withTimeout(renewed, 30_000, "renewed certificate");
      // Renewed ahead of expiry: at two thirds, with the last third to spare.
      assert(Date.now() < old!.notAfter - 1_500, "renewed too late");
      notEqual(fresh!.cert, old!.cert);
      assert(fresh!.notAfter > old!.notAfter);
      // The connection made with the old certificate lives on...
      equal(await before.ask(), "hello renew.test\n");
      // ...and a new one gets the new certificate.
      const after = await connect(server.port, "renew.test", setup.root);
      notEqual(after.serial, before.serial);
      equal(await after.ask(), "hello renew.test\n");
      await before.close();
      await after.close();
    } finally {
      await server.close();
    }
  } finally {
    await setup.close();
  }
});

Deno.test("acme: a restart serves the stored certificate without a new order", async () => {
  const setup = await setUp();
  try {
    const first = setup.manager(["keep.test"]);
    const issued = nextCertificates(first, 1);
    await first.start();
    const [stored] = await withTimeout(issued, 60_000, "first certificate");
    await first.close();
    const ordersBefore = setup.pebble.logCount("POST /order-plz");
    equal(ordersBefore, 1);

    const second = setup.manager(["keep.test"]);
    await second.start();
    // Served at once from the state directory...
    equal(second.certificateFor("keep.test")?.cert, stored!.cert);
    await second.whenIdle();
    // ...and the CA was asked for nothing.
    equal(setup.pebble.logCount("POST /order-plz"), ordersBefore);
    assert(second.status()[0]!.nextAttempt > Date.now() + 30 * 60_000);
  } finally {
    await setup.close();
  }
});

Deno.test("acme: a failed order backs off, logs the CA's problem and leaves other names served", async () => {
  const setup = await setUp(3600, (host) => host === "bad.test");
  try {
    const registry = new MetricsRegistry();
    const manager = setup.manager(["good.test", "bad.test"]);
    registerAcmeMetrics(registry, manager);
    const failures: number[] = [];
    manager.onOrder((name, result) => {
      if (name === "bad.test" && result === "failed") failures.push(Date.now());
    });
    const good = nextCertificates(manager, 1);
    await manager.start();
    await withTimeout(good, 60_000, "certificate for good.test");
    await withTimeout(
      (async () => {
        while (failures.length < 3) await new Promise((r) => setTimeout(r, 20));
      })(),
      30_000,
      "three failed orders for bad.test",
    );
    // Exponential backoff: 200 ms, then 400 ms (plus the order's own time).
    assert(failures[1]! - failures[0]! >= 200, `${failures}`);
    assert(failures[2]! - failures[1]! >= 400, `${failures}`);

    // The CA's problem document is in the log: type and detail.
    const failure = setup.logs.map((line) => JSON.parse(line)).find((line) =>
      line.msg === "Certificate order failed" && line.name === "bad.test"
    );
    equal(failure?.type, "urn:ietf:params:acme:error:unauthorized");
    match(String(failure?.detail), /404/);
    equal(failure?.serving, "none");

    const server = await startTlsServer(manager);
    try {
      const client = await connect(server.port, "good.test", setup.root);
      equal(await client.ask(), "hello good.test\n");
      await client.close();
      await handshakeFails(server.port, "bad.test", setup.root);
    } finally {
      await server.close();
    }
    equal(manager.certificateFor("bad.test"), undefined);

    const text = registry.expose();
    match(text, /ptth_acme_orders_total\{result="issued"\} 1\n/);
    const failed = Number(text.match(/ptth_acme_orders_total\{result="failed"\} (\d+)/)?.[1]);
    assert(failed >= 3, text);
    const expiry = Number(
      text.match(/ptth_certificate_expiry_seconds\{name="good.test"\} (\d+(\.\d+)?)/)?.[1],
    );
    assert(expiry > 3000 && expiry <= 3600, text);
    equal(text.includes(`name="bad.test"`), false);
  } finally {
    await setup.close();
  }
});

Deno.test("acme: renews inside the window the CA's renewal information suggests", async () => {
  // Debian's Pebble 2.4 has no ARI: a front serves its directory with a
  // renewalInfo resource added, every other URL stays Pebble's own.
  const setup = await setUp();
  const certs = await testCerts();
  const asked: string[] = [];
  // The first certificate asked about gets a window that has passed; any other one, a
  // window far ahead.
  const past = { start: "2000-01-01T00:00:00Z", end: "2000-01-02T00:00:00Z" };
  const future = { start: "2999-01-01T00:00:00Z", end: "2999-01-02T00:00:00Z" };
  const front = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: certs.cert,
    key: certs.key,
    onListen: () => {},
  }, async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/dir") {
      const client = Deno.createHttpClient({ caCerts: [certs.ca] });
      try {
        const directory = await (await fetch(setup.pebble.directoryUrl, { client })).json();
        directory.renewalInfo = `https://127.0.0.1:${front.addr.port}/ari/`;
        return Response.json(directory);
      } finally {
        client.close();
      }
    }
    if (path.startsWith("/ari/")) {
      const id = path.slice("/ari/".length);
      asked.push(id);
      const window = id === asked[0] ? past : future;
      return Response.json({ suggestedWindow: window }, { headers: { "retry-after": "3600" } });
    }
    return new Response("not found", { status: 404 });
  });
  try {
    // The first certificate comes without ARI in play; keep it for the second manager.
    const first = setup.manager(["ari.test"]);
    const issued = nextCertificates(first, 1);
    await first.start();
    const [old] = await withTimeout(issued, 60_000, "first certificate");
    await first.close();

    const manager = setup.manager(["ari.test"], {
      directoryUrl: `https://127.0.0.1:${front.addr.port}/dir`,
      caCerts: [setup.pebble.caCert],
    });
    // Same state directory, but another CA folder: copy the certificate over.
    const from = `${setup.stateDir}/acme/${
      new URL(setup.pebble.directoryUrl).host.replace(":", "_")
    }_dir/certificates/ari.test`;
    const to = `${setup.stateDir}/acme/127.0.0.1_${front.addr.port}_dir/certificates/ari.test`;
    await Deno.mkdir(to, { recursive: true });
    for (const file of ["cert.pem", "key.pem"]) {
      await Deno.copyFile(`${from}/${file}`, `${to}/${file}`);
    }

    // The window has passed: the manager renews at once, long before two thirds of an hour.
    const renewed = nextCertificates(manager, 1);
    await manager.start();
    const [fresh] = await withTimeout(renewed, 60_000, "certificate renewed by ARI");
    notEqual(fresh!.cert, old!.cert);
    equal(asked[0], await ariIdByOpenssl(old!.cert));

    // The renewed certificate is asked about too, and waits for its window far ahead.
    const freshId = await ariIdByOpenssl(fresh!.cert);
    await waitUntil(
      () => asked.includes(freshId),
      10_000,
      "renewal information of the new certificate",
    );
    await manager.whenIdle();
    assert(manager.status()[0]!.nextAttempt >= Date.parse(future.start));
    equal(asked.filter((id) => id === asked[0]).length, 1);
  } finally {
    await front.shutdown();
    await setup.close();
  }
});

/** The ARI identifier computed independently, with openssl: base64url(AKI) "." base64url(serial). */
async function ariIdByOpenssl(pem: string): Promise<string> {
  const child = new Deno.Command("openssl", {
    args: ["x509", "-noout", "-serial", "-ext", "authorityKeyIdentifier"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(pem));
  await writer.close();
  const text = new TextDecoder().decode((await child.output()).stdout);
  let serial = text.match(/serial=([0-9A-F]+)/i)![1]!;
  if (serial.length % 2) serial = `0${serial}`;
  // DER INTEGER content: a leading zero byte keeps a high first bit positive.
  if (parseInt(serial.slice(0, 2), 16) >= 0x80) serial = `00${serial}`;
  const aki = text.match(/Authority Key Identifier:\s*(?:keyid:)?([0-9A-F:]+)/i)![1]!.replaceAll(
    ":",
    "",
  );
  const b64 = (hex: string) =>
    btoa(String.fromCharCode(...hex.match(/../g)!.map((h) => parseInt(h, 16))))
      .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return `${b64(aki)}.${b64(serial)}`;
}
