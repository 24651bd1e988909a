/**
 * Field values that are comma-separated lists of tokens (RFC 9110 §5.6.1):
 * `Connection`, `Upgrade`, and the tunnel handshake's `ALPN`.
 *
 * @module
 */

/**
 * The tokens of a list-valued field, lower-cased (tokens compare without case).
 *
 * @param value The field's value.
 * @returns Its elements, empty ones included as "".
 *
 * @example
 * ```ts
 * import { tokens } from "./tokens.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(tokens("keep-alive, Upgrade"), ["keep-alive", "upgrade"]);
 * ```
 */
export function tokens(value: string): string[] {
  return value.toLowerCase().split(/\s*,\s*/);
}

/**
 * Whether a list-valued field holds a token.
 *
 * @param value The field's value, if the field is present.
 * @param token The token, lower case.
 * @returns Whether it is one of the value's elements.
 *
 * @example
 * ```ts
 * import { hasToken } from "./tokens.ts";
 * import { equal } from "node:assert/strict";
 * equal(hasToken("h2c, WebSocket", "websocket"), true);
 * equal(hasToken(null, "websocket"), false);
 * ```
 */
export function hasToken(value: string | null | undefined, token: string): boolean {
  return value !== null && value !== undefined && tokens(value).includes(token);
}
