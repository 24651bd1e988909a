/**
 * Extended CONNECT in the server role (RFC 8441): a stream that asked for a
 * protocol (`:protocol websocket`) reaches the handler as a `GET` `Request`,
 * since a Fetch `Request` cannot have the method CONNECT; the handler takes
 * the stream over with {@linkcode takeExtendedConnect} and answers with the
 * returned 101 response, after which the stream's DATA frames carry the
 * protocol's bytes both ways.
 *
 * @module
 */

import type { Http2Stream } from "./stream.ts";

/** The byte streams of an extended CONNECT stream that was taken over. */
export interface ExtendedConnectTunnel {
  /** The protocol asked for (`:protocol`). */
  protocol: string;
  /** Bytes from the client (its DATA frames); cancelling it resets the stream. */
  readable: ReadableStream<Uint8Array>;
  /** Bytes to the client (our DATA frames); closing it ends our side (END_STREAM). */
  writable: WritableStream<Uint8Array>;
  /**
   * Resolves once the 2xx response head has been sent (the tunnel is open),
   * rejects when the handler answered otherwise or the stream failed first.
   */
  opened: Promise<void>;
}

/** What the server role keeps for each request made from an extended CONNECT. */
export class ExtendedConnect {
  /** The protocol asked for (`:protocol`). */
  readonly protocol: string;
  #stream: Http2Stream;
  // Made by take(): our side's DATA. Set once, so it also says the stream was taken.
  #pipe: TransformStream<Uint8Array, Uint8Array> | null = null;
  #resolve: () => void = () => {};
  #reject: (error: Error) => void = () => {};

  /**
   * @param stream The stream.
   * @param protocol Its `:protocol`.
   */
  constructor(stream: Http2Stream, protocol: string) {
    this.#stream = stream;
    this.protocol = protocol;
  }

  /** Whether a handler took the stream over. */
  get taken(): boolean {
    return this.#pipe !== null;
  }

  /** What the server sends as its DATA once the tunnel is open; `null` until taken. */
  get outbound(): ReadableStream<Uint8Array> | null {
    return this.#pipe?.readable ?? null;
  }

  /**
   * Takes the stream over (once).
   *
   * @returns The tunnel's byte streams.
   * @throws {TypeError} When it was taken already.
   */
  take(): ExtendedConnectTunnel {
    if (this.#pipe !== null) {
      throw new TypeError("Cannot take over the stream: it was taken already");
    }
    // Our side's DATA: whatever is written goes out under flow control, a chunk at a time.
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    this.#pipe = pipe;
    const opened = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    opened.catch(() => {});
    return {
      protocol: this.protocol,
      readable: this.#stream.body,
      writable: pipe.writable,
      opened,
    };
  }

  /** The 2xx head went out: the tunnel is open. */
  accepted(): void {
    this.#resolve();
  }

  /**
   * The handler answered with something else, or the stream failed.
   *
   * @param error Why.
   */
  refused(error: Error): void {
    this.#reject(error);
    this.#pipe?.readable.cancel(error).catch(() => {});
  }
}

const links = new WeakMap<Request, ExtendedConnect>();

/**
 * Records that `request` came from an extended CONNECT stream (server role).
 *
 * @param request The request handed to the handler.
 * @param link The stream's link.
 */
export function linkExtendedConnect(request: Request, link: ExtendedConnect): void {
  links.set(request, link);
}

/**
 * The extended CONNECT behind a request, if it came from one.
 *
 * @param request A request a handler received.
 * @returns The link, or `undefined` for an ordinary request.
 *
 * @example An ordinary request has none
 * ```ts
 * import { extendedConnectOf } from "./extended_connect.ts";
 * import { equal } from "node:assert/strict";
 * equal(extendedConnectOf(new Request("http://localhost/")), undefined);
 * ```
 */
export function extendedConnectOf(request: Request): ExtendedConnect | undefined {
  return links.get(request);
}

/**
 * Takes over the extended CONNECT stream behind `request`, and makes the
 * response that accepts it: status 101 like `Deno.upgradeWebSocket`'s (sent
 * on HTTP/2 as `:status 200`, RFC 8441 §5 and RFC 9113 §8.6), with `headers`.
 *
 * @param request A request made from an extended CONNECT.
 * @param headers Fields for the response (e.g. `sec-websocket-protocol`).
 * @returns The tunnel and the response to return from the handler.
 * @throws {TypeError} When the request did not come from an extended CONNECT,
 *   or was taken over already.
 *
 * @example An ordinary request cannot be taken over
 * ```ts
 * import { takeExtendedConnect } from "./extended_connect.ts";
 * import { throws } from "node:assert/strict";
 * throws(() => takeExtendedConnect(new Request("http://localhost/")), TypeError);
 * ```
 */
export function takeExtendedConnect(
  request: Request,
  headers?: HeadersInit,
): { tunnel: ExtendedConnectTunnel; response: Response } {
  const link = links.get(request);
  if (link === undefined) {
    throw new TypeError("Cannot take over the stream: the request is not an extended CONNECT");
  }
  const tunnel = link.take();
  return { tunnel, response: new Response(null, { status: 101, headers }) };
}

/**
 * Whether a response accepts an extended CONNECT: any 101, like the one of
 * {@linkcode takeExtendedConnect} (or a framework's copy of it in a new
 * Response), or any 2xx (RFC 8441 §5).
 *
 * @param response What the handler returned.
 * @returns Whether the tunnel opens.
 *
 * @example
 * ```ts
 * import { acceptsExtendedConnect } from "./extended_connect.ts";
 * import { equal } from "node:assert/strict";
 * equal(acceptsExtendedConnect(new Response(null, { status: 404 })), false);
 * ```
 */
export function acceptsExtendedConnect(response: Response): boolean {
  return response.status === 101 || (response.status >= 200 && response.status < 300);
}
