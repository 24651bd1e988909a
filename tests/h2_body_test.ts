/**
 * How the server role sends response bodies: the head and a body ready at once in one write,
 * long byte-stream bodies read into its own reused buffers that grow only while reads fill them.
 * A raw-frame client over a real loopback socket receives them.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { Flag, FrameType, SettingId } from "../h2/constants.ts";
import { concat, rejectErrors, TIMEOUT_MS } from "./_raw_peer.ts";
import { waitUntil } from "./_helpers.ts";
import {
  decoder,
  encoder,
  framesOf,
  type Harness,
  LARGE_FRAMES,
  nextData,
  nextHead,
  req,
  sendHeaders,
  startServer,
} from "./_server_conformance.ts";

Deno.test("server sends the head and a body that is ready at once in one write, the DATA ending the stream (RFC 9113 §8.1)", async () => {
  const writes: Uint8Array[] = [];
  // Flushes at the end of each job (the codec's default, pinned here): a head
  // queued before its body was known to be ready would leave in a write of its own.
  await using h = await startServer({ writes, server: { schedule: queueMicrotask } });
  // new Response("ok") declares no content-length: the end is known only by
  // seeing the body's source done right after its one chunk.
  await sendHeaders(h, 1, req("/"));
  equal(decoder.decode((await h.peer.expectResponse(1)).body), "ok");
  const ofStream1 = writes.map((bytes) => framesOf(bytes).filter((f) => f.streamId === 1))
    .filter((frames) => frames.length > 0);
  deepEqual(ofStream1, [[
    { type: FrameType.HEADERS, streamId: 1, flags: Flag.END_HEADERS },
    { type: FrameType.DATA, streamId: 1, flags: Flag.END_STREAM },
  ]]);
});

Deno.test("server sends the head of a body whose first chunk is not ready at once (RFC 9113 §8.1)", async () => {
  let headSeen!: () => void;
  const seen = new Promise<void>((resolve) => headSeen = resolve);
  await using h = await startServer({
    handler: () =>
      new Response(
        new ReadableStream<Uint8Array>({
          // The first chunk waits for the client to have the head: a server that held
          // the head back for the first chunk would never send either.
          async start(controller) {
            await seen;
            controller.enqueue(encoder.encode("late"));
            controller.close();
          },
        }),
      ),
  });
  await sendHeaders(h, 1, req("/stream"));
  const head = await nextHead(h, 1);
  equal(head.header.flags & Flag.END_STREAM, 0);
  headSeen();
  deepEqual(await nextData(h, 1), { length: 4, endStream: true });
});

/** A byte stream of `length` patterned octets in uneven chunks; counts the reads into a reader's own views. */
function patternedByteStream(length: number, pattern: (i: number) => number) {
  const seen = { intoReaderViews: 0 };
  let produced = 0;
  const stream = new ReadableStream({
    type: "bytes",
    pull(controller) {
      // Chunks of uneven sizes, written into the reader's own view when it brings one.
      const want = Math.min(length - produced, 1 + ((produced * 13) % 90_000));
      const view = controller.byobRequest?.view as Uint8Array | null | undefined;
      const chunk = view ? view.subarray(0, Math.min(want, view.length)) : new Uint8Array(want);
      for (let i = 0; i < chunk.length; i++) chunk[i] = pattern(produced + i);
      produced += chunk.length;
      if (view) {
        seen.intoReaderViews++;
        controller.byobRequest!.respond(chunk.length);
      } else controller.enqueue(chunk);
      if (produced === length) controller.close();
    },
  });
  return { stream, seen };
}

/** A byte pattern that does not repeat with any chunk or buffer size the tests use. */
const patternOctet = (i: number) => (i * 7 + (i >> 11)) % 251;

/** Collects a stream's DATA until END_STREAM, granting the stream's window back as it goes. */
async function receiveBody(h: Harness, streamId: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let ended = false; !ended;) {
    const r = await h.peer.expectFrame(
      `DATA on stream ${streamId}`,
      (f) => f.header.type === FrameType.DATA && f.header.streamId === streamId,
      rejectErrors,
    );
    const data = (r.frame as { data: Uint8Array }).data;
    parts.push(data);
    ended = (r.header.flags & Flag.END_STREAM) !== 0;
    if (!ended && data.length > 0) {
      h.peer.out.windowUpdate(streamId, data.length);
      await h.peer.flush();
    }
  }
  return concat(parts);
}

/**
 * Serves `source` as a body of `declared` octets (large frames, stream window
 * `window`) and checks that the client gets exactly that many patterned octets.
 */
async function expectPatternedBody(
  source: ReadableStream<Uint8Array>,
  declared: number,
  window: number,
): Promise<void> {
  await using h = await startServer({
    handler: () => new Response(source, { headers: { "content-length": String(declared) } }),
    server: LARGE_FRAMES.server,
    handshake: [[SettingId.INITIAL_WINDOW_SIZE, window]],
  });
  h.peer.out.windowUpdate(0, 1 << 24);
  await sendHeaders(h, 1, req("/"));
  const received = await receiveBody(h, 1);
  equal(received.length, declared);
  const wrong = received.findIndex((b, i) => b !== patternOctet(i));
  equal(wrong, -1, `octet ${wrong} differs`);
}

for (
  const [window, LENGTH] of [[1 << 20, 1_000_003], [16_384, 1_000_003], [1 << 20, 100_000]]
) {
  Deno.test(`server reads a long byte-stream body into its own buffers and sends it byte for byte, stream window ${window}, ${LENGTH} octets (RFC 9113 §6.1, §6.9)`, async () => {
    // With a 16 KiB window each chunk leaves in pieces, waiting for WINDOW_UPDATE
    // between them while the next read fills the other buffer. A body just over
    // the length at which buffers are reused is read the same way.
    const body = patternedByteStream(LENGTH, patternOctet);
    await expectPatternedBody(body.stream, LENGTH, window);
    ok(body.seen.intoReaderViews > 0, "the body was not read into the server's buffers");
  });
}

for (
  const [perRead, length, declared, largestBuffer] of [
    [Infinity, 2_000_000, 2_000_000, 256 * 1024],
    [16_384, 2_000_000, 2_000_000, 64 * 1024],
    [Infinity, 100_000, 100_000, 64 * 1024],
    [Infinity, 2_000_000, 1_000_000, 256 * 1024],
  ]
) {
  Deno.test(`server reads a byte-stream body into buffers that grow only while reads fill them (${length} octets, ${declared} declared, ${perRead} a read at most)`, async () => {
    // A fast source (an upload that keeps the socket full) gets buffers of the
    // frame size a tunnel takes; a slow one keeps two of 64 KiB, so that many
    // slow uploads do not each hold half a megabyte. No read asks for more than
    // the declared length leaves: a source with more ends there (cancelled).
    let produced = 0;
    let largest = 0;
    let cancelled = false;
    const source = new ReadableStream({
      type: "bytes",
      pull(controller) {
        const view = controller.byobRequest!.view as Uint8Array;
        largest = Math.max(largest, view.byteLength);
        const n = Math.min(view.byteLength, perRead, length - produced);
        for (let k = 0; k < n; k++) view[k] = patternOctet(produced + k);
        produced += n;
        controller.byobRequest!.respond(n);
        if (produced === length) controller.close();
      },
      cancel() {
        cancelled = true;
      },
    });
    await expectPatternedBody(source, declared, 1 << 24);
    equal(largest, largestBuffer);
    if (declared < length) {
      await waitUntil(() => cancelled, TIMEOUT_MS, "the source cancelled at the declared length");
    }
  });
}
