/**
 * A small HTTP/2 codec (RFC 9113, HPACK RFC 7541) that runs over any byte
 * stream in either role. It knows nothing of Deno, tunnels or routing.
 *
 * @example A client and a server wired together in memory
 * ```ts
 * import { ClientSession, memoryPipe, serveConnection } from "./mod.ts";
 * import { equal } from "node:assert/strict";
 * const [a, b] = memoryPipe();
 * serveConnection(b, () => new Response("bar"));
 * const client = new ClientSession(a);
 * const response = await client.request({
 *   method: "GET", scheme: "http", authority: "localhost", path: "/foo",
 * });
 * equal(await response.text(), "bar");
 * client.close();
 * await client.closed;
 * ```
 *
 * @module
 */

export * from "./constants.ts";
export * from "./errors.ts";
export {
  type ByteIO,
  Connection,
  type ConnectionOptions,
  type LocalSettings,
} from "./connection.ts";
export {
  type ClientRequest,
  ClientSession,
  type ClientSessionOptions,
  isUnprocessed,
  QueueFullError,
  type QueueLimit,
} from "./client.ts";
export { BufferMeter, type MeteredBuffer } from "./buffer_meter.ts";
export {
  type Http2Handler,
  serveConnection,
  type ServeConnectionOptions,
  type StreamInfo,
} from "./server.ts";
export { memoryPipe } from "./memory_pipe.ts";
