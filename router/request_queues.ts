/**
 * The bound on each service's queue: requests that wait for a stream slot
 * (every tunnel of the service at its concurrency limit) or for a tunnel to
 * connect. Beyond it a request is answered 503 at once instead of waiting,
 * so a flood of requests, or of clients that give up on them, cannot grow
 * the router's memory without end.
 *
 * @module
 */

import type { QueueLimit } from "../h2/client.ts";

/** How often, at most, a service's refusals are logged (ms). */
const LOG_INTERVAL = 1000;

/**
 * One service's queue: shared by the sessions of its tunnels (waits for a
 * stream slot) and by its requests waiting for a tunnel to connect.
 */
export class ServiceQueue implements QueueLimit {
  /** The service, or `*` for requests any tunnel may take. */
  readonly service: string;
  #waiting = 0;
  #limit: number;
  #log: (line: string) => void;
  #refused = 0;
  #loggedAt = -Infinity;

  /**
   * @param service The service.
   * @param limit How many requests may wait at once.
   * @param log Where refusals are reported, at most once a second.
   */
  constructor(service: string, limit: number, log: (line: string) => void) {
    this.service = service;
    this.#limit = limit;
    this.#log = log;
  }

  /** How many requests wait now. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Takes a place; `false` (and a log line, at most once a second) when none is left. */
  enter(): boolean {
    if (this.#waiting < this.#limit) {
      this.#waiting++;
      return true;
    }
    this.#refused++;
    const now = Date.now();
    if (now - this.#loggedAt >= LOG_INTERVAL) {
      this.#log(
        `service ${this.service}: ${this.#refused} request(s) answered 503: ${this.#limit} ` +
          `already wait for a stream slot or a tunnel (maxQueuedRequests)`,
      );
      this.#loggedAt = now;
      this.#refused = 0;
    }
    return false;
  }

  /** Gives a place back. */
  leave(): void {
    this.#waiting--;
  }
}

/**
 * Every service's queue, made on first use.
 *
 * @example A full queue refuses
 * ```ts
 * import { RequestQueues } from "./request_queues.ts";
 * import { equal } from "node:assert/strict";
 * const lines: string[] = [];
 * const queues = new RequestQueues(1, (line) => lines.push(line));
 * const api = queues.of("api");
 * equal(api.enter(), true);
 * equal(api.enter(), false);
 * equal(queues.of("web").enter(), true);
 * api.leave();
 * equal(api.enter(), true);
 * equal(lines.length, 1);
 * ```
 */
export class RequestQueues {
  #limit: number;
  #log: (line: string) => void;
  #queues = new Map<string, ServiceQueue>();

  /**
   * @param limit How many requests of one service may wait at once.
   * @param log Where refusals are reported.
   */
  constructor(limit: number, log: (line: string) => void) {
    this.#limit = limit;
    this.#log = log;
  }

  /**
   * The queue of `service`.
   *
   * @param service The service, or `null` for requests any tunnel may take.
   * @returns Its queue.
   */
  of(service: string | null): ServiceQueue {
    const name = service ?? "*";
    let queue = this.#queues.get(name);
    if (queue === undefined) {
      queue = new ServiceQueue(name, this.#limit, this.#log);
      this.#queues.set(name, queue);
    }
    return queue;
  }
}
