/**
 * Conformance of the server role (`serveConnection`) with RFC 9113 §8 (HTTP message
 * framing, malformed messages, server push), driven by a raw-frame client over a real loopback socket. Each case asserts the exact
 * outcome: GOAWAY with a code (connection error), RST_STREAM with a code (stream error, after
 * which the connection must still serve), or a normal response.
 */

import { deepEqual, equal } from "node:assert/strict";
import { ErrorCode, Flag, FrameType, SettingId } from "../h2/constants.ts";
import { describeFrame, field } from "./_raw_peer.ts";
import {
  decoder,
  encoder,
  expectServes,
  MAX_FRAME,
  req,
  sendHeaders,
  serverTest,
  startServer,
} from "./_server_conformance.ts";

// ---- §8.1 HTTP message framing --------------------------------------------------------------

serverTest("server delivers a body followed by trailers (RFC 9113 §8.1)", async (h) => {
  await sendHeaders(h, 1, req("/echo", { method: "POST" }), false);
  h.peer.out.data(1, encoder.encode("body"), false);
  await h.peer.flush();
  await sendHeaders(h, 1, ["x-checksum", "abc"], true);
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "body");
});

serverTest(
  "server answers trailers without END_STREAM with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    await sendHeaders(h, 1, ["x-checksum", "abc"], false);
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers trailers with a pseudo-header with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    await sendHeaders(h, 1, [":path", "/", "x-checksum", "abc"], true);
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers DATA after trailers with RST_STREAM STREAM_CLOSED (RFC 9113 §8.1, §5.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang", { method: "POST" }), false);
    await sendHeaders(h, 1, ["x-checksum", "abc"], true);
    h.peer.out.data(1, encoder.encode("late"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.STREAM_CLOSED);
    await expectServes(h, 3);
  },
);

serverTest(
  "server ends a request it answered early with RST_STREAM NO_ERROR (RFC 9113 §8.1)",
  async (h) => {
    await sendHeaders(h, 1, req("/", { method: "POST" }), false);
    const response = await h.peer.expectResponse(1);
    equal(decoder.decode(response.body), "ok");
    await h.peer.expectReset(1, ErrorCode.NO_ERROR);
    // The client may still send what it had in flight: ignored.
    h.peer.out.data(1, encoder.encode("rest"), true);
    await h.peer.flush();
    await expectServes(h, 3);
  },
);

Deno.test("server resets a response whose body source fails with RST_STREAM INTERNAL_ERROR (RFC 9113 §8.1)", async () => {
  let pulls = 0;
  await using h = await startServer({
    handler: (request) =>
      new URL(request.url).pathname !== "/fails" ? new Response("ok") : new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (pulls++ === 0) controller.enqueue(encoder.encode("part"));
            else controller.error(new Error("source failed"));
          },
        }),
      ),
  });
  await sendHeaders(h, 1, req("/fails"));
  // A truncated body must not end like a complete one: no END_STREAM, a reset instead.
  const reset = await h.peer.expectFrame(
    "RST_STREAM on stream 1",
    (r) => r.header.type === FrameType.RST_STREAM && r.header.streamId === 1,
    (r) =>
      r.header.streamId === 1 && (r.header.flags & Flag.END_STREAM) !== 0
        ? `END_STREAM before the reset: ${describeFrame(r)}`
        : r.header.type === FrameType.GOAWAY
        ? describeFrame(r)
        : null,
  );
  equal((reset.frame as { errorCode: number }).errorCode, ErrorCode.INTERNAL_ERROR);
  await expectServes(h, 3);
});

// §8.1.1 content-length
serverTest("server accepts DATA matching content-length (RFC 9113 §8.1.1)", async (h) => {
  await sendHeaders(h, 1, req("/echo", { method: "POST", extra: ["content-length", "5"] }), false);
  h.peer.out.data(1, encoder.encode("ab"), false);
  h.peer.out.data(1, encoder.encode("cde"), true);
  await h.peer.flush();
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "abcde");
});

serverTest(
  "server answers one DATA frame longer than content-length with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1)",
  async (h) => {
    await sendHeaders(
      h,
      1,
      req("/hang", { method: "POST", extra: ["content-length", "4"] }),
      false,
    );
    h.peer.out.data(1, encoder.encode("12345"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers several DATA frames summing over content-length with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1)",
  async (h) => {
    await sendHeaders(
      h,
      1,
      req("/hang", { method: "POST", extra: ["content-length", "4"] }),
      false,
    );
    h.peer.out.data(1, encoder.encode("12"), false);
    h.peer.out.data(1, encoder.encode("345"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

serverTest(
  "server answers END_STREAM before content-length octets with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1)",
  async (h) => {
    await sendHeaders(
      h,
      1,
      req("/hang", { method: "POST", extra: ["content-length", "10"] }),
      false,
    );
    h.peer.out.data(1, encoder.encode("12345"), true);
    await h.peer.flush();
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

Deno.test("server answers HEADERS with END_STREAM and a non-zero content-length with RST_STREAM PROTOCOL_ERROR, without calling the handler (RFC 9113 §8.1.1)", async () => {
  const paths: string[] = [];
  await using h = await startServer({
    handler: (request) => {
      paths.push(new URL(request.url).pathname);
      return new Response("ok");
    },
  });
  await sendHeaders(h, 1, req("/bad", { method: "POST", extra: ["content-length", "5"] }), true);
  await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
  await expectServes(h, 3);
  deepEqual(paths, ["/"]);
});

serverTest(
  "server answers an invalid content-length with RST_STREAM PROTOCOL_ERROR (RFC 9113 §8.1.1)",
  async (h) => {
    await sendHeaders(
      h,
      1,
      req("/hang", { method: "POST", extra: ["content-length", "abc"] }),
      false,
    );
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  },
);

// §8.2 fields
const MALFORMED_FIELDS: Array<[string, string[]]> = [
  ["an upper-case field name (RFC 9113 §8.2.1)", ["X-Upper", "1"]],
  ["a field name with a space (RFC 9113 §8.2.1)", ["x bad", "1"]],
  ["a field name with a colon inside (RFC 9113 §8.2.1)", ["x:bad", "1"]],
  ["an empty field name (RFC 9113 §8.2.1)", ["", "1"]],
  ["a field value with CR LF (RFC 9113 §8.2.1)", ["x-a", "1\r\nx-b: 2"]],
  ["a field value with NUL (RFC 9113 §8.2.1)", ["x-a", "1\x002"]],
  ["a field value with leading whitespace (RFC 9113 §8.2.1)", ["x-a", " 1"]],
  ["a field value with trailing whitespace (RFC 9113 §8.2.1)", ["x-a", "1\t"]],
  ["the connection field (RFC 9113 §8.2.2)", ["connection", "keep-alive"]],
  ["the keep-alive field (RFC 9113 §8.2.2)", ["keep-alive", "timeout=5"]],
  ["the proxy-connection field (RFC 9113 §8.2.2)", ["proxy-connection", "keep-alive"]],
  ["the transfer-encoding field (RFC 9113 §8.2.2)", ["transfer-encoding", "chunked"]],
  ["the upgrade field (RFC 9113 §8.2.2)", ["upgrade", "h2c"]],
  ["te other than trailers (RFC 9113 §8.2.2)", ["te", "gzip"]],
  ["a host differing from :authority (RFC 9113 §8.3.1)", ["host", "example.org"]],
  ["a non-ASCII field name (RFC 9113 §8.2.1)", ["x-caf\xe9", "1"]],
];

for (const [what, extra] of MALFORMED_FIELDS) {
  serverTest(`server answers a request with ${what} with RST_STREAM PROTOCOL_ERROR`, async (h) => {
    await sendHeaders(h, 1, req("/", { extra }));
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  });
}

serverTest("server accepts te: trailers (RFC 9113 §8.2.2)", async (h) => {
  await sendHeaders(h, 1, req("/headers", { extra: ["te", "trailers"] }));
  equal((await h.peer.expectResponse(1)).status, 200);
});

serverTest('server joins cookie crumbs with "; " (RFC 9113 §8.2.3)', async (h) => {
  await sendHeaders(h, 1, req("/headers", { extra: ["cookie", "a=1", "cookie", "b=2"] }));
  const body = JSON.parse(decoder.decode((await h.peer.expectResponse(1)).body));
  equal(body.cookie, "a=1; b=2");
});

serverTest(
  "server never sends connection-specific fields and sends pseudo-headers first (RFC 9113 §8.2.2, §8.3)",
  async (h) => {
    await sendHeaders(h, 1, req("/"));
    const response = await h.peer.expectResponse(1);
    equal(response.fields[0], ":status");
    for (const name of ["connection", "keep-alive", "upgrade", "proxy-connection", "te"]) {
      equal(field(response.fields, name), undefined, name);
    }
    for (let i = 0; i < response.fields.length; i += 2) {
      equal(response.fields[i], response.fields[i]!.toLowerCase());
    }
    equal(field(response.fields, "x-kept"), "yes");
  },
  {
    handler: () =>
      new Response("ok", {
        headers: {
          connection: "close",
          "keep-alive": "timeout=5",
          upgrade: "websocket",
          "proxy-connection": "close",
          te: "gzip",
          "x-kept": "yes",
        },
      }),
  },
);

serverTest(
  "server answers a header list above its SETTINGS_MAX_HEADER_LIST_SIZE with 431 (RFC 9113 §10.5.1)",
  async (h) => {
    equal(h.serverSettings.get(SettingId.MAX_HEADER_LIST_SIZE), 300);
    await sendHeaders(h, 1, req("/", { extra: ["x-big", "z".repeat(400)] }));
    equal((await h.peer.expectResponse(1)).status, 431);
    await expectServes(h, 3);
  },
  { server: { settings: { maxHeaderListSize: 300 } } },
);

// §8.3 pseudo-header fields
const MALFORMED_HEADS: Array<[string, string[]]> = [
  ["a pseudo-header after a regular field (RFC 9113 §8.3)", [
    ":method",
    "GET",
    ":scheme",
    "http",
    "x-a",
    "1",
    ":path",
    "/",
    ":authority",
    "localhost",
  ]],
  ["an unknown pseudo-header (RFC 9113 §8.3)", [...req("/"), ":foo", "bar"]],
  ["the response pseudo-header :status (RFC 9113 §8.3)", [":status", "200", ...req("/")]],
  ["a duplicate :method (RFC 9113 §8.3.1)", [":method", "GET", ...req("/")]],
  ["a duplicate :path (RFC 9113 §8.3.1)", [...req("/"), ":path", "/"]],
  ["a duplicate :scheme (RFC 9113 §8.3.1)", [":scheme", "https", ...req("/")]],
  ["a duplicate :authority (RFC 9113 §8.3.1)", [":authority", "localhost", ...req("/")]],
  ["no :method (RFC 9113 §8.3.1)", [":scheme", "http", ":authority", "localhost", ":path", "/"]],
  ["no :scheme (RFC 9113 §8.3.1)", [":method", "GET", ":authority", "localhost", ":path", "/"]],
  ["no :path (RFC 9113 §8.3.1)", [":method", "GET", ":scheme", "http", ":authority", "localhost"]],
  ["an empty :path (RFC 9113 §8.3.1)", req("")],
  ["a :path not starting with / (RFC 9113 §8.3.1)", req("foo")],
  ["CONNECT with :scheme and :path (RFC 9113 §8.5)", req("/", { method: "CONNECT" })],
  ["CONNECT without :authority (RFC 9113 §8.5)", [":method", "CONNECT"]],
  ["userinfo in :authority (RFC 9113 §8.3.1)", req("/", { authority: "user@localhost" })],
  [
    "a path in :authority (RFC 9113 §8.3.1, RFC 3986 §3.2)",
    req("/", {
      authority: "localhost/admin",
    }),
  ],
  ["an invalid host and no :authority (RFC 9113 §8.3.1, RFC 3986 §3.2)", [
    ":method",
    "GET",
    ":scheme",
    "http",
    ":path",
    "/",
    "host",
    "localhost?x",
  ]],
  ["an invalid :scheme (RFC 9113 §8.3.1, RFC 3986 §3.1)", [
    ":method",
    "GET",
    ":scheme",
    "http://evil",
    ":authority",
    "localhost",
    ":path",
    "/",
  ]],
  ["an extended CONNECT :protocol that was not enabled (RFC 8441 §4)", [
    ...req("/", { method: "CONNECT" }),
    ":protocol",
    "websocket",
  ]],
];

for (const [what, fields] of MALFORMED_HEADS) {
  serverTest(`server answers a request with ${what} with RST_STREAM PROTOCOL_ERROR`, async (h) => {
    await sendHeaders(h, 1, fields);
    await h.peer.expectReset(1, ErrorCode.PROTOCOL_ERROR);
    await expectServes(h, 3);
  });
}

serverTest(
  "server takes the authority from Host when :authority is absent (RFC 9113 §8.3.1)",
  async (h) => {
    await sendHeaders(h, 1, [
      ":method",
      "GET",
      ":scheme",
      "http",
      ":path",
      "/url",
      "host",
      "example.com:8080",
    ]);
    equal(decoder.decode((await h.peer.expectResponse(1)).body), "http://example.com:8080/url");
  },
  { handler: (request) => new Response(request.url) },
);

serverTest("server accepts an IPv6 :authority with a port (RFC 3986 §3.2.2)", async (h) => {
  await sendHeaders(h, 1, req("/url", { authority: "[::1]:8443" }));
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "http://[::1]:8443/url");
}, { handler: (request) => new Response(request.url) });

serverTest(
  "server answers HEAD with a head that ends the stream and no DATA (RFC 9110 §9.3.2)",
  async (h) => {
    await sendHeaders(h, 1, req("/", { method: "HEAD" }));
    const response = await h.peer.expectResponse(1);
    equal(response.status, 200);
    deepEqual(response.dataLengths, []);
  },
);

serverTest("server answers POST with a body and trailers (RFC 9113 §8.1)", async (h) => {
  await sendHeaders(h, 1, req("/echo", { method: "POST", extra: ["te", "trailers"] }), false);
  h.peer.out.data(1, encoder.encode("a"), false);
  h.peer.out.data(1, encoder.encode("b"), false);
  h.peer.out.headers(1, h.peer.encode(["x-sum", "2"]), true, MAX_FRAME);
  await h.peer.flush();
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "ab");
});

serverTest("server accepts OPTIONS with :path * (RFC 9113 §8.3.1)", async (h) => {
  await sendHeaders(h, 1, req("*", { method: "OPTIONS" }));
  equal((await h.peer.expectResponse(1)).status, 200);
});

// ---- §8.4 Server push ----------------------------------------------------------------------

serverTest(
  "server answers PUSH_PROMISE from the client with GOAWAY PROTOCOL_ERROR (RFC 9113 §8.4)",
  async (h) => {
    await sendHeaders(h, 1, req("/hang"));
    h.peer.out.pushPromise(1, 2, h.peer.encode(req("/pushed")));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 1);
  },
);

serverTest(
  "server answers PUSH_PROMISE on stream 0 with GOAWAY PROTOCOL_ERROR (RFC 9113 §6.6)",
  async (h) => {
    h.peer.out.pushPromise(0, 2, new Uint8Array([0x82]));
    await h.peer.flush();
    await h.peer.expectGoaway(ErrorCode.PROTOCOL_ERROR, 0);
  },
);
