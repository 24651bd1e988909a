/**
 * The options of a router, as `createRouter` takes them and the configuration
 * (flags, environment, file) produces them: types only, so that the option
 * table and the router can both read them without importing each other.
 *
 * @module
 */

import type { LocalSettings } from "../h2/connection.ts";
import type { LogFormat, LogLevel } from "../log/logger.ts";

/**
 * One routing rule: requests whose host matches `host` (exact, or `*.suffix`
 * for any subdomain) and whose path starts with `path` go to `service`.
 * Longest match wins: exact host before wildcard, then the longest path.
 */
export interface RouteSpec {
  /** `api.example.com`, `*.apps.example.com`, or omitted for any host. */
  host?: string;
  /** A path prefix on segment boundaries, e.g. `/api`. @default {"/"} */
  path?: string;
  /** The service; `*` with a wildcard host takes the host's first label. */
  service: string;
}

/** Options of the admin listener (`RouterOptions.admin`). */
export interface AdminOptions {
  /** Interface to listen on; loopback only unless told otherwise. @default {"127.0.0.1"} */
  hostname?: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** A token `/metrics` and `/api/*` require as `Authorization: Bearer <token>`. @default {none} */
  token?: string;
  /**
   * Services that must each have a tunnel up (not draining) before `/readyz`
   * answers 200; without any, ready means listening.
   * @default {[]}
   */
  readyServices?: string[];
  /**
   * Host names the admin listener answers besides loopback names, IP
   * addresses and its own `hostname`: a request for any other Host gets 421
   * on all but `/healthz` and `/readyz`, so a page re-pointed at it by DNS
   * rebinding reads nothing.
   * @default {[]}
   */
  hosts?: string[];
}

/** Options of {@linkcode createRouter}. */
export interface RouterOptions {
  /** Interface for the public HTTP port. @default {"0.0.0.0"} */
  hostname?: string;
  /** Public HTTP port; 0 picks a free one. @default {8888} */
  port?: number;
  /** Interface for the tunnel port. @default {hostname} */
  tunnelHostname?: string;
  /** Port backends dial; 0 picks a free one. @default {8887} */
  tunnelPort?: number;
  /**
   * The path on the public port where backends open tunnels over WebSocket
   * (through HTTPS-only proxies and load balancers); `""` turns it off.
   * @default {"/.well-known/ptth/tunnel"}
   */
  tunnelPath?: string;
  /** Aborting it shuts the router down gracefully. */
  signal?: AbortSignal;
  /** Certificate and key (PEM) for public HTTPS; HTTP/2 is offered through ALPN. */
  tls?: { cert: string; key: string };
  /** Certificate and key (PEM) for TLS on the tunnel port. */
  tunnelTls?: { cert: string; key: string };
  /**
   * Tokens per service: a backend presenting one of `tokens[s]` may register
   * as service `s` only. Compared in constant time.
   * @default {{}}
   */
  tokens?: Record<string, string | string[]>;
  /**
   * Whether tunnels without a token (and raw HTTP/2 tunnels of the Go original)
   * are accepted; they serve service `default`.
   * @default {true when no token is configured, else false}
   */
  allowAnonymous?: boolean;
  /**
   * The hosts each service's backends may announce (`PTTH-Hosts`): patterns,
   * each an exact host or `*.suffix`; an announced name must be covered by one
   * (an announced `*.a.example.com` by `*.a.example.com` or `*.example.com`).
   * A host belongs to at most one service: patterns of two services must not
   * share a name. A service without an entry announces no hosts, except
   * anonymous tunnels of a router with no tokens at all (a single tenant), which
   * may announce any host no route names.
   * @default {{}}
   */
  serviceHosts?: Record<string, string[]>;
  /** The route table; none means every request goes to any tunnel. @default {[]} */
  routes?: RouteSpec[];
  /**
   * Peers whose X-Forwarded-* headers are believed (IP addresses or CIDR
   * ranges); from anyone else those headers are replaced.
   * @default {[]}
   */
  trustedProxies?: string[];
  /** Largest request header section in bytes (431 above). @default {65536} */
  maxHeaderBytes?: number;
  /** Largest request body in bytes (413 above). @default {Infinity} */
  maxBodyBytes?: number;
  /** How long to wait for a backend's response headers (ms; 504 after). @default {60000} */
  responseHeaderTimeout?: number;
  /**
   * How long a request waits for a tunnel of its service to (re)connect before
   * 503, so that a backend restart is invisible to clients (ms).
   * @default {3000}
   */
  tunnelWait?: number;
  /**
   * How many times a failed request is sent again on another tunnel: any
   * request the backend never processed, others only when idempotent and their
   * tunnel failed under them (never one whose own stream the backend reset);
   * bodies must be absent or small enough to replay (64 KiB).
   * @default {2}
   */
  maxRetries?: number;
  /** How long a stream may move no body bytes either way before it is reset (ms). @default {300000} */
  idleTimeout?: number;
  /** Streams per tunnel at most, below the backend's own limit. @default {Infinity} */
  maxStreamsPerTunnel?: number;
  /**
   * Requests of one service that may wait at once for a stream slot (every
   * tunnel of the service at its stream limit) or for a tunnel to connect;
   * beyond it a request is answered 503 with `Retry-After` at once.
   * @default {1024}
   */
  maxQueuedRequests?: number;
  /**
   * Response bytes the router may hold for public clients that have not taken
   * them yet, across all tunnels. Each response holds at most its stream window
   * (4 MiB); past this budget, streams whose clients took nothing for a second
   * are reset, those holding the most first.
   * @default {268435456}
   */
  maxResponseBuffer?: number;
  /**
   * WebSocket message bytes the router may hold for messages it has not
   * received whole yet, over all sockets (relayed ones and tunnels over
   * WebSocket); a socket whose next fragment does not fit is closed with 1009.
   * Each message is also at most 64 MiB.
   * @default {268435456}
   */
  maxWebSocketBuffer?: number;
  /** Tunnels per service at most (more are refused with 429). @default {256} */
  maxTunnelsPerService?: number;
  /** Failed handshakes per address per minute before 429. @default {10} */
  authFailuresPerMinute?: number;
  /**
   * PING a tunnel that has been silent this long (ms); under the 30 s after
   * which many NATs drop idle flows.
   * @default {15000}
   */
  keepaliveInterval?: number;
  /** Close a tunnel whose PING is not answered within this long (ms). @default {10000} */
  keepaliveTimeout?: number;
  /**
   * HTTP/2 settings the router advertises on tunnels, over the tunnel defaults
   * (README, "Defaults the endpoints advertise"); the connection window is
   * sixteen stream windows.
   */
  http2?: LocalSettings;
  /** How long a tunnel may take to complete its handshake (ms). @default {10000} */
  handshakeTimeout?: number;
  /**
   * Public connections open at once at most. At the limit the keep-alive
   * connection idle the longest is closed to make room; else new ones wait
   * in the kernel's backlog.
   * @default {10000}
   */
  maxConnections?: number;
  /** Public connections from one address at once at most (more are closed at once). @default {512} */
  maxConnectionsPerAddress?: number;
  /**
   * How long a public client may take to send a request head (ms): from
   * accept (TLS handshake and HTTP/2 preface included), or from the first
   * byte of a later request on a kept-alive connection; then it is closed.
   * @default {10000}
   */
  headerTimeout?: number;
  /**
   * How long a public connection may stay open with no request in flight
   * (ms), and how long a read or write of a request may make no progress;
   * HTTP/2 connections get GOAWAY first.
   * @default {60000}
   */
  clientIdleTimeout?: number;
  /**
   * Tunnel connections whose handshake is not complete, at once at most; at
   * the limit new ones wait in the kernel's backlog.
   * @default {1024}
   */
  maxPendingHandshakes?: number;
  /** Tunnel handshakes from one address at once at most (more are closed at once). @default {16} */
  maxPendingHandshakesPerAddress?: number;
  /** Where log lines go. @default {console.error} */
  log?: (line: string) => void;
  /** Log nothing (tests, embedding). @default {false} */
  quiet?: boolean;
  /** How log lines look: `text` for terminals, `json` for one object a line. @default {"text"} */
  logFormat?: LogFormat;
  /** The least severe level logged: `debug`, `info`, `warn` or `error`. @default {"info"} */
  logLevel?: LogLevel;
  /**
   * Turns on automatic HTTPS: certificates from an ACME CA (RFC 8555) for the
   * exact host names of the routes, the account registered with this contact.
   * @default {none: off}
   */
  acmeEmail?: string;
  /** The ACME CA's directory URL. @default {Let's Encrypt production} */
  acmeDirectory?: string;
  /** Use Let's Encrypt's staging CA (untrusted certificates, high rate limits). @default {false} */
  acmeStaging?: boolean;
  /** PEM certificates (text) to trust for the ACME CA's own HTTPS, e.g. a private CA's root. @default {[]} */
  acmeCaCerts?: string[];
  /** Where the ACME account key and the certificates are kept (0700 folders, 0600 files). @default {"ptth-state"} */
  stateDir?: string;
  /** How long one certificate order may take, from new order to certificate (ms). @default {120000} */
  acmeOrderTimeout?: number;
  /** How long one request to the ACME CA may take (ms). @default {30000} */
  acmeRequestTimeout?: number;
  /** New certificate orders per hour at most, over all names. @default {20} */
  acmeOrdersPerHour?: number;
  /** The wait after a name's first failed order, doubled after each (ms). @default {60000} */
  acmeRetryDelay?: number;
  /** The longest wait between orders for a failing name (ms). @default {3600000} */
  acmeRetryMaxDelay?: number;
  /**
   * An admin listener apart from the public port: `/healthz`, `/readyz`,
   * `/api/tunnels`, `/metrics` (Prometheus) and the dashboard at `/`.
   * @default {none}
   */
  admin?: AdminOptions;
}
