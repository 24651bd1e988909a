/**
 * The early stop of a proxied request, shared by plain requests and WebSocket
 * upgrades.
 *
 * @module
 */

import { clientGone, noTunnel, text } from "./answers.ts";
import type { ClientExchange } from "../h2/client.ts";
import type { Deadline, Deadlines } from "./deadlines.ts";
import type { TunnelPool } from "./pool.ts";
import type { RouterTunnel } from "./tunnels/router_tunnel.ts";
import {
  clientGoneReason,
  isEdgeRequest,
  unwatchClient,
  watchClient,
} from "./edge/edge_request.ts";

/**
 * A request from another server (the app embedded elsewhere) still waiting
 * for its response head this long (ms) is watched for its client leaving.
 */
const CLIENT_WATCH_DELAY = 100;

/**
 * What ends a request before its response head: the client going away, or
 * the response header timeout. Either cancels the stream in flight, or the
 * wait for a tunnel.
 *
 * A request from the router's edge is watched from the start: the edge
 * reports its client leaving at once (a reset in the first millisecond
 * included) and watching costs a callback. On a request from elsewhere,
 * watching `request.signal` costs `Deno.serve` an async op per request,
 * about a third of the router's work for a small request, so only one still
 * waiting after CLIENT_WATCH_DELAY is watched (Deno reports a client that
 * left earlier as soon as it is); a body streaming either way fails on its
 * own.
 *
 * @example The header timeout stops a request that waits for a tunnel
 * ```ts
 * import { EarlyStop } from "./early_stop.ts";
 * import { Deadlines } from "./deadlines.ts";
 * import { TunnelPool } from "./pool.ts";
 * import { equal } from "node:assert/strict";
 * const early = new EarlyStop(new Request("http://localhost/"), new Deadlines(10), 50);
 * equal(await early.tunnelFor(new TunnelPool(), null, 5_000), undefined);
 * equal(early.why, "timeout");
 * early.done();
 * ```
 */
export class EarlyStop {
  #why: "client" | "timeout" | null = null;
  #exchange: ClientExchange | null = null;
  #waiting: AbortController | null = null;
  #request: Request;
  #deadlines: Deadlines;
  #deadlineAt: number;
  #timer: Deadline;
  #watching = false;

  /**
   * @param request The public request.
   * @param deadlines Where the watch and the timeout are armed.
   * @param timeout The response header timeout (ms), counted from now.
   */
  constructor(request: Request, deadlines: Deadlines, timeout: number) {
    this.#request = request;
    this.#deadlines = deadlines;
    if (isEdgeRequest(request)) {
      this.#timer = deadlines.add(timeout, this.#timedOut);
      this.#deadlineAt = this.#timer.at;
      this.#watchClient();
      return;
    }
    const watchAfter = Math.min(CLIENT_WATCH_DELAY, timeout);
    this.#timer = deadlines.add(watchAfter, () => this.#watch());
    this.#deadlineAt = this.#timer.at - watchAfter + timeout;
  }

  /** Why the request was stopped, once it was. */
  get why(): "client" | "timeout" | null {
    return this.#why;
  }

  /**
   * The answer to a stopped request: nobody reads it if the client left (499,
   * as nginx logs it); the header timeout is a 504, logged.
   *
   * @param log Where the timeout's line goes.
   * @param line The timeout's log line.
   * @param message The 504's message, after "Gateway Timeout: ".
   * @returns The answer.
   */
  answer(log: (line: string) => void, line: string, message: string): Response {
    if (this.#why === "client") return clientGone();
    log(line);
    return text(504, `Gateway Timeout: ${message}`);
  }

  /**
   * The answer when no tunnel took the request: nobody reads it if the client
   * left (499), else 503.
   *
   * @param service The service no tunnel served.
   * @returns The answer.
   */
  unanswered(service: string | null): Response {
    return this.#why === "client" ? clientGone() : noTunnel(service);
  }

  /** The stream in flight now: cancelled at once if the request was stopped already. */
  set exchange(exchange: ClientExchange) {
    this.#exchange = exchange;
    if (this.#why !== null) exchange.cancel(new Error("Request stopped"));
  }

  #timedOut = () => this.#stop("timeout", new Error("Response header timeout"));

  /**
   * The client left (the EventListener of the request's signal). A method,
   * not a closure made per request: under load such a closure here made
   * V8's young collector copy several times as much at each scavenge.
   */
  handleEvent(): void {
    this.#stop("client", clientGoneReason(this.#request) as Error);
  }

  #watchClient(): void {
    this.#watching = true;
    // A client that left before the watch began (an aborted signal never fires
    // "abort" again) is acted on now, not at the header timeout.
    const gone = clientGoneReason(this.#request);
    if (gone !== undefined) return this.#stop("client", gone as Error);
    watchClient(this.#request, this);
  }

  #watch(): void {
    this.#watchClient();
    // Counted from the request, not from this watch (which may have come a tick late).
    const left = this.#deadlineAt - Date.now();
    if (left > 0) this.#timer = this.#deadlines.add(left, this.#timedOut);
    else this.#timedOut();
  }

  #stop(why: "client" | "timeout", reason: Error): void {
    this.#why ??= why;
    this.#exchange?.cancel(reason);
    this.#waiting?.abort(reason);
  }

  /**
   * A tunnel of `service` other than `failed`: one that is up now, else the
   * first to come within `ms`; none once the request was stopped. (A caller's
   * first attempt picks from the pool itself, which spares the promise.)
   */
  async tunnelFor(
    pool: TunnelPool<RouterTunnel>,
    service: string | null,
    ms: number,
    failed?: RouterTunnel,
  ): Promise<RouterTunnel | undefined> {
    if (this.#why !== null) return undefined;
    const now = pool.pick(service, failed);
    if (now !== undefined) return now;
    this.#waiting = new AbortController();
    try {
      return await pool.waitFor(service, ms, this.#waiting.signal, failed);
    } finally {
      this.#waiting = null;
    }
  }

  /** The request is answered: no more watching. */
  done(): void {
    this.#deadlines.cancel(this.#timer);
    if (this.#watching) unwatchClient(this.#request, this);
  }
}
