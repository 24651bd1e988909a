/**
 * Conformance of the server role (`serveConnection`) with RFC 9113 §5 (stream states,
 * identifiers, concurrency, priority, error handling), §6.1-§6.4 and §6.8, driven by a raw-frame client over a real loopback socket. Each case asserts the exact
 * outcome: GOAWAY with a code (connection error), RST_STREAM with a code (stream error, after
 * which the connection must still serve), or a normal response.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { ErrorCode, Flag, FrameType, SettingId } from "../h2/constants.ts";
import type { GoawayFrame } from "../h2/frame.ts";
import { describeFrame, rejectErrors, settle, TIMEOUT_MS } from "./_raw_peer.ts";
import {
  connectionErrorCases,
  decoder,
  encoder,
  expectServes,
  MAX_FRAME,
  nextData,
  PLAIN_GET,
  req,
  sendHeaders,
  sendRaw,
  serverTest,
  startServer,
} from "./_server_conformance.ts";

// ---- §5.1 Stream states -----------------------------------------------------------------

serverTest(
  "server answers DATA on an idle stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1)",
  async (h) => {
    h.peer.out.data(1, encoder.encode("x"), true);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers RST_STREAM on an idle stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1, §6.4)",
  async (h) => {
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers WINDOW_UPDATE on an idle stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1)",
  async (h) => {
    h.peer.out.windowUpdate(1, 100);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers CONTINUATION on an idle stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1)",
  async (h) => {
    await sendRaw(h, FrameType.CONTINUATION, Flag.END_HEADERS, 1, h.peer.encode(req("/")));
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server accepts PRIORITY on an idle stream and later opens it (RFC 9113 §5.1)",
  async (h) => {
    h.peer.out.priority(1, 0, 100);
    h.peer.out.priority(9, 1, 1, true);
    await h.peer.flush();
    deepEqual((await h.peer.sync()).map(describeFrame), []);
    await expectServes(h, 1);
  },
);

serverTest(
  "server answers DATA on a half-closed (remote) stream with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.data(1, encoder.encode("x"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers HEADERS on a half-closed (remote) stream with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendHeaders(h, 1, ["x-trailer", "1"]);
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers CONTINUATION on a half-closed (remote) stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1, §6.10)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.CONTINUATION, Flag.END_HEADERS, 1, [0x82]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server accepts WINDOW_UPDATE, PRIORITY and RST_STREAM on a half-closed (remote) stream (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.windowUpdate(1, 1000);
    h.peer.out.priority(1, 0, 200);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    deepEqual((await h.peer.sync()).map(describeFrame), []);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers DATA after the client's RST_STREAM with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    h.peer.out.data(1, encoder.encode("late"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers HEADERS after the client's RST_STREAM with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    await sendHeaders(h, 1, ["x-trailer", "1"]);
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers WINDOW_UPDATE after the client's RST_STREAM with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    h.peer.out.windowUpdate(1, 10);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers CONTINUATION after the client's RST_STREAM with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 1, new Uint8Array([0x82]));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server answers DATA on a stream closed by END_STREAM both ways with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await expectServes(h, 1);
    h.peer.out.data(1, encoder.encode("late"), true);
    await h.peer.flush();
    // §5.1 allows a stream error or a connection error here; the codec keeps the connection.
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers HEADERS on a stream closed by END_STREAM both ways with GOAWAY STREAM_CLOSED (RFC 9113 §5.1)",
  async (h) => {
    await expectServes(h, 1);
    await sendHeaders(h, 1, req("/"));
    await h.peer.expectGoaway(ErrorCode.STREAM_CLOSED, 1);
  },
);

serverTest(
  "server accepts PRIORITY, WINDOW_UPDATE and RST_STREAM shortly after a stream closed (RFC 9113 §5.1)",
  async (h) => {
    await expectServes(h, 1);
    h.peer.out.priority(1, 0, 10);
    h.peer.out.windowUpdate(1, 10);
    h.peer.out.rstStream(1, ErrorCode.NO_ERROR);
    await h.peer.flush();
    deepEqual((await h.peer.sync()).map(describeFrame), []);
    await expectServes(h, 3);
  },
);

serverTest(
  "server ignores DATA on a stream it reset and still credits the connection window (RFC 9113 §5.1, §6.9)",
  async (h) => {
    await sendHeaders(
      h,
      1,
      req("/hang", { method: "POST", extra: ["content-length", "1"] }),
      false,
    );
    h.peer.out.data(1, encoder.encode("too long"), false);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    // 65 535 more octets on the reset stream: ignored, but counted and credited back.
    for (let sent = 0; sent < 65_535; sent += 16_383) {
      h.peer.out.data(1, new Uint8Array(Math.min(16_383, 65_535 - sent)), false);
    }
    await h.peer.flush();
    await h.peer.expectFrame(
      "WINDOW_UPDATE on the connection",
      (r) => r.header.type === FrameType.WINDOW_UPDATE && r.header.streamId === 0,
      rejectErrors,
    );
    await expectServes(h, 3);
  },
  { server: { connectionWindowSize: 65_535 } },
);

serverTest(
  "server credits the connection window for DATA that broke content-length (RFC 9113 §6.9, §8.1.1)",
  async (h) => {
    // Each round's 16 000 octets count against the 65 535-octet connection window; if the
    // server did not give them back, the fifth round would overrun it.
    for (let id = 1; id <= 11; id += 2) {
      await sendHeaders(
        h,
        id,
        req("/hang", { method: "POST", extra: ["content-length", "1"] }),
        false,
      );
      h.peer.out.data(id, new Uint8Array(16_000), false);
      await h.peer.flush();
      await h.peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
    }
    await expectServes(h, 13);
  },
  { server: { connectionWindowSize: 65_535 } },
);

serverTest(
  "server credits the connection window for request bodies its handler never read (RFC 9113 §6.9)",
  async (h) => {
    // "/" answers without reading the body; unread octets must not be lost to the window.
    for (let id = 1; id <= 11; id += 2) {
      // One write, so that the body is queued before the handler answers.
      h.peer.out.headers(id, h.peer.encode(req("/", { method: "POST" })), false, MAX_FRAME);
      h.peer.out.data(id, new Uint8Array(16_000), true);
      await h.peer.flush();
      equal((await h.peer.expectResponse(id)).status, 200);
    }
    await expectServes(h, 13);
  },
  { server: { connectionWindowSize: 65_535 } },
);

// ---- §5.1.1 Stream identifiers, §5.1.2 concurrency ----------------------------------------

serverTest(
  "server answers HEADERS on an even stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1.1)",
  async (h) => {
    await sendHeaders(h, 2, req("/"));
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers a stream identifier lower than an earlier one with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1.1)",
  async (h) => {
    await sendHeaders(h, 5, req("/hang"));
    await sendHeaders(h, 3, req("/"));
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 5);
  },
);

serverTest("server accepts stream identifiers that skip numbers (RFC 9113 §5.1.1)", async (h) => {
  await expectServes(h, 1);
  await expectServes(h, 11);
  await expectServes(h, 101);
});

serverTest(
  "server treats DATA on a skipped lower stream as closed with RST_STREAM STREAM_CLOSED (RFC 9113 §5.1.1)",
  async (h) => {
    await sendHeaders(h, 5, req("/hang"));
    h.peer.out.data(3, encoder.encode("x"), true);
    await h.peer.flush();
    await h.peer.expectReset(3, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 7);
  },
);

serverTest(
  "server refuses a stream above SETTINGS_MAX_CONCURRENT_STREAMS with RST_STREAM REFUSED_STREAM (RFC 9113 §5.1.2)",
  async (h) => {
    equal(h.serverSettings.get(SettingId.MAX_CONCURRENT_STREAMS), 2);
    await sendHeaders(h, 1, req("/hang"));
    await sendHeaders(h, 3, req("/hang"));
    await sendHeaders(h, 5, req("/"));
    await h.peer.expectReset(5, ErrorCode.REFUSED_STREAM);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    await expectServes(h, 7);
  },
  { server: { settings: { maxConcurrentStreams: 2 } } },
);

// ---- §5.3 Priority (deprecated, parsed and ignored) --------------------------------------

serverTest(
  "server answers HEADERS depending on its own stream with RST_STREAM PROTOCOL_ERROR (RFC 9113 §5.3.1)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    const payload = new Uint8Array(5 + block.length);
    payload.set([0, 0, 0, 1, 15]);
    payload.set(block, 5);
    await sendRaw(
      h,
      FrameType.HEADERS,
      Flag.END_HEADERS | Flag.END_STREAM | Flag.PRIORITY,
      1,
      payload,
    );
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers PRIORITY depending on its own stream with RST_STREAM PROTOCOL_ERROR (RFC 9113 §5.3.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.priority(1, 1, 16);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server accepts HEADERS with a priority block and PRIORITY frames (RFC 9113 §5.3.2, §6.2)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    const payload = new Uint8Array(5 + block.length);
    payload.set([0x80, 0, 0, 0, 255]);
    payload.set(block, 5);
    await sendRaw(
      h,
      FrameType.HEADERS,
      Flag.END_HEADERS | Flag.END_STREAM | Flag.PRIORITY,
      1,
      payload,
    );
    h.peer.out.priority(1, 0, 1);
    await h.peer.flush();
    equal((await h.peer.expectResponse(1)).status, 200);
  },
);

// ---- §5.4 Error handling, §6.8 GOAWAY -----------------------------------------------------

serverTest(
  "server's GOAWAY after a connection error names the last stream it processed (RFC 9113 §5.4.1, §6.8)",
  async (h) => {
    await expectServes(h, 1);
    await expectServes(h, 3);
    await sendRaw(h, FrameType.PING, 0, 1, new Uint8Array(8));
    const goaway = await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 3);
    ok(goaway.debugData.length > 0, "GOAWAY carries debug data");
  },
);

serverTest(
  "server's graceful GOAWAY names the last stream and refuses later streams (RFC 9113 §6.8)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await h.peer.sync();
    h.server.goaway();
    const goaway = await h.peer.expectFrame(
      "GOAWAY",
      (r) => r.header.type === FrameType.GOAWAY,
      rejectErrors,
    );
    equal((goaway.frame as GoawayFrame).lastStreamId, 1);
    equal((goaway.frame as GoawayFrame).errorCode, ErrorCode.NO_ERROR);
    await sendHeaders(h, 3, req("/"));
    await h.peer.expectReset(3, ErrorCode.REFUSED_STREAM);
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    await h.peer.expectClosed();
  },
);

serverTest(
  "server finishes open streams after the client's GOAWAY, then closes (RFC 9113 §6.8)",
  async (h) => {
    await sendHeaders(h, 1, req("/slow"));
    h.peer.out.goaway(0, ErrorCode.NO_ERROR);
    await h.peer.flush();
    const response = await h.peer.expectResponse(1);
    equal(decoder.decode(response.body), "slow");
    await h.peer.expectGoaway(ErrorCode.NO_ERROR, 1);
  },
);

connectionErrorCases([
  [
    "server answers GOAWAY on a stream with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.8)",
    FrameType.GOAWAY,
    0,
    1,
    new Uint8Array(8),
    ErrorCode.PROTOCOL_ERROR,
    0,
  ],
  [
    "server answers GOAWAY shorter than 8 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.8)",
    FrameType.GOAWAY,
    0,
    0,
    new Uint8Array(7),
    ErrorCode.FRAME_SIZE_ERROR,
    0,
  ],
]);

serverTest("server never answers RST_STREAM with RST_STREAM (RFC 9113 §5.4.2)", async (h) => {
  await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
  h.peer.out.rstStream(1, ErrorCode.CANCEL);
  h.peer.out.rstStream(1, ErrorCode.CANCEL);
  await h.peer.flush();
  deepEqual((await h.peer.sync()).map(describeFrame), []);
  await expectServes(h, 3);
});

serverTest(
  "server keeps serving after RST_STREAM with an unknown error code (RFC 9113 §7)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.rstStream(1, 0xdead);
    await h.peer.flush();
    await expectServes(h, 3);
  },
);

// ---- §6.1 DATA, §6.2 HEADERS: padding and stream 0 ----------------------------------------

serverTest(
  "server answers DATA on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.1)",
  async (h) => {
    h.peer.out.data(0, encoder.encode("x"), true);
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest("server strips DATA padding and delivers only the data (RFC 9113 §6.1)", async (h) => {
  await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
  h.peer.out.data(1, encoder.encode("hello"), false, 10);
  h.peer.out.data(1, encoder.encode(" world"), true, 255);
  await h.peer.flush();
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "hello world");
});

serverTest("server accepts DATA made only of padding (RFC 9113 §6.1)", async (h) => {
  await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
  await sendRaw(h, FrameType.DATA, Flag.PADDED, 1, [5, 0, 0, 0, 0, 0]);
  h.peer.out.data(1, encoder.encode("x"), true);
  await h.peer.flush();
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "x");
});

serverTest(
  "server answers DATA whose padding fills the payload with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    await sendRaw(h, FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, [6, 1, 2, 3, 4, 5]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server answers a PADDED DATA frame without the pad length octet with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §4.2, §6.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    await sendRaw(h, FrameType.DATA, Flag.PADDED, 1, []);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 1);
  },
);

serverTest(
  "server answers HEADERS on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.2)",
  async (h) => {
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 0, PLAIN_GET);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server accepts padded HEADERS, with and without priority (RFC 9113 §6.2)",
  async (h) => {
    const one = h.peer.encode(req("/"));
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED, 1, [
      3,
      ...one,
      0,
      0,
      0,
    ]);
    equal((await h.peer.expectResponse(1)).status, 200);
    const two = h.peer.encode(req("/"));
    const flags = Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED | Flag.PRIORITY;
    await sendRaw(h, FrameType.HEADERS, flags, 3, [2, 0, 0, 0, 1, 9, ...two, 0, 0]);
    equal((await h.peer.expectResponse(3)).status, 200);
  },
);

serverTest(
  "server answers HEADERS whose padding exceeds the block with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.2)",
  async (h) => {
    const block = h.peer.encode(req("/"));
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED, 1, [
      block.length + 1,
      ...block,
    ]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers HEADERS whose padding eats into the priority fields with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.2)",
  async (h) => {
    const flags = Flag.END_HEADERS | Flag.END_STREAM | Flag.PADDED | Flag.PRIORITY;
    await sendRaw(h, FrameType.HEADERS, flags, 1, [3, 0, 0, 0, 0, 16, 0, 0]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers HEADERS too short for its priority fields with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §4.2, §6.2)",
  async (h) => {
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, 1, [0, 0, 0]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 0);
  },
);

// ---- §6.3 PRIORITY, §6.4 RST_STREAM --------------------------------------------------------

serverTest(
  "server answers PRIORITY on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.3)",
  async (h) => {
    await sendRaw(h, FrameType.PRIORITY, 0, 0, [0, 0, 0, 1, 16]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers PRIORITY of 4 octets with RST_STREAM FRAME_SIZE_ERROR (RFC 9113 §6.3)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.PRIORITY, 0, 1, [0, 0, 0, 0]);
    await h.peer.expectReset(1, ErrorCode.FRAME_SIZE_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers RST_STREAM on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.4)",
  async (h) => {
    await sendRaw(h, FrameType.RST_STREAM, 0, 0, [0, 0, 0, 8]);
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);

serverTest(
  "server answers RST_STREAM of 3 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.4)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.RST_STREAM, 0, 1, [0, 0, 8]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 1);
  },
);

serverTest(
  "server answers RST_STREAM of 5 octets with GOAWAY FRAME_SIZE_ERROR (RFC 9113 §6.4)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await sendRaw(h, FrameType.RST_STREAM, 0, 1, [0, 0, 0, 8, 0]);
    await h.peer.expectGoaway(ErrorCode.FRAME_SIZE_ERROR, 1);
  },
);

serverTest(
  "server stops a stream the client reset and aborts its handler (RFC 9113 §6.4)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    await h.peer.sync();
    h.peer.out.rstStream(1, ErrorCode.CANCEL);
    await h.peer.flush();
    deepEqual(
      (await h.peer.sync()).filter((r) => r.header.streamId === 1).map(describeFrame),
      [],
      "nothing is sent on a stream the client reset",
    );
    await expectServes(h, 3);
  },
);

Deno.test("server cancels a streaming response body at once when the client resets the stream (RFC 9113 §6.4)", async () => {
  let cancelled: (reason: unknown) => void;
  const cancel = new Promise<unknown>((resolve) => cancelled = resolve);
  await using h = await startServer({
    handler: (request) =>
      new URL(request.url).pathname !== "/stream" ? new Response("ok") : new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(encoder.encode("first chunk"));
          },
          cancel: (reason) => cancelled(reason),
        }),
      ),
  });
  await sendHeaders(h, 1, req("/stream"));
  await nextData(h, 1);
  h.peer.out.rstStream(1, ErrorCode.CANCEL);
  await h.peer.flush();
  ok(await settle(cancel, TIMEOUT_MS) !== "timeout", "the response source was not cancelled");
  await expectServes(h, 3);
});
