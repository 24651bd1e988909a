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
  NULL_BODY_STATUS,
  parseRequestHead,
  parseTrailers,
  type RequestHead,
} from "./message.ts";
import type { Http2Stream } from "./stream.ts";
import {
  acceptsExtendedConnect,
  ExtendedConnect,
  linkExtendedConnect,
} from "./extended_connect.ts";
import { WaitQueue } from "./wait_queue.ts";

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
  /**
   * The scheme of the URLs handed to the handler, whatever `:scheme` says: a
   * server that knows its transport (TLS or not) does not let the client
   * choose. By default `:scheme` is taken.
   */
  scheme?: string;
  /**
   * Looks at each checked request head before any Request is made: a
   * Response answers the stream without calling the handler (for rules of
   * the server's own, such as `OPTIONS *` or a host it refuses); `null` lets
   * the request through.
   */
  screen?: (head: RequestHead) => Response | null;
  /**
   * Answer a malformed request (RFC 9113 §8.1.1) with 400 before resetting
   * its stream with PROTOCOL_ERROR, as §8.1.1 allows, so that a client sees
   * why. @default {false}
   */
  answerMalformed?: boolean;
}

function defaultOnError(): Response {
  return new Response("Internal Server Error", { status: 500 });
}

/** A request whose handler waits for one of the running handlers to return. */
interface Waiting {
  stream: Http2Stream;
  head: RequestHead;
  endStream: boolean;
}

/**
 * The handlers of one connection, counted from their call until they return,
 * whether or not their stream was reset meanwhile: at most
 * SETTINGS_MAX_CONCURRENT_STREAMS run at once, and the requests of further
 * streams wait, in order, until one returns (as Go's server does since
 * CVE-2023-44487). A reset stream leaves the wait at once: its handler is never
 * called. What a peer's resets can set running (rapid reset, CVE-2023-44487;
 * MadeYouReset, CVE-2025-8671) is bounded here, so that cancelling a stream
 * never counts as a flood (connection.ts): a proxy passing its clients'
 * cancellations on must not lose its connection for them. The wait itself holds
 * only open streams, which SETTINGS_MAX_CONCURRENT_STREAMS bounds (§5.1.2).
 */
class Handlers {
  /** Handlers called and not returned yet. */
  running = 0;
  readonly limit: number;
  readonly handler: Http2Handler;
  readonly onError: (error: unknown) => Response | Promise<Response>;
  /** The scheme of every request URL, or `null` to take each request's `:scheme`. */
  readonly scheme: string | null;
  #waiting = new WaitQueue<Waiting>();

  constructor(
    limit: number,
    handler: Http2Handler,
    onError: (error: unknown) => Response | Promise<Response>,
    scheme: string | null,
  ) {
    this.limit = limit;
    this.handler = handler;
    this.onError = onError;
    this.scheme = scheme;
  }

  /** Answers the stream now, or once a handler slot is free. */
  run(stream: Http2Stream, head: RequestHead, endStream: boolean): void {
    if (this.running < this.limit) {
      this.running++;
      respond(stream, head, endStream, this);
      return;
    }
    const entry = this.#waiting.push({ stream, head, endStream });
    stream.onFail = () => this.#waiting.remove(entry);
  }

  /** A handler returned (or was never called): the next waiting request may start. */
  done = (): void => {
    this.running--;
    while (this.running < this.limit) {
      const next = this.#waiting.shift();
      if (next === undefined) return;
      next.stream.onFail = null;
      this.running++;
      respond(next.stream, next.head, next.endStream, this);
    }
  };
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
  const handlers = new Handlers(
    connection.localSettings.maxConcurrentStreams,
    handler,
    options.onError ?? defaultOnError,
    options.scheme ?? null,
  );
  const allowConnect = connection.localSettings.enableConnectProtocol;
  const screen = options.screen ?? null;
  const answerMalformed = options.answerMalformed ?? false;
  connection.start({
    onStream(stream, fields, endStream) {
      if (fields === null) {
        // RFC 9113 §10.5.1: a header section over our limit may be answered with 431.
        stream.sendHeaders([":status", "431", "content-length", "0"], true);
        if (!endStream) stream.discardBody(false);
        return;
      }
      let head: RequestHead;
      try {
        head = parseRequestHead(stream.id, fields, allowConnect);
        // §8.1.1: a request that ends with its head yet declares a body is malformed,
        // and must not reach the handler.
        if (endStream && head.contentLength > 0) {
          throw new StreamError(
            stream.id,
            ErrorCode.PROTOCOL_ERROR,
            "Malformed message: content-length without DATA",
          );
        }
      } catch (error) {
        // §8.1.1: a response may precede the reset; the reset follows as the error is thrown.
        if (answerMalformed && error instanceof StreamError) badRequest(stream, error);
        throw error;
      }
      stream.expectedLength = head.contentLength;
      const answer = screen?.(head) ?? null;
      if (answer !== null) answerAtOnce(stream, answer, endStream, head.method);
      else handlers.run(stream, head, endStream);
    },
    onHeaders(stream, fields) {
      // Request trailers: kept on the stream; Web Requests cannot carry them.
      stream.trailers = parseTrailers(stream.id, fields);
    },
    onProtocolError: options.onProtocolError,
  });
  return connection;
}

/** A 400 saying why a request is malformed, queued before the stream's reset. */
function badRequest(stream: Http2Stream, error: StreamError): void {
  const body = new TextEncoder().encode(`Bad Request: ${error.message}\n`);
  stream.sendBody(body, body.length, [
    ":status",
    "400",
    "content-type",
    "text/plain; charset=utf-8",
    "content-length",
    String(body.length),
  ]);
}

/** Sends a response made before any Request (see `screen`), and drops the request's body. */
async function answerAtOnce(
  stream: Http2Stream,
  response: Response,
  endStream: boolean,
  method: string,
): Promise<void> {
  if (!endStream) stream.discardBody(false);
  const fields = appendHeaderFields(response.headers, [":status", String(response.status)]);
  const body = response.body;
  if (body === null || method === "HEAD" || NULL_BODY_STATUS.has(response.status)) {
    stream.sendHeaders(fields, true);
    body?.cancel().catch(() => {});
  } else {
    const length = response.headers.get("content-length");
    await stream.sendBody(body, length === null ? -1 : Number(length), fields);
  }
  // §8.1: a complete response may end a request the client is still sending.
  if (!endStream && stream.remoteOpen) stream.reset(ErrorCode.NO_ERROR);
}

/** Calls the handler for one stream and sends its response; tells `handlers` once it returned. */
async function respond(
  stream: Http2Stream,
  head: RequestHead,
  endStream: boolean,
  handlers: Handlers,
): Promise<void> {
  let complete!: () => void;
  const completed = new Promise<void>((resolve) => complete = resolve);
  // A callback, not a listener on stream.signal: that signal is made only if the app reads it.
  stream.onFail = complete;
  // RFC 8441: an extended CONNECT reaches the handler as an upgrade GET (a Fetch
  // Request cannot be a CONNECT); its stream stays for whoever takes it over.
  const link = head.protocol === null ? null : new ExtendedConnect(stream, head.protocol);
  const method = link === null ? head.method : "GET";
  // Fetch forbids a body on GET and HEAD; HTTP/2 allows one, but it has no meaning there.
  const hasBody = !endStream && method !== "GET" && method !== "HEAD";
  let response: Response;
  try {
    if (!endStream && !hasBody && link === null) stream.discardBody(false);
    if (link !== null) addUpgradeFields(head.headers, link.protocol);
    // Apps written for Deno.serve read the Host header; HTTP/2 carries it as :authority.
    if (head.authority !== "" && !head.hasHost) head.headers.push(["host", head.authority]);
    let body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null = null;
    if (hasBody) {
      // Let the read loop finish its buffer first: a small body that came with
      // the headers is then complete and needs no ReadableStream.
      await Promise.resolve();
      // Reset meanwhile (a RST_STREAM in the same buffer: rapid reset): no handler at all.
      if (stream.error !== null) {
        handlers.done();
        return complete();
      }
      body = stream.takeCompleteBody() ?? stream.body;
    }
    const url = `${handlers.scheme ?? (head.scheme || "http")}://${head.authority}${head.path}`;
    // The costliest object of a request here, in GC more than in time: Deno 2.9
    // builds a Request's inner record as an object literal with getters, whose
    // accessor pairs V8 allocates in old space, so the getters and what they close
    // over (URL, body) outlive young collections until a full one, which makes
    // scavenges longer than a plain object would. Handlers need a real Request, and
    // its other constructor (from a Request) makes a dependent AbortSignal instead.
    const request = method === "GET" && body === null
      ? new StreamRequest(url, undefined, stream)
      : new StreamRequest(url, {
        method,
        body,
        // @ts-ignore: `duplex` is required for streaming bodies but missing from some lib types.
        duplex: "half",
      }, stream);
    // Appended one by one: cheaper in Deno than converting an init list.
    const headers = request.headers;
    for (const [name, value] of head.headers) headers.append(name, value);
    if (link !== null) linkExtendedConnect(request, link);
    // Once the exchange is over, a body nobody read would hold its octets against the
    // connection window for good (RFC 9113 §6.9): drop it.
    if (body !== null) {
      completed.then(() => {
        if (!request.bodyUsed) request.body?.cancel().catch(() => {});
      });
    }
    response = await handlers.handler(request, { streamId: stream.id, completed });
    if (!(response instanceof Response)) {
      throw new TypeError("Handler did not return a Response");
    }
  } catch (error) {
    link?.refused(error as Error);
    if (stream.error !== null) {
      handlers.done();
      return complete();
    }
    try {
      response = await handlers.onError(error);
    } catch {
      response = defaultOnError();
    }
  }
  handlers.done();
  if (stream.error !== null) {
    link?.refused(new Error("Stream reset before the response"));
    response.body?.cancel().catch(() => {});
    return complete();
  }
  if (link !== null && link.taken) {
    if (acceptsExtendedConnect(response)) return openTunnel(stream, link, response, complete);
    link.refused(new Error(`Handler answered the extended CONNECT with ${response.status}`));
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

/**
 * The Request a handler gets. Its `signal` is the stream's (aborted by
 * RST_STREAM or the connection's loss), made only when read: handing a signal
 * to `new Request` costs a dependent AbortSignal with weak references on every
 * request, which most handlers never look at.
 *
 * Deno's `fetch(request)` reads the runtime's own slot, not this getter: a
 * handler that forwards the request itself passes `{ signal: request.signal }`
 * to cancel the forwarded request with the stream (README, "Known limits").
 */
class StreamRequest extends Request {
  #stream: Http2Stream;

  constructor(url: string | Request, init: RequestInit | undefined, stream: Http2Stream) {
    super(url, init);
    this.#stream = stream;
  }

  /** Aborted when the stream is reset or its connection lost. */
  override get signal(): AbortSignal {
    return this.#stream.signal;
  }

  /** A copy whose `signal` is the stream's too. */
  override clone(): Request {
    return new StreamRequest(super.clone(), undefined, this.#stream);
  }
}

/**
 * RFC 8441 §5: answers an extended CONNECT with `:status 200` without
 * END_STREAM (HTTP/2 has no 101, RFC 9113 §8.6); DATA then carries the
 * tunnel's bytes both ways, until each side ends its own.
 */
async function openTunnel(
  stream: Http2Stream,
  link: ExtendedConnect,
  response: Response,
  complete: () => void,
): Promise<void> {
  response.body?.cancel().catch(() => {});
  stream.sendHeaders(appendHeaderFields(response.headers, [":status", "200"], TUNNEL_SKIP), false);
  link.accepted();
  await stream.sendBody(link.outbound);
  complete();
}

/** Fields of an HTTP/1.1 upgrade that RFC 8441 §5 leaves out of HTTP/2. */
const TUNNEL_SKIP: ReadonlySet<string> = new Set(["sec-websocket-accept", "content-length"]);

/**
 * Gives the Request of an extended CONNECT the fields of the HTTP/1.1 upgrade
 * it stands for (RFC 6455 §4.1), so apps written for `Deno.upgradeWebSocket`
 * recognize it. RFC 8441 §5 drops Sec-WebSocket-Key: one is made up.
 */
function addUpgradeFields(headers: Array<[string, string]>, protocol: string): void {
  headers.push(["upgrade", protocol], ["connection", "Upgrade"]);
  if (protocol !== "websocket") return;
  const has = (name: string) => headers.some(([n]) => n === name);
  if (!has("sec-websocket-version")) headers.push(["sec-websocket-version", "13"]);
  if (!has("sec-websocket-key")) {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    headers.push(["sec-websocket-key", key]);
  }
}
