/**
 * WebSocket upgrades through the router that do not go through at once: refused by one backend
 * and opened on another, a backend that never answers (504, the stream cancelled), and a client
 * that leaves before the backend accepts.
 */

import { equal, ok } from "node:assert/strict";
import { ErrorCode, FrameType } from "../h2/constants.ts";
import type { RstStreamFrame } from "../h2/frame.ts";
import { startBackend, startRouter, waitUntil, withTimeout } from "./_helpers.ts";
import { upgradeWebSocket } from "../backend/upgrade_websocket.ts";
import { type RawPeer, TIMEOUT_MS } from "./_raw_peer.ts";
import {
  CONNECT_PROTOCOL,
  nextRequest,
  rawTunnel,
  rawUpgrade,
  requestRecords,
} from "./_hostile.ts";

/** Waits for RST_STREAM on `streamId`; returns its error code. */
async function resetOf(peer: RawPeer, streamId: number): Promise<number> {
  const reset = await peer.expectFrame(
    `RST_STREAM on stream ${streamId}`,
    (r) => r.header.type === FrameType.RST_STREAM && r.header.streamId === streamId,
  );
  return (reset.frame as RstStreamFrame).errorCode;
}

Deno.test("a WebSocket upgrade refused by one backend (REFUSED_STREAM) opens on another", async () => {
  await using router = startRouter({ allowAnonymous: true, quiet: true });
  const records = requestRecords(router);
  const peer = await rawTunnel(router, CONNECT_PROTOCOL);
  try {
    const client = new WebSocket(`ws://127.0.0.1:${router.addr.port}/chat`);
    const opened = new Promise<void>((resolve, reject) => {
      client.onopen = () => resolve();
      client.onclose = (event) => reject(new Error(`closed ${event.code}`));
    });
    const id = await nextRequest(peer);
    await using _echo = await startBackend(router, (request) => {
      const { socket, response } = upgradeWebSocket(request);
      socket.onmessage = (event) => socket.send(`echo ${event.data}`);
      return response;
    });
    peer.out.rstStream(id, ErrorCode.REFUSED_STREAM);
    await peer.flush();
    await withTimeout(opened, TIMEOUT_MS, "the WebSocket on the second backend");
    const echoed = new Promise<string>((resolve) => client.onmessage = (e) => resolve(e.data));
    client.send("hello");
    equal(await withTimeout(echoed, TIMEOUT_MS, "the echo"), "echo hello");
    const closed = new Promise<void>((resolve) => client.onclose = () => resolve());
    client.close();
    await withTimeout(closed, TIMEOUT_MS, "the close");
    await waitUntil(() => records.length === 1, TIMEOUT_MS, "the session's record");
    equal(records[0]!.retries, 1);
    equal(records[0]!.status, 101);
  } finally {
    await peer.close();
  }
});

Deno.test("a backend that does not answer a WebSocket upgrade within the header timeout: 504, and the stream is cancelled", async () => {
  const logs: string[] = [];
  await using router = startRouter({
    allowAnonymous: true,
    quiet: false,
    log: (line) => logs.push(line),
    responseHeaderTimeout: 300,
  });
  const peer = await rawTunnel(router, CONNECT_PROTOCOL);
  let client: Deno.Conn | undefined;
  try {
    const upgrade = await rawUpgrade(router);
    client = upgrade.conn;
    const id = await nextRequest(peer);
    equal(await withTimeout(upgrade.status, TIMEOUT_MS, "the answer"), 504);
    equal(await resetOf(peer, id), ErrorCode.CANCEL);
    ok(
      logs.some((line) =>
        /WebSocket \/chat: tunnel .*: no answer to the upgrade in time/.test(line)
      ),
      logs.join("\n"),
    );
  } finally {
    client?.close();
    await peer.close();
  }
});

Deno.test("a client that leaves before the backend accepts its WebSocket cancels the stream", async () => {
  await using router = startRouter({ allowAnonymous: true, quiet: true });
  const peer = await rawTunnel(router, CONNECT_PROTOCOL);
  try {
    const { conn } = await rawUpgrade(router);
    const id = await nextRequest(peer);
    conn.close();
    equal(await resetOf(peer, id), ErrorCode.CANCEL);
  } finally {
    await peer.close();
  }
});
