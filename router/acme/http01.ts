/**
 * The HTTP-01 responder (RFC 8555 §8.3): the key authorizations of the
 * challenges under way, answered at `/.well-known/acme-challenge/<token>` on
 * the public HTTP port before any routing.
 *
 * @module
 */

/** The path prefix of RFC 8555 §8.3. */
export const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

/** A token: base64url, as RFC 8555 §8.1 requires (at least 128 bits of entropy). */
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Tokens of the HTTP-01 challenges under way and their key authorizations.
 *
 * @example
 * ```ts
 * import { Http01Responder } from "./http01.ts";
 * import { equal } from "node:assert/strict";
 * const responder = new Http01Responder();
 * responder.add("tok", "tok.thumb");
 * equal(responder.response("/.well-known/acme-challenge/tok"), "tok.thumb");
 * equal(responder.response("/.well-known/acme-challenge/other"), null);
 * responder.delete("tok");
 * equal(responder.response("/.well-known/acme-challenge/tok"), null);
 * ```
 */
export class Http01Responder {
  #answers = new Map<string, string>();

  /**
   * Answers `token` with `keyAuthorization` until deleted.
   *
   * @param token The challenge's token.
   * @param keyAuthorization Its key authorization.
   */
  add(token: string, keyAuthorization: string): void {
    if (!TOKEN.test(token)) throw new TypeError("The CA's challenge token is not base64url");
    this.#answers.set(token, keyAuthorization);
  }

  /**
   * Stops answering `token`.
   *
   * @param token The challenge's token.
   */
  delete(token: string): void {
    this.#answers.delete(token);
  }

  /** How many challenges are being answered. */
  get size(): number {
    return this.#answers.size;
  }

  /**
   * The body for a request path: the key authorization when the path names a
   * challenge under way, else `null` (route the request as usual).
   *
   * @param path The request's path (no query).
   * @returns The key authorization, or `null`.
   */
  response(path: string): string | null {
    if (!path.startsWith(CHALLENGE_PREFIX)) return null;
    return this.#answers.get(path.slice(CHALLENGE_PREFIX.length)) ?? null;
  }
}
