/**
 * Opening the router's listeners, plain or TLS, with a TLS certificate and
 * key that cannot be used reported as one typed error: Deno refuses them
 * when the listener is made (`keys may not be consistent: KeyMismatch`,
 * `No certificates found in certificate data`), and the CLI turns that
 * into one line and exit code 2.
 *
 * @module
 */

/**
 * A certificate or key the router cannot listen with: not PEM, not a pair,
 * or of a kind TLS does not take.
 *
 * @example
 * ```ts
 * import { TlsConfigError } from "jsr:@ptth/router/router";
 * import { equal } from "node:assert/strict";
 * equal(new TlsConfigError("public", new Error("KeyMismatch")).listener, "public");
 * ```
 */
export class TlsConfigError extends Error {
  /** Which listener: `public` or `tunnel`. */
  readonly listener: string;

  /**
   * Wraps what Deno said about a certificate or key.
   *
   * @param listener Which listener it is about.
   * @param cause What Deno said.
   */
  constructor(listener: string, cause: unknown) {
    const why = String((cause as Error)?.message ?? cause).split("\n")[0];
    super(`Invalid TLS certificate or key for the ${listener} port: ${why}`, { cause });
    this.name = "TlsConfigError";
    this.listener = listener;
  }
}

/**
 * A listener could not open: the port is taken, the address is not one of
 * this machine's, the name does not resolve, or the port needs privileges.
 * Names the listener and its address, so that a user knows which flag to fix.
 *
 * @example
 * ```ts
 * import { ListenError } from "jsr:@ptth/router/router";
 * import { equal } from "node:assert/strict";
 * const error = new ListenError("tunnel", "0.0.0.0", 8887, new Deno.errors.AddrInUse("in use"));
 * equal(error.message, "Cannot listen on 0.0.0.0:8887 (tunnel port): the port is in use");
 * equal(error.inUse, true);
 * ```
 */
export class ListenError extends Error {
  /** Which listener: `public`, `tunnel` or `admin`. */
  readonly listener: string;
  /** The address asked for. */
  readonly hostname: string;
  /** The port asked for. */
  readonly port: number;

  /**
   * Describes what Deno said about a listener that did not open.
   *
   * @param listener Which listener.
   * @param hostname The address asked for.
   * @param port The port asked for.
   * @param cause What Deno said.
   */
  constructor(listener: string, hostname: string, port: number, cause: unknown) {
    super(`Cannot listen on ${hostPortOf(hostname, port)} (${listener} port): ${why(cause)}`, {
      cause,
    });
    this.name = "ListenError";
    this.listener = listener;
    this.hostname = hostname;
    this.port = port;
  }

  /** Whether the port is taken (by another program, or another router). */
  get inUse(): boolean {
    return this.cause instanceof Deno.errors.AddrInUse;
  }
}

function hostPortOf(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** What went wrong, in words a user can act on. */
function why(cause: unknown): string {
  if (cause instanceof Deno.errors.AddrInUse) return "the port is in use";
  if (cause instanceof Deno.errors.AddrNotAvailable) {
    return "the address is not one of this machine's";
  }
  if (cause instanceof Deno.errors.PermissionDenied) {
    return "permission denied (ports below 1024 need privileges)";
  }
  const message = String((cause as Error)?.message ?? cause).split("\n")[0]!;
  if (/lookup|resolve|Name or service not known/i.test(message)) {
    return "the host name does not resolve";
  }
  return message;
}

/**
 * Opens a plain TCP listener, or throws a {@linkcode ListenError} naming it.
 *
 * @param name Which listener (`public`, `tunnel`, `admin`).
 * @param hostname The interface.
 * @param port The port; 0 picks a free one.
 * @returns The listener.
 * @throws {ListenError} When it cannot open.
 */
export function listenTcp(name: string, hostname: string, port: number): Deno.TcpListener {
  try {
    return Deno.listen({ hostname, port });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    throw new ListenError(name, hostname, port, error);
  }
}

/** Where and how to listen. */
export interface ListenOptions {
  /** Interface. */
  hostname: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** Certificate and key (PEM), for TLS. */
  tls?: { cert: string; key: string };
  /** Protocols offered through ALPN (TLS only). */
  alpnProtocols?: string[];
}

/**
 * Opens a TCP or TLS listener.
 *
 * @param name Which listener, for the error (`public`, `tunnel`).
 * @param options Where and how.
 * @returns The listener.
 * @throws {TlsConfigError} When the certificate or key cannot be used.
 * @throws {ListenError} When the port is taken, the address is not local, or the name
 *   does not resolve.
 *
 * @example A key that does not match its certificate
 * ```ts
 * import { listen, TlsConfigError } from "./listen.ts";
 * import { throws } from "node:assert/strict";
 * throws(
 *   () => listen("public", { hostname: "127.0.0.1", port: 0, tls: { cert: "x", key: "y" } }),
 *   TlsConfigError,
 * );
 * ```
 */
export function listen(name: string, options: ListenOptions): Deno.Listener {
  const where = { hostname: options.hostname, port: options.port };
  if (options.tls === undefined) return listenTcp(name, where.hostname, where.port);
  try {
    return Deno.listenTls({
      ...where,
      cert: options.tls.cert,
      key: options.tls.key,
      ...(options.alpnProtocols ? { alpnProtocols: options.alpnProtocols } : {}),
    });
  } catch (error) {
    // A port in use or an interface that does not exist are not the certificate's fault.
    if (error instanceof Deno.errors.NotCapable) throw error;
    if (
      error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.AddrNotAvailable ||
      error instanceof Deno.errors.PermissionDenied ||
      /lookup|resolve/i.test((error as Error)?.message ?? "")
    ) {
      throw new ListenError(name, where.hostname, where.port, error);
    }
    throw new TlsConfigError(name, error);
  }
}
