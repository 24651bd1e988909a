/**
 * The admin listener's optional token: a hono middleware that lets through
 * only requests with `Authorization: Bearer <token>`, comparing SHA-256
 * digests in constant time so that response times say nothing of the token.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { digest, timingSafeEqual } from "../tunnels/token_digest.ts";

/**
 * Builds the middleware; without a token it lets everything through.
 *
 * @param token The token requests must bear, or `undefined` for none.
 * @returns The middleware: 401 with `WWW-Authenticate: Bearer` when the token is missing or wrong.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { bearerToken } from "./bearer_token.ts";
 * import { equal } from "node:assert/strict";
 * const app = new Hono().use(bearerToken("a-long-admin-token-0001")).get("/", (c) => c.text("ok"));
 * equal((await app.request("/")).status, 401);
 * const headers = { authorization: "Bearer a-long-admin-token-0001" };
 * equal((await app.request("/", { headers })).status, 200);
 * ```
 */
export function bearerToken(token: string | undefined): MiddlewareHandler {
  const expected = token === undefined ? null : digest(token);
  return async function bearerTokenCheck(c, next) {
    if (expected === null) return await next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    // Always hash, so a missing header takes as long as a wrong token.
    const presented = await digest(match?.[1] ?? "");
    if (match === null || !timingSafeEqual(presented, await expected)) {
      return c.text(
        "Unauthorized: this admin endpoint needs Authorization: Bearer <token>\n",
        401,
        {
          "www-authenticate": 'Bearer realm="ptth admin"',
        },
      );
    }
    return await next();
  };
}
