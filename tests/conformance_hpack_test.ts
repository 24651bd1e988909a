/**
 * Conformance of the server role (`serveConnection`) with RFC 7541 (HPACK) as RFC 9113
 * §4.3 uses it, driven by a raw-frame client over a real loopback socket. Each case asserts the exact
 * outcome: GOAWAY with a code (connection error), RST_STREAM with a code (stream error, after
 * which the connection must still serve), or a normal response.
 */

import { equal, ok } from "node:assert/strict";
import { ErrorCode, Flag, FrameType, SettingId } from "../h2/constants.ts";
import {
  bytes,
  decoder,
  type Harness,
  MAX_FRAME,
  PLAIN_GET,
  req,
  sendHeaders,
  sendRaw,
  serverTest,
} from "./_server_conformance.ts";

// ---- RFC 7541 HPACK -------------------------------------------------------------------------

async function expectCompressionError(h: Harness, block: number[]): Promise<void> {
  await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, block);
  await h.peer.expectGoaway(ErrorCode.COMPRESSION_ERROR);
}

serverTest(
  "server answers an indexed field of index 0 with GOAWAY COMPRESSION_ERROR (RFC 7541 §6.1)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x80]);
  },
);

serverTest(
  "server answers an index past the dynamic table with GOAWAY COMPRESSION_ERROR (RFC 7541 §2.3.3)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0xbe]);
  },
);

serverTest(
  "server answers a literal whose name index is past the tables with GOAWAY COMPRESSION_ERROR (RFC 7541 §2.3.3)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x0f, 0x30, 0x01, 0x61]);
  },
);

serverTest(
  "server answers a table size update above SETTINGS_HEADER_TABLE_SIZE with GOAWAY COMPRESSION_ERROR (RFC 7541 §6.3)",
  async (h) => {
    equal(h.serverSettings.get(SettingId.HEADER_TABLE_SIZE), 4096);
    await expectCompressionError(h, [0x3f, 0xe2, 0x1f, ...PLAIN_GET]); // 4097
  },
);

serverTest(
  "server answers a table size update after a field with GOAWAY COMPRESSION_ERROR (RFC 7541 §4.2)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x20]);
  },
);

serverTest(
  "server accepts table size updates at the start of a block (RFC 7541 §4.2, §6.3)",
  async (h) => {
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, [
      0x20,
      0x3f,
      0xe1,
      0x1f, // 0, then 4096
      ...PLAIN_GET,
    ]);
    equal((await h.peer.expectResponse(1)).status, 200);
  },
);

serverTest(
  "server answers a reference to an entry evicted by a size update with GOAWAY COMPRESSION_ERROR (RFC 7541 §4.3)",
  async (h) => {
    // 0x41 adds ":authority: localhost" to the dynamic table as index 62.
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, [
      0x82,
      0x86,
      0x84,
      0x41,
      0x09,
      ...bytes("localhost"),
    ]);
    equal((await h.peer.expectResponse(1)).status, 200);
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, [
      0x82,
      0x86,
      0x84,
      0xbe,
    ]);
    equal((await h.peer.expectResponse(3)).status, 200, "index 62 is in the table");
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 5, [
      0x20,
      0x3f,
      0xe1,
      0x1f,
      0x82,
      0x86,
      0x84,
      0xbe,
    ]);
    await h.peer.expectGoaway(ErrorCode.COMPRESSION_ERROR, 3);
  },
);

serverTest(
  "server answers a Huffman string containing EOS with GOAWAY COMPRESSION_ERROR (RFC 7541 §5.2)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x00, 0x01, 0x61, 0x84, 0xff, 0xff, 0xff, 0xff]);
  },
);

serverTest(
  "server answers Huffman padding longer than 7 bits with GOAWAY COMPRESSION_ERROR (RFC 7541 §5.2)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x00, 0x01, 0x61, 0x82, 0x1f, 0xff]);
  },
);

serverTest(
  "server answers Huffman padding that is not a prefix of EOS with GOAWAY COMPRESSION_ERROR (RFC 7541 §5.2)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x00, 0x01, 0x61, 0x81, 0x18]);
  },
);

serverTest(
  "server accepts a Huffman-encoded value with valid padding (RFC 7541 §5.2)",
  async (h) => {
    await sendRaw(h, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, [
      0x82,
      0x86,
      0x01,
      0x09,
      ...bytes("localhost"),
      0x04,
      0x06,
      ...bytes("/heade"),
      0x00,
      0x01,
      0x61,
      0x81,
      0x1f,
    ]);
    const response = await h.peer.expectResponse(1);
    // :path was "/heade": the handler's default branch answers.
    equal(response.status, 200);
  },
);

serverTest(
  "server answers an integer that overflows with GOAWAY COMPRESSION_ERROR (RFC 7541 §5.1)",
  async (h) => {
    await expectCompressionError(h, [
      ...PLAIN_GET,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0x7f,
    ]);
  },
);

serverTest(
  "server answers a string longer than the block with GOAWAY COMPRESSION_ERROR (RFC 7541 §5.2)",
  async (h) => {
    await expectCompressionError(h, [...PLAIN_GET, 0x00, 0x01, 0x61, 0x05, 0x61]);
  },
);

serverTest("server keeps its dynamic table across header blocks (RFC 7541 §2.3.2)", async (h) => {
  await sendHeaders(h, 1, req("/headers", { extra: ["x-session", "s1"] }));
  await h.peer.expectResponse(1);
  const block = h.peer.encode(req("/headers", { extra: ["x-session", "s1"] }));
  ok(block.length < 6, `second block is all table references (${block.length} octets)`);
  h.peer.out.headers(3, block, true, MAX_FRAME);
  await h.peer.flush();
  const body = JSON.parse(decoder.decode((await h.peer.expectResponse(3)).body));
  equal(body["x-session"], "s1");
});

serverTest(
  "server decodes a header block whose string literal spans CONTINUATION frames (RFC 9113 §4.3)",
  async (h) => {
    const block = h.peer.encode(req("/headers", { extra: ["x-span", "w".repeat(40)] }));
    const middle = block.length - 20;
    h.peer.out.raw(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, middle));
    h.peer.out.raw(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(middle));
    await h.peer.flush();
    const body = JSON.parse(decoder.decode((await h.peer.expectResponse(1)).body));
    equal(body["x-span"], "w".repeat(40));
  },
);
