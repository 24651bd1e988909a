/**
 * Fault tests over loopback, each bounded in time: a backend killed with
 * SIGKILL mid-stream, a backend that stops reading, a router restart, a
 * rolling restart of three backends under load (and, pinned down on their
 * own, the two races it exposed: a draining backend's GOAWAY, and requests
 * queued on a draining tunnel), and a burst of 10,000 requests against a
 * tunnel that takes 100 streams at a time.
 *
 * Every process a test starts is stopped by it; every port is picked free.
 *
 * @module
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import {
  CLIENT_PREFACE,
  ErrorCode,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
} from "../h2/constants.ts";
import { type FrameHeader, FrameWriter, type GoawayFrame, readFrameHeader } from "../h2/frame.ts";
import type { ReverseServer } from "../backend/serve_reverse.ts";
import { serveReverse } from "../backend/serve_reverse.ts";
import { baseUrl, startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";
import { concat, RawPeer } from "./_raw_peer.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BACKEND_PROCESS = new URL("./fixtures/backend_process.ts", import.meta.url).pathname;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free loopback port (bound, read and released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * A child process whose stdout and stderr are read line by line as they come
 * (so that it never blocks on a full pipe); `stop` kills it if still running
 * and waits for it and its pipes.
 */
class Child {
  readonly child: Deno.ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly #pumps: Promise<void>;

  constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pumps = Promise.all([
      Child.#pump(this.child.stdout, this.stdout),
      Child.#pump(this.child.stderr, this.stderr),
    ]).then(() => {});
  }

  static async #pump(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
    let pending = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      pending += text;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      lines.push(...parts);
    }
    if (pending !== "") lines.push(pending);
  }

  /** Waits until some line of stdout or stderr satisfies `check`. */
  async waitForLine(check: (line: string) => boolean, ms: number, what: string): Promise<void> {
    await waitUntil(
      () => this.stdout.some(check) || this.stderr.some(check),
      ms,
      `${what} (stderr: ${this.stderr.join("\n")})`,
    );
  }

  /** Sends `signal` (if still running) and waits for the exit and the pipes. */
  async stop(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch {
      // Exited already.
    }
    const status = await withTimeout(this.child.status, 15_000, "child exit");
    await this.#pumps;
    return status;
  }
}

/** `tests/fixtures/backend_process.ts` in a child process. */
class BackendProcess extends Child {
  constructor(options: Record<string, unknown>) {
    super(["run", "-A", BACKEND_PROCESS, JSON.stringify(options)]);
  }

  /** The JSON events printed so far. */
  get events(): Array<Record<string, unknown>> {
    return this.stdout.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
  }

  /** The `x-request-id`s of the requests it has received. */
  get requestIds(): string[] {
    return this.events.filter((e) => e.event === "request").map((e) => String(e.id));
  }
}

/** What a fetch ended with, and when (performance.now()). */
interface Outcome {
  status: number;
  body: string;
  at: number;
  error?: string;
}

function settle(response: Promise<Response>): Promise<Outcome> {
  return response.then(
    async (r) => {
      const body = await r.text();
      return { status: r.status, body, at: performance.now() };
    },
    (error) => ({ status: 0, body: "", at: performance.now(), error: String(error) }),
  );
}

Deno.test("kill -9 of a backend mid-stream: only its streams fail, with 502, within a second; other tunnels untouched", async () => {
  await using router = startRouter();
  const base = baseUrl(router);
  const a = new BackendProcess({ port: router.tunnelAddr.port, name: "A" });
  let b: ReverseServer | undefined;
  let probing = true;
  let probes: Promise<Outcome[]> = Promise.resolve([]);
  try {
    await a.waitForLine((line) => line.includes('"connected"'), 20_000, "backend A connected");
    await waitUntil(() => router.pool.size === 1, 5000, "A's tunnel in the pool");
    const tunnelA = router.pool.list()[0]!;

    // With A alone in the pool, these all land on A: POSTs and GETs that hang
    // before the response headers, and a GET whose response is streaming.
    const post = (id: string) =>
      settle(fetch(`${base}/hang`, { method: "POST", body: "x", headers: { "x-request-id": id } }));
    const get = (id: string) => settle(fetch(`${base}/hang`, { headers: { "x-request-id": id } }));
    const postsOnA = ["pa0", "pa1", "pa2", "pa3", "pa4"].map(post);
    const getsOnA = ["ga0", "ga1", "ga2"].map(get);
    const streaming = await fetch(`${base}/stream`, { headers: { "x-request-id": "sa" } });
    equal(streaming.status, 200);
    const streamReader = streaming.body!.getReader();
    ok(!(await streamReader.read()).done, "first chunk of A's streaming response");
    await waitUntil(() => a.requestIds.length === 9, 5000, "nine requests at A");

    // B, in this process: holds its POSTs until released, answers GETs at once.
    let release!: () => void;
    const released = new Promise<void>((resolve) => release = resolve);
    const seenByB: string[] = [];
    b = await startBackend(router, async (request) => {
      seenByB.push(request.headers.get("x-request-id") ?? "");
      if (request.method === "POST") {
        await released;
        return new Response(`B:${await request.text()}`);
      }
      return new Response("B");
    });
    await waitUntil(() => router.pool.size === 2, 5000, "B's tunnel in the pool");
    const tunnelB = router.pool.list().find((t) => t !== tunnelA)!;
    // A has nine streams in flight, B none: the next requests go to B.
    const postsOnB = ["pb0", "pb1", "pb2"].map(post);
    await waitUntil(() => seenByB.length === 3, 5000, "three POSTs at B");
    deepEqual(seenByB.toSorted(), ["pb0", "pb1", "pb2"]);

    // A steady trickle of requests during and after the kill.
    probes = (async () => {
      const outcomes: Outcome[] = [];
      // At least 11 probes, however fast the rest of the test runs.
      while (probing || outcomes.length <= 10) {
        outcomes.push(await settle(fetch(`${base}/ok`, { headers: { "x-request-id": "probe" } })));
        await sleep(5);
      }
      return outcomes;
    })();
    await sleep(50);

    const killedAt = performance.now();
    a.child.kill("SIGKILL");
    const streamEnd = streamReader.read().then(
      async function drain(r): Promise<string> {
        return r.done ? "done" : await streamReader.read().then(drain);
      },
    ).catch((error) => `error: ${error}`).then((how) => ({ how, at: performance.now() }));

    const posts = await withTimeout(Promise.all(postsOnA), 5000, "POSTs on A");
    for (const outcome of posts) {
      equal(outcome.status, 502, `POST on the killed backend: ${JSON.stringify(outcome)}`);
      ok(outcome.body.includes("tunnel failed"), outcome.body);
      ok(outcome.at - killedAt < 1000, `502 after ${outcome.at - killedAt} ms`);
    }
    const slowest502 = Math.max(...posts.map((o) => o.at - killedAt));
    // Idempotent GETs in flight on A are retried on B.
    const gets = await withTimeout(Promise.all(getsOnA), 5000, "GETs on A");
    for (const outcome of gets) {
      equal(outcome.status, 200, `GET retried after the kill: ${JSON.stringify(outcome)}`);
      equal(outcome.body, "B");
      ok(outcome.at - killedAt < 1000, `retried GET answered after ${outcome.at - killedAt} ms`);
    }
    for (const id of ["ga0", "ga1", "ga2"]) ok(seenByB.includes(id), `${id} retried on B`);
    // A response that was already streaming is cut short, not completed.
    const cut = await withTimeout(streamEnd, 5000, "streaming response cut");
    ok(cut.how.startsWith("error"), `the streaming body ended with ${cut.how}`);
    ok(cut.at - killedAt < 1000, `stream cut after ${cut.at - killedAt} ms`);

    const status = await a.stop();
    equal(status.signal, "SIGKILL");
    // B's tunnel is untouched: still in the pool, still open, its streams still pending.
    await waitUntil(() => router.pool.size === 1, 2000, "A's tunnel leaves the pool");
    equal(router.pool.list()[0], tunnelB);
    ok(tunnelB.available, "B's tunnel still takes requests");
    ok(b.isConnected);
    release();
    const postsB = await withTimeout(Promise.all(postsOnB), 5000, "POSTs on B");
    deepEqual(postsB.map((o) => `${o.status} ${o.body}`), ["200 B:x", "200 B:x", "200 B:x"]);
    await sleep(100);
    probing = false;
    const probed = await probes;
    ok(probed.length > 10, `only ${probed.length} probes`);
    deepEqual(
      probed.filter((o) => o.status !== 200),
      [],
      "requests to /ok kept working during and after the kill",
    );
    const after = await fetch(`${base}/ok`);
    equal(await after.text(), "B");
    const cutMs = (cut.at - killedAt).toFixed(0);
    console.log(
      `  kill -9: ${posts.length} POSTs answered 502 within ${slowest502.toFixed(0)} ms, ` +
        `stream cut after ${cutMs} ms, ${gets.length} GETs retried on B, ` +
        `${probed.length} probes all 200`,
    );
  } finally {
    probing = false;
    await probes.catch(() => {});
    await a.stop();
    await b?.shutdown();
  }
});

/** Reads frames from `bytes`: type, stream and payload length of each complete frame. */
function frames(bytes: Uint8Array): Array<FrameHeader> {
  const out: FrameHeader[] = [];
  let offset = 0;
  while (bytes.length - offset >= FRAME_HEADER_LENGTH) {
    const header: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
    readFrameHeader(bytes, offset, header);
    if (bytes.length - offset < FRAME_HEADER_LENGTH + header.length) break;
    out.push(header);
    offset += FRAME_HEADER_LENGTH + header.length;
  }
  return out;
}

/** The largest TCP send and receive buffers the kernel may give a socket (Linux), or 8 MiB each. */
function socketBufferMax(): number {
  const max = (path: string) => {
    try {
      return Number(Deno.readTextFileSync(path).trim().split(/\s+/)[2]);
    } catch {
      return 8 * 1024 * 1024;
    }
  };
  return max("/proc/sys/net/ipv4/tcp_rmem") + max("/proc/sys/net/ipv4/tcp_wmem");
}

Deno.test("a backend that stops reading: flow control holds the upload, and the PING timeout closes its tunnel", async () => {
  const interval = 200;
  const timeout = 300;
  await using router = startRouter({
    keepaliveInterval: interval,
    keepaliveTimeout: timeout,
    tunnelWait: 0,
  });
  // The "backend": raw HTTP/2 that sends its SETTINGS (64 KiB windows, the
  // protocol's defaults, and no WINDOW_UPDATE ever), ACKs the router's, then
  // never reads again.
  const peer = await Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: router.addr.port });
  try {
    const out = new FrameWriter();
    out.settings([]);
    await peer.write(out.bytes());
    const received: Uint8Array[] = [];
    const buf = new Uint8Array(65_536);
    // The router's preface: the magic string, then SETTINGS.
    while (!frames(concat(received).subarray(24)).some((f) => f.type === FrameType.SETTINGS)) {
      const n = await withTimeout(peer.read(buf), 2000, "router preface");
      if (n === null) throw new Error("router closed the tunnel");
      received.push(buf.slice(0, n));
    }
    out.reset();
    out.settingsAck();
    await peer.write(out.bytes());
    const stoppedReading = performance.now();
    await waitUntil(() => router.pool.size === 1, 2000, "raw tunnel in the pool");

    // A 256 MiB upload, far more than anything should buffer.
    const total = 256 * 1024 * 1024;
    await client.write(
      new TextEncoder().encode(
        `POST /upload HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: ${total}\r\n\r\n`,
      ),
    );
    let sent = 0;
    // The stall is the write still waiting when the answer comes, or one that
    // the answer itself released (the router drops the body), after which the
    // next writes may have started already.
    let writeStarted = performance.now();
    const lastWrites: Array<{ started: number; ended: number }> = [];
    let writing = true;
    const chunk = new Uint8Array(256 * 1024).fill(0x61);
    const upload = (async () => {
      try {
        while (writing && sent < total) {
          writeStarted = performance.now();
          sent += await client.write(chunk.subarray(0, Math.min(chunk.length, total - sent)));
          lastWrites.push({ started: writeStarted, ended: performance.now() });
          if (lastWrites.length > 4) lastWrites.shift();
        }
      } catch {
        // The router closed the connection after its answer.
      }
    })();
    const poolWatch = waitUntil(() => router.pool.size === 0, 5000, "tunnel dropped").then(() =>
      performance.now()
    );
    // The answer: read the response head (the upload is still blocked).
    let answer = "";
    const answerBuf = new Uint8Array(4096);
    while (!answer.includes("\r\n\r\n")) {
      const n = await withTimeout(client.read(answerBuf), 5000, "answer to the upload");
      if (n === null) break;
      answer += new TextDecoder().decode(answerBuf.subarray(0, n));
    }
    const answeredAt = performance.now();
    const pending = lastWrites.at(-1)?.started !== writeStarted;
    const stalledFor = Math.max(
      pending ? answeredAt - writeStarted : 0,
      ...lastWrites.filter((w) => answeredAt - w.ended < 50).map((w) => w.ended - w.started),
    );
    const sentAtAnswer = sent;
    const droppedAt = await poolWatch;
    writing = false;
    client.close();
    await upload;

    ok(answer.startsWith("HTTP/1.1 502"), `answer: ${answer}`);
    ok(answer.includes("tunnel failed"), answer);
    // PING sent after `interval` of silence, unanswered for `timeout`: within
    // interval + timeout, plus the check granularity and some slack.
    ok(
      answeredAt - stoppedReading < interval + timeout + 700,
      `502 after ${answeredAt - stoppedReading} ms`,
    );
    ok(
      droppedAt - stoppedReading < interval + timeout + 1500,
      `tunnel dropped after ${droppedAt - stoppedReading} ms`,
    );
    // The client's bytes sit in the socket buffers (and a bounded read-ahead), not in the router.
    const bound = socketBufferMax() + 4 * 1024 * 1024;
    ok(sentAtAnswer < bound, `client sent ${sentAtAnswer} bytes, bound ${bound}`);
    ok(sentAtAnswer < total / 4, `client sent ${sentAtAnswer} of ${total} bytes`);
    ok(stalledFor > interval, `upload stalled ${stalledFor} ms before the answer`);

    // Now read what the router sent the peer: DATA within the 65,535-byte window,
    // a PING it never answered, and GOAWAY.
    const rest: Uint8Array[] = [];
    while (true) {
      const n = await withTimeout(peer.read(buf), 5000, "tunnel EOF").catch(() => null);
      if (n === null) break;
      rest.push(buf.slice(0, n));
    }
    const sentToPeer = frames(concat([...received, ...rest]).subarray(24));
    const dataBytes = sentToPeer.filter((f) => f.type === FrameType.DATA)
      .reduce((n, f) => n + f.length, 0);
    ok(dataBytes <= 65_535, `router sent ${dataBytes} DATA bytes into a 65,535-byte window`);
    ok(dataBytes > 0, "the upload started");
    ok(sentToPeer.some((f) => f.type === FrameType.HEADERS), "HEADERS sent");
    ok(sentToPeer.some((f) => f.type === FrameType.PING && f.flags === 0), "PING sent");
    ok(sentToPeer.some((f) => f.type === FrameType.GOAWAY), "GOAWAY sent");
    console.log(
      `  stopped reader: ${dataBytes} DATA bytes sent on the tunnel, client upload stalled at ` +
        `${(sentAtAnswer / 1048576).toFixed(1)} MiB of ${total / 1048576} MiB, ` +
        `502 after ${(answeredAt - stoppedReading).toFixed(0)} ms, tunnel dropped after ${
          (droppedAt - stoppedReading).toFixed(0)
        } ms`,
    );
  } finally {
    try {
      client.close();
    } catch {
      // Closed above.
    }
    peer.close();
  }
});

/** The CLI router in a child process, on fixed ports. */
class RouterProcess extends Child {
  /** When the banner said both ports listen. */
  upAt = 0;

  constructor(port: number, tunnelPort: number) {
    super([
      "run",
      "-A",
      "mod.ts",
      "--hostname",
      "127.0.0.1",
      "--port",
      String(port),
      "--tunnel-port",
      String(tunnelPort),
      "--tunnel-wait",
      "5s",
    ]);
  }

  /** Starts the router and waits for its banner (stopping it if none comes). */
  static async start(port: number, tunnelPort: number): Promise<RouterProcess> {
    const router = new RouterProcess(port, tunnelPort);
    let exited = false;
    router.child.status.then(() => exited = true);
    try {
      await waitUntil(
        () => exited || router.stderr.some((line) => line.startsWith("Routes:")),
        20_000,
        `router banner (stderr: ${router.stderr.join("\n")})`,
      );
      if (exited) throw new Error(`router exited at start: ${router.stderr.join("\n")}`);
    } catch (error) {
      await router.stop();
      throw error;
    }
    router.upAt = performance.now();
    return router;
  }
}

Deno.test("router restart: backends are back within the backoff bound, and requests in the wait window succeed", async () => {
  const port = freePort();
  const tunnelPort = freePort();
  const base = `http://127.0.0.1:${port}`;
  const maxBackoff = 500;
  // The backends dial through a gate the test can close, to hold them back at will.
  let gate: Promise<void> = Promise.resolve();
  let openGate = () => {};
  const connectedAt: number[][] = [[], []];
  const backends = [0, 1].map((i) =>
    serveReverse({
      quiet: true,
      metadata: { name: `b${i}` },
      reconnect: { initial: 50, max: maxBackoff },
      connect: async () => {
        await gate;
        return await Deno.connect({ hostname: "127.0.0.1", port: tunnelPort });
      },
      onListen: () => connectedAt[i]!.push(performance.now()),
    }, () => new Response(`b${i}`))
  );
  let router: RouterProcess | undefined;
  try {
    router = await RouterProcess.start(port, tunnelPort);
    await withTimeout(Promise.all(backends.map((b) => b.connected)), 5000, "backends up");
    const first = await fetch(`${base}/`);
    equal(first.status, 200);
    await first.body?.cancel();

    // 1. SIGKILL: the backends lose their tunnels and redial with backoff while
    //    the router is down (long enough for the backoff to reach its maximum).
    await router.stop("SIGKILL");
    await waitUntil(() => backends.every((b) => !b.isConnected), 2000, "backends notice");
    await sleep(1000);
    const before = connectedAt.map((times) => times.length);
    const restarted = await RouterProcess.start(port, tunnelPort);
    router = restarted;
    // Sent the moment the router listens, while the backends are (most likely) still waiting
    // out their backoff: each waits for a tunnel instead of failing.
    const earlySentAt = performance.now();
    const early = Array.from({ length: 20 }, () => settle(fetch(`${base}/early`)));
    await waitUntil(
      () => connectedAt.every((times, i) => times.length > before[i]!),
      5000,
      "backends reconnected",
    );
    const back = connectedAt.map((times) => times.at(-1)! - restarted.upAt);
    for (const ms of back) {
      ok(ms < maxBackoff + 500, `a backend came back ${ms} ms after the router`);
    }
    const earlyOutcomes = await withTimeout(Promise.all(early), 6000, "early requests");
    deepEqual(earlyOutcomes.filter((o) => o.status !== 200), [], "requests right after restart");
    const firstBack = Math.min(...connectedAt.map((times) => times.at(-1)!));
    const earlyLead = firstBack - earlySentAt;

    // 2. SIGTERM (graceful), with the backends held back after the restart: requests
    //    sent meanwhile wait for a tunnel, and are answered as soon as one is up.
    gate = new Promise((resolve) => openGate = resolve);
    const stopped = await router.stop("SIGTERM");
    equal(stopped.code, 0, `router exit on SIGTERM: ${router.stderr.join("\n")}`);
    await waitUntil(() => backends.every((b) => !b.isConnected), 2000, "backends notice");
    router = await RouterProcess.start(port, tunnelPort);
    const sentAt = performance.now();
    const waiting = [
      ...Array.from({ length: 10 }, () => settle(fetch(`${base}/waiting`))),
      ...Array.from(
        { length: 10 },
        () => settle(fetch(`${base}/waiting`, { method: "POST", body: "payload" })),
      ),
    ];
    let settled = 0;
    for (const outcome of waiting) outcome.then(() => settled++);
    await sleep(500);
    equal(settled, 0, "no answer while no tunnel is connected");
    const openedAt = performance.now();
    openGate();
    const outcomes = await withTimeout(Promise.all(waiting), 6000, "waiting requests");
    deepEqual(outcomes.filter((o) => o.status !== 200), [], "requests in the wait window");
    for (const o of outcomes) ok(o.at - openedAt < 1000, `answered ${o.at - openedAt} ms late`);
    // The first backend up may answer everything before the second's tunnel is up.
    await waitUntil(() => backends.every((b) => b.isConnected), maxBackoff + 1000, "both back");
    console.log(
      `  router restart: backends back ${back.map((ms) => ms.toFixed(0)).join(" and ")} ms after ` +
        `the restarted router listened (bound ${maxBackoff} ms); ${earlyOutcomes.length} requests ` +
        `right after the restart all 200 (sent ${
          earlyLead.toFixed(0)
        } ms before a tunnel was up); ` +
        `${outcomes.length} requests held ${(openedAt - sentAt).toFixed(0)} ms in the wait ` +
        `window all 200, the last ${
          (Math.max(...outcomes.map((o) => o.at)) - openedAt).toFixed(0)
        } ms after the backends were let through`,
    );
  } finally {
    openGate();
    await Promise.all(backends.map((b) => b.shutdown()));
    await router?.stop("SIGTERM");
  }
});

Deno.test("rolling restart of three backends under steady load: zero failed requests", async () => {
  const logs: string[] = [];
  await using router = startRouter({ quiet: false, log: (line) => logs.push(line) });
  const base = baseUrl(router);
  let generation = 0;
  const served: number[] = [];
  const start = () => {
    const id = generation++;
    served[id] = 0;
    return startBackend(router, async (request) => {
      served[id]!++;
      // Some work, so that requests are in flight (and queued) when a GOAWAY comes.
      await sleep(Math.random() * 10);
      if (request.method === "POST") return new Response(`${id}:${await request.text()}`);
      return new Response(`${id}:${new URL(request.url).searchParams.get("n")}`);
    }, {
      reconnect: { initial: 50, max: 500 },
      shutdownTimeout: 5000,
      http2: { maxConcurrentStreams: 5 },
    });
  };
  const backends: ReverseServer[] = [];
  for (let i = 0; i < 3; i++) backends.push(await start());
  await waitUntil(() => router.pool.size === 3, 5000, "three tunnels");

  // 20 loops, each sending one request after the other: GETs, small POSTs (buffered, so
  // the router can replay them) and, in twelve loops, 100 KB uploads that stream through
  // and cannot be replayed once sent. Each backend takes 5 streams at a time, so requests
  // also queue for a slot on a tunnel that may start draining meanwhile.
  let running = true;
  let sent = 0;
  let uploads = 0;
  const failures: string[] = [];
  const upload = "u".repeat(100_000);
  const loops = Array.from({ length: 20 }, async (_, loop) => {
    for (let n = 0; running; n++) {
      const tag = `${loop}-${n}`;
      const post = n % 2 === 1;
      const large = post && loop < 12;
      sent++;
      if (large) uploads++;
      try {
        const response = post
          ? await fetch(`${base}/echo`, { method: "POST", body: large ? upload + tag : tag })
          : await fetch(`${base}/get?n=${tag}`);
        const body = await response.text();
        const expected = large ? upload + tag : tag;
        if (response.status !== 200 || body.slice(body.indexOf(":") + 1) !== expected) {
          failures.push(
            `${post ? "POST" : "GET"} ${tag}: ${response.status} ${body.trim().slice(0, 200)}`,
          );
        }
      } catch (error) {
        failures.push(`${post ? "POST" : "GET"} ${tag}: ${error}`);
      }
    }
  });
  const started = performance.now();
  try {
    await sleep(500);
    // Restart each backend in turn: graceful shutdown (GOAWAY, drain), then a replacement.
    for (let i = 0; i < 3; i++) {
      await withTimeout(backends[i]!.shutdown(), 6000, `backend ${i} shutdown`);
      backends[i] = await start();
      await waitUntil(() => router.pool.size === 3, 5000, "replacement in the pool");
      await sleep(400);
    }
    await sleep(500);
  } finally {
    running = false;
    await Promise.all(loops);
    for (const backend of backends) await backend.shutdown();
  }
  const ms = performance.now() - started;
  equal(
    failures.length,
    0,
    `${failures.length} of ${sent} requests failed:\n${failures.slice(0, 20).join("\n")}`,
  );
  ok(sent > 300, `only ${sent} requests sent`);
  // Each of the six backends took part.
  for (const [id, count] of served.entries()) ok(count > 0, `backend ${id} served nothing`);
  console.log(
    `  rolling restart: ${sent} requests (${uploads} 100 KB uploads) in ${ms.toFixed(0)} ms, ` +
      `${failures.length} failed; ` +
      `served per backend: ${served.join(", ")}; ` +
      `${logs.filter((l) => l.includes("retrying")).length} retried after a refusal`,
  );
});

Deno.test("a draining backend serves the requests already on their way: GOAWAY in two steps (RFC 9113 §6.8)", async () => {
  // The test plays the router: it accepts the backend's tunnel and speaks raw HTTP/2.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const gates = new Map<string, () => void>();
  const backend = serveReverse({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
    legacy: true,
    quiet: true,
  }, async (request) => {
    const path = new URL(request.url).pathname;
    await new Promise<void>((resolve) => gates.set(path, resolve));
    return new Response(path);
  });
  const peer = new RawPeer(await listener.accept());
  try {
    await peer.writeRaw(CLIENT_PREFACE);
    peer.out.settings([]);
    await peer.flush();
    await peer.expectFrame("SETTINGS", (r) => r.header.type === FrameType.SETTINGS);
    peer.out.settingsAck();
    await peer.flush();
    await withTimeout(backend.connected, 2000, "backend up");
    const get = (id: number, path: string) => {
      peer.out.headers(
        id,
        peer.encode([":method", "GET", ":scheme", "http", ":authority", "x", ":path", path]),
        true,
        16_384,
      );
    };
    get(1, "/first");
    await peer.flush();
    await peer.sync();

    const stopping = backend.shutdown();
    // Step one: GOAWAY with the largest id (nothing refused yet), and a PING.
    const first = await peer.expectFrame("GOAWAY", (r) => r.header.type === FrameType.GOAWAY);
    equal((first.frame as GoawayFrame).lastStreamId, 0x7fff_ffff);
    equal((first.frame as GoawayFrame).errorCode, ErrorCode.NO_ERROR);
    const ping = await peer.expectFrame(
      "PING",
      (r) => r.header.type === FrameType.PING && (r.header.flags & Flag.ACK) === 0,
    );
    // A request the router sent before it saw the GOAWAY, then the PING ACK.
    get(3, "/on-its-way");
    peer.out.ping(true, ping.payload);
    await peer.flush();
    // Step two: the final GOAWAY names stream 3, which is served, not refused.
    const final = await peer.expectFrame(
      "final GOAWAY",
      (r) => r.header.type === FrameType.GOAWAY,
      (r) => r.header.type === FrameType.RST_STREAM ? `RST_STREAM on ${r.header.streamId}` : null,
    );
    equal((final.frame as GoawayFrame).lastStreamId, 3);
    // After it, a new stream is refused (not processed: the router may retry it anywhere).
    get(5, "/too-late");
    await peer.flush();
    await peer.expectReset(5, ErrorCode.REFUSED_STREAM);
    gates.get("/on-its-way")!();
    const late = await peer.expectResponse(3);
    equal(late.status, 200);
    equal(new TextDecoder().decode(late.body), "/on-its-way");
    gates.get("/first")!();
    equal((await peer.expectResponse(1)).status, 200);
    // With both streams done, the backend closes the tunnel and stops.
    await peer.expectClosed();
    await withTimeout(stopping, 2000, "shutdown");
    equal(backend.status, "stopped");
    deepEqual([...gates.keys()], ["/first", "/on-its-way"], "/too-late never reached the handler");
  } finally {
    for (const open of gates.values()) open();
    await peer.close();
    await backend.shutdown();
    listener.close();
  }
});

Deno.test("an upload queued for a stream slot on a tunnel that starts draining goes to another tunnel", async () => {
  const logs: string[] = [];
  await using router = startRouter({ quiet: false, log: (line) => logs.push(line) });
  const base = baseUrl(router);
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let busy!: () => void;
  const slotTaken = new Promise<void>((resolve) => busy = resolve);
  // A takes one stream at a time, and its one slot is taken by a slow request.
  const a = await startBackend(router, async (request) => {
    if (request.method === "GET") {
      busy();
      await released;
      return new Response("A slow");
    }
    return new Response(`A:${(await request.text()).length}`);
  }, { http2: { maxConcurrentStreams: 1 } });
  let b: ReverseServer | undefined;
  try {
    const slow = settle(fetch(`${base}/slow`));
    await withTimeout(slotTaken, 5000, "slot taken");
    // 100 KB: streamed through, not buffered for replay. It waits for A's slot.
    const upload = settle(fetch(`${base}/upload`, { method: "POST", body: "u".repeat(100_000) }));
    await waitUntil(() => router.pool.list()[0]!.inFlight === 2, 5000, "upload queued on A");
    b = await startBackend(router, async (request) => {
      return new Response(`B:${(await request.text()).length}`);
    });
    // A drains: its queued upload never left, so it goes to B instead of failing.
    const draining = a.shutdown();
    const outcome = await withTimeout(upload, 5000, "upload");
    const got = `${outcome.status} ${outcome.body.trim()}`;
    equal(got, "200 B:100000", `got ${got}; router log:\n${logs.join("\n")}`);
    release();
    equal((await slow).status, 200, "A finishes its in-flight request");
    await withTimeout(draining, 5000, "A drained");
  } finally {
    release();
    await a.shutdown();
    await b?.shutdown();
  }
});

/** Whether `command` runs here. */
async function have(command: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

Deno.test("a burst of 10,000 requests against a tunnel limited to 100 concurrent streams: all answered, none above the limit", async () => {
  await using router = startRouter();
  let active = 0;
  let peak = 0;
  let handled = 0;
  // The first handlers wait until 100 run at once (at most 2 s), so the limit is reached
  // for sure; a 101st would show in `peak`. Later ones take a millisecond.
  let fill!: () => void;
  const filled = new Promise<void>((resolve) => fill = resolve);
  const fillTimer = setTimeout(fill, 2000);
  await using _backend = await startBackend(router, async () => {
    peak = Math.max(peak, ++active);
    if (active >= 100) fill();
    await (handled < 100 ? filled : sleep(1));
    active--;
    handled++;
    return new Response("ok");
  }, { http2: { maxConcurrentStreams: 100 } });
  await waitUntil(() => router.pool.list()[0]?.capacity === 100, 2000, "the limit known");
  // How many requests the router holds for the tunnel at most (open streams plus queued).
  let maxInFlight = 0;
  const sampler = setInterval(() => {
    maxInFlight = Math.max(maxInFlight, router.pool.list()[0]?.inFlight ?? 0);
  }, 5);
  const started = performance.now();
  let how: string;
  if (await have("h2load")) {
    // 10 HTTP/2 connections (h2c, prior knowledge) with 100 streams each: 1,000 at once.
    const { code, stdout, stderr } = await new Deno.Command("h2load", {
      args: ["-n", "10000", "-c", "10", "-m", "100", `${baseUrl(router)}/`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(stdout);
    equal(code, 0, `h2load: ${new TextDecoder().decode(stderr)}\n${out}`);
    ok(/Application protocol: h2c/.test(out), out);
    ok(
      /requests: 10000 total, 10000 started, 10000 done, 10000 succeeded, 0 failed, 0 errored/
        .test(out),
      out,
    );
    ok(/status codes: 10000 2xx/.test(out), out);
    how = "h2load -n 10000 -c 10 -m 100";
  } else {
    // Without h2load: 1,000 requests in flight at once through fetch.
    let next = 0;
    const statuses: number[] = [];
    await Promise.all(Array.from({ length: 1000 }, async () => {
      while (next < 10_000) {
        next++;
        const response = await fetch(`${baseUrl(router)}/`);
        await response.body?.cancel();
        statuses.push(response.status);
      }
    }));
    equal(statuses.length, 10_000);
    deepEqual(new Set(statuses), new Set([200]));
    how = "fetch, 1,000 at a time (h2load not found)";
  }
  const ms = performance.now() - started;
  clearInterval(sampler);
  clearTimeout(fillTimer);
  equal(handled, 10_000, "every request reached the backend once");
  ok(peak <= 100, `peak ${peak} concurrent streams exceeds the limit of 100`);
  equal(peak, 100, "the limit was reached");
  ok(maxInFlight > 100, `requests queued for a slot (at most ${maxInFlight} held)`);
  equal(router.pool.list()[0]!.inFlight, 0, "nothing left queued");
  console.log(
    `  burst: 10,000 requests (${how}) in ${ms.toFixed(0)} ms, peak ${peak} concurrent ` +
      `streams at the backend, up to ${maxInFlight} requests held by the router for the tunnel`,
  );
});
