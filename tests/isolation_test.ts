/**
 * The router protects its backends and its clients from each other, over
 * real loopback sockets (issue 16, findings 6, 7 and 8):
 *
 * - cancellations never cost a backend its tunnel: 20,000 cancelled requests
 *   leave it serving, with no GOAWAY, while normal requests beside them finish;
 * - a request a backend rejected on its stream is not retried on the others;
 * - each service's queue (waits for a stream slot or for a tunnel) is bounded:
 *   beyond it, 503 with Retry-After at once; a cancelled request leaves it at once;
 * - a client that does not read holds only its own stream: other responses on
 *   the tunnel keep flowing, and the router's unread response data has a budget.
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { ClientSession } from "../h2/client.ts";
import { FrameType, SettingId } from "../h2/constants.ts";
import { withTimeout } from "./_helpers.ts";
import { ackSettings, loopbackPair, RawPeer } from "./_raw_peer.ts";

// ---- finding 6: cancellations never cost a backend its tunnel ---------------------------------

Deno.test("a response that crossed the router's cancel is ignored even after a thousand newer streams, not taken for a protocol error", async () => {
  // The router remembers the last 1,024 streams it closed. A backend slow to see a
  // cancel may answer it after the router opened more than that: the answer is a
  // frame on a stream the router reset, to ignore (RFC 9113 §5.1), not a reason to
  // drop a tunnel that carries everyone else's requests.
  const [ours, theirs] = await loopbackPair();
  const peer = new RawPeer(theirs, { readPreface: true });
  const session = new ClientSession(ours);
  try {
    peer.out.settings([[SettingId.MAX_CONCURRENT_STREAMS, 4000]]);
    await peer.flush();
    await ackSettings(peer);
    await session.connection.ready;
    const get = () =>
      session.send({ method: "GET", scheme: "http", authority: "example.com", path: "/" });
    const failed: Promise<unknown>[] = [];
    for (let i = 0; i < 1100; i++) {
      const exchange = get();
      exchange.cancel();
      failed.push(exchange.response.catch(() => {}));
    }
    await Promise.all(failed);
    await peer.sync(); // The backend has seen the 1,100 requests and their resets.
    // Its answer to the first, sent before it saw that reset, arrives now.
    peer.out.headers(1, peer.encode([":status", "200"]), false, 16_384);
    peer.out.data(1, new TextEncoder().encode("late"), true);
    await peer.flush();
    const next = get();
    const request = await peer.expectFrame(
      "the next request",
      (r) => r.header.type === FrameType.HEADERS && r.header.streamId === 2201,
      (r) => r.header.type === FrameType.GOAWAY ? "GOAWAY" : null,
    );
    peer.out.headers(request.header.streamId, peer.encode([":status", "204"]), true, 16_384);
    await peer.flush();
    equal((await withTimeout(next.response, 2000, "the next answer")).status, 204);
    equal(session.connection.error, null);
  } finally {
    session.close();
    await session.closed;
    await peer.close();
  }
});
