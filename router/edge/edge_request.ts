/**
 * The Requests the edge hands the app, and how the proxy learns at once that
 * their client left. `Deno.serve` charged an async op for watching a
 * request's signal, so the proxy watched only requests still waiting after
 * 100 ms; the edge's own requests cost nothing to watch: an HTTP/1.1 request
 * takes one callback, an HTTP/2 one's signal is its stream's (made on first
 * use).
 *
 * @module
 */

const edgeRequests = new WeakSet<Request>();

/**
 * Told when a request's client leaves: an object, not a closure, so that a
 * watcher made per request costs no context (an `EventListener` object for
 * signals).
 */
export interface ClientWatcher {
  /** Called once when the client leaves. */
  handleEvent(): void;
}

/**
 * The Request of an HTTP/1.1 exchange. Its `signal` aborts when the client
 * closes the connection or the connection fails before the response is
 * sent, and is made only when read: most requests are answered before
 * anyone looks at it.
 *
 * @example A client leaving aborts the signal
 * ```ts
 * import { Http1Request } from "./edge_request.ts";
 * import { equal } from "node:assert/strict";
 * const request = new Http1Request("http://example.com/", undefined);
 * Http1Request.abort(request, new Error("Client closed the connection"));
 * equal(request.signal.aborted, true);
 * ```
 */
export class Http1Request extends Request {
  #controller: AbortController | null = null;
  #reason: Error | null = null;
  #watcher: ClientWatcher | null = null;
  #original: Http1Request | null;

  /**
   * @param input The URL (or a Request to copy).
   * @param init As for `Request`.
   * @param original The request this one is a clone of, whose signal it shares.
   */
  constructor(input: string | Request, init: RequestInit | undefined, original?: Http1Request) {
    super(input, init);
    this.#original = original ?? null;
  }

  /** Aborted when the client leaves before its response is sent. */
  override get signal(): AbortSignal {
    if (this.#original !== null) return this.#original.signal;
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#reason !== null) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** A copy whose `signal` is this one's. */
  override clone(): Request {
    return new Http1Request(super.clone(), undefined, this.#original ?? this);
  }

  /**
   * Reports that the client left: aborts the signal and tells the watcher.
   *
   * @param request The request.
   * @param reason Why.
   */
  static abort(request: Http1Request, reason: Error): void {
    if (request.#reason !== null) return;
    request.#reason = reason;
    const watcher = request.#watcher;
    request.#watcher = null;
    watcher?.handleEvent();
    request.#controller?.abort(reason);
  }

  /**
   * Sets the one watcher told when the client leaves (`null` to clear); a
   * client already gone tells it at once.
   *
   * @param request The request.
   * @param watcher The watcher.
   */
  static watch(request: Http1Request, watcher: ClientWatcher | null): void {
    if (request.#original !== null) return Http1Request.watch(request.#original, watcher);
    if (watcher !== null && request.#reason !== null) return watcher.handleEvent();
    request.#watcher = watcher;
  }

  /**
   * Why the client left, once it has.
   *
   * @param request The request.
   * @returns The reason, or `undefined`.
   */
  static reasonOf(request: Http1Request): Error | undefined {
    if (request.#original !== null) return Http1Request.reasonOf(request.#original);
    return request.#reason ?? undefined;
  }
}

/**
 * Marks a request as the edge's own (an HTTP/2 stream's), whose signal is cheap to watch.
 *
 * @param request The request handed to the app.
 */
export function markEdgeRequest(request: Request): void {
  edgeRequests.add(request);
}

/**
 * Whether the request came from the edge: its client's leaving is reported
 * at once and watching it costs next to nothing.
 *
 * @param request A request the app received.
 * @returns Whether to watch it from the start.
 *
 * @example
 * ```ts
 * import { Http1Request, isEdgeRequest } from "./edge_request.ts";
 * import { equal } from "node:assert/strict";
 * equal(isEdgeRequest(new Http1Request("http://example.com/", undefined)), true);
 * equal(isEdgeRequest(new Request("http://example.com/")), false);
 * ```
 */
export function isEdgeRequest(request: Request): boolean {
  return request instanceof Http1Request || edgeRequests.has(request);
}

/**
 * Watches for the client leaving: one watcher on an HTTP/1.1 request of the
 * edge, the signal's abort event on any other. Undo with
 * {@linkcode unwatchClient} and the same watcher; {@linkcode clientGoneReason}
 * says why.
 *
 * @param request The request.
 * @param watcher Told once when the client leaves.
 *
 * @example
 * ```ts
 * import { clientGoneReason, Http1Request, unwatchClient, watchClient } from "./edge_request.ts";
 * import { equal } from "node:assert/strict";
 * const request = new Http1Request("http://example.com/", undefined);
 * let gone = "";
 * const watcher = { handleEvent: () => gone = (clientGoneReason(request) as Error).message };
 * watchClient(request, watcher);
 * Http1Request.abort(request, new Error("left"));
 * unwatchClient(request, watcher);
 * equal(gone, "left");
 * ```
 */
export function watchClient(request: Request, watcher: ClientWatcher): void {
  if (request instanceof Http1Request) Http1Request.watch(request, watcher);
  else request.signal.addEventListener("abort", watcher, { once: true });
}

/**
 * Stops watching a request watched with {@linkcode watchClient}.
 *
 * @param request The request.
 * @param watcher The watcher given to `watchClient`.
 */
export function unwatchClient(request: Request, watcher: ClientWatcher): void {
  if (request instanceof Http1Request) Http1Request.watch(request, null);
  else request.signal.removeEventListener("abort", watcher);
}

/**
 * Why the client of a request left (its signal's reason).
 *
 * @param request The request.
 * @returns The reason, or `undefined` while the client is there.
 */
export function clientGoneReason(request: Request): unknown {
  return request instanceof Http1Request ? Http1Request.reasonOf(request) : request.signal.reason;
}
