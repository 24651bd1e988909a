/**
 * What the edge's connections share: the context a server gives each of
 * them, and the face each shows the server (its sweep, its shutdown, the
 * room it makes at its connection limit).
 *
 * @module
 */

/**
 * Serves one request: the app's `fetch`, with the client's address.
 *
 * @param request The request.
 * @param remoteAddr The client's address.
 * @returns The response.
 */
export type EdgeHandler = (
  request: Request,
  remoteAddr: Deno.NetAddr,
) => Response | Promise<Response>;

/** What every connection of one server knows. */
export interface EdgeContext {
  /** The scheme of the URLs the app sees: the listener's, never the client's. */
  readonly scheme: "http" | "https";
  /** The authority of a request that names none (HTTP/1.0 without Host): the listener's address. */
  readonly localAuthority: string;
  /** The app. */
  readonly handler: EdgeHandler;
  /** Answers a request whose handler threw (and logs it). */
  readonly onError: (error: unknown) => Response;
  /** Largest request head (and HTTP/2 header list) in bytes. */
  readonly maxHeaderBytes: number;
  /** How long a request head may take to arrive (ms). */
  readonly headerTimeout: number;
  /** How long a connection may sit with no request in flight, or a read or write make no progress (ms). */
  readonly idleTimeout: number;
  /** Where lines go. */
  readonly log: (line: string) => void;
}

/** One connection as its server sees it. */
export interface EdgeConnection {
  /**
   * Since when it has been idle between requests (ms since the epoch), or -1
   * while a request is on its way or in flight: at its limit the server
   * closes the longest idle first.
   */
  readonly idleSince: number;
  /** Called by the server's sweep: closes the connection when a deadline has passed. */
  tick(now: number): void;
  /** Graceful shutdown: no new requests; close once those in flight are answered. */
  drain(): void;
  /** Closes now. */
  close(): void;
}
