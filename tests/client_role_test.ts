/**
 * The client role (`ClientSession`) against a raw-frame server over a real
 * loopback socket: the server side writes exactly the frames a case needs
 * and checks what the client answers (RFC 9113).
 */

import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { ClientSession, type ClientSessionOptions, isUnprocessed } from "../h2/client.ts";
import type { ByteIO } from "../h2/connection.ts";
import { DEFAULT_MAX_FRAME_SIZE, ErrorCode, Flag, FrameType, SettingId } from "../h2/constants.ts";
import { ConnectionError, Http2Error, StreamError } from "../h2/errors.ts";
import type { SettingsFrame } from "../h2/frame.ts";
import {
  ackSettings,
  describeFrame,
  isSettingsAck,
  loopbackPair,
  RawPeer,
  rejectErrors,
  settle,
  TIMEOUT_MS,
} from "./_raw_peer.ts";

const MAX_FRAME = DEFAULT_MAX_FRAME_SIZE;

interface Harness extends AsyncDisposable {
  client: ClientSession;
  /** The raw server. */
  peer: RawPeer;
  /** The client's preface SETTINGS. */
  clientSettings: Array<[number, number]>;
}

/**
 * Connects a `ClientSession` to a raw server that sends `settings` as its
 * preface; both SETTINGS frames are acknowledged before the case runs.
 */
async function startClient(
  settings: Array<[number, number]> = [],
  options: ClientSessionOptions = {},
): Promise<Harness> {
  const [conn, accepted] = await loopbackPair();
  const client = new ClientSession(conn, options);
  const peer = new RawPeer(accepted, { readPreface: true });
  const harness: Harness = {
    client,
    peer,
    clientSettings: [],
    async [Symbol.asyncDispose]() {
      client.close();
      const closed = await settle(client.closed, TIMEOUT_MS);
      await peer.close();
      if (closed === "timeout") throw new Error("Client connection did not close");
    },
  };
  try {
    peer.out.settings(settings);
    await peer.flush();
    // §3.4: the client preface is followed by SETTINGS as its first frame.
    const first = await peer.nextFrame();
    ok(first !== null, "Client closed before its preface");
    equal(first.header.type, FrameType.SETTINGS, describeFrame(first));
    harness.clientSettings = (first.frame as SettingsFrame).settings;
    await ackSettings(peer);
  } catch (error) {
    await harness[Symbol.asyncDispose]();
    throw error;
  }
  return harness;
}

function get(path: string) {
  return { method: "GET", scheme: "http", authority: "localhost", path };
}

/** Waits for the HEADERS that opens a request stream; returns its id. */
async function nextRequest(h: Harness): Promise<number> {
  const received = await h.peer.expectFrame(
    "a request",
    (r) => r.header.type === FrameType.HEADERS && r.fields !== undefined,
    rejectErrors,
  );
  return received.header.streamId;
}

/** Answers a request with status 200 and `body`. */
async function respond(h: Harness, streamId: number, body = "ok", extra: string[] = []) {
  h.peer.out.headers(streamId, h.peer.encode([":status", "200", ...extra]), false, MAX_FRAME);
  h.peer.out.data(streamId, new TextEncoder().encode(body), true);
  await h.peer.flush();
}

Deno.test("client sends the preface with SETTINGS_ENABLE_PUSH 0 first (RFC 9113 §3.4, §6.5.2)", async () => {
  await using h = await startClient();
  deepEqual(
    h.clientSettings.filter(([id]) => id === SettingId.ENABLE_PUSH),
    [[SettingId.ENABLE_PUSH, 0]],
  );
});

Deno.test("client respects the server's SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §5.1.2)", async () => {
  await using h = await startClient([[SettingId.MAX_CONCURRENT_STREAMS, 1]]);
  const responses = [1, 2, 3].map((i) => h.client.request(get(`/${i}`)));
  for (const response of responses) response.catch(() => {}); // Awaited below.
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) {
    const id = await nextRequest(h);
    seen.push(id);
    const before = await h.peer.sync();
    deepEqual(
      before.filter((r) => r.header.type === FrameType.HEADERS).map(describeFrame),
      [],
      "a second stream was opened while one was active",
    );
    await respond(h, id, `answer ${id}`);
  }
  deepEqual(seen, [1, 3, 5]);
  const bodies = await Promise.all(responses.map(async (r) => await (await r).text()));
  deepEqual(bodies, ["answer 1", "answer 3", "answer 5"]);
});

Deno.test("client follows a SETTINGS_MAX_CONCURRENT_STREAMS lowered to 0 until it rises (RFC 9113 §5.1.2, §6.5.2)", async () => {
  await using h = await startClient();
  h.peer.out.settings([[SettingId.MAX_CONCURRENT_STREAMS, 0]]);
  await h.peer.flush();
  await h.peer.expectFrame("SETTINGS ACK", isSettingsAck, rejectErrors);
  const response = h.client.request(get("/later"));
  response.catch(() => {}); // Awaited below; a failed assertion must not leave it unhandled.
  const before = await h.peer.sync();
  deepEqual(before.filter((r) => r.header.type === FrameType.HEADERS).map(describeFrame), []);
  h.peer.out.settings([[SettingId.MAX_CONCURRENT_STREAMS, 1]]);
  await h.peer.flush();
  const id = await nextRequest(h);
  await respond(h, id);
  equal(await (await response).text(), "ok");
});

Deno.test("client answers PING with a PING ACK echoing the payload and ignores PING ACK (RFC 9113 §6.7)", async () => {
  await using h = await startClient();
  h.peer.out.ping(true, new Uint8Array(8).fill(9));
  await h.peer.flush();
  const data = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]);
  const before = await h.peer.sync(data);
  deepEqual(before.filter((r) => r.header.type === FrameType.PING).map(describeFrame), []);
});

Deno.test("frames queued in one job wait for the scheduled flush, but leave at once when 512 bytes wait", async () => {
  // The scheduled flush (setImmediate in the router and backend) is held back here:
  // whatever reaches the peer meanwhile left early.
  const held: Array<() => void> = [];
  let hold = false;
  await using h = await startClient([], {
    schedule: (task) => hold ? held.push(task) : setTimeout(task, 0),
  });
  hold = true;
  const pings = () => h.peer.log.filter((r) => r.header.type === FrameType.PING).length;
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  // 20 PINGs of 17 bytes: 340 bytes, below the mark.
  for (let i = 0; i < 20; i++) h.client.ping().catch(() => {});
  await wait(50);
  equal(pings(), 0, "PINGs left before the scheduled flush ran");
  ok(held.length > 0, "no flush was scheduled");
  // 12 more: 544 bytes, past it. All of them leave without the scheduled flush.
  for (let i = 0; i < 12; i++) h.client.ping().catch(() => {});
  const deadline = Date.now() + TIMEOUT_MS;
  while (pings() < 32 && Date.now() < deadline) await wait(5);
  equal(pings(), 32);
  hold = false;
  for (const task of held.splice(0)) task();
});

Deno.test("close() waits for a batch that is leaving early before it closes the socket (RFC 9113 §6.8)", async () => {
  const [conn, accepted] = await loopbackPair();
  // Writes that take a while to complete, like those to a socket whose send buffer is full.
  const slow: ByteIO = {
    read: (p) => conn.read(p),
    write: (p) => new Promise((resolve) => setTimeout(resolve, 20)).then(() => conn.write(p)),
    close: () => conn.close(),
  };
  const held: Array<() => void> = [];
  let hold = false;
  const client = new ClientSession(slow, {
    schedule: (task) => hold ? held.push(task) : setTimeout(task, 0),
  });
  const peer = new RawPeer(accepted, { readPreface: true });
  try {
    peer.out.settings([]);
    await peer.flush();
    await peer.expectFrame("the client's SETTINGS", (r) => r.header.type === FrameType.SETTINGS);
    await ackSettings(peer);
    await settle(client.connection.acknowledged, TIMEOUT_MS);
    hold = true;
    // A header block past the early-write mark, then close() in the same job.
    const exchange = client.send({
      ...get("/"),
      headers: ["x-big", "v".repeat(600)],
    });
    exchange.response.catch(() => {});
    client.close();
    await peer.expectFrame("the request", (r) => r.header.type === FrameType.HEADERS);
    await peer.expectFrame("GOAWAY", (r) => r.header.type === FrameType.GOAWAY);
    equal(await settle(client.closed, TIMEOUT_MS), undefined);
  } finally {
    hold = false;
    for (const task of held.splice(0)) task();
    client.close();
    await peer.close();
  }
});

Deno.test("a PING still waiting for its ACK fails when the connection closes (RFC 9113 §6.7)", async () => {
  await using h = await startClient();
  const ping = h.client.ping();
  await h.peer.expectFrame("the PING", (r) => r.header.type === FrameType.PING);
  h.client.close();
  const outcome = ping.then(() => "answered", () => "failed");
  equal(await settle(outcome, TIMEOUT_MS), "failed");
});

Deno.test("client treats PUSH_PROMISE as a connection error PROTOCOL_ERROR (RFC 9113 §8.4)", async () => {
  await using h = await startClient();
  const failed = rejects(h.client.request(get("/")), (error) => {
    ok(error instanceof Http2Error);
    equal(error.codeName, "PROTOCOL_ERROR");
    return true;
  });
  const id = await nextRequest(h);
  h.peer.out.pushPromise(id, 2, h.peer.encode([":method", "GET", ":path", "/pushed"]));
  await h.peer.flush();
  await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  await failed;
});

Deno.test("client treats SETTINGS_ENABLE_PUSH 1 from a server as PROTOCOL_ERROR (RFC 9113 §6.5.2)", async () => {
  await using h = await startClient();
  h.peer.out.settings([[SettingId.ENABLE_PUSH, 1]]);
  await h.peer.flush();
  await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
});

Deno.test("client treats HEADERS on a stream it never opened as PROTOCOL_ERROR (RFC 9113 §5.1.1)", async () => {
  await using h = await startClient();
  h.peer.out.headers(2, h.peer.encode([":status", "200"]), true, MAX_FRAME);
  await h.peer.flush();
  await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
});

Deno.test("client rejects a response with a connection-specific field with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.2.2)", async () => {
  await using h = await startClient();
  const failed = rejects(h.client.request(get("/bad")), (error) => {
    ok(error instanceof StreamError, String(error));
    equal(error.streamId, 1);
    equal(error.codeName, "PROTOCOL_ERROR");
    return true;
  });
  const id = await nextRequest(h);
  h.peer.out.headers(id, h.peer.encode([":status", "200", "connection", "close"]), true, MAX_FRAME);
  await h.peer.flush();
  await h.peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
  await failed;
  // A stream error leaves the connection usable.
  const good = h.client.request(get("/good"));
  good.catch(() => {}); // Awaited below.
  await respond(h, await nextRequest(h));
  equal(await (await good).text(), "ok");
});

Deno.test("client skips interim 1xx responses and delivers the final one (RFC 9113 §8.1)", async () => {
  await using h = await startClient();
  const response = h.client.request(get("/"));
  response.catch(() => {}); // Awaited below.
  const id = await nextRequest(h);
  h.peer.out.headers(id, h.peer.encode([":status", "103", "link", "</a>"]), false, MAX_FRAME);
  h.peer.out.headers(id, h.peer.encode([":status", "100"]), false, MAX_FRAME);
  await h.peer.flush();
  await respond(h, id, "final");
  const final = await response;
  equal(final.status, 200);
  equal(await final.text(), "final");
});

Deno.test("client resets a response whose trailers do not end the stream, and takes trailers that do (RFC 9113 §8.1)", async () => {
  await using h = await startClient();
  const bad = h.client.request(get("/bad"));
  bad.catch(() => {}); // Awaited below.
  const badId = await nextRequest(h);
  h.peer.out.headers(badId, h.peer.encode([":status", "200"]), false, MAX_FRAME);
  h.peer.out.data(badId, new TextEncoder().encode("x"), false);
  h.peer.out.headers(badId, h.peer.encode(["x-trailer", "1"]), false, MAX_FRAME);
  await h.peer.flush();
  await h.peer.expectReset(badId, ErrorCode.PROTOCOL_ERROR);
  const badResponse = await bad;
  await rejects(badResponse.text());
  // Proper trailers on the next response are taken, and the body is whole.
  const good = h.client.request(get("/good"));
  const goodId = await nextRequest(h);
  h.peer.out.headers(goodId, h.peer.encode([":status", "200"]), false, MAX_FRAME);
  h.peer.out.data(goodId, new TextEncoder().encode("body"), false);
  h.peer.out.headers(goodId, h.peer.encode(["x-trailer", "1"]), true, MAX_FRAME);
  await h.peer.flush();
  equal(await (await good).text(), "body");
});

const MALFORMED_RESPONSES: Array<[string, string[]]> = [
  [":status 101 (RFC 9113 §8.6)", [":status", "101"]],
  ["no :status (RFC 9113 §8.3.2)", ["x-a", "1"]],
  ["a request pseudo-header (RFC 9113 §8.3)", [":status", "200", ":path", "/"]],
  ["an upper-case field name (RFC 9113 §8.2.1)", [":status", "200", "X-A", "1"]],
];

for (const [what, fields] of MALFORMED_RESPONSES) {
  Deno.test(`client rejects a response with ${what} with RST_STREAM PROTOCOL_ERROR`, async () => {
    await using h = await startClient();
    const failed = rejects(h.client.request(get("/")), (error) => {
      ok(error instanceof StreamError, String(error));
      equal(error.codeName, "PROTOCOL_ERROR");
      return true;
    });
    const id = await nextRequest(h);
    h.peer.out.headers(id, h.peer.encode(fields), true, MAX_FRAME);
    await h.peer.flush();
    await h.peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
    await failed;
  });
}

Deno.test("client fails a response body longer than its content-length with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1)", async () => {
  await using h = await startClient();
  const response = h.client.request(get("/"));
  response.catch(() => {}); // Awaited below.
  const id = await nextRequest(h);
  await respond(h, id, "too long", ["content-length", "3"]);
  await h.peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
  await rejects((await response).text());
});

Deno.test("client keeps a complete response the server follows with RST_STREAM NO_ERROR (RFC 9113 §8.1)", async () => {
  await using h = await startClient();
  let cancelled = false;
  // An upload that never ends: the server answers before reading it.
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array([1, 2, 3]));
    },
    cancel() {
      cancelled = true;
    },
  });
  const response = h.client.request({ ...get("/upload"), method: "POST", body });
  response.catch(() => {}); // Awaited below.
  const id = await nextRequest(h);
  await respond(h, id, "early answer");
  h.peer.out.rstStream(id, ErrorCode.NO_ERROR);
  await h.peer.flush();
  const early = await response;
  equal(early.status, 200);
  equal(await early.text(), "early answer");
  await h.peer.sync();
  ok(cancelled, "the upload is stopped");
});

Deno.test("client never sends more DATA than the server's stream window (RFC 9113 §6.9.1)", async () => {
  await using h = await startClient([[SettingId.INITIAL_WINDOW_SIZE, 10]]);
  const response = h.client.request({
    ...get("/upload"),
    method: "POST",
    body: new Uint8Array(25).fill(1),
  });
  response.catch(() => {}); // Awaited below.
  const id = await nextRequest(h);
  let received = 0;
  let window = 10;
  while (true) {
    const data = await h.peer.expectFrame(
      "DATA",
      (r) => r.header.type === FrameType.DATA && r.header.streamId === id,
      rejectErrors,
    );
    received += data.header.length;
    window -= data.header.length;
    ok(window >= 0, `DATA beyond the window: ${received} octets`);
    if ((data.header.flags & Flag.END_STREAM) !== 0) break;
    if (window === 0) {
      const before = await h.peer.sync();
      deepEqual(before.filter((r) => r.header.type === FrameType.DATA).map(describeFrame), []);
      h.peer.out.windowUpdate(id, 10);
      await h.peer.flush();
      window += 10;
    }
  }
  equal(received, 25);
  await respond(h, id);
  equal((await response).status, 200);
});

Deno.test("client fails streams above GOAWAY's last-stream-id with REFUSED_STREAM, so they may be retried (RFC 9113 §6.8, §8.7)", async () => {
  await using h = await startClient();
  const first = h.client.request(get("/1"));
  first.catch(() => {}); // Awaited below; a failed assertion must not leave it unhandled.
  const refused = rejects(h.client.request(get("/2")), (error) => {
    ok(error instanceof StreamError, String(error));
    equal(error.codeName, "REFUSED_STREAM");
    ok(isUnprocessed(error));
    return true;
  });
  const ids = [await nextRequest(h), await nextRequest(h)];
  deepEqual(ids, [1, 3]);
  h.peer.out.goaway(1, ErrorCode.NO_ERROR);
  await h.peer.flush();
  await refused;
  // New requests are refused at once, and are just as safe to retry.
  await rejects(h.client.request(get("/3")), (error) => {
    ok(error instanceof ConnectionError, String(error));
    ok(isUnprocessed(error));
    return true;
  });
  // §6.8: a receiver of GOAWAY MUST NOT open additional streams.
  const before = await h.peer.sync();
  deepEqual(before.filter((r) => r.header.type === FrameType.HEADERS).map(describeFrame), []);
  // The stream at or below last-stream-id still completes.
  await respond(h, 1, "first");
  equal(await (await first).text(), "first");
  // With no stream left, the client closes the connection.
  await h.peer.expectGoaway(ErrorCode.NO_ERROR);
});

Deno.test("client treats WINDOW_UPDATE overflowing its connection send window as FLOW_CONTROL_ERROR (RFC 9113 §6.9.1)", async () => {
  await using h = await startClient();
  h.peer.out.windowUpdate(0, 0x7fff_ffff);
  await h.peer.flush();
  await h.peer.expectGoaway(ErrorCode.FLOW_CONTROL_ERROR, 0);
});

/** Fails unless `response` rejects, within TIMEOUT_MS, with a StreamError CANCEL caused by `reason`. */
async function expectCancelled(response: Promise<unknown>, reason: Error): Promise<void> {
  const outcome = await settle(
    response.then(() => "answered", (error: unknown) => error),
    TIMEOUT_MS,
  );
  ok(
    outcome instanceof StreamError && outcome.code === ErrorCode.CANCEL && outcome.cause === reason,
    `expected a CANCEL caused by "${reason.message}", got ${outcome}`,
  );
}

Deno.test("send().cancel() before the head resets the stream with CANCEL and rejects with the reason as cause (RFC 9113 §8.4)", async () => {
  await using h = await startClient();
  const exchange = h.client.send(get("/slow"));
  const id = await nextRequest(h);
  const reason = new Error("client went away");
  exchange.cancel(reason);
  await expectCancelled(exchange.response, reason);
  await h.peer.expectReset(id, ErrorCode.CANCEL);
  // The connection is fine: the next exchange is answered.
  const next = h.client.send(get("/next"));
  await respond(h, await nextRequest(h), "next", ["x-a", "1"]);
  const head = await next.response;
  equal(head.status, 200);
  deepEqual(head.headers, [["x-a", "1"]]);
  equal(new TextDecoder().decode(head.body as Uint8Array), "next");
});

Deno.test("send().cancel() of a request waiting for a stream slot fails it at once, never sends it, and the next in line goes (RFC 9113 §5.1.2)", async () => {
  await using h = await startClient([[SettingId.MAX_CONCURRENT_STREAMS, 1]]);
  const first = h.client.send(get("/first"));
  const firstId = await nextRequest(h);
  const queued = h.client.send(get("/queued"));
  const third = h.client.send(get("/third"));
  const reason = new Error("gave up waiting");
  queued.cancel(reason);
  // It fails while the first request still holds the only slot.
  await expectCancelled(queued.response, reason);
  equal(h.client.inFlight, 2, "the first request open, the third one queued");
  await respond(h, firstId, "first");
  equal((await first.response).status, 200);
  // The freed slot goes to the third request: the cancelled one never opened a stream.
  const thirdId = await nextRequest(h);
  equal(thirdId, firstId + 2, "the next stream after the first one is the third request's");
  await respond(h, thirdId, "third");
  equal((await third.response).status, 200);
});

Deno.test("a header value that is not octets closes the connection with INTERNAL_ERROR and fails the request, not the next ones forever (RFC 7541 §2.2)", async () => {
  await using h = await startClient();
  const exchange = h.client.send({ ...get("/"), headers: ["x-snow", "\u2603"] });
  const outcome = await settle(
    exchange.response.then(() => "answered", (error) => error),
    TIMEOUT_MS,
  );
  ok(
    outcome instanceof ConnectionError && outcome.code === ErrorCode.INTERNAL_ERROR,
    `the request failed with ${outcome}`,
  );
  equal(h.client.inFlight, 0, "no stream slot is left taken");
  await h.peer.expectGoaway(ErrorCode.INTERNAL_ERROR);
  equal(await settle(h.client.closed, TIMEOUT_MS), undefined, "the connection closed");
});
