/**
 * The HTTP/2 settings each end of a tunnel advertises (tunnel/settings.ts): stream windows,
 * frame size, extended CONNECT and the connection window, read off the wire by a raw peer.
 */

import {
  TUNNEL_CONNECTION_WINDOW,
  TUNNEL_MAX_FRAME_SIZE,
  TUNNEL_STREAM_WINDOW,
} from "../tunnel/settings.ts";
import { equal } from "node:assert/strict";
import { FrameType, SettingId } from "../h2/constants.ts";
import type { SettingsFrame } from "../h2/frame.ts";
import { startRouter } from "./_helpers.ts";
import { serveReverse } from "../backend/serve_reverse.ts";
import { loopbackPair, RawPeer } from "./_raw_peer.ts";
import { encoder } from "./_hostile.ts";

/**
 * Reads a tunnel end's SETTINGS and connection WINDOW_UPDATE, and checks the
 * tunnel settings: `streamWindow`, 256 KiB frames, and a connection window of
 * sixteen stream windows. Returns the SETTINGS for further checks.
 */
async function expectTunnelSettings(
  peer: RawPeer,
  streamWindow: number,
): Promise<Map<number, number>> {
  const frame = await peer.expectFrame(
    "SETTINGS",
    (r) => r.header.type === FrameType.SETTINGS && !(r.frame as SettingsFrame).ack,
  );
  const update = await peer.expectFrame(
    "the connection's WINDOW_UPDATE",
    (r) => r.header.type === FrameType.WINDOW_UPDATE && r.header.streamId === 0,
  );
  const settings = new Map((frame.frame as SettingsFrame).settings);
  equal(settings.get(SettingId.INITIAL_WINDOW_SIZE), streamWindow);
  equal(settings.get(SettingId.MAX_FRAME_SIZE), TUNNEL_MAX_FRAME_SIZE);
  // RFC 9113 §6.9.2: the connection window starts at 65,535 whatever SETTINGS say.
  equal(65_535 + (update.frame as { increment: number }).increment, 16 * streamWindow);
  return settings;
}

Deno.test("the router opens tunnels with 4 MiB stream windows, 256 KiB frames and a connection window of 16 stream windows", async () => {
  for (const http2 of [undefined, { initialWindowSize: 1024 * 1024 }]) {
    await using router = startRouter({ allowAnonymous: true, quiet: true, http2 });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: router.tunnelAddr.port });
    const peer = new RawPeer(conn, { readPreface: true });
    try {
      peer.out.settings([]);
      await peer.flush();
      await expectTunnelSettings(peer, http2?.initialWindowSize ?? TUNNEL_STREAM_WINDOW);
    } finally {
      await peer.close();
    }
  }
  equal(TUNNEL_STREAM_WINDOW, 4 * 1024 * 1024);
  equal(TUNNEL_CONNECTION_WINDOW, 64 * 1024 * 1024);
});

Deno.test("a backend serves tunnels with 4 MiB stream windows, extended CONNECT and a connection window of 16 stream windows", async () => {
  for (const http2 of [undefined, { initialWindowSize: 8 * 1024 * 1024 }]) {
    const [ours, theirs] = await loopbackPair();
    // legacy: plain HTTP/2 from the first byte, as with the Go original's router.
    const backend = serveReverse(
      { connect: () => theirs, legacy: true, quiet: true, http2 },
      () => new Response("ok"),
    );
    const peer = new RawPeer(ours);
    try {
      peer.out.append(encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
      peer.out.settings([]);
      await peer.flush();
      const settings = await expectTunnelSettings(
        peer,
        http2?.initialWindowSize ?? TUNNEL_STREAM_WINDOW,
      );
      equal(settings.get(SettingId.ENABLE_CONNECT_PROTOCOL), 1);
    } finally {
      await backend.shutdown();
      await peer.close();
    }
  }
});

// ---- WebSocket upgrades that do not go through at once ------------------------------------------
