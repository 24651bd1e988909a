import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { CLIENT_PREFACE, ErrorCode, Flag, FrameType, SettingId } from "../h2/constants.ts";
import { ConnectionError, StreamError } from "../h2/errors.ts";
import {
  type ContinuationFrame,
  type DataFrame,
  type Frame,
  type FrameHeader,
  FrameWriter,
  type GoawayFrame,
  type HeadersFrame,
  parseFrame,
  type PingFrame,
  type PriorityFrame,
  type PushPromiseFrame,
  readFrameHeader,
  type RstStreamFrame,
  type SettingsFrame,
  type UnknownFrame,
  type WindowUpdateFrame,
} from "../h2/frame.ts";

/** Encodes with a fresh writer and returns a copy of the bytes. */
function encode(write: (writer: FrameWriter) => void): number[] {
  const writer = new FrameWriter();
  write(writer);
  return [...writer.bytes()];
}

/** Parses one whole frame from its wire bytes. */
function parse(bytes: ArrayLike<number>): Frame | UnknownFrame {
  const buf = new Uint8Array(bytes);
  const header: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
  readFrameHeader(buf, 0, header);
  equal(header.length, buf.length - 9, "the test bytes hold exactly one frame");
  return parseFrame(header, buf.subarray(9));
}

/** A frame header followed by `payload`. */
function frame(type: number, flags: number, streamId: number, payload: number[]): number[] {
  const length = payload.length;
  return [
    length >>> 16,
    (length >>> 8) & 0xff,
    length & 0xff,
    type,
    flags,
    streamId >>> 24,
    (streamId >>> 16) & 0xff,
    (streamId >>> 8) & 0xff,
    streamId & 0xff,
    ...payload,
  ];
}

function connectionError(code: number): (error: unknown) => boolean {
  return (error) => {
    ok(error instanceof ConnectionError, `expected ConnectionError, got ${error}`);
    equal(error.codeName, new ConnectionError(code, "").codeName);
    return true;
  };
}

function streamError(streamId: number, code: number): (error: unknown) => boolean {
  return (error) => {
    ok(error instanceof StreamError, `expected StreamError, got ${error}`);
    equal(error.codeName, new StreamError(streamId, code, "").codeName);
    equal(error.streamId, streamId);
    return true;
  };
}

const text = (s: string) => [...new TextEncoder().encode(s)];

// ---- Frame header (§4.1) -------------------------------------------------------------------

Deno.test("readFrameHeader() reads length, type, flags and stream id at an offset (RFC 9113 §4.1)", () => {
  const out: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
  readFrameHeader(
    new Uint8Array([0xff, 0x12, 0x34, 0x56, 0x09, 0xab, 0x7f, 0xff, 0xff, 0xfe]),
    1,
    out,
  );
  deepEqual(out, { length: 0x123456, type: 9, flags: 0xab, streamId: 0x7fff_fffe });
});

Deno.test("readFrameHeader() ignores the reserved bit of the stream id (RFC 9113 §4.1)", () => {
  const out: FrameHeader = { length: 0, type: 0, flags: 0, streamId: 0 };
  readFrameHeader(new Uint8Array([0, 0, 0, 0, 0, 0x80, 0, 0, 3]), 0, out);
  equal(out.streamId, 3);
});

Deno.test("FrameWriter.header() writes a 24-bit length and a 31-bit stream id (RFC 9113 §4.1)", () => {
  deepEqual(
    encode((w) => w.header(0x12_3456, 0xfe, 0x5a, 0x7fff_ffff)),
    [0x12, 0x34, 0x56, 0xfe, 0x5a, 0x7f, 0xff, 0xff, 0xff],
  );
});

// ---- DATA (§6.1) ---------------------------------------------------------------------------

Deno.test("FrameWriter.data() encodes DATA with END_STREAM and parseFrame() reads it back (RFC 9113 §6.1)", () => {
  const bytes = encode((w) => w.data(1, new Uint8Array(text("hi")), true));
  deepEqual(bytes, frame(FrameType.DATA, Flag.END_STREAM, 1, text("hi")));
  const parsed = parse(bytes) as DataFrame;
  equal(parsed.type, FrameType.DATA);
  equal(parsed.streamId, 1);
  equal(parsed.endStream, true);
  deepEqual([...parsed.data], text("hi"));
  equal(parsed.flowLength, 2);
});

Deno.test("FrameWriter.data() encodes padding and parseFrame() strips it but counts it for flow control (RFC 9113 §6.1)", () => {
  const bytes = encode((w) => w.data(3, new Uint8Array([1, 2]), false, 3));
  deepEqual(bytes, frame(FrameType.DATA, Flag.PADDED, 3, [3, 1, 2, 0, 0, 0]));
  const parsed = parse(bytes) as DataFrame;
  equal(parsed.endStream, false);
  deepEqual([...parsed.data], [1, 2]);
  equal(parsed.flowLength, 6);
});

Deno.test("parseFrame() accepts DATA that is all padding (RFC 9113 §6.1)", () => {
  const parsed = parse(frame(FrameType.DATA, Flag.PADDED, 1, [2, 0, 0])) as DataFrame;
  equal(parsed.data.length, 0);
  equal(parsed.flowLength, 3);
});

Deno.test("parseFrame() rejects DATA on stream 0 as PROTOCOL_ERROR (RFC 9113 §6.1)", () => {
  throws(() => parse(frame(FrameType.DATA, 0, 0, [1])), connectionError(ErrorCode.PROTOCOL_ERROR));
});

Deno.test("parseFrame() rejects DATA whose padding fills the payload as PROTOCOL_ERROR (RFC 9113 §6.1)", () => {
  throws(
    () => parse(frame(FrameType.DATA, Flag.PADDED, 1, [3, 0, 0])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
});

Deno.test("parseFrame() rejects PADDED DATA without a pad length as FRAME_SIZE_ERROR (RFC 9113 §4.2)", () => {
  throws(
    () => parse(frame(FrameType.DATA, Flag.PADDED, 1, [])),
    connectionError(ErrorCode.FRAME_SIZE_ERROR),
  );
});

// ---- HEADERS (§6.2) ------------------------------------------------------------------------

Deno.test("FrameWriter.headers() encodes one HEADERS frame when the block fits (RFC 9113 §6.2)", () => {
  const bytes = encode((w) => w.headers(1, new Uint8Array([0x82, 0x86, 0x84]), true, 16_384));
  deepEqual(
    bytes,
    frame(FrameType.HEADERS, Flag.END_STREAM | Flag.END_HEADERS, 1, [0x82, 0x86, 0x84]),
  );
  const parsed = parse(bytes) as HeadersFrame;
  equal(parsed.type, FrameType.HEADERS);
  equal(parsed.endStream, true);
  equal(parsed.endHeaders, true);
  equal(parsed.dependency, -1);
  deepEqual([...parsed.fragment], [0x82, 0x86, 0x84]);
});

Deno.test("FrameWriter.headers() splits a block into HEADERS and CONTINUATION frames back to back (RFC 9113 §4.3, §6.10)", () => {
  const block = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const bytes = encode((w) => w.headers(5, new Uint8Array(block), true, 4));
  deepEqual(bytes, [
    ...frame(FrameType.HEADERS, Flag.END_STREAM, 5, [1, 2, 3, 4]),
    ...frame(FrameType.CONTINUATION, 0, 5, [5, 6, 7, 8]),
    ...frame(FrameType.CONTINUATION, Flag.END_HEADERS, 5, [9, 10]),
  ]);
  const last = parse(bytes.slice(26)) as ContinuationFrame;
  equal(last.type, FrameType.CONTINUATION);
  equal(last.endHeaders, true);
  deepEqual([...last.fragment], [9, 10]);
  const middle = parse(bytes.slice(13, 26)) as ContinuationFrame;
  equal(middle.endHeaders, false);
});

Deno.test("FrameWriter.headers() sends an empty block as one HEADERS frame (RFC 9113 §6.2)", () => {
  deepEqual(
    encode((w) => w.headers(1, new Uint8Array(0), false, 16_384)),
    frame(FrameType.HEADERS, Flag.END_HEADERS, 1, []),
  );
});

Deno.test("parseFrame() reads the priority fields and padding of HEADERS (RFC 9113 §6.2)", () => {
  const flags = Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY;
  const parsed = parse(
    frame(FrameType.HEADERS, flags, 3, [2, 0x80, 0, 0, 1, 15, 0x82, 0, 0]),
  ) as HeadersFrame;
  equal(parsed.dependency, 1);
  deepEqual([...parsed.fragment], [0x82]);
  equal(parsed.endStream, false);
});

Deno.test("parseFrame() leaves the HEADERS self-dependency for after HPACK decoding (RFC 9113 §5.3.1)", () => {
  const parsed = parse(
    frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, 3, [0, 0, 0, 3, 15, 0x82]),
  ) as HeadersFrame;
  equal(parsed.dependency, 3);
});

Deno.test("parseFrame() rejects HEADERS on stream 0 as PROTOCOL_ERROR (RFC 9113 §6.2)", () => {
  throws(
    () => parse(frame(FrameType.HEADERS, Flag.END_HEADERS, 0, [0x82])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
});

Deno.test("parseFrame() rejects HEADERS padding longer than the payload as PROTOCOL_ERROR (RFC 9113 §6.2)", () => {
  throws(
    () => parse(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, 1, [2, 0x82])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
});

Deno.test("parseFrame() rejects HEADERS padding that eats the priority fields as PROTOCOL_ERROR (RFC 9113 §6.2)", () => {
  const flags = Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY;
  throws(
    () => parse(frame(FrameType.HEADERS, flags, 1, [3, 0, 0, 0, 0, 15, 0, 0])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
});

Deno.test("parseFrame() rejects HEADERS too short for its priority fields as FRAME_SIZE_ERROR (RFC 9113 §4.2)", () => {
  throws(
    () => parse(frame(FrameType.HEADERS, Flag.PRIORITY, 1, [0, 0, 0, 0])),
    connectionError(ErrorCode.FRAME_SIZE_ERROR),
  );
  throws(
    () => parse(frame(FrameType.HEADERS, Flag.PRIORITY | Flag.PADDED, 1, [0, 0, 0, 0, 0])),
    connectionError(ErrorCode.FRAME_SIZE_ERROR),
  );
});

// ---- PRIORITY (§6.3) -----------------------------------------------------------------------

Deno.test("FrameWriter.priority() encodes PRIORITY and parseFrame() reads it back (RFC 9113 §6.3)", () => {
  const bytes = encode((w) => w.priority(5, 3, 16, true));
  deepEqual(bytes, frame(FrameType.PRIORITY, 0, 5, [0x80, 0, 0, 3, 15]));
  const parsed = parse(bytes) as PriorityFrame;
  deepEqual(parsed, {
    type: FrameType.PRIORITY,
    streamId: 5,
    dependency: 3,
    exclusive: true,
    weight: 16,
  });
  const plain = parse(encode((w) => w.priority(7, 0, 256))) as PriorityFrame;
  equal(plain.exclusive, false);
  equal(plain.weight, 256);
});

Deno.test("parseFrame() rejects PRIORITY on stream 0 as PROTOCOL_ERROR (RFC 9113 §6.3)", () => {
  throws(
    () => parse(frame(FrameType.PRIORITY, 0, 0, [0, 0, 0, 1, 0])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
});

Deno.test("parseFrame() rejects PRIORITY of a length other than 5 as a stream FRAME_SIZE_ERROR (RFC 9113 §6.3)", () => {
  throws(
    () => parse(frame(FrameType.PRIORITY, 0, 3, [0, 0, 0, 1])),
    streamError(3, ErrorCode.FRAME_SIZE_ERROR),
  );
  throws(
    () => parse(frame(FrameType.PRIORITY, 0, 3, [0, 0, 0, 1, 0, 0])),
    streamError(3, ErrorCode.FRAME_SIZE_ERROR),
  );
});

Deno.test("parseFrame() rejects PRIORITY depending on its own stream as a stream PROTOCOL_ERROR (RFC 9113 §5.3.1)", () => {
  throws(
    () => parse(frame(FrameType.PRIORITY, 0, 3, [0x80, 0, 0, 3, 0])),
    streamError(3, ErrorCode.PROTOCOL_ERROR),
  );
});

// ---- RST_STREAM (§6.4) ---------------------------------------------------------------------

Deno.test("FrameWriter.rstStream() encodes RST_STREAM and parseFrame() reads it back (RFC 9113 §6.4)", () => {
  const bytes = encode((w) => w.rstStream(7, ErrorCode.CANCEL));
  deepEqual(bytes, frame(FrameType.RST_STREAM, 0, 7, [0, 0, 0, 8]));
  deepEqual(parse(bytes) as RstStreamFrame, {
    type: FrameType.RST_STREAM,
    streamId: 7,
    errorCode: 8,
  });
});

Deno.test("parseFrame() keeps unknown RST_STREAM error codes as numbers (RFC 9113 §7)", () => {
  const parsed = parse(
    frame(FrameType.RST_STREAM, 0, 1, [0xff, 0xff, 0xff, 0xff]),
  ) as RstStreamFrame;
  equal(parsed.errorCode, 0xffff_ffff);
});

Deno.test("parseFrame() rejects RST_STREAM on stream 0 as PROTOCOL_ERROR (RFC 9113 §6.4)", () => {
  throws(
    () => parse(frame(FrameType.RST_STREAM, 0, 0, [0, 0, 0, 8])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
});

Deno.test("parseFrame() rejects RST_STREAM of a length other than 4 as FRAME_SIZE_ERROR (RFC 9113 §6.4)", () => {
  for (const payload of [[0, 0, 8], [0, 0, 0, 8, 0]]) {
    throws(
      () => parse(frame(FrameType.RST_STREAM, 0, 1, payload)),
      connectionError(ErrorCode.FRAME_SIZE_ERROR),
    );
  }
});

// ---- SETTINGS (§6.5) -----------------------------------------------------------------------

Deno.test("FrameWriter.settings() encodes SETTINGS and parseFrame() reads it back in order (RFC 9113 §6.5)", () => {
  const bytes = encode((w) =>
    w.settings([[SettingId.HEADER_TABLE_SIZE, 4096], [SettingId.INITIAL_WINDOW_SIZE, 65_535]])
  );
  deepEqual(
    bytes,
    frame(FrameType.SETTINGS, 0, 0, [0, 1, 0, 0, 0x10, 0, 0, 4, 0, 0, 0xff, 0xff]),
  );
  deepEqual(parse(bytes) as SettingsFrame, {
    type: FrameType.SETTINGS,
    ack: false,
    settings: [[1, 4096], [4, 65_535]],
  });
});

Deno.test("FrameWriter.settingsAck() encodes an empty SETTINGS with ACK (RFC 9113 §6.5.3)", () => {
  const bytes = encode((w) => w.settingsAck());
  deepEqual(bytes, frame(FrameType.SETTINGS, Flag.ACK, 0, []));
  deepEqual(parse(bytes) as SettingsFrame, { type: FrameType.SETTINGS, ack: true, settings: [] });
});

Deno.test("parseFrame() accepts boundary values and unknown SETTINGS identifiers (RFC 9113 §6.5.2)", () => {
  const settings: Array<[number, number]> = [
    [SettingId.ENABLE_PUSH, 0],
    [SettingId.ENABLE_PUSH, 1],
    [SettingId.INITIAL_WINDOW_SIZE, 0x7fff_ffff],
    [SettingId.MAX_FRAME_SIZE, 16_384],
    [SettingId.MAX_FRAME_SIZE, 16_777_215],
    [SettingId.ENABLE_CONNECT_PROTOCOL, 1],
    [0xabcd, 0xffff_ffff],
  ];
  const parsed = parse(encode((w) => w.settings(settings))) as SettingsFrame;
  deepEqual(parsed.settings, settings);
});

Deno.test("parseFrame() rejects SETTINGS on a stream as PROTOCOL_ERROR (RFC 9113 §6.5)", () => {
  throws(
    () => parse(frame(FrameType.SETTINGS, 0, 1, [])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
});

Deno.test("parseFrame() rejects SETTINGS ACK with a payload as FRAME_SIZE_ERROR (RFC 9113 §6.5)", () => {
  throws(
    () => parse(frame(FrameType.SETTINGS, Flag.ACK, 0, [0, 1, 0, 0, 0, 0])),
    connectionError(ErrorCode.FRAME_SIZE_ERROR),
  );
});

Deno.test("parseFrame() rejects SETTINGS whose length is not a multiple of 6 as FRAME_SIZE_ERROR (RFC 9113 §6.5)", () => {
  throws(
    () => parse(frame(FrameType.SETTINGS, 0, 0, [0, 1, 0, 0, 0])),
    connectionError(ErrorCode.FRAME_SIZE_ERROR),
  );
});

Deno.test("parseFrame() rejects out-of-range SETTINGS values with the codes of RFC 9113 §6.5.2", () => {
  const cases: Array<[number, number, number]> = [
    [SettingId.ENABLE_PUSH, 2, ErrorCode.PROTOCOL_ERROR],
    [SettingId.ENABLE_CONNECT_PROTOCOL, 2, ErrorCode.PROTOCOL_ERROR],
    [SettingId.INITIAL_WINDOW_SIZE, 0x8000_0000, ErrorCode.FLOW_CONTROL_ERROR],
    [SettingId.MAX_FRAME_SIZE, 16_383, ErrorCode.PROTOCOL_ERROR],
    [SettingId.MAX_FRAME_SIZE, 16_777_216, ErrorCode.PROTOCOL_ERROR],
  ];
  for (const [id, value, code] of cases) {
    throws(() => parse(encode((w) => w.settings([[id, value]]))), connectionError(code));
  }
});

// ---- PUSH_PROMISE (§6.6) -------------------------------------------------------------------

Deno.test("FrameWriter.pushPromise() encodes PUSH_PROMISE and parseFrame() reads it back (RFC 9113 §6.6)", () => {
  const bytes = encode((w) => w.pushPromise(1, 2, new Uint8Array([0x82])));
  deepEqual(bytes, frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, [0, 0, 0, 2, 0x82]));
  const parsed = parse(bytes) as PushPromiseFrame;
  equal(parsed.promisedStreamId, 2);
  equal(parsed.endHeaders, true);
  deepEqual([...parsed.fragment], [0x82]);
});

Deno.test("parseFrame() reads padded PUSH_PROMISE and rejects malformed ones (RFC 9113 §6.6)", () => {
  const parsed = parse(
    frame(FrameType.PUSH_PROMISE, Flag.PADDED, 1, [1, 0x80, 0, 0, 4, 0x82, 0]),
  ) as PushPromiseFrame;
  equal(parsed.promisedStreamId, 4);
  deepEqual([...parsed.fragment], [0x82]);
  throws(
    () => parse(frame(FrameType.PUSH_PROMISE, 0, 0, [0, 0, 0, 2])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
  throws(
    () => parse(frame(FrameType.PUSH_PROMISE, 0, 1, [0, 0, 2])),
    connectionError(ErrorCode.FRAME_SIZE_ERROR),
  );
  throws(
    () => parse(frame(FrameType.PUSH_PROMISE, Flag.PADDED, 1, [5, 0, 0, 0, 2])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
});

// ---- PING (§6.7) ---------------------------------------------------------------------------

Deno.test("FrameWriter.ping() encodes PING and its ACK, and parseFrame() reads them back (RFC 9113 §6.7)", () => {
  const data = [1, 2, 3, 4, 5, 6, 7, 8];
  const bytes = encode((w) => w.ping(true, new Uint8Array(data)));
  deepEqual(bytes, frame(FrameType.PING, Flag.ACK, 0, data));
  const parsed = parse(bytes) as PingFrame;
  equal(parsed.ack, true);
  deepEqual([...parsed.data], data);
  equal((parse(encode((w) => w.ping(false, new Uint8Array(8)))) as PingFrame).ack, false);
});

Deno.test("parseFrame() rejects PING on a stream as PROTOCOL_ERROR (RFC 9113 §6.7)", () => {
  throws(
    () => parse(frame(FrameType.PING, 0, 1, Array(8).fill(0))),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
});

Deno.test("parseFrame() rejects PING of a length other than 8 as FRAME_SIZE_ERROR (RFC 9113 §6.7)", () => {
  for (const length of [0, 7, 9]) {
    throws(
      () => parse(frame(FrameType.PING, 0, 0, Array(length).fill(0))),
      connectionError(ErrorCode.FRAME_SIZE_ERROR),
    );
  }
});

// ---- GOAWAY (§6.8) -------------------------------------------------------------------------

Deno.test("FrameWriter.goaway() encodes GOAWAY with debug data and parseFrame() reads it back (RFC 9113 §6.8)", () => {
  const bytes = encode((w) => w.goaway(5, ErrorCode.PROTOCOL_ERROR, new Uint8Array(text("dbg"))));
  deepEqual(bytes, frame(FrameType.GOAWAY, 0, 0, [0, 0, 0, 5, 0, 0, 0, 1, ...text("dbg")]));
  const parsed = parse(bytes) as GoawayFrame;
  equal(parsed.lastStreamId, 5);
  equal(parsed.errorCode, ErrorCode.PROTOCOL_ERROR);
  deepEqual([...parsed.debugData], text("dbg"));
  deepEqual(encode((w) => w.goaway(0, 0)), frame(FrameType.GOAWAY, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]));
});

Deno.test("parseFrame() ignores the reserved bit of GOAWAY's last-stream-id (RFC 9113 §6.8)", () => {
  const parsed = parse(frame(FrameType.GOAWAY, 0, 0, [0x80, 0, 0, 7, 0, 0, 0, 0])) as GoawayFrame;
  equal(parsed.lastStreamId, 7);
});

Deno.test("parseFrame() rejects GOAWAY on a stream or shorter than 8 octets (RFC 9113 §6.8)", () => {
  throws(
    () => parse(frame(FrameType.GOAWAY, 0, 1, Array(8).fill(0))),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
  throws(
    () => parse(frame(FrameType.GOAWAY, 0, 0, Array(7).fill(0))),
    connectionError(ErrorCode.FRAME_SIZE_ERROR),
  );
});

// ---- WINDOW_UPDATE (§6.9) ------------------------------------------------------------------

Deno.test("FrameWriter.windowUpdate() encodes WINDOW_UPDATE and parseFrame() reads it back (RFC 9113 §6.9)", () => {
  const bytes = encode((w) => w.windowUpdate(0, 0x7fff_ffff));
  deepEqual(bytes, frame(FrameType.WINDOW_UPDATE, 0, 0, [0x7f, 0xff, 0xff, 0xff]));
  deepEqual(parse(bytes) as WindowUpdateFrame, {
    type: FrameType.WINDOW_UPDATE,
    streamId: 0,
    increment: 0x7fff_ffff,
  });
});

Deno.test("parseFrame() ignores the reserved bit of a WINDOW_UPDATE increment (RFC 9113 §6.9)", () => {
  const parsed = parse(frame(FrameType.WINDOW_UPDATE, 0, 1, [0x80, 0, 0, 1])) as WindowUpdateFrame;
  equal(parsed.increment, 1);
});

Deno.test("parseFrame() rejects a WINDOW_UPDATE of 0: connection or stream PROTOCOL_ERROR by stream (RFC 9113 §6.9)", () => {
  throws(
    () => parse(frame(FrameType.WINDOW_UPDATE, 0, 0, [0, 0, 0, 0])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
  throws(
    () => parse(frame(FrameType.WINDOW_UPDATE, 0, 5, [0x80, 0, 0, 0])),
    streamError(5, ErrorCode.PROTOCOL_ERROR),
  );
});

Deno.test("parseFrame() rejects WINDOW_UPDATE of a length other than 4 as FRAME_SIZE_ERROR (RFC 9113 §6.9)", () => {
  for (const [streamId, payload] of [[0, [0, 0, 1]], [1, [0, 0, 0, 1, 0]]] as const) {
    throws(
      () => parse(frame(FrameType.WINDOW_UPDATE, 0, streamId, [...payload])),
      connectionError(ErrorCode.FRAME_SIZE_ERROR),
    );
  }
});

// ---- CONTINUATION (§6.10), unknown types (§4.1) --------------------------------------------

Deno.test("parseFrame() reads CONTINUATION and rejects it on stream 0 (RFC 9113 §6.10)", () => {
  const parsed = parse(
    frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, [0x82]),
  ) as ContinuationFrame;
  equal(parsed.endHeaders, true);
  deepEqual([...parsed.fragment], [0x82]);
  throws(
    () => parse(frame(FrameType.CONTINUATION, 0, 0, [0x82])),
    connectionError(ErrorCode.PROTOCOL_ERROR),
  );
});

Deno.test("FrameWriter.raw() writes any frame and parseFrame() returns unknown types as they are (RFC 9113 §4.1)", () => {
  const bytes = encode((w) => w.raw(0x20, 0xff, 3, new Uint8Array([9, 8])));
  deepEqual(bytes, frame(0x20, 0xff, 3, [9, 8]));
  const parsed = parse(bytes) as UnknownFrame;
  equal(parsed.type, 0x20);
  equal(parsed.flags, 0xff);
  equal(parsed.streamId, 3);
  deepEqual([...parsed.payload], [9, 8]);
});

// ---- The writer's buffer -------------------------------------------------------------------

Deno.test("FrameWriter grows past its capacity and keeps its memory after reset()", () => {
  const writer = new FrameWriter(16);
  writer.append(CLIENT_PREFACE);
  writer.data(1, new Uint8Array(100).fill(7), false);
  equal(writer.length, 24 + 9 + 100);
  deepEqual([...writer.bytes().subarray(0, 24)], [...CLIENT_PREFACE]);
  deepEqual(
    [...writer.bytes().subarray(24, 33)],
    frame(FrameType.DATA, 0, 1, []).map((b, i) => i === 2 ? 100 : b),
  );
  writer.reset();
  equal(writer.length, 0);
  writer.settingsAck();
  deepEqual([...writer.bytes()], frame(FrameType.SETTINGS, Flag.ACK, 0, []));
});

Deno.test("FrameWriter appends frames back to back in call order", () => {
  const bytes = encode((w) => {
    w.settingsAck();
    w.windowUpdate(1, 10);
    w.rstStream(1, 0);
  });
  deepEqual(bytes, [
    ...frame(FrameType.SETTINGS, Flag.ACK, 0, []),
    ...frame(FrameType.WINDOW_UPDATE, 0, 1, [0, 0, 0, 10]),
    ...frame(FrameType.RST_STREAM, 0, 1, [0, 0, 0, 0]),
  ]);
});
