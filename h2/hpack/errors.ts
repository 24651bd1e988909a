/**
 * Errors raised by the HPACK codec (RFC 7541).
 *
 * @module
 */

/**
 * A header block that cannot be decoded (RFC 7541 §2.3.3, §4.2, §5, §6). The
 * decoder's state can no longer be trusted, so the connection maps this error
 * to a connection error of type COMPRESSION_ERROR (RFC 9113 §4.3).
 *
 * @example Catch a malformed header block
 * ```ts
 * import { HpackDecoder } from "./decoder.ts";
 * import { HpackError } from "./errors.ts";
 * import { throws } from "node:assert/strict";
 *
 * // Index 0 is not used by HPACK (RFC 7541 §6.1).
 * throws(() => new HpackDecoder().decode(new Uint8Array([0x80])), HpackError);
 * ```
 */
export class HpackError extends Error {
  /**
   * Creates an error for a malformed header block.
   *
   * @param message What is wrong with the block.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HpackError";
  }
}

/**
 * A decoded header list larger than the decoder's `maxHeaderListSize`
 * (RFC 9113 §6.5.2). Unlike its parent {@linkcode HpackError}, the whole block
 * was still decoded, so the dynamic table stays in sync with the peer: catch
 * this class first and treat it as a stream error (RFC 9113 §8.2.2), not as
 * COMPRESSION_ERROR.
 *
 * @example Tell an oversized list from a broken block
 * ```ts
 * import { HeaderListSizeError, HpackError } from "./errors.ts";
 * import { equal, ok } from "node:assert/strict";
 *
 * const error = new HeaderListSizeError(20000, 16384);
 * ok(error instanceof HpackError);
 * equal(error.size, 20000);
 * equal(error.limit, 16384);
 * ```
 */
export class HeaderListSizeError extends HpackError {
  /** Size of the whole decoded list: the sum of name + value + 32 octets per field. */
  readonly size: number;
  /** The `maxHeaderListSize` that {@linkcode HeaderListSizeError.size} exceeded. */
  readonly limit: number;

  /**
   * Creates an error for a header list over the size limit.
   *
   * @param size Size of the decoded list (RFC 9113 §6.5.2).
   * @param limit The limit it exceeded.
   * @param options Standard error options (`cause`).
   */
  constructor(size: number, limit: number, options?: ErrorOptions) {
    super(`Header list too large: ${size} octets exceeds the limit of ${limit}`, options);
    this.name = "HeaderListSizeError";
    this.size = size;
    this.limit = limit;
  }
}
