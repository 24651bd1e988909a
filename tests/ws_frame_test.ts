/**
 * RFC 6455 framing: exact bytes for the examples of §5.7, parsing them back,
 * and every check a single frame can fail (§5.1, §5.2, §5.5, §7.4).
 */
import { deepEqual, equal, throws } from "node:assert/strict";
import {
  applyMask,
  encodeClosePayload,
  encodeFrame,
  FrameReader,
  isValidCloseCode,
  Opcode,
  parseClosePayload,
  type WebSocketFrame,
} from "../ws/frame.ts";

const KEY = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
const hello = new TextEncoder().encode("Hello");

function readAll(bytes: Uint8Array, masked: boolean, maxPayload?: number): WebSocketFrame[] {
  const reader = new FrameReader({ masked, ...(maxPayload === undefined ? {} : { maxPayload }) });
  reader.push(bytes);
  const frames: WebSocketFrame[] = [];
  for (let frame = reader.next(); frame !== null; frame = reader.next()) frames.push(frame);
  equal(reader.buffered, 0);
  return frames;
}

Deno.test("encodeFrame() writes the examples of RFC 6455 §5.7 byte for byte", () => {
  // A single-frame unmasked text message.
  deepEqual([...encodeFrame(Opcode.TEXT, hello)], [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
  // A single-frame masked text message.
  deepEqual(
    [...encodeFrame(Opcode.TEXT, hello, { mask: KEY })],
    [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
  );
  // A fragmented unmasked text message: "Hel", then "lo".
  deepEqual(
    [...encodeFrame(Opcode.TEXT, hello.subarray(0, 3), { fin: false })],
    [0x01, 0x03, 0x48, 0x65, 0x6c],
  );
  deepEqual(
    [...encodeFrame(Opcode.CONTINUATION, hello.subarray(3))],
    [0x80, 0x02, 0x6c, 0x6f],
  );
  // Unmasked Ping, masked Pong.
  deepEqual([...encodeFrame(Opcode.PING, hello)], [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
  deepEqual(
    [...encodeFrame(Opcode.PONG, hello, { mask: KEY })],
    [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
  );
  // 256 bytes: the 16-bit length; 65536 bytes: the 64-bit length.
  deepEqual([...encodeFrame(Opcode.BINARY, new Uint8Array(256)).subarray(0, 4)], [
    0x82,
    0x7e,
    0x01,
    0x00,
  ]);
  deepEqual([...encodeFrame(Opcode.BINARY, new Uint8Array(65_536)).subarray(0, 10)], [
    0x82,
    0x7f,
    0,
    0,
    0,
    0,
    0,
    0x01,
    0,
    0,
  ]);
  // 125 is the largest length in the first byte, 126 the first with an extension.
  equal(encodeFrame(Opcode.BINARY, new Uint8Array(125)).length, 127);
  equal(encodeFrame(Opcode.BINARY, new Uint8Array(126)).length, 130);
  equal(encodeFrame(Opcode.BINARY, new Uint8Array(65_535)).length, 65_539);
});

Deno.test("encodeFrame() draws a fresh masking key when asked to mask", () => {
  const a = encodeFrame(Opcode.TEXT, hello, { mask: true });
  const b = encodeFrame(Opcode.TEXT, hello, { mask: true });
  equal(a[1]! & 0x80, 0x80);
  const [frame] = readAll(a, true);
  deepEqual([...frame!.payload], [...hello]);
  // 2^-32 chance of a spurious failure.
  equal(a.subarray(2, 6).join() === b.subarray(2, 6).join(), false);
});

Deno.test("FrameReader parses frames back, fed in one piece or byte by byte", () => {
  const bytes = new Uint8Array([
    ...encodeFrame(Opcode.TEXT, hello.subarray(0, 3), { fin: false, mask: KEY }),
    ...encodeFrame(Opcode.PING, hello, { mask: true }),
    ...encodeFrame(Opcode.CONTINUATION, hello.subarray(3), { mask: true }),
    ...encodeFrame(Opcode.BINARY, new Uint8Array(70_000).fill(7), { mask: true }),
  ]);
  const whole = readAll(bytes, true);
  const reader = new FrameReader({ masked: true });
  const split: WebSocketFrame[] = [];
  for (let i = 0; i < bytes.length; i++) {
    reader.push(bytes.subarray(i, i + 1));
    for (let frame = reader.next(); frame !== null; frame = reader.next()) split.push(frame);
  }
  for (const frames of [whole, split]) {
    deepEqual(frames.map((f) => [f.fin, f.opcode, f.payload.length]), [
      [false, Opcode.TEXT, 3],
      [true, Opcode.PING, 5],
      [true, Opcode.CONTINUATION, 2],
      [true, Opcode.BINARY, 70_000],
    ]);
    equal(new TextDecoder().decode(frames[1]!.payload), "Hello");
    equal(frames[3]!.payload.every((b) => b === 7), true);
  }
});

Deno.test("FrameReader fails frames that break RFC 6455 §5 with the right close code", () => {
  const cases: Array<[string, Uint8Array, boolean, number]> = [
    ["RSV1 without an extension (§5.2)", new Uint8Array([0xc1, 0x00]), false, 1002],
    ["a reserved data opcode (§5.2)", new Uint8Array([0x83, 0x00]), false, 1002],
    ["a reserved control opcode (§5.2)", new Uint8Array([0x8b, 0x00]), false, 1002],
    [
      "a masked frame from a server (§5.1)",
      encodeFrame(Opcode.TEXT, hello, { mask: KEY }),
      false,
      1002,
    ],
    ["an unmasked frame from a client (§5.1)", encodeFrame(Opcode.TEXT, hello), true, 1002],
    [
      "a control frame over 125 bytes (§5.5)",
      encodeFrame(Opcode.PING, new Uint8Array(126)),
      false,
      1002,
    ],
    [
      "a fragmented control frame (§5.5)",
      encodeFrame(Opcode.PING, hello, { fin: false }),
      false,
      1002,
    ],
    [
      "a 64-bit length with its top bit set (§5.2)",
      new Uint8Array([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1]),
      false,
      1009,
    ],
  ];
  for (const [what, bytes, masked, code] of cases) {
    throws(() => readAll(bytes, masked), { name: "WebSocketProtocolError", code }, what);
  }
  // Over the size limit: failed from the header alone, before the payload arrives.
  const reader = new FrameReader({ masked: false, maxPayload: 1000 });
  reader.push(encodeFrame(Opcode.BINARY, new Uint8Array(1001)).subarray(0, 4));
  throws(() => reader.next(), { code: 1009 });
});

Deno.test("Close payloads carry valid codes and UTF-8 reasons (RFC 6455 §5.5.1, §7.4)", () => {
  deepEqual(parseClosePayload(encodeClosePayload(1000, "bye ✓")), { code: 1000, reason: "bye ✓" });
  deepEqual(parseClosePayload(encodeClosePayload(undefined)), { code: 1005, reason: "" });
  throws(() => parseClosePayload(new Uint8Array([0x03])), { code: 1002 });
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000]) {
    equal(isValidCloseCode(code), false, String(code));
    throws(() => parseClosePayload(new Uint8Array([code >> 8, code & 0xff])), { code: 1002 });
  }
  for (const code of [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1014, 3000, 4999]) {
    equal(isValidCloseCode(code), true, String(code));
  }
  throws(() => parseClosePayload(new Uint8Array([0x03, 0xe8, 0xff])), { code: 1007 });
  throws(() => encodeClosePayload(1000, "x".repeat(124)), RangeError);
  equal(encodeClosePayload(1000, "x".repeat(123)).length, 125);
});

Deno.test("applyMask() honours the key offset across split payloads", () => {
  const data = new Uint8Array(11).map((_, i) => i * 13);
  const whole = data.slice();
  applyMask(whole, KEY);
  const parts = data.slice();
  applyMask(parts.subarray(0, 5), KEY, 0);
  applyMask(parts.subarray(5), KEY, 5);
  deepEqual([...parts], [...whole]);
});

Deno.test("applyMask() gives the byte-by-byte result at every alignment, offset and length", () => {
  for (let align = 0; align < 4; align++) {
    for (let offset = 0; offset < 4; offset++) {
      for (const n of [0, 1, 2, 3, 4, 5, 7, 8, 9, 33, 100]) {
        const buffer = new Uint8Array(n + 8).map((_, i) => (i * 31) & 0xff);
        const data = buffer.subarray(align, align + n);
        const expected = data.map((b, i) => b ^ KEY[(offset + i) & 3]!);
        applyMask(data, KEY, offset);
        deepEqual([...data], [...expected], `align ${align}, offset ${offset}, length ${n}`);
      }
    }
  }
});
