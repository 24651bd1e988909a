/**
 * The PTTH tunnel handshake (draft-kazuho-ptth-ptth, RFC 7639 `ALPN`): the
 * backend sends an HTTP/1.1 `GET` with `Upgrade: ptth`; the router answers
 * `101 Switching Protocols` and the connection continues as HTTP/2 with the
 * router as client. Pure encoding and parsing; PROTOCOL.md is the spec.
 *
 * @module
 */

import { hasToken } from "./tokens.ts";

/** The default path of the WebSocket tunnel on the router's public port. */
export const DEFAULT_TUNNEL_PATH = "/.well-known/ptth/tunnel";
/** The subprotocol a tunnel WebSocket offers (`Sec-WebSocket-Protocol`). */
export const TUNNEL_SUBPROTOCOL = "ptth";

/** The path prefix of a handshake request; the service name follows it. */
export const HANDSHAKE_PATH = "/.well-known/ptth/";
/** The largest handshake head either side accepts (bytes). */
export const MAX_HANDSHAKE_BYTES = 8192;

/** What a backend says about itself in its handshake. */
export interface TunnelIdentity {
  /** The service it serves. @default {"default"} */
  service: string;
  /** Host names it serves (routing hints for the router). @default {[]} */
  hosts: string[];
  /** Relative share of the service's traffic, 1 to 1000. @default {1} */
  weight: number;
  /** Free-form labels: version, region, … @default {{}} */
  metadata: Record<string, string>;
}

/** A parsed handshake request. */
export interface HandshakeRequest extends TunnelIdentity {
  /** The bearer token, or `null` when none was sent. */
  token: string | null;
}

/** A handshake the router refuses: the status and one-line reason to send. */
export class HandshakeError extends Error {
  /** 400, 401, 403 or 429. */
  readonly status: number;
  /**
   * @param status The HTTP status to answer with.
   * @param message The one-line reason (never containing the token).
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "HandshakeError";
    this.status = status;
  }
}

const SERVICE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;
const META_KEY = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const encoder = new TextEncoder();

/**
 * Finds the end of an HTTP/1.1 head (`\r\n\r\n`).
 *
 * @param buf Bytes received so far.
 * @param length How many of them are valid.
 * @returns The index just past the blank line, or -1 when incomplete.
 *
 * @example
 * ```ts
 * import { findHeadEnd } from "./handshake.ts";
 * import { equal } from "node:assert/strict";
 * const bytes = new TextEncoder().encode("HTTP/1.1 101 OK\r\n\r\nrest");
 * equal(findHeadEnd(bytes, bytes.length), 19);
 * ```
 */
export function findHeadEnd(buf: Uint8Array, length: number): number {
  for (let i = 3; i < length; i++) {
    if (buf[i] === 0x0a && buf[i - 1] === 0x0d && buf[i - 2] === 0x0a && buf[i - 3] === 0x0d) {
      return i + 1;
    }
  }
  return -1;
}

/**
 * Encodes a backend's handshake request.
 *
 * @param authority The router's host:port, for `Host`.
 * @param identity What the backend serves.
 * @param token The bearer token, if any.
 * @returns The request bytes.
 *
 * @example
 * ```ts
 * import { encodeHandshakeRequest } from "./handshake.ts";
 * import { ok } from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeHandshakeRequest("router:8887", {
 *   service: "api", hosts: [], weight: 1, metadata: {},
 * }, null));
 * ok(text.startsWith("GET /.well-known/ptth/api HTTP/1.1\r\n"));
 * ```
 */
export function encodeHandshakeRequest(
  authority: string,
  identity: TunnelIdentity,
  token: string | null,
): Uint8Array {
  const lines = [
    `GET ${HANDSHAKE_PATH}${identity.service} HTTP/1.1`,
    `Host: ${authority}`,
    "Connection: upgrade",
    "Upgrade: ptth",
    "ALPN: h2",
  ];
  for (const [name, value] of identityFields(identity, token)) lines.push(`${name}: ${value}`);
  return encoder.encode(lines.join("\r\n") + "\r\n\r\n");
}

/**
 * The fields a backend sends about itself (PROTOCOL.md §3), in the order of
 * the handshake: `Authorization`, then `PTTH-Hosts`, `PTTH-Weight` and
 * `PTTH-Metadata` where they differ from the defaults. The WebSocket tunnel
 * sends the same fields on its upgrade request.
 *
 * @param identity What the backend serves.
 * @param token The bearer token, if any.
 * @returns Name and value pairs.
 *
 * @example
 * ```ts
 * import { identityFields } from "./handshake.ts";
 * import { deepEqual } from "node:assert/strict";
 * deepEqual(identityFields({ service: "api", hosts: [], weight: 2, metadata: {} }, null), [
 *   ["PTTH-Weight", "2"],
 * ]);
 * ```
 */
export function identityFields(
  identity: TunnelIdentity,
  token: string | null,
): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  if (token !== null) fields.push(["Authorization", `Bearer ${token}`]);
  if (identity.hosts.length > 0) fields.push(["PTTH-Hosts", identity.hosts.join(", ")]);
  if (identity.weight !== 1) fields.push(["PTTH-Weight", String(identity.weight)]);
  const meta = Object.entries(identity.metadata);
  if (meta.length > 0) {
    fields.push([
      "PTTH-Metadata",
      meta.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(", "),
    ]);
  }
  return fields;
}

/** Splits a head into its start line and lower-cased header map (repeats joined by ", "). */
function parseHead(text: string): { start: string; headers: Map<string, string> } {
  const lines = text.split("\r\n");
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HandshakeError(400, "Malformed handshake: bad header line");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { start: lines[0]!, headers };
}

/**
 * Parses and checks a handshake request head (the bytes before `\r\n\r\n`).
 *
 * @param head The head's bytes.
 * @returns The backend's identity and token.
 * @throws {HandshakeError} 400 for anything malformed.
 *
 * @example
 * ```ts
 * import { encodeHandshakeRequest, parseHandshakeRequest } from "./handshake.ts";
 * import { equal } from "node:assert/strict";
 * const bytes = encodeHandshakeRequest("r:1", {
 *   service: "api", hosts: ["api.example.com"], weight: 2, metadata: { region: "eu" },
 * }, "secret-token-1234567");
 * const parsed = parseHandshakeRequest(bytes.subarray(0, bytes.length - 4));
 * equal(parsed.service, "api");
 * equal(parsed.token, "secret-token-1234567");
 * equal(parsed.metadata.region, "eu");
 * ```
 */
export function parseHandshakeRequest(head: Uint8Array): HandshakeRequest {
  const { start, headers } = parseHead(new TextDecoder().decode(head));
  const match = start.match(/^GET (\S+) HTTP\/1\.1$/);
  if (!match) throw new HandshakeError(400, "Malformed handshake: expected GET … HTTP/1.1");
  const path = match[1]!;
  if (!path.startsWith(HANDSHAKE_PATH)) {
    throw new HandshakeError(400, `Malformed handshake: path must start with ${HANDSHAKE_PATH}`);
  }
  let service: string;
  try {
    service = decodeURIComponent(path.slice(HANDSHAKE_PATH.length)) || "default";
  } catch {
    service = ""; // A bad percent-encoding (`%zz`) is a bad service name, not a crash.
  }
  if (!SERVICE.test(service)) {
    throw new HandshakeError(400, "Malformed handshake: bad service name");
  }
  // draft-kazuho-ptth-ptth: Connection: upgrade, Upgrade: ptth, and ALPN naming h2 (RFC 7639).
  if (
    !hasToken(headers.get("connection"), "upgrade") || !hasToken(headers.get("upgrade"), "ptth")
  ) {
    throw new HandshakeError(
      400,
      "Malformed handshake: expected Connection: upgrade, Upgrade: ptth",
    );
  }
  if (!hasToken(headers.get("alpn"), "h2")) {
    throw new HandshakeError(400, "Malformed handshake: ALPN must offer h2");
  }
  if (!headers.has("host")) throw new HandshakeError(400, "Malformed handshake: missing Host");
  return { service, ...parseIdentityFields((name) => headers.get(name)) };
}

/**
 * Checks the credentials and announcements of a tunnel request (PROTOCOL.md
 * §3): `Authorization`, `PTTH-Hosts`, `PTTH-Weight`, `PTTH-Metadata`. Shared
 * by the TCP handshake and the WebSocket tunnel, which carry the same fields.
 *
 * @param get Reads a field by lower-case name (repeats joined by ", ").
 * @returns The token and the announced identity, service aside.
 * @throws {HandshakeError} 400 for anything malformed.
 *
 * @example
 * ```ts
 * import { parseIdentityFields } from "./handshake.ts";
 * import { equal } from "node:assert/strict";
 * const fields = new Headers({ "ptth-weight": "5", authorization: "Bearer secret-token-1234567" });
 * const parsed = parseIdentityFields((name) => fields.get(name) ?? undefined);
 * equal(parsed.weight, 5);
 * equal(parsed.token, "secret-token-1234567");
 * ```
 */
export function parseIdentityFields(
  get: (name: string) => string | undefined,
): Omit<HandshakeRequest, "service"> {
  let token: string | null = null;
  const authorization = get("authorization");
  if (authorization !== undefined) {
    const bearer = authorization.match(/^Bearer ([\x21-\x7e]+)$/i);
    if (!bearer) throw new HandshakeError(400, "Malformed handshake: Authorization must be Bearer");
    token = bearer[1]!;
  }
  const hosts = (get("ptth-hosts") ?? "").split(",").map((h) => h.trim().toLowerCase())
    .filter((h) => h !== "");
  for (const host of hosts) {
    if (!HOST.test(host)) throw new HandshakeError(400, `Malformed handshake: bad host ${host}`);
  }
  const weightText = get("ptth-weight") ?? "1";
  const weight = Number(weightText);
  if (!/^\d{1,4}$/.test(weightText) || weight < 1 || weight > 1000) {
    throw new HandshakeError(400, "Malformed handshake: PTTH-Weight must be 1-1000");
  }
  const metadata: Record<string, string> = {};
  for (const pair of (get("ptth-metadata") ?? "").split(",")) {
    if (pair.trim() === "") continue;
    const eq = pair.indexOf("=");
    const key = pair.slice(0, eq).trim().toLowerCase();
    if (eq < 0 || !META_KEY.test(key)) {
      throw new HandshakeError(400, "Malformed handshake: PTTH-Metadata must be key=value pairs");
    }
    try {
      metadata[key] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      throw new HandshakeError(400, `Malformed handshake: bad value of metadata ${key}`);
    }
  }
  return { hosts, weight, metadata, token };
}

/**
 * Whether `name` is a valid service name (PROTOCOL.md §3).
 *
 * @param name The name, percent-decoded.
 * @returns Whether it is valid.
 *
 * @example
 * ```ts
 * import { isServiceName } from "./handshake.ts";
 * import { equal } from "node:assert/strict";
 * equal(isServiceName("api"), true);
 * equal(isServiceName("Api"), false);
 * ```
 */
export function isServiceName(name: string): boolean {
  return SERVICE.test(name);
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  429: "Too Many Requests",
};

/**
 * Encodes the router's answer: 101 to switch to HTTP/2, or a refusal with a
 * one-line reason.
 *
 * @param status 101, 400, 401, 403 or 429.
 * @param reason The one-line reason, for refusals.
 * @returns The response bytes.
 *
 * @example
 * ```ts
 * import { encodeHandshakeResponse } from "./handshake.ts";
 * import { ok } from "node:assert/strict";
 * const text = new TextDecoder().decode(encodeHandshakeResponse(101));
 * ok(text.startsWith("HTTP/1.1 101 Switching Protocols\r\n"));
 * ```
 */
export function encodeHandshakeResponse(status: number, reason = ""): Uint8Array {
  if (status === 101) {
    return encoder.encode(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: ptth\r\nALPN: h2\r\n\r\n",
    );
  }
  const body = encoder.encode(reason.replace(/[\r\n]/g, " ") + "\n");
  return encoder.encode(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n` +
      new TextDecoder().decode(body),
  );
}

/** The router's answer as the backend reads it. */
export interface HandshakeResponse {
  /** The status code. */
  status: number;
  /** Whether it is a valid 101 switching to ptth with ALPN h2. */
  switched: boolean;
}

/**
 * Parses the router's answer head.
 *
 * @param head The head's bytes (before `\r\n\r\n`).
 * @returns The status and whether the switch is valid.
 * @throws {HandshakeError} 400 when it is not HTTP/1.1 at all.
 *
 * @example
 * ```ts
 * import { encodeHandshakeResponse, parseHandshakeResponse } from "./handshake.ts";
 * import { equal } from "node:assert/strict";
 * const bytes = encodeHandshakeResponse(101);
 * equal(parseHandshakeResponse(bytes.subarray(0, bytes.length - 4)).switched, true);
 * ```
 */
export function parseHandshakeResponse(head: Uint8Array): HandshakeResponse {
  const { start, headers } = parseHead(new TextDecoder().decode(head));
  const match = start.match(/^HTTP\/1\.1 (\d{3})(?: .*)?$/);
  if (!match) throw new HandshakeError(400, "Router did not answer the handshake with HTTP/1.1");
  const status = Number(match[1]);
  const switched = status === 101 && hasToken(headers.get("upgrade"), "ptth") &&
    hasToken(headers.get("connection"), "upgrade") && hasToken(headers.get("alpn"), "h2");
  return { status, switched };
}
