/**
 * The HTTP/2 settings both ends of a tunnel advertise unless told otherwise.
 *
 * @module
 */

/**
 * SETTINGS_MAX_FRAME_SIZE for tunnels (RFC 9113 §6.5.2): 256 KiB instead of
 * the 16 KiB default. Every DATA frame costs a header, a parse, a callback and
 * a body chunk on both sides, and a large payload is read straight into a
 * buffer of its own. 64 KiB frames ran bulk transfers 40-70% faster than
 * 16 KiB; 256 KiB took the router from ~900 to ~700 ms of CPU per GiB
 * downloaded (alternated 2 GiB runs, with stream windows that grow). A frame
 * this large holds other streams of the tunnel back for ~0.2 ms at 1 GB/s.
 *
 * @example
 * ```ts
 * import { TUNNEL_MAX_FRAME_SIZE } from "./settings.ts";
 * import { equal } from "node:assert/strict";
 * equal(TUNNEL_MAX_FRAME_SIZE, 262_144);
 * ```
 */
export const TUNNEL_MAX_FRAME_SIZE = 256 * 1024;
