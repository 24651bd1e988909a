/**
 * A hostile backend against the router: a raw-frame peer dials the tunnel port, plays the
 * HTTP/2 server and answers with frames for streams the router never opened, PUSH_PROMISE,
 * malformed response heads and floods. The public client gets 502 (or 503 once the tunnel is
 * gone), the router drops that tunnel only when the error is a connection error, and a second,
 * well-behaved backend on another tunnel keeps serving throughout. Also: retries after a
 * backend refuses a stream, and the header timeout during the wait for another tunnel.
 */

import { TUNNEL_MAX_FRAME_SIZE } from "../tunnel/settings.ts";
import { equal, ok } from "node:assert/strict";
import { ErrorCode, errorCodeName, Flag, FrameType, SettingId } from "../h2/constants.ts";
import { FrameWriter } from "../h2/frame.ts";
import { baseUrl, startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";
import { type RawPeer, TIMEOUT_MS } from "./_raw_peer.ts";
import {
  answer,
  blast,
  CONNECT_PROTOCOL,
  encoder,
  expectGoawayAfter,
  expectTunnelDropped,
  type Fleet,
  fleet,
  hpackString,
  MAX_FRAME,
  nextRequest,
  rawTunnel,
  rawUpgrade,
  requestRecords,
  startGet,
  writeBlock,
} from "./_hostile.ts";

/** After a stream error: the hostile tunnel still takes requests and is answered. */
async function expectTunnelServes(f: Fleet, peer: RawPeer): Promise<void> {
  equal(f.router.pool.size, 2);
  const pending = startGet(f.router, "/again");
  await answer(peer, await nextRequest(peer), "fine");
  const response = await pending;
  equal(response.status, 200);
  equal(response.text, "fine");
}

/** Hostile answers to a forwarded request on stream `id` that are connection errors. */
const CONNECTION_ERRORS: Array<[string, number, (peer: RawPeer, id: number) => void]> = [
  [
    "sends HEADERS on an even stream the router never opened (RFC 9113 §5.1.1)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) => peer.out.headers(id + 1, peer.encode([":status", "200"]), true, MAX_FRAME),
  ],
  [
    "sends HEADERS on an odd stream the router never used (RFC 9113 §5.1)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) => peer.out.headers(id + 10, peer.encode([":status", "200"]), true, MAX_FRAME),
  ],
  [
    "sends DATA on an idle stream (RFC 9113 §5.1)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) => peer.out.data(id + 2, encoder.encode("unasked"), true),
  ],
  [
    "sends PUSH_PROMISE though the router disabled push (RFC 9113 §6.6, §8.4)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) => peer.out.pushPromise(id, id + 1, peer.encode([":method", "GET", ":path", "/p"])),
  ],
  [
    "sends a response head the router cannot decode (RFC 9113 §4.3)",
    ErrorCode.COMPRESSION_ERROR,
    (peer, id) =>
      peer.out.raw(
        FrameType.HEADERS,
        Flag.END_HEADERS,
        id,
        new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x7f]),
      ),
  ],
  [
    "sends WINDOW_UPDATE overflowing the router's connection window (RFC 9113 §6.9.1)",
    ErrorCode.FLOW_CONTROL_ERROR,
    (peer) => peer.out.windowUpdate(0, 0x7fff_ffff),
  ],
  [
    "sends a frame larger than the router's SETTINGS_MAX_FRAME_SIZE (RFC 9113 §4.2)",
    ErrorCode.FRAME_SIZE_ERROR,
    (peer, id) => peer.out.data(id, new Uint8Array(TUNNEL_MAX_FRAME_SIZE + 1), true),
  ],
  [
    "sends CONTINUATION without HEADERS (RFC 9113 §6.10)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) =>
      peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, id, new Uint8Array([0x88])),
  ],
  [
    "interleaves another stream's frame in a response header block (RFC 9113 §4.3)",
    ErrorCode.PROTOCOL_ERROR,
    (peer, id) => {
      peer.out.raw(FrameType.HEADERS, 0, id, new Uint8Array([0x88]));
      peer.out.ping(false, new Uint8Array(8));
    },
  ],
];

for (const [what, code, act] of CONNECTION_ERRORS) {
  Deno.test(`router drops a backend tunnel that ${what}: GOAWAY ${errorCodeName(code)}, 502, the other tunnel serves`, async () => {
    await using f = await fleet();
    const peer = await f.hostile();
    const pending = startGet(f.router, "/x");
    const id = await nextRequest(peer);
    act(peer, id);
    await peer.flush().catch(() => {});
    await expectGoawayAfter(peer, code, f);
    equal((await pending).status, 502);
    await expectTunnelDropped(f);
  });
}

const MALFORMED_RESPONSES: Array<[string, string[]]> = [
  ["an upper-case field name (RFC 9113 §8.2.1)", [":status", "200", "X-Upper", "1"]],
  ["a connection-specific field (RFC 9113 §8.2.2)", [":status", "200", "connection", "close"]],
  ["transfer-encoding (RFC 9113 §8.2.2)", [":status", "200", "transfer-encoding", "chunked"]],
  ["no :status (RFC 9113 §8.3.2)", ["content-type", "text/plain"]],
  [":status 101 (RFC 9113 §8.6)", [":status", "101"]],
  ["a :status of four digits (RFC 9113 §8.3.2)", [":status", "2000"]],
  ["two :status fields (RFC 9113 §8.3)", [":status", "200", ":status", "204"]],
  ["a request pseudo-header (RFC 9113 §8.3)", [":status", "200", ":path", "/"]],
  ["a pseudo-header after a field (RFC 9113 §8.3)", ["x-a", "1", ":status", "200"]],
  ["a field value with a line feed (RFC 9113 §8.2.1)", [":status", "200", "x-a", "1\n2"]],
  // Deno.serve panics on a header value with a control character: it must never get one.
  ["a field value with a control character (RFC 9110 §5.5)", [":status", "200", "x-a", "1\x012"]],
  ["a field value with DEL (RFC 9110 §5.5)", [":status", "200", "x-a", "1\x7f"]],
  ["a :status above 599 (RFC 9110 §15)", [":status", "600"]],
  ["a :status of 999 (RFC 9110 §15)", [":status", "999"]],
];

for (const [what, fields] of MALFORMED_RESPONSES) {
  Deno.test(`router answers 502 to a backend response with ${what}, resets only that stream and keeps the tunnel`, async () => {
    await using f = await fleet();
    const peer = await f.hostile();
    const pending = startGet(f.router, "/x");
    const id = await nextRequest(peer);
    peer.out.headers(id, peer.encode(fields), true, MAX_FRAME);
    await peer.flush();
    await peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
    equal((await pending).status, 502);
    await expectTunnelServes(f, peer);
  });
}

Deno.test("router answers 502 to an interim (1xx) response that ends the stream, without waiting for the header timeout (RFC 9113 §8.1)", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  peer.out.headers(id, peer.encode([":status", "103", "link", "</a>"]), true, MAX_FRAME);
  await peer.flush();
  await peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
  equal((await withTimeout(pending, TIMEOUT_MS, "the public answer")).status, 502);
  await expectTunnelServes(f, peer);
});

Deno.test("router answers 502 to an HPACK bomb in a backend response and keeps the tunnel (RFC 7541 §7.3)", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  // A 4,000-octet entry, then 16,000 references to it: a 64 MB header list.
  const entry = [0x40, ...hpackString("x-bomb"), ...hpackString("a".repeat(4000))];
  const bomb = new Uint8Array([0x88, ...entry, ...new Array(16_000).fill(0xbe)]); // :status 200
  writeBlock(peer.out, id, bomb, true);
  await peer.flush();
  await peer.expectReset(id, ErrorCode.PROTOCOL_ERROR);
  equal((await pending).status, 502);
  // The peer's own encoder never saw the entry: the next block evicts it, so both agree again.
  const again = startGet(f.router, "/again");
  const next = await nextRequest(peer);
  const block = new Uint8Array([0x20, 0x3f, 0xe1, 0x1f, 0x88]); // size 0, size 4096, :status 200
  peer.out.raw(FrameType.HEADERS, Flag.END_HEADERS, next, block);
  peer.out.data(next, encoder.encode("fine"), true);
  await peer.flush();
  const response = await again;
  equal(response.status, 200);
  equal(response.text, "fine");
});

Deno.test("router cuts off a backend flooding interim (1xx) responses with GOAWAY ENHANCE_YOUR_CALM", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  const out = new FrameWriter();
  for (let i = 0; i < 20_000; i++) {
    out.headers(id, peer.encode([":status", "103"]), false, MAX_FRAME);
  }
  const writing = blast(peer, out.bytes());
  await expectGoawayAfter(peer, ErrorCode.ENHANCE_YOUR_CALM, f);
  await writing;
  equal((await pending).status, 502);
  await expectTunnelDropped(f);
});

for (
  const [what, frame] of [
    ["PINGs", (out: FrameWriter, i: number) => out.ping(false, new Uint8Array(8).fill(i & 0xff))],
    ["SETTINGS", (out: FrameWriter) => out.settings([[SettingId.MAX_CONCURRENT_STREAMS, 100]])],
    ["RST_STREAM on closed streams", (out: FrameWriter) => out.rstStream(1, ErrorCode.CANCEL)],
    ["empty DATA on a request", (out: FrameWriter) => out.data(1, new Uint8Array(0), false)],
    ["unknown frames", (out: FrameWriter) => out.raw(0xbb, 0, 0, new Uint8Array(8))],
  ] as const
) {
  Deno.test(`router cuts off a backend flooding ${what} with GOAWAY ENHANCE_YOUR_CALM, and the other tunnel serves`, async () => {
    await using f = await fleet();
    const peer = await f.hostile();
    const pending = startGet(f.router, "/x");
    const id = await nextRequest(peer);
    equal(id, 1);
    const out = new FrameWriter();
    if (what === "empty DATA on a request") {
      out.headers(1, peer.encode([":status", "200"]), false, MAX_FRAME);
    }
    if (what === "RST_STREAM on closed streams") {
      out.headers(1, peer.encode([":status", "200"]), false, MAX_FRAME);
      out.data(1, encoder.encode("short"), true);
    }
    for (let i = 0; i < 20_000; i++) frame(out, i);
    const writing = blast(peer, out.bytes());
    await expectGoawayAfter(peer, ErrorCode.ENHANCE_YOUR_CALM, f);
    await writing;
    // Before a head: 502. After it, the body fails (a short body never passes for whole),
    // unless the response was complete before the flood began.
    const outcome = await pending.then((r) => `${r.status} ${r.text}`, () => "body aborted");
    const expected = what === "RST_STREAM on closed streams"
      ? "200 short"
      : what === "empty DATA on a request"
      ? "body aborted"
      : "502";
    ok(outcome.startsWith(expected), `public answer: ${outcome}`);
    await expectTunnelDropped(f);
  });
}

Deno.test("router keeps serving after a backend closes mid-frame, and answers 502", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  // A frame header announcing 100 octets, then only 3 of them, then the end.
  await peer.writeRaw(
    new Uint8Array([0, 0, 100, FrameType.HEADERS, Flag.END_HEADERS, 0, 0, 0, id, 1, 2, 3]),
  );
  peer.conn.closeWrite();
  equal((await pending).status, 502);
  await expectTunnelDropped(f);
});

Deno.test("router does not pass a body cut short by a backend's connection error off as complete", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const response = fetch(`${baseUrl(f.router)}/x`);
  response.catch(() => {}); // Awaited below.
  const id = await nextRequest(peer);
  peer.out.headers(id, peer.encode([":status", "200", "content-length", "100"]), false, MAX_FRAME);
  peer.out.data(id, new Uint8Array(10), false);
  await peer.flush();
  const head = await response;
  equal(head.status, 200);
  peer.out.data(id + 2, new Uint8Array(1), true); // DATA on an idle stream: connection error.
  await peer.flush();
  await expectGoawayAfter(peer, ErrorCode.PROTOCOL_ERROR, f);
  let failed = false;
  try {
    await head.arrayBuffer();
  } catch {
    failed = true;
  }
  ok(failed, "the public client took a truncated body for a complete one");
  await expectTunnelDropped(f);
});

Deno.test("router drops a backend tunnel that answers a stream again after ending it: GOAWAY STREAM_CLOSED (RFC 9113 §5.1)", async () => {
  await using f = await fleet();
  const peer = await f.hostile();
  const pending = startGet(f.router, "/x");
  const id = await nextRequest(peer);
  await answer(peer, id, "first");
  const response = await pending;
  equal(response.status, 200);
  equal(response.text, "first");
  await peer.sync(); // The router has closed the stream by now.
  peer.out.headers(id, peer.encode([":status", "200"]), true, MAX_FRAME);
  await peer.flush();
  await expectGoawayAfter(peer, ErrorCode.STREAM_CLOSED, f);
  await expectTunnelDropped(f);
});

// ---- retries after a refusal --------------------------------------------------------------

Deno.test("a request retried after REFUSED_STREAM is recorded with the bytes of the exchange that answered", async () => {
  await using router = startRouter({ allowAnonymous: true, quiet: true });
  const records = requestRecords(router);
  const peer = await rawTunnel(router);
  try {
    const body = new Uint8Array(1000).fill(0x61);
    const pending = fetch(`${baseUrl(router)}/echo`, { method: "POST", body });
    const id = await nextRequest(peer);
    // The raw tunnel got the request (and its body); a real backend comes, then the
    // raw one refuses the stream: the router sends the request again, to the real one.
    await using _echo = await startBackend(router, async (request) => {
      const echo = new Uint8Array(await request.arrayBuffer());
      // The head goes first, the body 50 ms later: the record must wait for it.
      return new Response(
        new ReadableStream({
          async start(controller) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            controller.enqueue(echo);
            controller.close();
          },
        }),
      );
    });
    peer.out.rstStream(id, ErrorCode.REFUSED_STREAM);
    await peer.flush();
    const response = await withTimeout(pending, TIMEOUT_MS, "the retried answer");
    equal(response.status, 200);
    equal((await response.arrayBuffer()).byteLength, 1000);
    await waitUntil(() => records.length === 1, TIMEOUT_MS, "the request record");
    equal(records[0]!.retries, 1);
    equal(records[0]!.bytesIn, 1000);
    equal(records[0]!.bytesOut, 1000);
  } finally {
    await peer.close();
  }
});

Deno.test("the header timeout during the wait for a tunnel to retry on answers 504, not 502, for requests and WebSocket upgrades alike", async () => {
  await using router = startRouter({
    allowAnonymous: true,
    quiet: true,
    responseHeaderTimeout: 300,
    tunnelWait: 3000,
  });
  const records = requestRecords(router);
  const peer = await rawTunnel(router, CONNECT_PROTOCOL);
  let client: Deno.Conn | undefined;
  try {
    const pending = startGet(router, "/slow");
    // Refused, and no other tunnel: the router waits for one until the timeout.
    peer.out.rstStream(await nextRequest(peer), ErrorCode.REFUSED_STREAM);
    await peer.flush();
    equal((await withTimeout(pending, TIMEOUT_MS, "the answer")).status, 504);

    const upgrade = await rawUpgrade(router);
    client = upgrade.conn;
    peer.out.rstStream(await nextRequest(peer), ErrorCode.REFUSED_STREAM);
    await peer.flush();
    equal(await withTimeout(upgrade.status, TIMEOUT_MS, "the upgrade's answer"), 504);
    await waitUntil(() => records.length === 2, TIMEOUT_MS, "both records");
    equal(records[1]!.status, 504);
  } finally {
    client?.close();
    await peer.close();
  }
});
