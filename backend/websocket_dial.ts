/**
 * The backend's side of a tunnel over WebSocket (PROTOCOL.md §11): open a
 * WebSocket to the router's public port with the handshake's credentials as
 * fields, and hand its binary messages to HTTP/2 as a byte stream. Works
 * through anything that passes HTTPS: proxies, load balancers.
 *
 * @module
 */

import type { ByteIO } from "../h2/connection.ts";
import { TunnelRefusedError } from "./dial.ts";
import { identityFields, type TunnelIdentity } from "../tunnel/handshake.ts";
import { TUNNEL_SUBPROTOCOL } from "../tunnel/handshake.ts";
import { WebSocketIO } from "../tunnel/websocket_io.ts";

/** How to reach a router's WebSocket tunnel. */
export interface WebSocketDialOptions {
  /** `wss://host:port/path` (or `ws://`): the router's public port and tunnel path. */
  url: string;
  /** What this backend serves. */
  identity: TunnelIdentity;
  /** The bearer token. */
  token: string | null;
  /** Extra CA certificates (PEM) to trust for `wss://`. */
  caCerts?: string[];
  /** The upgrade must complete within this many ms. */
  timeout: number;
}

const REASONS: Record<number, string> = {
  401: "This router requires a token",
  403: "Token not valid for this service",
  426: "The path is not a tunnel path",
  429: "Too many tunnels or failed handshakes; retry later",
};

/**
 * Opens a tunnel to a router through a WebSocket.
 *
 * @param options Where and who.
 * @returns The tunnel's byte stream, ready for HTTP/2 in the server role.
 * @throws {TunnelRefusedError} When the router answers the upgrade with an
 *   error status (401, 403, 429, …).
 *
 * @example A refused upgrade is a TunnelRefusedError
 * ```ts
 * import { dialWebSocketTunnel } from "./websocket_dial.ts";
 * import { rejects } from "node:assert/strict";
 * const server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   () => new Response("Token not valid\n", { status: 403 }),
 * );
 * await rejects(
 *   dialWebSocketTunnel({
 *     url: `ws://127.0.0.1:${server.addr.port}/.well-known/ptth/tunnel`,
 *     identity: { service: "api", hosts: [], weight: 1, metadata: {} },
 *     token: "not-the-right-token-000", timeout: 5000,
 *   }),
 *   { name: "TunnelRefusedError", status: 403 },
 * );
 * await server.shutdown();
 * ```
 */
export async function dialWebSocketTunnel(options: WebSocketDialOptions): Promise<ByteIO> {
  const headers = new Headers(identityFields(options.identity, options.token));
  if (options.identity.service !== "default") headers.set("PTTH-Service", options.identity.service);
  const client = options.caCerts?.length
    ? Deno.createHttpClient({ caCerts: options.caCerts })
    : undefined;
  const socket = new WebSocket(options.url, {
    protocols: [TUNNEL_SUBPROTOCOL],
    headers,
    ...(client === undefined ? {} : { client }),
  });
  socket.binaryType = "arraybuffer";
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      let failure = "";
      socket.onopen = () => resolve();
      socket.onerror = (event) => failure = (event as ErrorEvent).message ?? "";
      socket.onclose = () => {
        // Deno reports the refusal's status only in the error message.
        const status = Number(failure.match(/status code:? (\d{3})/i)?.[1] ?? 0);
        if (status >= 400) {
          reject(
            new TunnelRefusedError(status, REASONS[status] ?? "Router refused the WebSocket"),
          );
        } else {
          reject(new Error(`Cannot open tunnel: ${failure || "WebSocket closed"}`));
        }
      };
      timer = setTimeout(() => {
        reject(new Error(`Cannot open tunnel: no WebSocket upgrade within ${options.timeout} ms`));
        socket.close();
      }, options.timeout);
    });
  } catch (error) {
    client?.close();
    throw error;
  } finally {
    clearTimeout(timer);
    socket.onopen = socket.onerror = socket.onclose = null;
  }
  if (client !== undefined) {
    socket.addEventListener("close", () => client.close(), { once: true });
  }
  return new WebSocketIO(socket);
}
