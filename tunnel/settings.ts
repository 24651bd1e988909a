/**
 * The HTTP/2 settings both ends of a tunnel advertise unless told otherwise.
 *
 * @module
 */

import type { LocalSettings } from "../h2/connection.ts";
import { MAX_WINDOW_SIZE } from "../h2/constants.ts";

/**
 * SETTINGS_MAX_FRAME_SIZE for tunnels (RFC 9113 §6.5.2): 256 KiB instead of
 * the 16 KiB default. Every DATA frame costs a header, a parse, a buffer and a
 * body chunk on both sides, so bulk transfers through a tunnel cost less CPU
 * per byte in fewer, larger frames. The price: fewer, larger buffers make the
 * garbage collector run less often, so memory grows more during a long
 * transfer, and a small response's frames may queue behind one large frame
 * (bounded by the write high-water mark plus one frame). BENCHMARKS.md has
 * the measurements.
 *
 * @example
 * ```ts
 * import { TUNNEL_MAX_FRAME_SIZE } from "./settings.ts";
 * import { equal } from "node:assert/strict";
 * equal(TUNNEL_MAX_FRAME_SIZE, 262_144);
 * ```
 */
export const TUNNEL_MAX_FRAME_SIZE = 256 * 1024;

/**
 * SETTINGS_INITIAL_WINDOW_SIZE for tunnels (RFC 9113 §6.9.2): 4 MiB of a
 * stream's DATA may be in flight, as in Go's HTTP/2 transport, instead of the
 * codec's 1 MiB. A stream moves at most one window per round trip, so a
 * larger window keeps long-distance tunnels fast, and on one machine it keeps
 * a transfer moving while one of the processes waits for a CPU. The price is
 * memory: a client that stops reading leaves up to 4 MiB of its response in
 * the router.
 *
 * @example
 * ```ts
 * import { TUNNEL_STREAM_WINDOW } from "./settings.ts";
 * import { equal } from "node:assert/strict";
 * equal(TUNNEL_STREAM_WINDOW, 4_194_304);
 * ```
 */
export const TUNNEL_STREAM_WINDOW = 4 * 1024 * 1024;

/**
 * How many stream windows the connection-level receive window of a tunnel
 * holds (RFC 9113 §6.9). All streams of a tunnel share it. The router gives it
 * back as response DATA arrives (`connectionCredit: "arrival"`), so there it
 * never fills and a client that stops reading holds only its own stream; a
 * backend gives it back as its handlers read request bodies, so sixteen
 * handlers that stop reading uploads stall the others, as sixteen 1 MiB
 * streams do in the codec's default 16 MiB.
 */
const CONNECTION_WINDOW_STREAMS = 16;

/**
 * The connection-level receive window of a tunnel with the default stream
 * windows: 64 MiB.
 *
 * @example
 * ```ts
 * import { TUNNEL_CONNECTION_WINDOW, TUNNEL_STREAM_WINDOW } from "./settings.ts";
 * import { equal } from "node:assert/strict";
 * equal(TUNNEL_CONNECTION_WINDOW, 16 * TUNNEL_STREAM_WINDOW);
 * ```
 */
export const TUNNEL_CONNECTION_WINDOW = CONNECTION_WINDOW_STREAMS * TUNNEL_STREAM_WINDOW;

/**
 * The HTTP/2 options of one end of a tunnel: the tunnel defaults under the
 * user's `http2` settings, and a connection window of sixteen of the stream
 * windows in effect (at most 2^31-1, RFC 9113 §6.9.1), so that a larger or
 * smaller stream window keeps the same margin against stalled streams.
 *
 * @param overrides The user's `http2` settings; `undefined` fields are ignored.
 * @param defaults Settings of this end that the user may override too.
 * @returns The settings to advertise and the connection window.
 *
 * @example A larger stream window brings a larger connection window
 * ```ts
 * import { tunnelHttp2 } from "./settings.ts";
 * import { equal } from "node:assert/strict";
 * equal(tunnelHttp2().settings.initialWindowSize, 4 * 1024 * 1024);
 * const tuned = tunnelHttp2({ initialWindowSize: 8 * 1024 * 1024 });
 * equal(tuned.connectionWindowSize, 128 * 1024 * 1024);
 * ```
 */
export function tunnelHttp2(
  overrides: LocalSettings = {},
  defaults: LocalSettings = {},
): { settings: LocalSettings; connectionWindowSize: number } {
  const settings: LocalSettings = {
    maxFrameSize: TUNNEL_MAX_FRAME_SIZE,
    initialWindowSize: TUNNEL_STREAM_WINDOW,
    ...defaults,
  };
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) Object.assign(settings, { [key]: value });
  }
  const streamWindow = settings.initialWindowSize ?? TUNNEL_STREAM_WINDOW;
  return {
    settings,
    connectionWindowSize: Math.min(CONNECTION_WINDOW_STREAMS * streamWindow, MAX_WINDOW_SIZE),
  };
}
