/**
 * Our HTTP/2 codec against independent implementations that advertise small
 * windows and a small HPACK table (Go's x/net/http2 server, Node's node:http2
 * with nghttp2 inside): each treats a flow-control or HPACK mistake of ours as
 * a connection error, and decodes and encodes with its own code, where the
 * conformance tests' peers share our encoder.
 */
import { deepEqual, equal } from "node:assert/strict";
import { ClientSession } from "../h2/client.ts";
import { serveConnection } from "../h2/server.ts";
import { withTimeout } from "./_helpers.ts";
import { buildGo } from "./_go.ts";

const FIXTURE = new URL("./fixtures/node_peer.mjs", import.meta.url).pathname;

function pattern(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Starts the Node server and connects a ClientSession to it. */
async function nodeServer() {
  const child = new Deno.Command("node", {
    args: [FIXTURE, "server"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const first = await withTimeout(lines.read(), 10_000, "node server listening");
  const { port } = JSON.parse(first.value!.trim());
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  // A small table of our own too: nghttp2's encoder must evict for us.
  const client = new ClientSession(conn, { settings: { headerTableSize: 256 } });
  return {
    client,
    async [Symbol.asyncDispose]() {
      client.close();
      await client.closed;
      await child.stdin.close();
      lines.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await withTimeout(child.status, 10_000, "node server exit");
    },
  };
}

Deno.test("our client role keeps within Go's connection window on concurrent uploads", async () => {
  const binary = await buildGo("go_flow_server");
  const child = new Deno.Command(binary, { stdin: "piped", stdout: "piped" }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const port = Number((await withTimeout(lines.read(), 10_000, "go server")).value!.trim());
    const client = new ClientSession(await Deno.connect({ hostname: "127.0.0.1", port }));
    try {
      // Eight 1 MiB bodies at once against 16 KiB stream windows and a 64 KiB connection
      // window that Go reopens only as its handlers read (after 300 ms): eight streams'
      // windows add up to twice the connection's, so a sender that ignores the
      // connection window gets GOAWAY FLOW_CONTROL_ERROR.
      const sizes = Array.from({ length: 8 }, (_, i) => 1_048_576 + i * 4099);
      const results = await withTimeout(
        Promise.all(sizes.map(async (size) => {
          const body = pattern(size);
          const response = await client.request({
            method: "POST",
            scheme: "http",
            authority: "peer.test",
            path: "/upload",
            body: new Blob([body as BlobPart]).stream(),
          });
          equal(response.status, 200);
          return {
            got: await response.json(),
            expected: { length: size, sha256: await sha256(body) },
          };
        })),
        30_000,
        "uploads",
      );
      for (const { got, expected } of results) deepEqual(got, expected);
    } finally {
      client.close();
      await client.closed;
    }
  } finally {
    await child.stdin.close();
    lines.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await withTimeout(child.status, 10_000, "go server exit");
  }
});

Deno.test("HPACK: nghttp2 decodes what we encode and we decode what it encodes, with evictions", async () => {
  await using peer = await nodeServer();
  for (let round = 0; round < 60; round++) {
    // Field values of varied sizes, some larger than the whole 256-octet table.
    const headers: string[] = [];
    for (let i = 0; i < 6; i++) {
      headers.push(`x-f-${(round + i) % 9}`, `${round}-${"v".repeat((round * 17 + i * 29) % 300)}`);
    }
    const response = await withTimeout(
      peer.client.request({
        method: "GET",
        scheme: "http",
        authority: "peer.test",
        path: `/echo?n=${round % 12}`,
        headers,
      }),
      10_000,
      `echo ${round}`,
    );
    const seen = await response.json() as Record<string, string>;
    // What nghttp2 decoded from our encoder:
    for (let i = 0; i < headers.length; i += 2) {
      equal(seen[headers[i]!], headers[i + 1], headers[i]);
    }
    equal(seen[":path"], `/echo?n=${round % 12}`);
    // What we decoded from nghttp2's encoder:
    const n = round % 12;
    const expected = new Map<string, string>(); // As the fixture builds them: later ones win.
    for (let i = 0; i < n; i++) {
      expected.set(`x-back-${i % 7}-${n}`, `v${"w".repeat((i * 13) % 90)}${i}`);
    }
    for (const [name, value] of expected) equal(response.headers.get(name), value, name);
  }
});

Deno.test("our server role respects nghttp2's windows on concurrent downloads", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections: Array<Promise<void>> = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      const served = serveConnection(conn, (request) => {
        const bytes = Number(new URL(request.url).searchParams.get("bytes"));
        return new Response(pattern(bytes) as BodyInit);
      });
      connections.push(served.closed);
    }
  })();
  try {
    const output = await withTimeout(
      new Deno.Command("node", {
        args: [FIXTURE, "client", String(listener.addr.port)],
        stdout: "piped",
        stderr: "inherit",
      }).output(),
      30_000,
      "node client",
    );
    const report = JSON.parse(new TextDecoder().decode(output.stdout).trim());
    equal(report.error, undefined);
    equal(report.results.length, 8);
    for (const result of report.results) {
      const bytes = Number(new URL(result.path, "http://x").searchParams.get("bytes"));
      deepEqual(result, { path: result.path, length: bytes, sha256: await sha256(pattern(bytes)) });
    }
  } finally {
    listener.close();
    await accepting;
    await withTimeout(Promise.all(connections), 5000, "connections closed");
  }
});
