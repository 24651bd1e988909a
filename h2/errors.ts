/**
 * Errors of the HTTP/2 codec. A {@linkcode ConnectionError} ends the whole
 * connection with GOAWAY; a {@linkcode StreamError} ends one stream with
 * RST_STREAM (RFC 9113 §5.4).
 *
 * @module
 */

import { errorCodeName } from "./constants.ts";

/**
 * Base class of every error the codec raises; carries an HTTP/2 error code.
 *
 * @example Catch any codec error
 * ```ts
 * import { Http2Error, StreamError } from "./errors.ts";
 * import { ok } from "node:assert/strict";
 * ok(new StreamError(1, 8, "cancelled") instanceof Http2Error);
 * ```
 */
export class Http2Error extends Error {
  /** The HTTP/2 error code (RFC 9113 §7). */
  readonly code: number;
  /**
   * @param code The HTTP/2 error code.
   * @param message What went wrong.
   * @param options Standard error options (`cause`).
   */
  constructor(code: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Http2Error";
    this.code = code;
  }
  /** The RFC name of {@linkcode Http2Error.code}, e.g. `PROTOCOL_ERROR`. */
  get codeName(): string {
    return errorCodeName(this.code);
  }
}

/**
 * A connection error: the connection is ended with GOAWAY carrying
 * {@linkcode Http2Error.code} (RFC 9113 §5.4.1).
 *
 * @example
 * ```ts
 * import { ConnectionError } from "./errors.ts";
 * import { equal } from "node:assert/strict";
 * const error = new ConnectionError(1, "Invalid frame: SETTINGS on stream 3");
 * equal(error.codeName, "PROTOCOL_ERROR");
 * ```
 */
export class ConnectionError extends Http2Error {
  /**
   * @param code The HTTP/2 error code sent in GOAWAY.
   * @param message What went wrong.
   * @param options Standard error options (`cause`).
   */
  constructor(code: number, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "ConnectionError";
  }
}

/**
 * A stream error: one stream is ended with RST_STREAM carrying
 * {@linkcode Http2Error.code} (RFC 9113 §5.4.2); the connection lives on.
 *
 * @example
 * ```ts
 * import { StreamError } from "./errors.ts";
 * import { equal } from "node:assert/strict";
 * const error = new StreamError(5, 0x8, "Stream cancelled: client went away");
 * equal(error.streamId, 5);
 * equal(error.codeName, "CANCEL");
 * ```
 */
export class StreamError extends Http2Error {
  /** The stream this error ends. */
  readonly streamId: number;
  /**
   * @param streamId The stream that is reset.
   * @param code The HTTP/2 error code sent in RST_STREAM.
   * @param message What went wrong.
   * @param options Standard error options (`cause`).
   */
  constructor(streamId: number, code: number, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = "StreamError";
    this.streamId = streamId;
  }
}
