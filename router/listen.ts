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
 * @throws {Deno.errors.AddrInUse} When the port is taken.
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
  if (options.tls === undefined) return Deno.listen(where);
  try {
    return Deno.listenTls({
      ...where,
      cert: options.tls.cert,
      key: options.tls.key,
      ...(options.alpnProtocols ? { alpnProtocols: options.alpnProtocols } : {}),
    });
  } catch (error) {
    // A port in use or an interface that does not exist are not the certificate's fault.
    if (error instanceof Deno.errors.AddrInUse || error instanceof Deno.errors.AddrNotAvailable) {
      throw error;
    }
    if (error instanceof Deno.errors.PermissionDenied) throw error;
    throw new TlsConfigError(name, error);
  }
}
