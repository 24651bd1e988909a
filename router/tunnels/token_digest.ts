/**
 * Secrets compared without leaking them through timing: both sides are
 * hashed (SHA-256) and the digests compared without an early exit. Used for
 * tunnel tokens and the admin token.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * The SHA-256 digest of a secret.
 *
 * @param text The secret.
 * @returns Its 32-octet digest.
 *
 * @example
 * ```ts
 * import { digest } from "./token_digest.ts";
 * import { equal } from "node:assert/strict";
 * equal((await digest("token")).length, 32);
 * ```
 */
export async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/**
 * Compares two digests without an early exit: the time taken says nothing of
 * where they differ.
 *
 * @param a One digest.
 * @param b The other.
 * @returns Whether they are equal.
 *
 * @example
 * ```ts
 * import { digest, timingSafeEqual } from "./token_digest.ts";
 * import { equal } from "node:assert/strict";
 * equal(timingSafeEqual(await digest("a"), await digest("a")), true);
 * equal(timingSafeEqual(await digest("a"), await digest("b")), false);
 * ```
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ (b[i] ?? 0);
  return difference === 0;
}
