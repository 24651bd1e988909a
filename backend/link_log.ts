/**
 * The backend's log of its tunnel to one router: a line for each change of
 * state (connecting, connected, lost, refused, stopped), in the same formats
 * as the router's lines. Repeated failed attempts while an outage lasts are
 * `debug`, so a router that is down costs one warning, not one per backoff.
 *
 * @module
 */

import { TunnelRefusedError, TunnelTlsError } from "./dial.ts";
import type { LogFields, Logger } from "../log/logger.ts";

/**
 * Logs one link's state changes; the link's callbacks call it.
 *
 * @example
 * ```ts
 * import { Logger } from "../log/logger.ts";
 * import { LinkStateLog } from "./link_log.ts";
 * import { match } from "node:assert/strict";
 * const lines: string[] = [];
 * const states = new LinkStateLog(
 *   new Logger({ format: "json", sink: (line) => lines.push(line) }),
 *   "tcp://localhost:8887",
 * );
 * states.up();
 * states.failed(new Error("connection reset"));
 * match(lines[0]!, /"state":"connecting"/);
 * match(lines[1]!, /"state":"connected"/);
 * match(lines[2]!, /"state":"lost".*"error":"connection reset"/);
 * ```
 */
export class LinkStateLog {
  #logger: Logger;
  #router: string;
  #up = false;
  #failures = 0;

  /**
   * Logs `connecting` at once.
   *
   * @param logger Where lines go.
   * @param router The router as the link names it (`tcp://host:port`).
   */
  constructor(logger: Logger, router: string) {
    this.#logger = logger;
    this.#router = router;
    logger.info(`connecting to ${router}`, this.#fields("connecting"));
  }

  /** The state, and for JSON lines the router (text lines name it in the message). */
  #fields(state: string, extra: LogFields = {}): LogFields {
    const router = this.#logger.format === "json" ? this.#router : undefined;
    return { state, router, ...extra };
  }

  /** The tunnel is up. */
  up(): void {
    this.#up = true;
    this.#failures = 0;
    this.#logger.info(
      `connected to ${this.#router} and serving HTTP/2 traffic`,
      this.#fields("connected"),
    );
  }

  /**
   * A dial failed, or the tunnel was lost.
   *
   * @param error Why.
   */
  failed(error: Error): void {
    const router = this.#router;
    if (error instanceof TunnelRefusedError && error.permanent) {
      this.#up = false;
      this.#logger.error(
        `tunnel to ${router} refused: ${error.status} ${error.reason}`,
        this.#fields("refused", { status: error.status }),
      );
      return;
    }
    if (error instanceof TunnelTlsError) {
      this.#up = false;
      this.#logger.error(`tunnel to ${router}: ${error.message}`, this.#fields("refused"));
      return;
    }
    if (this.#up) {
      this.#up = false;
      this.#logger.warn(
        `tunnel to ${router} lost; reconnecting`,
        this.#fields("lost", { error: error.message }),
      );
      return;
    }
    const level = this.#failures++ === 0 ? "warn" : "debug";
    // "Cannot reach" only when nothing answered; anything else says what went wrong.
    const what = unreachable(error)
      ? `cannot reach ${router}`
      : error instanceof TunnelRefusedError
      ? `tunnel to ${router} refused for now: ${error.status} ${error.reason}`
      : `tunnel to ${router} failed: ${error.message}`;
    this.#logger.log(
      level,
      `${what}; retrying`,
      this.#fields("connecting", { attempt: this.#failures, error: error.message }),
    );
  }

  /** The link stopped for good (shutdown). */
  stopped(): void {
    this.#up = false;
    this.#logger.info(`tunnel to ${this.#router} stopped`, this.#fields("stopped"));
  }
}

/** Whether a dial failed before anything answered: no route, no listener, no DNS name. */
function unreachable(error: Error): boolean {
  return error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.TimedOut ||
    error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.AddrNotAvailable ||
    error instanceof Deno.errors.ConnectionReset && !/handshake|answer/.test(error.message) ||
    /os error 11[0-3]|network is unreachable|no route to host|failed to lookup/i.test(
      error.message,
    );
}
