/**
 * What the edge may know about a proxied response's body, to write it
 * cheaply: octets that arrived whole (a backend's END_STREAM with its data)
 * go out with the head in one write, without `response.body`, whose stream,
 * reader and reads cost more than the rest of a small answer; and a stream
 * read from a tunnel hands out chunks that belong to their reader alone, so
 * the edge frees each one as soon as it is written instead of leaving tens
 * of megabytes of a download to the garbage collector.
 *
 * @module
 */

const bodies = new WeakMap<Response, Uint8Array>();

/**
 * Makes a Response like `new Response(body, { status, headers })`,
 * remembering a body of bytes for the edge. The fields are appended after
 * the Response is made: given in its init together with a body of bytes,
 * Deno converts them for `Deno.serve`'s native path, several times the cost
 * of the rest, for a server that never uses it.
 *
 * @param body The body: bytes (remembered), a stream, or `null`.
 * @param status The status.
 * @param headers The fields, as name/value pairs (each `set-cookie` its own).
 * @returns The response.
 *
 * @example
 * ```ts
 * import { fixedBodyOf, responseOf } from "./proxied_body.ts";
 * import { equal } from "node:assert/strict";
 * const response = responseOf(new Uint8Array([104, 105]), 200, [["content-type", "text/plain"]]);
 * equal(fixedBodyOf(response)?.length, 2);
 * equal(response.headers.get("content-type"), "text/plain");
 * equal(await response.text(), "hi");
 * ```
 */
export function responseOf(
  body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null,
  status: number,
  headers: ReadonlyArray<readonly [string, string]>,
): Response {
  const response = new Response(body, { status });
  const fields = response.headers;
  for (let i = 0; i < headers.length; i++) fields.append(headers[i]![0], headers[i]![1]);
  if (body instanceof Uint8Array) bodies.set(response, body);
  return response;
}

const ownedStreams = new WeakSet<ReadableStream<Uint8Array>>();

/**
 * Marks a stream whose chunks belong to whoever reads them (each in a buffer
 * of its own that nothing else refers to), such as a tunnel stream's body.
 *
 * @param stream The stream.
 * @returns The same stream.
 */
export function ownedChunks(stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  ownedStreams.add(stream);
  return stream;
}

/**
 * Whether a response's body stream hands out chunks its reader may free
 * (see {@linkcode ownedChunks}). A clone's body is another stream: no.
 *
 * @param body The stream read.
 * @returns Whether its chunks may be freed once used.
 *
 * @example
 * ```ts
 * import { hasOwnedChunks, ownedChunks } from "./proxied_body.ts";
 * import { equal } from "node:assert/strict";
 * const stream = ownedChunks(new ReadableStream());
 * equal(hasOwnedChunks(stream), true);
 * equal(hasOwnedChunks(new ReadableStream()), false);
 * ```
 */
export function hasOwnedChunks(body: ReadableStream<Uint8Array>): boolean {
  return ownedStreams.has(body);
}

/**
 * Frees the memory of a chunk that is no longer needed, at once rather than
 * at the next collection (its buffer is detached: nothing may use it after).
 *
 * @param chunk A chunk of a stream marked with {@linkcode ownedChunks}, used up.
 */
export function freeChunk(chunk: Uint8Array): void {
  try {
    (chunk.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer }).transfer?.(0);
  } catch {
    // Not transferable (shared memory): the collector will have it.
  }
}

/**
 * The octets of a response made by {@linkcode responseOf} with bytes, while
 * its body has not been read; else `undefined`.
 *
 * @param response A response.
 * @returns Its body's octets, or `undefined`.
 */
export function fixedBodyOf(response: Response): Uint8Array | undefined {
  const body = bodies.get(response);
  return body === undefined || response.bodyUsed ? undefined : body;
}
