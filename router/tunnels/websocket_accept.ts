/**
 * The router's side of a tunnel over WebSocket (PROTOCOL.md §11): a backend
 * that can only reach the public HTTPS port upgrades a request on the tunnel
 * path to a WebSocket, with the credentials of the PTTH handshake as fields;
 * once checked, the reversed HTTP/2 connection runs in its binary messages.
 *
 * @module
 */

import type { ByteIO } from "../../h2/connection.ts";
import type { TunnelAuth } from "./auth.ts";
import {
  HandshakeError,
  isServiceName,
  parseIdentityFields,
  TUNNEL_SUBPROTOCOL,
  type TunnelIdentity,
} from "../../tunnel/handshake.ts";
import { hasToken } from "../../tunnel/tokens.ts";
import { WebSocketIO } from "../../tunnel/websocket_io.ts";
import { upgradeWebSocket } from "../edge/upgrade.ts";
import type { MessageBudget } from "../../ws/message_budget.ts";

/** A WebSocket tunnel that passed the checks. */
export interface AcceptedWebSocketTunnel {
  /** The 101 response to return from the public server's handler. */
  response: Response;
  /** The tunnel's bytes; writes wait until the socket has opened. */
  io: ByteIO;
  /** What the backend serves. */
  identity: TunnelIdentity;
}

/** Options of {@linkcode acceptWebSocketTunnel}. */
export interface AcceptWebSocketOptions {
  /** Token and anonymous policy. */
  auth: TunnelAuth;
  /** The peer's IP address, for rate limiting and logs. */
  address: string;
  /**
   * A last check before the upgrade (the hosts it may announce, the
   * tunnels-per-service cap), told whether the tunnel came without a token;
   * throw HandshakeError to refuse.
   */
  admit?: (identity: TunnelIdentity, anonymous: boolean) => void;
  /** The budget every socket's unfinished messages share (ws/message_budget.ts). */
  messageBudget?: MessageBudget;
}

/**
 * Checks a WebSocket tunnel request and upgrades it: on the edge, or with
 * `Deno.upgradeWebSocket` for a request from `Deno.serve`.
 *
 * @param request The public request on the tunnel path.
 * @param options Auth, address, admission.
 * @returns The upgrade response and the tunnel's byte stream.
 * @throws {HandshakeError} 426 when it is not a WebSocket upgrade, 400 for
 *   malformed fields, 401/403 for credentials, 429 for rate limits.
 *
 * @example A request without an upgrade is refused
 * ```ts
 * import { acceptWebSocketTunnel } from "./websocket_accept.ts";
 * import { TunnelAuth } from "./auth.ts";
 * import { rejects } from "node:assert/strict";
 * await rejects(
 *   acceptWebSocketTunnel(new Request("http://router/.well-known/ptth/tunnel"), {
 *     auth: new TunnelAuth(), address: "127.0.0.1",
 *   }),
 *   { status: 426 },
 * );
 * ```
 */
export async function acceptWebSocketTunnel(
  request: Request,
  options: AcceptWebSocketOptions,
): Promise<AcceptedWebSocketTunnel> {
  const headers = request.headers;
  if (request.method !== "GET" || !hasToken(headers.get("upgrade"), "websocket")) {
    throw new HandshakeError(426, "Not a tunnel: expected a WebSocket upgrade");
  }
  const service = headers.get("ptth-service") ?? "default";
  if (!isServiceName(service)) {
    throw new HandshakeError(400, "Malformed handshake: bad service name");
  }
  // Read every field now: after the upgrade the request's headers are gone.
  const fields = parseIdentityFields((name) => headers.get(name) ?? undefined);
  const offered = (headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
  await options.auth.check(service, fields.token, options.address);
  const identity: TunnelIdentity = {
    service,
    hosts: fields.hosts,
    weight: fields.weight,
    metadata: fields.metadata,
  };
  options.admit?.(identity, fields.token === null);
  const { socket, response } = upgradeWebSocket(request, {
    // HTTP/2 keepalive PINGs watch the tunnel; the WebSocket's own would only add traffic.
    idleTimeout: 0,
    ...(offered.includes(TUNNEL_SUBPROTOCOL) ? { protocol: TUNNEL_SUBPROTOCOL } : {}),
    ...(options.messageBudget === undefined ? {} : { messageBudget: options.messageBudget }),
  });
  return { response, io: new WebSocketIO(socket), identity };
}
