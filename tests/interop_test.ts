/**
 * Interoperability with independent HTTP/2 implementations, over real TCP on
 * 127.0.0.1:
 *
 * 1. Node's `node:http2` server as a backend dialing our router (router = client role).
 * 2. Node's `node:http2` client driving our backend through `serveReverse({ connect })`
 *    (backend = server role), as a Go router with http2.Transport would.
 * 3. curl, nghttp and h2load (nghttp2) against `serveConnection` (server role).
 * 4. curl against the router's public port, through to a Deno `serveReverse` backend.
 *
 * Needs `node` (apt: nodejs), `curl` (apt: curl), `nghttp` and `h2load`
 * (apt: nghttp2-client) on PATH; a missing one fails the test that needs it.
 *
 * @module
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { createRouter } from "../router/create_router.ts";
import { serveReverse } from "../backend/serve_reverse.ts";
import { serveConnection } from "../h2/server.ts";
import { ClientSession } from "../h2/client.ts";
import { tcpPair } from "./_helpers.ts";
import type { ByteIO, Connection } from "../h2/connection.ts";
import type { Http2Error } from "../h2/errors.ts";
import { TUNNEL_STREAM_WINDOW } from "../tunnel/settings.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);
const APT_PACKAGE: Record<string, string> = {
  node: "nodejs",
  curl: "curl",
  nghttp: "nghttp2-client",
  h2load: "nghttp2-client",
};

// ---- helpers ------------------------------------------------------------------

/** Fails (never skips) when `name` is not on PATH, naming the apt package. */
async function requireTool(name: string): Promise<void> {
  const { code } = await new Deno.Command("sh", {
    args: ["-c", `command -v ${name}`],
    stdout: "null",
    stderr: "null",
  }).output();
  if (code !== 0) {
    throw new Error(
      `interop test needs \`${name}\` on PATH: install it with ` +
        `\`apt-get install -y ${APT_PACKAGE[name] ?? name}\``,
    );
  }
}

/**
 * Runs `fn` with a signal that aborts after `ms`, and fails the test then:
 * every fetch and process of the test takes that signal, so nothing hangs.
 */
function bounded(ms: number, fn: (signal: AbortSignal) => Promise<void>): () => Promise<void> {
  return async () => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort(new Error(`test timed out after ${ms} ms`));
        reject(new Error(`test timed out after ${ms} ms`));
      }, ms);
    });
    try {
      await Promise.race([fn(controller.signal), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}

async function waitFor(
  condition: () => boolean,
  what: string,
  signal: AbortSignal,
  ms = 10_000,
): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Output {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Uint8Array;
}

/** Runs a command to its end (killed when `signal` aborts). */
async function run(command: string, args: string[], signal: AbortSignal): Promise<Output> {
  const output = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const decoder = new TextDecoder();
  const result = {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    bytes: output.stdout,
  };
  if (output.signal !== null) {
    throw new Error(`${command} ${args.join(" ")} killed by ${output.signal}: ${result.stderr}`);
  }
  return result;
}

/** Like {@linkcode run}, but a non-zero exit fails with the command's stderr. */
async function runOk(command: string, args: string[], signal: AbortSignal): Promise<Output> {
  const result = await run(command, args, signal);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${
        args.join(" ")
      } exited with ${result.code}:\n${result.stderr}\n${result.stdout}`,
    );
  }
  return result;
}

/** A long-running Node script whose stdout is read line by line. */
class NodeScript {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  stderr = "";
  #read = 0;
  #pumps: Promise<void>;

  constructor(script: string, args: string[], signal: AbortSignal) {
    this.child = new Deno.Command("node", {
      args: [new URL(script, FIXTURES).pathname, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).spawn();
    this.#pumps = Promise.all([
      this.#pump(this.child.stdout, (text) => {
        const parts = text.split("\n");
        this.lines.push(...parts.filter((line) => line.trim() !== ""));
      }),
      this.#pump(this.child.stderr, (text) => this.stderr += text),
    ]).then(() => {});
  }

  async #pump(stream: ReadableStream<Uint8Array>, onText: (text: string) => void): Promise<void> {
    let pending = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      pending += text;
      const cut = pending.lastIndexOf("\n");
      if (cut >= 0) {
        onText(pending.slice(0, cut + 1));
        pending = pending.slice(cut + 1);
      }
    }
    if (pending) onText(pending);
  }

  /** The next stdout line parsed as JSON. */
  async nextJson(signal: AbortSignal, ms = 20_000): Promise<Record<string, unknown>> {
    await waitFor(
      () => this.lines.length > this.#read,
      `a line from node (stderr: ${this.stderr})`,
      signal,
      ms,
    );
    return JSON.parse(this.lines[this.#read++]!);
  }

  /** Kills the script (if still running) and waits for it and its pipes. */
  async stop(signo: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signo);
    } catch {
      // Already exited.
    }
    const status = await this.child.status;
    await this.#pumps;
    return status;
  }

  /** Waits for the script to exit by itself, and for its pipes. */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#pumps;
    return status;
  }
}

/** The 8 MiB body `tests/fixtures/node_backend.mjs` serves at /large. */
function pattern(offset: number, length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = ((offset + i) * 31 + ((offset + i) >> 13)) & 0xff;
  return bytes;
}

function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

async function sha256(bytes: Uint8Array | ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as BufferSource);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Splits curl's `-D -` output (head, then body) of one HTTP/2 response. */
function parseCurl(out: string): { status: number; headers: Headers; body: string } {
  const cut = out.indexOf("\r\n\r\n");
  ok(cut >= 0, `no header block in curl output: ${JSON.stringify(out.slice(0, 300))}`);
  const [statusLine, ...lines] = out.slice(0, cut).split("\r\n");
  const match = /^HTTP\/(\S+) (\d{3})/.exec(statusLine!);
  ok(match, `bad status line ${JSON.stringify(statusLine)}`);
  const headers = new Headers();
  for (const line of lines) {
    const i = line.indexOf(":");
    headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  headers.set("x-curl-http-version", match[1]!);
  return { status: Number(match[2]), headers, body: out.slice(cut + 4) };
}

/** Serves `handler` with {@linkcode serveConnection} on every TCP connection of a listener. */
function serveTcp(handler: (request: Request) => Response | Promise<Response>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections = new Set<Connection>();
  const protocolErrors: Http2Error[] = [];
  let accepted = 0;
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        accepted++;
        const connection = serveConnection(conn, handler, {
          onProtocolError: (error) => protocolErrors.push(error),
        });
        connections.add(connection);
        connection.closed.then(() => connections.delete(connection));
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    protocolErrors,
    get accepted() {
      return accepted;
    },
    get open() {
      return connections.size;
    },
    async close() {
      listener.close();
      await accepting;
      const open = [...connections];
      for (const connection of open) connection.close();
      await Promise.all(open.map((connection) => connection.closed));
    },
  };
}

// ---- 1. Node http2 server as a backend behind our router -----------------------

Deno.test(
  "interop: node:http2 server as a backend dialing the router",
  bounded(90_000, async (signal) => {
    await requireTool("node");
    const router = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
    const node = new NodeScript("node_backend.mjs", [String(router.tunnelAddr.port)], signal);
    let second: NodeScript | undefined;
    const base = `http://127.0.0.1:${router.addr.port}`;
    try {
      await waitFor(() => router.pool.size === 1, "the node backend's tunnel", signal);
      deepEqual(await node.nextJson(signal), { connected: true });

      // A plain GET: status, body and the backend's headers (set-cookie kept apart).
      let response = await fetch(`${base}/foo`, { signal });
      equal(response.status, 200);
      equal(await response.text(), "bar");
      equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
      equal(response.headers.get("x-backend"), "node");
      equal(response.headers.get("cache-control"), "no-store");
      deepEqual(response.headers.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);

      // What reached the backend: pseudo-headers, X-Forwarded-*, no forged X-Forwarded-For.
      response = await fetch(`${base}/headers?q=a%20b&r`, {
        signal,
        headers: { "x-custom": "yes", "x-forwarded-for": "6.6.6.6", "accept": "text/x-test" },
      });
      equal(response.status, 200);
      const seen = await response.json();
      equal(seen.method, "GET");
      equal(seen.path, "/headers?q=a%20b&r");
      equal(seen.scheme, "http");
      equal(seen.authority, `127.0.0.1:${router.addr.port}`);
      equal(seen.headers["x-custom"], "yes");
      equal(seen.headers["accept"], "text/x-test");
      equal(seen.headers["x-forwarded-for"], "127.0.0.1");
      equal(seen.headers["x-forwarded-proto"], "http");
      equal(seen.headers["x-forwarded-host"], `127.0.0.1:${router.addr.port}`);
      equal(seen.headers["host"], undefined);
      equal(seen.headers["connection"], undefined);

      // Statuses pass through; 204 has no body.
      response = await fetch(`${base}/nowhere`, { signal });
      equal(response.status, 404);
      equal(await response.text(), "not found\n");
      response = await fetch(`${base}/status?code=204`, { signal });
      equal(response.status, 204);
      equal(await response.text(), "");

      // 50 concurrent requests; node allows 16 streams, so the router must queue.
      let start = performance.now();
      const bodies = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const r = await fetch(`${base}/slow?ms=20&id=${i}`, { signal });
          equal(r.status, 200);
          return await r.text();
        }),
      );
      deepEqual(bodies, Array.from({ length: 50 }, (_, i) => `slow ${i}`));
      console.log(`  50 concurrent via node backend: ${(performance.now() - start).toFixed(0)} ms`);

      // 1 MiB POST echoed back, with a known length and as a stream without one.
      const upload = randomBytes(1024 * 1024);
      start = performance.now();
      response = await fetch(`${base}/echo`, {
        method: "POST",
        body: upload,
        headers: { "content-type": "application/x-test" },
        signal,
      });
      equal(response.status, 200);
      equal(response.headers.get("content-type"), "application/x-test");
      equal(response.headers.get("x-request-length"), String(upload.length));
      ok(sameBytes(new Uint8Array(await response.arrayBuffer()), upload), "echoed body differs");
      let offset = 0;
      const streamed = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= upload.length) return controller.close();
          controller.enqueue(upload.slice(offset, offset += 100_000));
        },
      });
      response = await fetch(`${base}/echo`, { method: "POST", body: streamed, signal });
      equal(response.status, 200);
      equal(response.headers.get("x-request-length"), "none");
      ok(sameBytes(new Uint8Array(await response.arrayBuffer()), upload), "echoed stream differs");
      console.log(
        `  2 x 1 MiB echo via node backend: ${(performance.now() - start).toFixed(0)} ms`,
      );

      // 8 MiB download: far beyond every flow-control window.
      start = performance.now();
      response = await fetch(`${base}/large`, { signal });
      equal(response.status, 200);
      equal(response.headers.get("content-length"), String(8 * 1024 * 1024));
      const large = new Uint8Array(await response.arrayBuffer());
      equal(large.length, 8 * 1024 * 1024);
      ok(sameBytes(large, pattern(0, large.length)), "8 MiB body differs");
      console.log(
        `  8 MiB download via node backend: ${(performance.now() - start).toFixed(0)} ms`,
      );

      // Trailers, a 103 before the final head, a 413 sent before the upload was read,
      // and header blocks over 16 KiB (CONTINUATION) in both directions.
      response = await fetch(`${base}/trailers`, { signal });
      equal(response.status, 200);
      equal(await response.text(), "with trailers");
      response = await fetch(`${base}/early-hints`, { signal });
      equal(response.status, 200);
      equal(await response.text(), "after hints");
      response = await fetch(`${base}/reject`, {
        method: "POST",
        body: randomBytes(4 * 1024 * 1024),
        signal,
      });
      equal(response.status, 413);
      equal(await response.text(), "too large\n");
      response = await fetch(`${base}/big-header`, {
        headers: { "x-big-request": "r".repeat(20_000) },
        signal,
      });
      equal(response.status, 200);
      equal(response.headers.get("x-big"), "h".repeat(30_000));
      equal(await response.text(), "20000");
      response = await fetch(`${base}/foo`, { signal }); // The tunnel still works.
      equal(await response.text(), "bar");

      // Four 8 MiB downloads and four 1 MiB echoes at once share the connection window.
      start = performance.now();
      const expected = pattern(0, 8 * 1024 * 1024);
      await Promise.all([
        ...Array.from({ length: 4 }, async () => {
          const r = await fetch(`${base}/large`, { signal });
          ok(sameBytes(new Uint8Array(await r.arrayBuffer()), expected), "parallel 8 MiB differs");
        }),
        ...Array.from({ length: 4 }, async () => {
          const r = await fetch(`${base}/echo`, { method: "POST", body: upload, signal });
          ok(sameBytes(new Uint8Array(await r.arrayBuffer()), upload), "parallel echo differs");
        }),
      ]);
      console.log(
        `  4 x 8 MiB down + 4 x 1 MiB echo at once: ${(performance.now() - start).toFixed(0)} ms`,
      );
      equal(router.pool.size, 1);

      // The backend dies with a request in flight: that one gets 502, later ones 503.
      const inFlight = fetch(`${base}/slow?ms=10000&id=lost`, { signal });
      await waitFor(() => router.pool.list()[0]!.inFlight === 1, "request sent", signal);
      const status = await node.stop("SIGKILL");
      equal(status.signal, "SIGKILL");
      response = await inFlight;
      equal(response.status, 502);
      await response.body?.cancel();
      await waitFor(() => router.pool.size === 0, "the tunnel to leave the pool", signal);
      response = await fetch(`${base}/foo`, { signal });
      equal(response.status, 503);
      await response.body?.cancel();

      // A new node backend takes over; the router's graceful shutdown (GOAWAY) lets it
      // finish its in-flight request, and node closes the socket by itself.
      second = new NodeScript("node_backend.mjs", [String(router.tunnelAddr.port)], signal);
      await waitFor(() => router.pool.size === 1, "the second node backend's tunnel", signal);
      response = await fetch(`${base}/foo`, { signal });
      equal(await response.text(), "bar");
      const slow = fetch(`${base}/slow?ms=300&id=last`, { signal });
      await waitFor(() => router.pool.list()[0]!.inFlight === 1, "last request sent", signal);
      start = performance.now();
      const stopped = router.shutdown();
      response = await slow;
      equal(response.status, 200);
      equal(await response.text(), "slow last");
      await stopped;
      const shutdownMs = performance.now() - start;
      console.log(`  router graceful shutdown with node backend: ${shutdownMs.toFixed(0)} ms`);
      ok(shutdownMs < 4000, `shutdown waited ${shutdownMs} ms: node never closed the tunnel`);
      const exit = await second.exited();
      equal(exit.code, 0, `second node backend: ${second.stderr}`);
    } catch (error) {
      if (node.stderr) console.error(`node backend stderr:\n${node.stderr}`);
      if (second?.stderr) console.error(`second node backend stderr:\n${second.stderr}`);
      throw error;
    } finally {
      await node.stop();
      await second?.stop();
      await router.shutdown();
    }
  }),
);

// ---- 2. Node http2 client driving our backend's server role ------------------------

Deno.test(
  "interop: node:http2 client as a router driving serveReverse({ connect })",
  bounded(60_000, async (signal) => {
    await requireTool("node");
    const big = randomBytes(2 * 1024 * 1024);
    const bigHash = await sha256(big);
    const node = new NodeScript("node_router.mjs", [], signal);
    let dials = 0;
    const seen: string[] = [];
    let endlessCancelled = false;
    let endlessCompleted = false;
    const backend = serveReverse({
      quiet: true,
      maxReconnectDelay: 50,
      http2: { maxConcurrentStreams: 8 },
      // Dial the node "router" once; later attempts fail until shutdown.
      connect: async () => {
        if (dials++ > 0) throw new Error("node router accepts one tunnel only");
        const { port } = await node.nextJson(signal) as { port: number };
        return await Deno.connect({ hostname: "127.0.0.1", port });
      },
      handler: async (request, info) => {
        const url = new URL(request.url);
        seen.push(`${request.method} ${url.pathname}`);
        switch (url.pathname) {
          case "/inspect":
            return Response.json({
              method: request.method,
              url: request.url,
              headers: Object.fromEntries(request.headers),
              remote: info.remoteAddr.hostname,
              streamId: info.streamId,
            });
          case "/upload": {
            const body = new Uint8Array(await request.arrayBuffer());
            return Response.json({
              length: body.length,
              sha256: await sha256(body),
              contentType: request.headers.get("content-type"),
              contentLength: request.headers.get("content-length"),
              method: request.method,
              text: body.length < 100 ? new TextDecoder().decode(body) : null,
            });
          }
          case "/slow": {
            const ms = Number(url.searchParams.get("ms") ?? "20");
            await new Promise((resolve) => setTimeout(resolve, ms));
            return new Response(`slow ${url.searchParams.get("id")}`);
          }
          case "/big-header":
            return new Response(String(request.headers.get("x-big-request")?.length), {
              headers: { "x-big": "h".repeat(30_000) },
            });
          case "/endless": {
            // Never ends by itself: only the client's RST_STREAM CANCEL stops it.
            info.completed.then(() => endlessCompleted = true);
            const chunk = new Uint8Array(16 * 1024);
            return new Response(
              new ReadableStream<Uint8Array>({
                pull: (controller) => controller.enqueue(chunk),
                cancel: () => {
                  endlessCancelled = true;
                },
              }),
            );
          }
          case "/cookies": {
            const headers = new Headers({ "x-deno": "1" });
            headers.append("set-cookie", "a=1; Path=/");
            headers.append("set-cookie", "b=2; HttpOnly");
            return new Response("cookies", { headers });
          }
          case "/big":
            return new Response(big, {
              headers: { "content-length": String(big.length), "x-sha256": bigHash },
            });
          case "/gone":
            return new Response(null, { status: 204 });
          case "/throw":
            throw new Error("handler failure on purpose");
          default:
            return new Response("not found", { status: 404 });
        }
      },
    });
    try {
      await backend.connected;
      const message = await node.nextJson(signal);
      if (message.error) throw new Error(`node router failed: ${message.error}`);
      // deno-lint-ignore no-explicit-any
      const r = message.results as any;

      equal(r.get.status, 200);
      const get = JSON.parse(r.get.body);
      equal(get.method, "GET");
      equal(get.url, "http://example.test/inspect?x=1&y=%20two&z");
      equal(get.headers["x-custom"], "hello");
      equal(get.remote, "localhost"); // No X-Forwarded-For: the router's host.
      equal(get.streamId % 2, 1);

      equal(r.post.status, 200);
      const post = JSON.parse(r.post.body);
      equal(post.length, r.postExpected.length);
      equal(post.sha256, r.postExpected.sha256);
      equal(post.contentLength, String(r.postExpected.length));
      equal(post.contentType, "application/octet-stream");

      equal(r.postNoLength.status, 200);
      const put = JSON.parse(r.postNoLength.body);
      equal(put.method, "PUT");
      equal(put.length, 70_000);
      equal(put.contentLength, null);

      equal(r.postTrailers.status, 200);
      equal(JSON.parse(r.postTrailers.body).text, "body before trailers");

      equal(r.concurrent.length, 20);
      r.concurrent.forEach((c: { status: number; body: string }, i: number) => {
        equal(c.status, 200);
        equal(c.body, `slow ${i}`);
      });

      equal(r.many.status, 200);
      const many = JSON.parse(r.many.body);
      for (let i = 0; i < 100; i++) equal(many.headers[`x-h-${i}`], `value-${i}-${"v".repeat(i)}`);
      // Cookie crumbs are joined with "; " (RFC 9113 §8.2.3).
      equal(
        many.headers.cookie,
        Array.from({ length: 30 }, (_, i) => `c${i}=${"k".repeat(10)}${i}`).join("; "),
      );

      equal(r.bigHeader.status, 200);
      equal(r.bigHeader.body, "30000");
      equal(r.bigHeader.headers["x-big"], "h".repeat(30_000));

      equal(r.cookies.status, 200);
      equal(r.cookies.body, "cookies");
      deepEqual(r.cookies.headers["set-cookie"], ["a=1; Path=/", "b=2; HttpOnly"]);
      equal(r.cookies.headers["x-deno"], "1");

      equal(r.head.status, 200);
      equal(r.head.length, 0);
      equal(r.head.headers["content-length"], String(big.length));

      equal(r.big.status, 200);
      equal(r.big.length, big.length);
      equal(r.big.sha256, bigHash);

      equal(r.noContent.status, 204);
      equal(r.noContent.length, 0);
      equal(r.throws.status, 500);

      // Node cancelled an endless body: the stream ends, the body is cancelled, the
      // connection goes on.
      equal(r.cancelled.status, 200);
      ok(r.cancelled.first > 0);
      await waitFor(
        () => endlessCancelled && endlessCompleted,
        "the endless body's cancel",
        signal,
      );
      equal(r.afterCancel.status, 200);
      equal(r.afterCancel.body, "cookies");
      equal(r.ping, true);

      // Node saw the SETTINGS our backend advertised.
      equal(r.settings.maxConcurrentStreams, 8);
      equal(r.settings.initialWindowSize, TUNNEL_STREAM_WINDOW);
      equal(r.settings.maxHeaderListSize, 65_536);

      // Graceful shutdown with a request in flight: GOAWAY NO_ERROR naming that stream,
      // the request completes, then the connection closes.
      deepEqual(await node.nextJson(signal), { phase: "in-flight" });
      const start = performance.now();
      await backend.shutdown();
      const shutdownMs = performance.now() - start;
      console.log(`  backend graceful shutdown under node client: ${shutdownMs.toFixed(0)} ms`);
      const message2 = await node.nextJson(signal);
      if (message2.error) throw new Error(`node router failed: ${message2.error}`);
      // deno-lint-ignore no-explicit-any
      const shutdown = message2.shutdown as any;
      equal(shutdown.last.status, 200);
      equal(shutdown.last.body, "slow last");
      equal(shutdown.goaway.code, 0);
      ok(shutdown.goaway.lastStreamId >= 1 && shutdown.goaway.lastStreamId % 2 === 1);
      equal(shutdown.closed, true);
      ok(shutdownMs < 5000, `backend shutdown took ${shutdownMs} ms`);
      equal(seen.length, 34, seen.join("\n")); // Every request reached the handler once.

      const status = await node.exited();
      equal(status.code, 0, `node router exited with ${status.code}: ${node.stderr}`);
    } catch (error) {
      if (node.stderr) console.error(`node router stderr:\n${node.stderr}`);
      throw error;
    } finally {
      await backend.shutdown();
      await node.stop();
    }
  }),
);

// ---- 3. curl, nghttp and h2load against serveConnection --------------------------

Deno.test(
  "interop: curl, nghttp and h2load against serveConnection (h2c prior knowledge)",
  bounded(90_000, async (signal) => {
    await requireTool("curl");
    await requireTool("nghttp");
    await requireTool("h2load");
    const big = randomBytes(1024 * 1024 + 12_345);
    const server = serveTcp(async (request) => {
      const url = new URL(request.url);
      switch (url.pathname) {
        case "/path": {
          const text = `hello ${request.method} ${url.search}\n`;
          const headers = new Headers({
            "content-type": "text/plain",
            "content-length": String(new TextEncoder().encode(text).length),
            "x-served-by": "ptth",
            "x-seen-agent": request.headers.get("user-agent") ?? "",
            "x-seen-custom": request.headers.get("x-custom") ?? "",
          });
          headers.append("set-cookie", "s=1");
          headers.append("set-cookie", "t=2");
          return new Response(text, { headers });
        }
        case "/upload": {
          const body = new Uint8Array(await request.arrayBuffer());
          return Response.json({
            method: request.method,
            length: body.length,
            sha256: await sha256(body),
            contentLength: request.headers.get("content-length"),
            expect: request.headers.get("expect"),
          });
        }
        case "/big":
          return new Response(big);
        default:
          return new Response("ok");
      }
    });
    const dir = await Deno.makeTempDir({ prefix: "ptth_interop_" });
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const curl = ["-sS", "--http2-prior-knowledge", "--max-time", "20"];

      // GET with a query and a custom header.
      let start = performance.now();
      let out = await runOk("curl", [
        ...curl,
        "-D",
        "-",
        "-H",
        "x-custom: 42",
        `${base}/path?a=1&b=two`,
      ], signal);
      let res = parseCurl(out.stdout);
      equal(res.headers.get("x-curl-http-version"), "2");
      equal(res.status, 200);
      equal(res.body, "hello GET ?a=1&b=two\n");
      equal(res.headers.get("x-served-by"), "ptth");
      equal(res.headers.get("x-seen-custom"), "42");
      ok(res.headers.get("x-seen-agent")!.startsWith("curl/"));
      equal(res.headers.get("set-cookie"), "s=1, t=2"); // Two fields, as Headers joins them.

      // POST of a ~1 MiB file.
      const file = `${dir}/upload.bin`;
      const upload = randomBytes(1024 * 1024 + 777);
      await Deno.writeFile(file, upload);
      out = await runOk(
        "curl",
        [...curl, "-D", "-", "--data-binary", `@${file}`, `${base}/upload`],
        signal,
      );
      res = parseCurl(out.stdout);
      equal(res.status, 200);
      const posted = JSON.parse(res.body);
      equal(posted.method, "POST");
      equal(posted.length, upload.length);
      equal(posted.sha256, await sha256(upload));
      equal(posted.contentLength, String(upload.length));
      console.log(
        `  curl POST ~1 MiB (expect: ${posted.expect}): ${
          (performance.now() - start).toFixed(0)
        } ms`,
      );

      // HEAD: the head of GET, no body.
      out = await runOk("curl", [...curl, "-I", `${base}/path`], signal);
      res = parseCurl(out.stdout);
      equal(res.status, 200);
      equal(res.headers.get("content-length"), String("hello HEAD \n".length));
      equal(res.body, "");

      // A body larger than curl's windows, then several URLs in parallel. curl 7.88's
      // `-Z --http2-prior-knowledge` fails with "Error in the HTTP2 framing layer" against
      // any server (node:http2, Deno.serve too) unless each transfer gets its own
      // connection (--parallel-immediate); nghttp below covers multiplexing.
      out = await runOk("curl", [...curl, `${base}/big`], signal);
      ok(sameBytes(out.bytes, big), "curl's download of /big differs");
      const urls = Array.from({ length: 10 }, (_, i) => `${base}/path?i=${i}`);
      out = await runOk("curl", [...curl, "-Z", "--parallel-immediate", ...urls], signal);
      for (let i = 0; i < 10; i++) ok(out.stdout.includes(`hello GET ?i=${i}\n`), `missing ${i}`);

      // nghttp: verbose frame trace, no errors, SETTINGS both ways.
      start = performance.now();
      out = await runOk("nghttp", ["-nv", "-t", "20", `${base}/path?n=1`], signal);
      ok(/send SETTINGS frame/.test(out.stdout), out.stdout);
      ok(/recv SETTINGS frame <length=\d+, flags=0x00/.test(out.stdout), out.stdout);
      ok(/recv SETTINGS frame <length=0, flags=0x01/.test(out.stdout), "no SETTINGS ACK");
      ok(/\[SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):1024\]/.test(out.stdout), out.stdout);
      ok(/recv \(stream_id=\d+\) :status: 200/.test(out.stdout), out.stdout);
      ok(/recv DATA frame <length=\d+, flags=0x01/.test(out.stdout), "no END_STREAM DATA");
      ok(
        !/\[ERROR\]|RST_STREAM|GOAWAY[^\n]*\n[^\n]*error_code=(?!NO_ERROR)/.test(out.stdout),
        out.stdout,
      );
      ok(!/recv GOAWAY/.test(out.stdout), "our server sent GOAWAY before nghttp did");
      equal(out.stderr, "");
      // nghttp with its default 64 KiB windows: a 1 MiB download and a 1 MiB upload.
      out = await runOk("nghttp", ["-n", "-s", "-t", "20", `${base}/big`], signal);
      equal(out.stderr, "");
      ok(/ 200 +1M \/big/.test(out.stdout), out.stdout);
      out = await runOk("nghttp", ["-t", "20", "-d", file, `${base}/upload`], signal);
      equal(JSON.parse(out.stdout).sha256, await sha256(upload));
      console.log(`  nghttp runs: ${(performance.now() - start).toFixed(0)} ms`);

      // h2load: 2000 requests, 4 connections, 20 streams each at a time.
      start = performance.now();
      out = await runOk(
        "h2load",
        ["-n", "2000", "-c", "4", "-m", "20", "-T", "20", `${base}/`],
        signal,
      );
      ok(/Application protocol: h2c/.test(out.stdout), out.stdout);
      ok(
        /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored/.test(
          out.stdout,
        ),
        out.stdout,
      );
      ok(/status codes: 2000 2xx/.test(out.stdout), out.stdout);
      console.log(
        `  h2load 2000 requests: ${(performance.now() - start).toFixed(0)} ms (` +
          /finished in ([^\n]*)/.exec(out.stdout)?.[1] + ")",
      );
      // And 200 uploads of ~1 MiB split over 2 connections.
      out = await runOk(
        "h2load",
        ["-n", "200", "-c", "2", "-m", "10", "-T", "20", "-d", file, `${base}/upload`],
        signal,
      );
      ok(/200 succeeded, 0 failed, 0 errored/.test(out.stdout), out.stdout);

      deepEqual(server.protocolErrors.map((e) => e.message), []);
    } finally {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  }),
);

// ---- 4. curl against the router, through to a Deno backend -------------------------

Deno.test(
  "interop: curl against the router's public port, through to serveReverse",
  bounded(60_000, async (signal) => {
    await requireTool("curl");
    const router = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
    const large = randomBytes(8 * 1024 * 1024);
    const largeHash = await sha256(large);
    const backend = serveReverse({
      hostname: "127.0.0.1",
      port: router.tunnelAddr.port,
      quiet: true,
      handler: (request, info) => {
        const url = new URL(request.url);
        switch (url.pathname) {
          case "/foo": {
            const headers = new Headers({ "x-backend": "deno" });
            headers.append("set-cookie", "a=1");
            headers.append("set-cookie", "b=2");
            return new Response("bar", { headers });
          }
          case "/inspect":
            return Response.json({
              url: request.url,
              method: request.method,
              headers: Object.fromEntries(request.headers),
              remote: info.remoteAddr.hostname,
            });
          case "/echo":
            return new Response(request.body, {
              headers: { "x-length": request.headers.get("content-length") ?? "none" },
            });
          case "/large":
            return new Response(large, { headers: { "content-length": String(large.length) } });
          default:
            return new Response("not found", { status: 404 });
        }
      },
    });
    const dir = await Deno.makeTempDir({ prefix: "ptth_interop_" });
    try {
      await backend.connected;
      await waitFor(() => router.pool.size === 1, "the backend's tunnel", signal);
      const base = `http://127.0.0.1:${router.addr.port}`;
      const curl = ["-sS", "--max-time", "20"];

      for (const version of [["--http2-prior-knowledge"], ["--http1.1"]]) {
        const expected = version[0] === "--http1.1" ? "1.1" : "2";
        let res = parseCurl(
          (await runOk("curl", [...curl, ...version, "-D", "-", `${base}/foo`], signal)).stdout,
        );
        equal(res.headers.get("x-curl-http-version"), expected);
        equal(res.status, 200);
        equal(res.body, "bar");
        equal(res.headers.get("x-backend"), "deno");
        equal(res.headers.get("set-cookie"), "a=1, b=2");

        // Hop-by-hop fields stay behind; a forged X-Forwarded-For is replaced.
        res = parseCurl(
          (await runOk("curl", [
            ...curl,
            ...version,
            "-D",
            "-",
            "-H",
            "x-forwarded-for: 6.6.6.6",
            "-H",
            "x-custom: kept",
            ...(expected === "1.1"
              ? ["-H", "connection: keep-alive, x-drop", "-H", "x-drop: 1", "-H", "keep-alive: 5"]
              : []),
            `${base}/inspect?x=1`,
          ], signal)).stdout,
        );
        equal(res.status, 200);
        const seen = JSON.parse(res.body);
        equal(seen.url, `http://127.0.0.1:${router.addr.port}/inspect?x=1`);
        equal(seen.headers["x-custom"], "kept");
        equal(seen.headers["x-forwarded-for"], "127.0.0.1");
        equal(seen.headers["x-forwarded-proto"], "http");
        equal(seen.headers["x-forwarded-host"], `127.0.0.1:${router.addr.port}`);
        equal(seen.remote, "127.0.0.1");
        equal(seen.headers["x-drop"], undefined);
        equal(seen.headers["keep-alive"], undefined);
        equal(seen.headers["connection"], undefined);
        ok(seen.headers["user-agent"].startsWith("curl/"));

        // POST of a ~1 MiB file, streamed back.
        const file = `${dir}/upload.bin`;
        const upload = randomBytes(1024 * 1024 + 3);
        await Deno.writeFile(file, upload);
        const start = performance.now();
        const out = await runOk("curl", [
          ...curl,
          ...version,
          "--data-binary",
          `@${file}`,
          "-H",
          "content-type: application/octet-stream",
          `${base}/echo`,
        ], signal);
        ok(sameBytes(out.bytes, upload), `curl ${version} echo differs`);
        console.log(
          `  curl ${expected} 1 MiB echo via router: ${(performance.now() - start).toFixed(0)} ms`,
        );

        // HEAD and a 404.
        res = parseCurl(
          (await runOk("curl", [...curl, ...version, "-I", `${base}/large`], signal)).stdout,
        );
        equal(res.status, 200);
        equal(res.headers.get("content-length"), String(large.length));
        equal(res.body, "");
        res = parseCurl(
          (await runOk("curl", [...curl, ...version, "-D", "-", `${base}/missing`], signal))
            .stdout,
        );
        equal(res.status, 404);

        // 8 MiB download, and 10 requests at once.
        const download = await runOk("curl", [...curl, ...version, `${base}/large`], signal);
        equal(await sha256(download.bytes), largeHash);
        const urls = Array.from({ length: 10 }, () => `${base}/foo`);
        const parallel = await runOk(
          "curl",
          [...curl, ...version, "-Z", "--parallel-immediate", ...urls],
          signal,
        );
        equal(parallel.stdout, "bar".repeat(10));
      }
    } finally {
      await backend.shutdown();
      await router.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  }),
);

// ---- TCP_NODELAY -----------------------------------------------------------------

// Found by the runs above: without TCP_NODELAY, every response whose HEADERS and DATA
// left in two writes waited ~40 ms for the peer's delayed ACK (h2load: 1.7k instead of
// 15k requests/s; each small request from node:http2 ~44 ms instead of ~1 ms).
Deno.test("interop: both HTTP/2 roles turn Nagle's algorithm off on their socket", async () => {
  // Real loopback sockets; the spy records the call on its way to the socket.
  const [a, b] = await tcpPair();
  const calls: string[] = [];
  const spy = (end: Deno.TcpConn, role: string): ByteIO & { setNoDelay(on: boolean): void } => ({
    read: (p) => end.read(p),
    write: (p) => end.write(p),
    close: () => end.close(),
    setNoDelay: (on) => {
      calls.push(`${role} ${on}`);
      end.setNoDelay(on);
    },
  });
  const server = serveConnection(spy(b, "server"), () => new Response("ok"));
  const client = new ClientSession(spy(a, "client"));
  const response = await client.request({
    method: "GET",
    scheme: "http",
    authority: "example.test",
    path: "/",
  });
  equal(await response.text(), "ok");
  client.close();
  await Promise.all([client.closed, server.closed]);
  deepEqual(calls.sort(), ["client true", "server true"]);
});
