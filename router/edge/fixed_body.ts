/**
 * Responses whose whole body is known when they are made (a proxied
 * response that arrived complete, with its END_STREAM): the edge writes
 * their octets with the head in one write, without `response.body`, whose
 * stream, reader and reads cost more than the rest of a small response.
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
 * import { fixedBodyOf, responseOf } from "./fixed_body.ts";
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
