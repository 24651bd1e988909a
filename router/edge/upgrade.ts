/**
 * WebSocket upgrades of the edge's requests. `Deno.upgradeWebSocket` works
 * only on requests from `Deno.serve`; on the edge, the app's answer hands the
 * raw connection over instead: {@linkcode upgradeWebSocket} returns a 101
 * Response registered here, the HTTP/1.1 connection writes its head and
 * passes the connection's remaining bytes on, and a {@linkcode StreamWebSocket}
 * (role "server") runs over them. An HTTP/2 extended CONNECT (RFC 8441) is
 * taken over as its stream; any other request (the app embedded in another
 * server) goes to `Deno.upgradeWebSocket`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { extendedConnectOf, takeExtendedConnect } from "../../h2/extended_connect.ts";
import { hasToken } from "../../tunnel/tokens.ts";
import { StreamWebSocket } from "../../ws/socket.ts";
import { Http1Request } from "./edge_request.ts";

/** A connection handed over after a 101: bytes both ways, each direction ended on its own. */
export interface UpgradedConnection {
  /** Reads the next bytes; `null` at the end of the peer's side. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to the count written. */
  write(p: Uint8Array): Promise<number>;
  /** Ends our side (TCP FIN, TLS close_notify). */
  closeWrite(): Promise<void>;
  /** Closes both sides (idempotent). */
  close(): void;
}

/** What a response accepting an HTTP/1.1 upgrade carries for the edge. */
export interface PendingUpgrade {
  /** The request it answers: the edge hands over only that request's connection. */
  readonly request: Request;
  /** Takes the connection, once the 101 head has been written. */
  accept(connection: UpgradedConnection): void;
  /** The connection could not be handed over (the client left, the write failed). */
  refuse(error: Error): void;
}

const pending = new WeakMap<Response, PendingUpgrade>();

/**
 * The upgrade a response stands for, when it is one made by
 * {@linkcode upgradeWebSocket} for an edge request.
 *
 * @param response What the app answered.
 * @returns The pending upgrade, or `undefined` for an ordinary response.
 *
 * @example
 * ```ts
 * import { upgradeOf } from "./upgrade.ts";
 * import { equal } from "node:assert/strict";
 * equal(upgradeOf(new Response("hi")), undefined);
 * ```
 */
export function upgradeOf(response: Response): PendingUpgrade | undefined {
  return pending.get(response);
}

// RFC 6455 §4.2.2: the GUID appended to the key before hashing.
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
// §4.1: the key is 16 random octets in base64.
const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/** Options of {@linkcode upgradeWebSocket}, those of `Deno.upgradeWebSocket` that apply. */
export interface UpgradeWebSocketOptions {
  /** The subprotocol to agree on (one the client offered). */
  protocol?: string;
  /** Send a Ping this often (seconds); 0 for never. @default {0} */
  idleTimeout?: number;
  /** A budget shared by the server's sockets for messages being received (1009 past it). */
  messageBudget?: MessageBudgetLike;
}

/** What a shared message budget offers (ws/message_budget.ts). */
type MessageBudgetLike = { reserve(bytes: number): boolean; release(bytes: number): void };

/**
 * Upgrades a request to a WebSocket, like `Deno.upgradeWebSocket`: returns
 * the socket and the response to return from the handler.
 *
 * @param request The upgrade request (GET, `Upgrade: websocket`, version 13).
 * @param options The subprotocol and ping interval.
 * @returns The socket (open once the response has gone out) and the response.
 * @throws {TypeError} When the request is not a valid WebSocket upgrade.
 *
 * @example A request that is no upgrade is refused
 * ```ts
 * import { Http1Request } from "./edge_request.ts";
 * import { upgradeWebSocket } from "./upgrade.ts";
 * import { throws } from "node:assert/strict";
 * throws(() => upgradeWebSocket(new Http1Request("http://example.com/", undefined)), TypeError);
 * ```
 */
export function upgradeWebSocket(
  request: Request,
  options: UpgradeWebSocketOptions = {},
): { socket: WebSocket; response: Response } {
  const link = extendedConnectOf(request);
  if (link !== undefined) return takeStream(request, options);
  if (!(request instanceof Http1Request)) {
    return Deno.upgradeWebSocket(request, {
      ...(options.protocol === undefined ? {} : { protocol: options.protocol }),
      ...(options.idleTimeout === undefined ? {} : { idleTimeout: options.idleTimeout }),
    });
  }
  const headers = request.headers;
  // RFC 6455 §4.2.1: what a server checks before it accepts the opening handshake.
  if (request.method !== "GET" || !hasToken(headers.get("upgrade"), "websocket")) {
    throw new TypeError("Cannot upgrade to WebSocket: not a WebSocket upgrade request");
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    throw new TypeError("Cannot upgrade to WebSocket: Connection does not say upgrade");
  }
  if (headers.get("sec-websocket-version") !== "13") {
    throw new TypeError("Cannot upgrade to WebSocket: Sec-WebSocket-Version is not 13");
  }
  const key = headers.get("sec-websocket-key") ?? "";
  if (!WEBSOCKET_KEY.test(key)) {
    throw new TypeError("Cannot upgrade to WebSocket: invalid Sec-WebSocket-Key");
  }
  const protocol = chosenProtocol(request, options.protocol);
  const accept = createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64");
  const fields: Record<string, string> = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-accept": accept,
  };
  if (protocol !== "") fields["sec-websocket-protocol"] = protocol;
  const response = new Response(null, { status: 101, headers: fields });

  let take!: (connection: UpgradedConnection) => void;
  let refuse!: (error: Error) => void;
  const taken = new Promise<UpgradedConnection>((resolve, reject) => {
    take = resolve;
    refuse = reject;
  });
  taken.catch(() => {});
  pending.set(response, { request, accept: take, refuse });
  const socket = new StreamWebSocket(transportOver(taken), {
    role: "server",
    url: request.url.replace(/^http/, "ws"),
    protocol,
    open: taken.then(() => {}),
    pingInterval: (options.idleTimeout ?? 0) * 1000,
    ...(options.messageBudget === undefined ? {} : { messageBudget: options.messageBudget }),
    // As Deno's server sockets do: any code valid on the wire (a relay passes the peer's on),
    // and a peer's Close echoed whole.
    anyCloseCode: true,
    echoCloseReason: true,
  });
  return { socket, response };
}

/** RFC 6455 §4.2.2: the protocol chosen must be one the client offered. */
function chosenProtocol(request: Request, protocol: string | undefined): string {
  if (protocol === undefined || protocol === "") return "";
  const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",")
    .map((p) => p.trim());
  if (!offered.includes(protocol)) {
    throw new TypeError(`Cannot upgrade to WebSocket: the client did not offer ${protocol}`);
  }
  return protocol;
}

/** RFC 8441: an HTTP/2 extended CONNECT's stream becomes the socket's transport. */
function takeStream(
  request: Request,
  options: UpgradeWebSocketOptions,
): { socket: WebSocket; response: Response } {
  const protocol = chosenProtocol(request, options.protocol);
  const headers = new Headers();
  if (protocol !== "") headers.set("sec-websocket-protocol", protocol);
  const { tunnel, response } = takeExtendedConnect(request, headers);
  const socket = new StreamWebSocket(tunnel, {
    role: "server",
    url: request.url.replace(/^http/, "ws"),
    protocol,
    open: tunnel.opened,
    pingInterval: (options.idleTimeout ?? 0) * 1000,
    ...(options.messageBudget === undefined ? {} : { messageBudget: options.messageBudget }),
    anyCloseCode: true,
    echoCloseReason: true,
  });
  return { socket, response };
}

/** Read size for a handed-over connection. */
const READ_SIZE = 16 * 1024;

/**
 * Byte streams over a connection that arrives later: reads and writes wait
 * for it; once both directions have ended the connection is closed.
 */
function transportOver(taken: Promise<UpgradedConnection>): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
} {
  let readEnded = false;
  let writeEnded = false;
  const ended = (connection: UpgradedConnection) => {
    if (readEnded && writeEnded) connection.close();
  };
  const closeNow = () => taken.then((connection) => connection.close(), () => {});
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const connection = await taken;
      const buf = new Uint8Array(READ_SIZE);
      const n = await connection.read(buf);
      if (n === null) {
        readEnded = true;
        controller.close();
        ended(connection);
      } else controller.enqueue(buf.subarray(0, n));
    },
    cancel: closeNow,
  }, { highWaterMark: 0 });
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      const connection = await taken;
      let offset = 0;
      while (offset < chunk.length) offset += await connection.write(chunk.subarray(offset));
    },
    async close() {
      const connection = await taken;
      writeEnded = true;
      try {
        await connection.closeWrite();
      } catch {
        connection.close();
      }
      ended(connection);
    },
    abort: closeNow,
  });
  return { readable, writable };
}
