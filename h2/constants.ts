/**
 * Wire constants of HTTP/2 (RFC 9113): frame types, flags, error codes,
 * settings identifiers, the client connection preface and protocol defaults.
 *
 * @module
 */

/** Frame type codes (RFC 9113 §6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;
/** One of the frame type codes of {@linkcode FrameType}. */
export type FrameType = typeof FrameType[keyof typeof FrameType];

/** Frame flags (RFC 9113 §6). ACK shares its bit with END_STREAM. */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes carried by RST_STREAM and GOAWAY (RFC 9113 §7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;
/** One of the error codes of {@linkcode ErrorCode}; unknown codes are kept as numbers. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/**
 * The name of an error code, for logs and messages.
 *
 * @param code An HTTP/2 error code.
 * @returns Its RFC 9113 name, or `UNKNOWN_0x…` for codes the RFC does not define.
 *
 * @example Name a code
 * ```ts
 * import { errorCodeName } from "./constants.ts";
 * import { equal } from "node:assert/strict";
 * equal(errorCodeName(8), "CANCEL");
 * ```
 */
export function errorCodeName(code: number): string {
  for (const [name, value] of Object.entries(ErrorCode)) {
    if (value === code) return name;
  }
  return `UNKNOWN_0x${code.toString(16)}`;
}

/** Settings identifiers (RFC 9113 §6.5.2, RFC 8441 §3). */
export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  ENABLE_CONNECT_PROTOCOL: 0x8,
} as const;

/** The client connection preface, `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (RFC 9113 §3.4). */
export const CLIENT_PREFACE: Uint8Array = new TextEncoder().encode(
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
);

/** Length of a frame header in bytes (RFC 9113 §4.1). */
export const FRAME_HEADER_LENGTH = 9;
/** The initial flow-control window of every stream and connection (RFC 9113 §6.9.2). */
export const DEFAULT_INITIAL_WINDOW_SIZE = 65_535;
/** The largest flow-control window, 2^31-1 (RFC 9113 §6.9.1). */
export const MAX_WINDOW_SIZE = 0x7fff_ffff;
/** The initial and smallest SETTINGS_MAX_FRAME_SIZE (RFC 9113 §6.5.2). */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** The largest SETTINGS_MAX_FRAME_SIZE, 2^24-1 (RFC 9113 §6.5.2). */
export const MAX_MAX_FRAME_SIZE = 16_777_215;
/** The initial SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2). */
export const DEFAULT_HEADER_TABLE_SIZE = 4_096;
