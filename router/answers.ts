/**
 * The router's own answers: plain-text errors for the client, and how a
 * tunnel failure is described in them and in the log.
 *
 * @module
 */

import { Http2Error } from "../h2/errors.ts";

/**
 * A plain-text answer of the router's own.
 *
 * @param status The status.
 * @param body One line saying what happened.
 * @param headers More fields (the request's id, `retry-after`).
 * @returns The response.
 *
 * @example
 * ```ts
 * import { text } from "./answers.ts";
 * import { equal } from "node:assert/strict";
 * const response = text(404, "Not Found: no route", { "x-request-id": "r1" });
 * equal(await response.text(), "Not Found: no route\n");
 * equal(response.headers.get("x-request-id"), "r1");
 * ```
 */
export function text(status: number, body: string, headers?: Record<string, string>): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * The 503 for a request no tunnel can take, with `Retry-After`.
 *
 * @param service The service it was routed to, or `null` (any tunnel).
 * @param headers More fields (the request's id).
 * @returns The response.
 *
 * @example
 * ```ts
 * import { noTunnel } from "./answers.ts";
 * import { equal } from "node:assert/strict";
 * const response = noTunnel("api");
 * equal(response.status, 503);
 * equal(await response.text(), "Service Unavailable: no backend tunnel is connected for service api\n");
 * ```
 */
export function noTunnel(service: string | null): Response {
  const which = service === null
    ? "no backend tunnel is connected to this router"
    : `no backend tunnel is connected for service ${service}`;
  return text(503, `Service Unavailable: ${which}`, { "retry-after": "1" });
}

/**
 * The 503 for a request that would wait for a stream slot or a tunnel while
 * its service's queue is full, with `Retry-After`.
 *
 * @param service The service it was routed to, or `null` (any tunnel).
 * @returns The response.
 *
 * @example
 * ```ts
 * import { queueFull } from "./answers.ts";
 * import { equal } from "node:assert/strict";
 * const response = queueFull("api");
 * equal(response.status, 503);
 * equal(response.headers.get("retry-after"), "1");
 * ```
 */
export function queueFull(service: string | null): Response {
  const which = service === null ? "" : ` for service ${service}`;
  return text(
    503,
    `Service Unavailable: too many requests wait for a backend${which}`,
    { "retry-after": "1" },
  );
}

/**
 * The answer to a client that left before it was answered: nobody reads it,
 * but the request's record and the log show 499, as nginx's do.
 *
 * @returns The response.
 *
 * @example
 * ```ts
 * import { clientGone } from "./answers.ts";
 * import { equal } from "node:assert/strict";
 * equal(clientGone().status, 499);
 * ```
 */
export function clientGone(): Response {
  return new Response(null, { status: 499 });
}

/**
 * How a tunnel failure reads in an answer and the log: an HTTP/2 error by its
 * code's name, anything else by its message.
 *
 * @param error What the request failed with.
 * @returns One line.
 *
 * @example
 * ```ts
 * import { describe } from "./answers.ts";
 * import { StreamError } from "../h2/errors.ts";
 * import { equal } from "node:assert/strict";
 * equal(describe(new StreamError(1, 0x7, "refused")), "REFUSED_STREAM: refused");
 * equal(describe(new Error("gone")), "gone");
 * ```
 */
export function describe(error: unknown): string {
  if (error instanceof Http2Error) return `${error.codeName}: ${error.message}`;
  return (error as Error)?.message ?? String(error);
}
