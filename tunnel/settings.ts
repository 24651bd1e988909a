/**
 * The HTTP/2 settings both ends of a tunnel advertise unless told otherwise.
 *
 * @module
 */

/**
 * SETTINGS_MAX_FRAME_SIZE for tunnels (RFC 9113 §6.5.2): 64 KiB instead of
 * the 16 KiB default. Every DATA frame costs a header, a parse and a callback
 * on both sides; with four times fewer frames, bulk transfers through one
 * tunnel ran 40-70% faster. 256 KiB frames moved data no faster again on
 * loopback (with 4 MiB stream windows); they cut the router's CPU per GiB
 * downloaded by ~25% but made its RSS grow more during a 1 GiB transfer, ~55
 * against ~43 MiB: each frame's payload is a buffer of its own, and with four
 * times fewer frames per byte the garbage collector runs less often.
 *
 * @example
 * ```ts
 * import { TUNNEL_MAX_FRAME_SIZE } from "./settings.ts";
 * import { equal } from "node:assert/strict";
 * equal(TUNNEL_MAX_FRAME_SIZE, 65_536);
 * ```
 */
export const TUNNEL_MAX_FRAME_SIZE = 64 * 1024;

/**
 * SETTINGS_INITIAL_WINDOW_SIZE for tunnels (RFC 9113 §6.9.2): 4 MiB of a
 * stream's DATA may be in flight, as in Go's HTTP/2 transport, instead of the
 * codec's 1 MiB. A stream moves at most one window per round trip: 1 MiB
 * caps it at 20 MB/s across 50 ms. Even on loopback, where three processes
 * share the CPUs, a 1 MiB window ran dry while one of them waited for its
 * turn: in alternated 2 GiB runs uploads moved 12% faster (612 against
 * 544 MB/s on average), downloads the same. The price is memory: a client
 * that stops reading leaves up to 4 MiB of its response in the router.
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
 * The connection-level receive window of tunnels (RFC 9113 §6.9): sixteen
 * stream windows. All streams of a tunnel share it, so streams whose readers
 * stopped hold it up for the others: it takes sixteen of them to stall a
 * tunnel, as it took sixteen 1 MiB streams in the codec's default 16 MiB.
 *
 * @example
 * ```ts
 * import { TUNNEL_CONNECTION_WINDOW, TUNNEL_STREAM_WINDOW } from "./settings.ts";
 * import { equal } from "node:assert/strict";
 * equal(TUNNEL_CONNECTION_WINDOW, 16 * TUNNEL_STREAM_WINDOW);
 * ```
 */
export const TUNNEL_CONNECTION_WINDOW = 16 * TUNNEL_STREAM_WINDOW;
