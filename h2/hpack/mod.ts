/**
 * HPACK, the header compression of HTTP/2 (RFC 7541).
 *
 * {@linkcode HpackEncoder} turns flat `[name, value, ...]` header lists into
 * header blocks and {@linkcode HpackDecoder} turns blocks back into lists.
 * Each keeps a dynamic table that mirrors the peer's, so a connection owns
 * one encoder and one decoder and runs blocks through them in wire order.
 * Names and values are octet strings: each char code is one octet (0-255).
 *
 * A malformed block throws {@linkcode HpackError} (a COMPRESSION_ERROR for
 * the connection); a list over `maxHeaderListSize` throws its subclass
 * {@linkcode HeaderListSizeError} after the table has been kept in sync.
 *
 * @example Round trip a response
 * ```ts
 * import { HpackDecoder, HpackEncoder } from "./mod.ts";
 * import { deepEqual } from "node:assert/strict";
 *
 * const encoder = new HpackEncoder();
 * const decoder = new HpackDecoder({ maxHeaderListSize: 16384 });
 * const headers = [":status", "200", "content-type", "text/plain", "server", "ptth"];
 * deepEqual(decoder.decode(encoder.encode(headers).slice()), headers);
 * // The second time, every field is a one-octet table index.
 * deepEqual(encoder.encode(headers), new Uint8Array([0x88, 0xbf, 0xbe]));
 * ```
 *
 * @module
 */

export { HpackEncoder, type HpackEncoderOptions } from "./encoder.ts";
export { HpackDecoder, type HpackDecoderOptions } from "./decoder.ts";
export { HeaderListSizeError, HpackError } from "./errors.ts";
export type { DynamicTableView } from "./dynamic_table.ts";
