/**
 * The public side of the router: a hono app that routes each request to a
 * service by its canonical path (request_path.ts), enforces the request
 * limits, and forwards it over a tunnel of that service, answering
 * 400/404/413/431/502/503/504 with a clear body when it cannot.
 *
 * @module
 */

import { Hono } from "hono";
import { isValidHost } from "./host.ts";
import type { MessageBudget } from "../ws/message_budget.ts";
import { isEdgeRequest } from "./edge/edge_request.ts";
import { describe, queueFull, text } from "./answers.ts";
import type { Context } from "hono";
import { isUnprocessed, QueueFullError } from "../h2/client.ts";
import { StreamError } from "../h2/errors.ts";
import type { FieldPairs } from "../h2/message.ts";
import {
  forwardedFields,
  type ForwardedHead,
  type RequestTarget,
  requestTarget,
} from "./forwarded.ts";
import type { TunnelPool } from "./pool.ts";
import { InvalidPathError, requestPath } from "./request_path.ts";
import { normalizeHost, type RouteTable } from "./routes.ts";
import type { RouterTunnel } from "./tunnels/router_tunnel.ts";
import type { RouterEvents } from "./events.ts";
import type { Deadlines } from "./deadlines.ts";
import { EarlyStop } from "./early_stop.ts";
import { QUEUE_FULL } from "./event_log.ts";
import type { RequestQueues } from "./request_queues.ts";
import { isWebSocketUpgrade, proxyWebSocket } from "./websocket_proxy.ts";
import { ownedChunks, responseOf } from "./edge/proxied_body.ts";

/** Bindings the public server passes to the proxy app: the client's address. */
export type ProxyEnv = { Bindings: { remoteAddr?: Deno.NetAddr } };

/** What the proxy needs to know; filled in by `createRouter`. */
export interface ProxyOptions {
  /** The route table (empty: any tunnel). */
  routes: RouteTable;
  /**
   * Which service a host belongs to by configuration (`serviceHosts`): a
   * request for it no route matches goes to that service, never to any tunnel.
   */
  hostOwners?: { owner(host: string): string | undefined };
  /** Whether an address is a trusted proxy. */
  trusted: (address: string) => boolean;
  /** Largest request header section (bytes). */
  maxHeaderBytes: number;
  /** Largest request body (bytes). */
  maxBodyBytes: number;
  /** How long to wait for response headers (ms). */
  responseHeaderTimeout: number;
  /** How long a request waits for a tunnel of its service to (re)connect before 503 (ms). */
  tunnelWait: number;
  /** How many times a request may be sent again on another tunnel. */
  maxRetries: number;
  /** Each service's queue of requests waiting for a stream slot or a tunnel. */
  queues: RequestQueues;
  /** Where log lines go. */
  log: (line: string) => void;
  /** Where request records go. */
  events: RouterEvents;
  /** The response-header deadlines of all requests, on one coarse timer. */
  deadlines: Deadlines;
  /** PING a WebSocket's backend leg this often (ms), so its stream never idles out. @default {30000} */
  webSocketPingInterval?: number;
  /** The budget every WebSocket's unfinished messages share (ws/message_budget.ts). */
  messageBudget?: MessageBudget;
}

/**
 * Builds the hono app that proxies every request to a tunnel of `pool`.
 *
 * @param pool Where tunnels come from.
 * @param options Routes, limits and logging.
 * @returns The app; `app.fetch(request, { remoteAddr })` serves one request.
 *
 * @example No tunnel gives 503
 * ```ts
 * import { createProxyApp } from "./proxy.ts";
 * import { RouteTable } from "./routes.ts";
 * import { TunnelPool } from "./pool.ts";
 * import { RouterEvents } from "./events.ts";
 * import { Deadlines } from "./deadlines.ts";
 * import { RequestQueues } from "./request_queues.ts";
 * import { equal } from "node:assert/strict";
 * const app = createProxyApp(new TunnelPool(), {
 *   routes: new RouteTable(), trusted: () => false, maxHeaderBytes: 65536,
 *   maxBodyBytes: Infinity, responseHeaderTimeout: 60_000, tunnelWait: 0, maxRetries: 2,
 *   queues: new RequestQueues(1024, () => {}),
 *   log: () => {}, events: new RouterEvents(), deadlines: new Deadlines(100),
 * });
 * const response = await app.request("/foo");
 * equal(response.status, 503);
 * ```
 */
export function createProxyApp(
  pool: TunnelPool<RouterTunnel>,
  options: ProxyOptions,
): Hono<ProxyEnv> {
  const app = new Hono<ProxyEnv>();
  app.all("*", (c) => proxy(c, pool, options));
  return app;
}

/** RFC 9110 §7.6.3: what a response that passed through us says (HTTP/2 to the backend). */
const VIA: [string, string] = ["via", "2 ptth"];

/** Bodies up to this size (with a known length) are buffered so a retry can resend them. */
const REPLAY_LIMIT = 64 * 1024;
/** Methods whose repetition has the effect of one request (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/**
 * Whether a failed request may be sent again: always when the backend never
 * processed it (REFUSED_STREAM, a GOAWAY that excluded it: RFC 9113 §8.7);
 * when its tunnel failed under it, only if its method is idempotent (RFC 9110
 * §9.2.2); never when its own stream was reset otherwise (PROTOCOL_ERROR,
 * INTERNAL_ERROR …): the backend rejected this request, and the others would
 * too, so one bad request must not spread over every tunnel of its service.
 */
function mayRetry(error: unknown, method: string): boolean {
  if (isUnprocessed(error)) return true;
  return !(error instanceof StreamError) && IDEMPOTENT.has(method);
}

/** What {@linkcode tunnelOrWait} returns when the service's queue is full. */
const FULL = Symbol("queue full");

/**
 * A tunnel of `service` other than `failed`: one up now, else the first to
 * connect within the tunnel wait, as `early.tunnelFor` finds it. The wait
 * holds a place in the service's queue: FULL when none is left.
 */
async function tunnelOrWait(
  early: EarlyStop,
  pool: TunnelPool<RouterTunnel>,
  service: string | null,
  options: ProxyOptions,
  failed?: RouterTunnel,
): Promise<RouterTunnel | undefined | typeof FULL> {
  const now = early.why === null ? pool.pick(service, failed) : undefined;
  if (now !== undefined || early.why !== null || options.tunnelWait <= 0) return now;
  const queue = options.queues.of(service);
  if (!queue.enter()) return FULL;
  try {
    return await early.tunnelFor(pool, service, options.tunnelWait, failed);
  } finally {
    queue.leave();
  }
}

/** Counts body bytes on their way through, failing the stream past `limit`. */
function limitBody(limit: number, onExceeded: () => void): TransformStream<Uint8Array, Uint8Array> {
  let total = 0;
  return new TransformStream({
    transform(chunk, controller) {
      total += chunk.length;
      if (total > limit) {
        onExceeded();
        controller.error(new RangeError(`Request body exceeds ${limit} bytes`));
        return;
      }
      controller.enqueue(chunk);
    },
  });
}

/** What became of a request, filled in as it is forwarded. */
interface Outcome {
  requestId: string;
  service: string | null;
  tunnelId: string | null;
  retries: number;
  error: string | null;
  /** Set once the backend's response head arrived: its stream reports the bytes. */
  status: number;
  /** Body bytes each way, once the stream closed; -1 before. */
  bytesIn: number;
  bytesOut: number;
  /** The response was cut off after its head. */
  incomplete?: boolean;
}

// An X-Request-Id from the client is kept when it is short, visible ASCII.
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

async function proxy(
  c: Context<ProxyEnv>,
  pool: TunnelPool<RouterTunnel>,
  options: ProxyOptions,
): Promise<Response> {
  const started = performance.now();
  const request = c.req.raw;
  // The edge checked its requests' Host (RFC 9110 §7.2); a server embedding the app may not.
  if (!isEdgeRequest(request)) {
    const raw = request.headers.get("host");
    if (raw !== null && !isValidHost(raw)) return text(400, "Bad Request: invalid Host");
  }
  const target = requestTarget(new URL(request.url));
  // Routes match, and the backend gets, the path made canonical (request_path.ts).
  const refused = canonicalize(target, request.url);
  const { host, path } = target;
  // One pass over the request's fields: what to forward, and what the proxy reads.
  const remote = c.env?.remoteAddr?.hostname;
  const head = forwardedFields(request.headers, target, remote, options.trusted);
  const incoming = head.requestId;
  const outcome: Outcome = {
    requestId: incoming !== null && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID(),
    service: null,
    tunnelId: null,
    retries: 0,
    error: null,
    status: 0,
    bytesIn: -1,
    bytesOut: -1,
  };
  const events = options.events.active ? options.events : null;
  // The record goes out when both the status and the stream's byte counts are known.
  let reported = false;
  const report = events === null ? null : () => {
    if (reported || outcome.status === 0 || outcome.bytesIn < 0) return;
    reported = true;
    events.emit({
      type: "request",
      time: Date.now(),
      request: {
        requestId: outcome.requestId,
        method: request.method,
        host,
        path,
        service: outcome.service,
        tunnelId: outcome.tunnelId,
        status: outcome.status,
        durationMs: performance.now() - started,
        bytesIn: outcome.bytesIn,
        bytesOut: outcome.bytesOut,
        retries: outcome.retries,
        error: outcome.error,
        ...(outcome.incomplete ? { incomplete: true } : {}),
      },
    });
  };
  const onClose = report === null
    ? undefined
    : (sent: number, received: number, failure: Error | null) => {
      outcome.bytesIn = sent;
      outcome.bytesOut = received;
      // The head went out with its status; the body did not end: say so, not "200".
      if (failure !== null && outcome.status !== 0) {
        outcome.incomplete = true;
        outcome.error = `response cut off after ${received} body bytes: ${describe(failure)}`;
      }
      report();
    };
  head.fields.push("x-request-id", outcome.requestId);
  let response: Response;
  if (refused === null) {
    response = await forward(request, target, head, pool, options, outcome, onClose);
  } else {
    // Never forwarded: the router and the backend might read it differently.
    outcome.error = refused.message;
    response = text(400, `Bad Request: the path has ${refused.reason}`);
  }
  // The router's own answers get the request's id here. A backend's response to
  // a plain request was built with it; a WebSocket upgrade's answers go without.
  if (outcome.status === 0) response.headers.set("x-request-id", outcome.requestId);
  if (report !== null) {
    // Answered by the router itself: no stream will report.
    if (outcome.status === 0) outcome.bytesIn = outcome.bytesOut = 0;
    outcome.status = response.status;
    report();
  }
  return response;
}

/**
 * Puts the canonical path into `target` (the URL parser's differs: it keeps
 * `%61`, and reads a backslash as a slash); returns the error when the path
 * is refused.
 */
function canonicalize(target: RequestTarget, url: string): InvalidPathError | null {
  let pathname: string;
  try {
    pathname = requestPath(url);
  } catch (error) {
    if (error instanceof InvalidPathError) return error;
    throw error;
  }
  if (pathname !== target.pathname) {
    target.pathname = pathname;
    target.path = pathname + target.url.search;
  }
  return null;
}

async function forward(
  request: Request,
  target: RequestTarget,
  head: ForwardedHead,
  pool: TunnelPool<RouterTunnel>,
  options: ProxyOptions,
  outcome: Outcome,
  onClose: ((sent: number, received: number, failure: Error | null) => void) | undefined,
): Promise<Response> {
  const { host, pathname, path } = target;
  const fields = head.fields;
  // The request line counts too: method, scheme, authority and path pseudo-headers.
  if (head.headerBytes + path.length + host.length + 96 > options.maxHeaderBytes) {
    return text(
      431,
      `Request Header Fields Too Large: the limit is ${options.maxHeaderBytes} bytes`,
    );
  }
  const length = head.contentLength;
  const declared = length === null ? -1 : declaredLength(length);
  // RFC 9110 §8.6: a list of equal lengths may stand for one; anything else is refused here,
  // where the body limit is checked against it.
  if (Number.isNaN(declared)) return text(400, "Bad Request: invalid Content-Length");
  if (declared > options.maxBodyBytes) return contentTooLarge(options.maxBodyBytes);

  // Which service answers: the route table, then the host's owner (configured, or announced by
  // a backend), else any tunnel.
  let service: string | null = null;
  const route = options.routes.isEmpty ? null : options.routes.resolve(host, pathname);
  if (route !== null) service = route.service;
  else {
    const name = normalizeHost(host);
    const claimed = options.hostOwners?.owner(name) ?? pool.serviceForHost(name);
    if (claimed !== undefined) service = claimed;
    else if (!options.routes.isEmpty) {
      // Host and path: with path routes only, "no route for host X" would mislead.
      return text(404, `Not Found: no route for ${name}${pathname}`);
    }
  }

  outcome.service = service;
  // RFC 8441: a WebSocket goes to the backend as an extended CONNECT stream.
  if (isWebSocketUpgrade(request.method, head.upgrade)) {
    return proxyWebSocket(request, {
      target,
      pool,
      service,
      fields,
      responseHeaderTimeout: options.responseHeaderTimeout,
      deadlines: options.deadlines,
      tunnelWait: options.tunnelWait,
      maxRetries: options.maxRetries,
      ...(options.messageBudget === undefined ? {} : { messageBudget: options.messageBudget }),
      ...(options.webSocketPingInterval === undefined
        ? {}
        : { pingInterval: options.webSocketPingInterval }),
      log: options.log,
      onTunnel: (tunnel, attempt) => {
        outcome.tunnelId = tunnel.id;
        outcome.service = service ?? tunnel.service;
        outcome.retries = attempt;
      },
      onResponse: (status) => outcome.status = status,
      ...(onClose === undefined ? {} : { onClose }),
    });
  }
  // A small body of known length is read first, so it can be sent again on
  // another tunnel; larger ones stream through and cannot be replayed. Only a
  // body without a declared length is counted on its way (a declared one was
  // checked above, and the server holds the body to it).
  let tooLarge = false;
  let body: ReadableStream<Uint8Array> | Uint8Array | null = request.body;
  if (body !== null && length !== null && declared <= REPLAY_LIMIT) {
    body = new Uint8Array(await request.arrayBuffer());
  } else if (body !== null && length === null && Number.isFinite(options.maxBodyBytes)) {
    body = body.pipeThrough(limitBody(options.maxBodyBytes, () => tooLarge = true));
  }
  const replayable = !(body instanceof ReadableStream);

  const early = new EarlyStop(request, options.deadlines, options.responseHeaderTimeout);
  try {
    let tunnel = pool.pick(service) ?? await tunnelOrWait(early, pool, service, options);
    for (let attempt = 0; tunnel !== undefined; attempt++) {
      if (tunnel === FULL) return full(service, outcome);
      outcome.tunnelId = tunnel.id;
      outcome.service = service ?? tunnel.service;
      outcome.retries = attempt;
      // The record's byte counts are this attempt's, not those of a failed one.
      outcome.bytesIn = outcome.bytesOut = -1;
      try {
        const exchange = tunnel.send({
          method: request.method,
          scheme: target.scheme,
          authority: host,
          path,
          headers: fields,
          body,
          contentLength: declared,
          onClose,
        });
        early.exchange = exchange;
        const head = await exchange.response;
        outcome.status = head.status;
        const headers = head.headers;
        // RFC 9110 §7.6.3: the response passed through us too.
        headers.push(VIA);
        if (!hasField(headers, "x-request-id")) headers.push(["x-request-id", outcome.requestId]);
        // A body that arrived whole goes out with the head, without a stream; a stream's
        // chunks are the reader's alone (edge/proxied_body.ts).
        const answer = head.body instanceof ReadableStream ? ownedChunks(head.body) : head.body;
        return responseOf(answer, head.status, headers);
      } catch (error) {
        if (early.why !== null) return stopped(early, request, pathname, tunnel, options);
        if (tooLarge) return contentTooLarge(options.maxBodyBytes);
        // Its tunnels' queue was full: no other tunnel of the service has room either.
        if (error instanceof QueueFullError) return full(service, outcome);
        const reason = describe(error);
        outcome.error = reason;
        // A streaming body nobody has read yet (the request waited for a stream slot
        // on a tunnel that went away, and never left) can still go elsewhere.
        const resendable = replayable || !(body as ReadableStream<Uint8Array>).locked;
        if (attempt < options.maxRetries && resendable && mayRetry(error, request.method)) {
          const failed = tunnel;
          tunnel = await tunnelOrWait(early, pool, service, options, failed);
          if (early.why !== null) return stopped(early, request, pathname, failed, options);
          if (tunnel === FULL) return full(service, outcome);
          if (tunnel !== undefined) {
            options.log(
              `${request.method} ${pathname}: tunnel ${failed.id} failed (${reason}); retrying on ${tunnel.id}`,
            );
            continue;
          }
        }
        options.log(`${request.method} ${pathname}: tunnel failed: ${reason}`);
        return text(
          502,
          `Bad Gateway: the tunnel failed before the response headers (${reason})`,
        );
      }
    }
    return early.unanswered(service);
  } finally {
    early.done();
  }
}

/** The answer to a request stopped before its response head (see EarlyStop.answer). */
function stopped(
  early: EarlyStop,
  request: Request,
  pathname: string,
  tunnel: RouterTunnel,
  options: ProxyOptions,
): Response {
  return early.answer(
    options.log,
    `${request.method} ${pathname}: tunnel ${tunnel.id}: no response headers in time`,
    `the backend sent no response headers within ${options.responseHeaderTimeout} ms`,
  );
}

/** The 503 for a request its service's queue had no place for; logged by the queue. */
function full(service: string | null, outcome: Outcome): Response {
  outcome.error = QUEUE_FULL;
  return queueFull(service);
}

/** 413 for a body over the limit (RFC 9110 §15.5.14). */
function contentTooLarge(limit: number): Response {
  return text(413, `Content Too Large: the limit is ${limit} bytes`);
}

/** Whether a field list holds `name` (lower case). */
function hasField(pairs: FieldPairs, name: string): boolean {
  for (let i = 0; i < pairs.length; i++) if (pairs[i]![0] === name) return true;
  return false;
}

/** A Content-Length value as a number: one decimal, or a list of equal ones; NaN otherwise. */
function declaredLength(value: string): number {
  if (/^\d{1,15}$/.test(value)) return Number(value);
  let length = NaN;
  for (const part of value.split(",")) {
    const text = part.trim();
    if (!/^\d{1,15}$/.test(text)) return NaN;
    if (!Number.isNaN(length) && Number(text) !== length) return NaN;
    length = Number(text);
  }
  return length;
}
