/**
 * Who may open a tunnel: tokens per service compared in constant time, the
 * anonymous policy, and a per-address limit on failed handshakes.
 *
 * @module
 */

import { HandshakeError } from "../../tunnel/handshake.ts";
import { digest, timingSafeEqual } from "./token_digest.ts";

/** Options of {@linkcode TunnelAuth}. */
export interface TunnelAuthOptions {
  /** Tokens per service. @default {{}} */
  tokens?: Record<string, string | string[]>;
  /** Whether tunnels without a token may serve `default`. @default {true when no tokens} */
  allowAnonymous?: boolean;
  /** Failed handshakes per address per minute before 429. @default {10} */
  failuresPerMinute?: number;
}

const WINDOW_MS = 60_000;
/**
 * Decides whether a handshake may open a tunnel.
 *
 * @example A token registers its own service only
 * ```ts
 * import { TunnelAuth } from "./auth.ts";
 * import { equal, rejects } from "node:assert/strict";
 * const auth = new TunnelAuth({ tokens: { api: "api-token-0123456789" } });
 * await auth.check("api", "api-token-0123456789", "10.0.0.1");
 * await rejects(auth.check("web", "api-token-0123456789", "10.0.0.1"), { status: 403 });
 * equal(auth.anonymousAllowed, false);
 * ```
 */
export class TunnelAuth {
  #digests = new Map<string, Promise<Uint8Array[]>>();
  #anonymous: boolean;
  #limit: number;
  #failures = new Map<string, { count: number; since: number }>();

  /** @param options Tokens, anonymous policy, failure limit. */
  constructor(options: TunnelAuthOptions = {}) {
    const tokens = options.tokens ?? {};
    for (const [service, value] of Object.entries(tokens)) {
      const list = Array.isArray(value) ? value : [value];
      this.#digests.set(service, Promise.all(list.map(digest)));
    }
    this.#anonymous = options.allowAnonymous ?? this.#digests.size === 0;
    this.#limit = options.failuresPerMinute ?? 10;
  }

  /** Whether tunnels without a token are accepted. */
  get anonymousAllowed(): boolean {
    return this.#anonymous;
  }

  /**
   * Checks a handshake; resolves when it may proceed.
   *
   * @param service The service the backend asks to serve.
   * @param token Its bearer token, or `null`.
   * @param address The peer's IP address, for rate limiting.
   * @throws {HandshakeError} 401 without a needed token, 403 for a wrong one,
   *   429 after too many failures from `address`.
   */
  async check(service: string, token: string | null, address: string): Promise<void> {
    const record = this.#failures.get(address);
    const now = Date.now();
    if (record && now - record.since < WINDOW_MS && record.count >= this.#limit) {
      throw new HandshakeError(429, "Too many failed handshakes from this address; retry later");
    }
    try {
      // Success does not clear earlier failures: a valid token for one service
      // must not buy unlimited guesses at another's.
      await this.#verify(service, token);
    } catch (error) {
      this.#fail(address, now);
      throw error;
    }
  }

  async #verify(service: string, token: string | null): Promise<void> {
    if (token === null) {
      if (this.#anonymous && service === "default") return;
      if (this.#anonymous) {
        throw new HandshakeError(403, "Anonymous tunnels serve only service default");
      }
      throw new HandshakeError(401, "This router requires a token");
    }
    const expected = this.#digests.get(service);
    const presented = await digest(token);
    let match = false;
    // Compare against every token of the service, without stopping at a match.
    for (const candidate of (await expected) ?? []) {
      match = timingSafeEqual(presented, candidate) || match;
    }
    if (!match) throw new HandshakeError(403, `Token not valid for service ${service}`);
  }

  #fail(address: string, now: number): void {
    const record = this.#failures.get(address);
    if (record && now - record.since < WINDOW_MS) record.count++;
    else this.#failures.set(address, { count: 1, since: now });
    // Keep the table bounded: drop expired entries when it grows.
    if (this.#failures.size > 10_000) {
      for (const [key, value] of this.#failures) {
        if (now - value.since >= WINDOW_MS) this.#failures.delete(key);
      }
    }
  }
}
