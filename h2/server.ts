/**
 * The HTTP/2 server role: streams the peer opens become Web `Request`s handed
 * to a fetch-style handler, and the handler's `Response` goes back on the same
 * stream (RFC 9113 §8.1). Knows nothing of tunnels or routers.
 *
 * @module
 */

import { type ByteIO, Connection, type ConnectionOptions } from "./connection.ts";
import { ErrorCode } from "./constants.ts";
import { type Http2Error, StreamError } from "./errors.ts";
import {
  appendHeaderFields,
  parseRequestHead,
  parseTrailers,
  type RequestHead,
} from "./message.ts";
import type { Http2Stream } from "./stream.ts";

/** What a handler learns about the stream besides the request. */
export interface StreamInfo {
  /** The HTTP/2 stream identifier. */
  streamId: number;
  /** Resolves when the response has been sent completely, or the stream ended otherwise. */
  completed: Promise<void>;
}

/** A fetch-style handler: `Request` in, `Response` out. */
export type Http2Handler = (request: Request, info: StreamInfo) => Response | Promise<Response>;

/** Options of {@linkcode serveConnection}. */
export interface ServeConnectionOptions extends ConnectionOptions {
  /**
   * Turns an error thrown by the handler into a response.
   * @default {() => new Response("Internal Server Error", { status: 500 })}
   */
  onError?: (error: unknown) => Response | Promise<Response>;
  /** Told of every protocol error the peer caused (for logs). */
  onProtocolError?: (error: Http2Error) => void;
}

const NULL_BODY_STATUS = new Set([204, 205, 304]);

function defaultOnError(): Response {
  return new Response("Internal Server Error", { status: 500 });
}

/**
 * Serves HTTP/2 on a byte stream in the server role: reads the client preface,
 * and answers each stream by calling `handler`.
 *
 * @param io The byte stream (a `Deno.Conn`, a TLS connection, an in-memory pipe).
 * @param handler The fetch-style handler.
 * @param options Settings and error callbacks.
 * @returns The running connection; `closed` resolves when it ends.
 *
 * @example Answer a request from an in-memory client
 * ```ts
 * import { serveConnection } from "./server.ts";
 * import { ClientSession } from "./client.ts";
 * import { memoryPipe } from "./memory_pipe.ts";
 * import { equal } from "node:assert/strict";
 * const [a, b] = memoryPipe();
 * const server = serveConnection(b, () => new Response("bar"));
 * const client = new ClientSession(a);
 * const response = await client.request({
 *   method: "GET", scheme: "http", authority: "example.com", path: "/foo",
 * });
 * equal(await response.text(), "bar");
 * client.close();
 * await server.closed;
 * ```
 */
export function serveConnection(
  io: ByteIO,
  handler: Http2Handler,
  options: ServeConnectionOptions = {},
): Connection {
  const connection = new Connection(io, "server", options);
  const onError = options.onError ?? defaultOnError;
  const allowConnect = connection.localSettings.enableConnectProtocol;
  connection.start({
    onStream(stream, fields, endStream) {
      if (fields === null) {
        // RFC 9113 §10.5.1: a header section over our limit may be answered with 431.
        stream.sendHeaders([":status", "431", "content-length", "0"], true);
        if (!endStream) stream.discardBody(false);
        return;
      }
      const head = parseRequestHead(stream.id, fields, allowConnect);
      // §8.1.1: a request that ends with its head yet declares a body is malformed,
      // and must not reach the handler.
      if (endStream && head.contentLength > 0) {
        throw new StreamError(
          stream.id,
          ErrorCode.PROTOCOL_ERROR,
          "Malformed message: content-length without DATA",
        );
      }
      stream.expectedLength = head.contentLength;
      respond(stream, head, endStream, handler, onError);
    },
    onHeaders(stream, fields) {
      // Request trailers: kept on the stream; Web Requests cannot carry them.
      stream.trailers = parseTrailers(stream.id, fields);
    },
    onProtocolError: options.onProtocolError,
  });
  return connection;
}

async function respond(
  stream: Http2Stream,
  head: RequestHead,
  endStream: boolean,
  handler: Http2Handler,
  onError: (error: unknown) => Response | Promise<Response>,
): Promise<void> {
  let complete!: () => void;
  const completed = new Promise<void>((resolve) => complete = resolve);
  stream.signal.addEventListener("abort", () => complete(), { once: true });
  const method = head.method;
  // Fetch forbids a body on GET and HEAD; HTTP/2 allows one, but it has no meaning there.
  const hasBody = !endStream && method !== "GET" && method !== "HEAD";
  let response: Response;
  try {
    if (!endStream && !hasBody) stream.discardBody(false);
    // Apps written for Deno.serve read the Host header; HTTP/2 carries it as :authority.
    if (head.authority !== "" && !head.hasHost) head.headers.push(["host", head.authority]);
    let body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null = null;
    if (hasBody) {
      // Let the read loop finish its buffer first: a small body that came with
      // the headers is then complete and needs no ReadableStream.
      await Promise.resolve();
      body = stream.takeCompleteBody() ?? stream.body;
    }
    const request = new Request(`${head.scheme || "http"}://${head.authority}${head.path}`, {
      method,
      headers: head.headers,
      body,
      signal: stream.signal,
      // @ts-ignore: `duplex` is required for streaming bodies but missing from some lib types.
      duplex: "half",
    });
    // Once the exchange is over, a body nobody read would hold its octets against the
    // connection window for good (RFC 9113 §6.9): drop it.
    completed.then(() => {
      if (!request.bodyUsed) request.body?.cancel().catch(() => {});
    });
    response = await handler(request, { streamId: stream.id, completed });
    if (!(response instanceof Response)) {
      throw new TypeError("Handler did not return a Response");
    }
  } catch (error) {
    if (stream.signal.aborted) return complete();
    try {
      response = await onError(error);
    } catch {
      response = defaultOnError();
    }
  }
  if (stream.signal.aborted) {
    response.body?.cancel().catch(() => {});
    return complete();
  }
  const status = response.status;
  const fields = appendHeaderFields(response.headers, [":status", String(status)]);
  const body = response.body;
  if (body === null || method === "HEAD" || NULL_BODY_STATUS.has(status)) {
    stream.sendHeaders(fields, true);
    body?.cancel().catch(() => {});
  } else {
    // The head goes with the first chunk when that is ready at once (one write).
    const length = response.headers.get("content-length");
    await stream.sendBody(body, length === null ? -1 : Number(length), fields);
  }
  // §8.1: a complete response may end a request the client is still sending.
  if (stream.remoteOpen) stream.reset(ErrorCode.NO_ERROR);
  complete();
}
