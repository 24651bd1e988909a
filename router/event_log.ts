/**
 * The router's log of what happens: one line per request and per tunnel
 * event, written from {@linkcode RouterEvents} so that logs, metrics and the
 * dashboard all tell the same story.
 *
 * @module
 */

import type { RouterEvent, RouterEvents } from "./events.ts";
import type { TunnelList } from "./pool.ts";
import type { LogFields, Logger, LogLevel } from "../log/logger.ts";

/** One line to write: the message, and the fields it does not already say. */
interface Line {
  message: string;
  /** Fields for every format. */
  fields: LogFields;
  /** Fields JSON lines add (text says them in the message). */
  json: LogFields;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** The `error` of a request its service's queue had no place for (proxy.ts). */
export const QUEUE_FULL = "queue full";

/** The level an event is logged at: failures warn, PING round trips are debug. */
function levelOf(event: RouterEvent): LogLevel {
  switch (event.type) {
    case "request":
      // Refusals of a full queue come in floods: the queue warns about them once a
      // second (request_queues.ts), each is an ordinary line of the request log.
      return (event.request.status >= 500 && event.request.error !== QUEUE_FULL) ||
          event.request.incomplete
        ? "warn"
        : "info";
    case "tunnel-close":
      return event.error === null ? "info" : "warn";
    case "handshake-failed":
    case "responses-shed":
      return "warn";
    case "ping":
      return "debug";
    default:
      return "info";
  }
}

/**
 * Describes one event as a log line.
 *
 * @param event The event.
 * @param pool The tunnels, to say how many are connected.
 * @returns The line.
 */
function describeEvent(event: RouterEvent, pool: TunnelList): Line {
  switch (event.type) {
    case "request": {
      const r = event.request;
      return {
        message: `${r.method} ${r.host}${r.path} ${r.status} ${round(r.durationMs)}ms`,
        fields: {
          service: r.service ?? undefined,
          tunnel: r.tunnelId ?? undefined,
          bytes_in: r.bytesIn,
          bytes_out: r.bytesOut,
          retries: r.retries,
          request_id: r.requestId,
          error: r.error ?? undefined,
        },
        json: {
          event: "request",
          method: r.method,
          host: r.host,
          path: r.path,
          status: r.status,
          duration_ms: round(r.durationMs),
        },
      };
    }
    case "tunnel-open": {
      const t = event.tunnel;
      return {
        message: `tunnel ${t.id} connected from ${t.remoteAddr}`,
        fields: {
          service: t.service,
          kind: t.legacy ? "raw-h2" : "ptth",
          hosts: t.hosts.length > 0 ? t.hosts.join(",") : undefined,
          tunnels: pool.size,
        },
        json: { event: "tunnel-open", tunnel: t.id, remote_addr: t.remoteAddr },
      };
    }
    case "tunnel-close": {
      const t = event.tunnel;
      return {
        message: `tunnel ${t.id} closed${event.error === null ? "" : `: ${event.error}`}`,
        fields: {
          service: t.service,
          remote_addr: t.remoteAddr,
          connected_s: Math.round((event.time - t.connectedAt) / 100) / 10,
          tunnels: pool.size,
        },
        json: { event: "tunnel-close", tunnel: t.id, error: event.error },
      };
    }
    case "tunnel-draining": {
      const t = event.tunnel;
      return {
        message: `tunnel ${t.id} draining: the backend sent GOAWAY`,
        fields: { service: t.service },
        json: { event: "tunnel-draining", tunnel: t.id },
      };
    }
    case "handshake-failed":
      return {
        message: `tunnel handshake from ${event.address} refused: ${event.status} ${event.reason}`,
        fields: {},
        json: {
          event: "handshake-failed",
          address: event.address,
          status: event.status,
          reason: event.reason,
        },
      };
    case "ping":
      return {
        message: `tunnel ${event.tunnelId} PING round trip ${round(event.rttMs)}ms`,
        fields: {},
        json: { event: "ping", tunnel: event.tunnelId, rtt_ms: round(event.rttMs) },
      };
    case "responses-shed":
      return {
        message: `reset ${event.streams} response stream(s) whose clients stopped reading, ` +
          `dropping ${event.bytes} unread bytes: unread response data passed ` +
          `maxResponseBuffer (${event.budget})`,
        fields: {},
        json: {
          event: "responses-shed",
          streams: event.streams,
          bytes: event.bytes,
          budget: event.budget,
        },
      };
  }
}

/**
 * Writes a line for each router event: requests at `info` (`warn` for 5xx),
 * tunnels opening, closing and draining at `info` (`warn` when closed by an
 * error), refused handshakes at `warn`, PING round trips at `debug`.
 *
 * @param events The router's events.
 * @param pool The router's tunnels.
 * @param logger Where lines go.
 * @returns A function that stops logging.
 *
 * @example
 * ```ts
 * import { RouterEvents } from "./events.ts";
 * import { TunnelPool } from "./pool.ts";
 * import { Logger } from "../log/logger.ts";
 * import { logRouterEvents } from "./event_log.ts";
 * import { match } from "node:assert/strict";
 * const events = new RouterEvents();
 * const lines: string[] = [];
 * logRouterEvents(events, new TunnelPool(), new Logger({ sink: (line) => lines.push(line) }));
 * events.emit({
 *   type: "request",
 *   time: Date.now(),
 *   request: {
 *     requestId: "r1", method: "GET", host: "example.com", path: "/foo", service: "api",
 *     tunnelId: "t1", status: 200, durationMs: 1.5, bytesIn: 0, bytesOut: 3, retries: 0,
 *     error: null,
 *   },
 * });
 * match(lines[0]!, /INFO  GET example\.com\/foo 200 1\.5ms service=api tunnel=t1 .*request_id=r1/);
 * ```
 */
export function logRouterEvents(
  events: RouterEvents,
  pool: TunnelList,
  logger: Logger,
  options: EventLogOptions = {},
): () => void {
  const refusals = new RepeatedRefusals(logger, options.refusalWindow ?? 60_000);
  const stop = events.on((event) => {
    // Most events are requests at info: a router logging at warn skips them before
    // building a line.
    const level = levelOf(event);
    if (!logger.enabled(level)) return;
    if (event.type === "handshake-failed" && refusals.held(event)) return;
    const line = describeEvent(event, pool);
    const fields = logger.format === "json" ? { ...line.json, ...line.fields } : line.fields;
    logger.log(level, line.message, fields);
  });
  return () => {
    stop();
    refusals.stop();
  };
}

/** Options of {@linkcode logRouterEvents}. */
export interface EventLogOptions {
  /**
   * A refusal repeated from one address (same status and reason) within this
   * long is counted, not logged; the count is logged when the window ends (ms).
   * @default {60000}
   */
  refusalWindow?: number;
}

type Refusal = Extract<RouterEvent, { type: "handshake-failed" }>;

/**
 * Holds back refused handshakes that repeat: a backend retrying with a bad
 * token, or one rate-limited with 429, would otherwise write a warning per
 * attempt. The first of a kind is logged; the repeats within the window are
 * summed up in one line when it ends. The table is bounded.
 */
class RepeatedRefusals {
  #logger: Logger;
  #window: number;
  #seen = new Map<string, { since: number; repeats: number; event: Refusal }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(logger: Logger, window: number) {
    this.#logger = logger;
    this.#window = window;
  }

  /** Whether the refusal repeats one logged within the window (then it is counted). */
  held(event: Refusal): boolean {
    const key = `${event.address}|${event.status}|${event.reason}`;
    const seen = this.#seen.get(key);
    if (seen !== undefined && event.time - seen.since < this.#window) {
      seen.repeats++;
      return true;
    }
    if (seen !== undefined) this.#report(seen);
    if (this.#seen.size >= 10_000) this.#sweep(Infinity);
    this.#seen.set(key, { since: event.time, repeats: 0, event });
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sweep(Date.now()), this.#window);
      Deno.unrefTimer(this.#timer);
    }
    return false;
  }

  /** Reports and forgets the windows that ended by `now` (all of them for Infinity). */
  #sweep(now: number): void {
    for (const [key, seen] of this.#seen) {
      if (now - seen.since >= this.#window) {
        this.#report(seen);
        this.#seen.delete(key);
      }
    }
    if (this.#seen.size === 0) this.stop();
  }

  #report(seen: { repeats: number; event: Refusal }): void {
    if (seen.repeats === 0) return;
    const { address, status, reason } = seen.event;
    this.#logger.warn(
      `tunnel handshake from ${address} refused ${seen.repeats} more time(s) ` +
        `in the last ${Math.round(this.#window / 1000)} s: ${status} ${reason}`,
      this.#logger.format === "json"
        ? { event: "handshake-failed", address, status, reason, repeats: seen.repeats }
        : {},
    );
    seen.repeats = 0;
  }

  /** Stops the timer (counts still held are dropped with it). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
