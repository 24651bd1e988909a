import { deepEqual, equal, throws } from "node:assert/strict";
import { HeaderListSizeError, HpackDecoder, HpackEncoder, HpackError } from "../h2/hpack/mod.ts";
import { DynamicTable } from "../h2/hpack/dynamic_table.ts";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "../h2/hpack/huffman.ts";
import { decodeInteger, encodeInteger, integerLength } from "../h2/hpack/integer.ts";
import { decodeString, encodeString } from "../h2/hpack/string_literal.ts";

/** Parses RFC-style hex dumps such as "8286 8441"; whitespace is ignored. */
function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A deterministic PRNG (mulberry32) so that failures reproduce. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A string of `length` random octets drawn from `alphabet` (all 256 when omitted). */
function randomString(next: () => number, length: number, alphabet?: string): string {
  let s = "";
  for (let i = 0; i < length; i++) {
    s += alphabet === undefined
      ? String.fromCharCode(Math.floor(next() * 256))
      : alphabet[Math.floor(next() * alphabet.length)];
  }
  return s;
}

// --- RFC 7541 C.1: integers

const INTEGER_VECTORS: [string, number, number, string][] = [
  ["C.1.1", 10, 5, "0a"],
  ["C.1.2", 1337, 5, "1f9a0a"],
  ["C.1.3", 42, 8, "2a"],
];

for (const [section, value, prefixBits, encoded] of INTEGER_VECTORS) {
  Deno.test(`encodeInteger() writes the RFC 7541 ${section} integer ${value}`, () => {
    const out = new Uint8Array(8);
    const end = encodeInteger(value, prefixBits, out, 0);
    equal(toHex(out.subarray(0, end)), encoded);
    equal(integerLength(value, prefixBits), end);
  });

  Deno.test(`decodeInteger() reads the RFC 7541 ${section} integer ${value}`, () => {
    const bytes = hex(encoded);
    const cursor = { bytes, offset: 0, end: bytes.length };
    equal(decodeInteger(cursor, prefixBits), value);
    equal(cursor.offset, bytes.length);
  });
}

Deno.test("encodeInteger() keeps the pattern bits above the prefix", () => {
  const out = new Uint8Array([0x40, 0, 0]);
  equal(encodeInteger(62, 6, out, 0), 1);
  equal(out[0], 0x40 | 62);
  out[0] = 0x40;
  equal(encodeInteger(63, 6, out, 0), 2);
  deepEqual(Array.from(out.subarray(0, 2)), [0x7f, 0x00]);
});

Deno.test("integers round trip at every prefix size up to 2^31-1", () => {
  const values = [0, 1, 14, 15, 16, 30, 31, 32, 126, 127, 128, 254, 255, 256, 16383, 16384];
  values.push(2 ** 21, 2 ** 28 - 1, 2 ** 31 - 1);
  for (let prefixBits = 1; prefixBits <= 8; prefixBits++) {
    for (const value of values) {
      const out = new Uint8Array(8);
      const end = encodeInteger(value, prefixBits, out, 0);
      equal(end, integerLength(value, prefixBits));
      const cursor = { bytes: out, offset: 0, end };
      equal(decodeInteger(cursor, prefixBits), value);
      equal(cursor.offset, end);
    }
  }
});

Deno.test("encodeInteger() refuses values it could not decode", () => {
  throws(() => encodeInteger(2 ** 31, 5, new Uint8Array(8), 0), RangeError);
  throws(() => encodeInteger(-1, 5, new Uint8Array(8), 0), RangeError);
  throws(() => encodeInteger(1.5, 5, new Uint8Array(8), 0), RangeError);
});

// --- Huffman

/** Huffman strings of RFC 7541 C.4 and C.6. */
const HUFFMAN_VECTORS: [string, string][] = [
  ["www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"],
  ["no-cache", "a8eb 1064 9cbf"],
  ["custom-key", "25a8 49e9 5ba9 7d7f"],
  ["custom-value", "25a8 49e9 5bb8 e8b4 bf"],
  ["302", "6402"],
  ["307", "640e ff"],
  ["private", "aec3 771a 4b"],
  ["Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"],
  ["Mon, 21 Oct 2013 20:13:22 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff"],
  ["https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"],
  ["gzip", "9bd9 ab"],
  [
    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 " +
    "03ed 4ee5 b106 3d50 07",
  ],
];

Deno.test("huffmanEncode() writes the Huffman strings of RFC 7541 C.4 and C.6", () => {
  for (const [text, encoded] of HUFFMAN_VECTORS) {
    const expected = hex(encoded);
    equal(huffmanEncodedLength(text), expected.length, text);
    const out = new Uint8Array(expected.length);
    equal(huffmanEncode(text, out, 0), expected.length, text);
    deepEqual(out, expected, text);
  }
});

Deno.test("huffmanDecode() reads the Huffman strings of RFC 7541 C.4 and C.6", () => {
  for (const [text, encoded] of HUFFMAN_VECTORS) {
    const bytes = hex(encoded);
    equal(huffmanDecode(bytes, 0, bytes.length), text);
  }
});

Deno.test("Huffman coding round trips every octet value, alone and together", () => {
  let all = "";
  for (let octet = 0; octet < 256; octet++) {
    const s = String.fromCharCode(octet);
    all += s;
    const out = new Uint8Array(huffmanEncodedLength(s));
    equal(huffmanEncode(s, out, 0), out.length);
    equal(huffmanDecode(out, 0, out.length), s);
  }
  const next = random(7);
  for (const s of [all, all.split("").reverse().join(""), randomString(next, 5000)]) {
    const out = new Uint8Array(huffmanEncodedLength(s) + 4);
    const end = huffmanEncode(s, out, 2);
    equal(end, 2 + huffmanEncodedLength(s));
    equal(huffmanDecode(out, 2, end), s);
  }
});

Deno.test("huffmanDecode() decodes the empty string", () => {
  equal(huffmanDecode(new Uint8Array(0), 0, 0), "");
});

Deno.test("huffmanDecode() rejects the EOS symbol inside a string", () => {
  // 'a' (00011), then EOS (30 ones), then 5 bits of padding: 40 bits.
  throws(() => huffmanDecode(hex("1fff ffff ff"), 0, 5), HpackError);
  throws(() => huffmanDecode(hex("ffff ffff"), 0, 4), HpackError);
});

Deno.test("huffmanDecode() rejects padding longer than 7 bits", () => {
  // 'a' (00011) then 11 one bits, and a whole octet of ones after a symbol.
  throws(() => huffmanDecode(hex("1fff"), 0, 2), /longer than 7 bits/);
  throws(() => huffmanDecode(hex("ff"), 0, 1), HpackError);
});

Deno.test("huffmanDecode() rejects padding that is not all ones", () => {
  // 'a' (00011) padded with 000 instead of 111.
  throws(() => huffmanDecode(hex("18"), 0, 1), /not all ones/);
  throws(() => huffmanDecode(hex("00"), 0, 1), HpackError);
});

Deno.test("huffmanEncodedLength() refuses char codes above 0xff", () => {
  throws(() => huffmanEncodedLength("caf\u0100"), RangeError);
});

// --- String literals

Deno.test("encodeString() uses Huffman only when it is shorter", () => {
  const out = new Uint8Array(64);
  // "www.example.com" shrinks from 15 to 12 octets (RFC 7541 C.4.1).
  equal(
    toHex(out.subarray(0, encodeString("www.example.com", out, 0))),
    "8c" + "f1e3c2e5f23a6ba0ab90f4ff",
  );
  // Control octets take 13 to 30 bits each: raw is shorter.
  equal(toHex(out.subarray(0, encodeString("\x00\x01", out, 0))), "020001");
});

Deno.test("decodeString() rejects a length that runs past the block", () => {
  const bytes = hex("05 6162 63"); // claims 5 octets, has 3
  throws(() => decodeString({ bytes, offset: 0, end: bytes.length }), HpackError);
});

// --- RFC 7541 C.2: header field representations

Deno.test("HpackDecoder decodes RFC 7541 C.2.1 a literal with indexing", () => {
  const decoder = new HpackDecoder();
  const block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
  deepEqual(decoder.decode(block), ["custom-key", "custom-header"]);
  deepEqual(decoder.dynamicTable.fields(), ["custom-key", "custom-header"]);
  equal(decoder.dynamicTable.size, 55);
});

Deno.test("HpackDecoder decodes RFC 7541 C.2.2 a literal without indexing", () => {
  const decoder = new HpackDecoder();
  deepEqual(decoder.decode(hex("040c 2f73 616d 706c 652f 7061 7468")), [":path", "/sample/path"]);
  equal(decoder.dynamicTable.length, 0);
});

Deno.test("HpackDecoder decodes RFC 7541 C.2.3 a never-indexed literal", () => {
  const decoder = new HpackDecoder();
  deepEqual(decoder.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74")), [
    "password",
    "secret",
  ]);
  equal(decoder.dynamicTable.length, 0);
});

Deno.test("HpackDecoder decodes RFC 7541 C.2.4 an indexed field", () => {
  const decoder = new HpackDecoder();
  deepEqual(decoder.decode(hex("82")), [":method", "GET"]);
  equal(decoder.dynamicTable.length, 0);
});

// --- RFC 7541 C.3 - C.6: sequences of header blocks

interface Step {
  block: string;
  headers: string[];
  /** Dynamic table after the block, newest first. */
  table: string[];
  size: number;
}

const REQUESTS = [
  [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "www.example.com"],
  [
    ":method",
    "GET",
    ":scheme",
    "http",
    ":path",
    "/",
    ":authority",
    "www.example.com",
    "cache-control",
    "no-cache",
  ],
  [
    ":method",
    "GET",
    ":scheme",
    "https",
    ":path",
    "/index.html",
    ":authority",
    "www.example.com",
    "custom-key",
    "custom-value",
  ],
];

const REQUEST_TABLES: [string[], number][] = [
  [[":authority", "www.example.com"], 57],
  [["cache-control", "no-cache", ":authority", "www.example.com"], 110],
  [
    ["custom-key", "custom-value", "cache-control", "no-cache", ":authority", "www.example.com"],
    164,
  ],
];

const C3: Step[] = [
  "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
  "8286 84be 5808 6e6f 2d63 6163 6865",
  "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
].map((block, i) => ({
  block,
  headers: REQUESTS[i]!,
  table: REQUEST_TABLES[i]![0],
  size: REQUEST_TABLES[i]![1],
}));

const C4: Step[] = [
  "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
  "8286 84be 5886 a8eb 1064 9cbf",
  "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
].map((block, i) => ({ ...C3[i]!, block }));

const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const DATE_1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE_2 = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION = "https://www.example.com";

const RESPONSES = [
  [":status", "302", "cache-control", "private", "date", DATE_1, "location", LOCATION],
  [":status", "307", "cache-control", "private", "date", DATE_1, "location", LOCATION],
  [
    ":status",
    "200",
    "cache-control",
    "private",
    "date",
    DATE_2,
    "location",
    LOCATION,
    "content-encoding",
    "gzip",
    "set-cookie",
    COOKIE,
  ],
];

const RESPONSE_TABLES: [string[], number][] = [
  [["location", LOCATION, "date", DATE_1, "cache-control", "private", ":status", "302"], 222],
  [[":status", "307", "location", LOCATION, "date", DATE_1, "cache-control", "private"], 222],
  [["set-cookie", COOKIE, "content-encoding", "gzip", "date", DATE_2], 215],
];

const C5: Step[] = [
  "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a " +
  "3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
  "4803 3330 37c1 c0bf",
  "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 " +
  "677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 " +
  "553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
].map((block, i) => ({
  block,
  headers: RESPONSES[i]!,
  table: RESPONSE_TABLES[i]![0],
  size: RESPONSE_TABLES[i]![1],
}));

const C6: Step[] = [
  "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e " +
  "919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
  "4883 640e ffc1 c0bf",
  "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 " +
  "821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed " +
  "4ee5 b106 3d50 07",
].map((block, i) => ({ ...C5[i]!, block }));

function decodeSteps(steps: Step[], maxTableSize: number): void {
  const decoder = new HpackDecoder({ maxTableSize });
  for (const [i, step] of steps.entries()) {
    deepEqual(decoder.decode(hex(step.block)), step.headers, `block ${i + 1}`);
    deepEqual(decoder.dynamicTable.fields(), step.table, `table after block ${i + 1}`);
    equal(decoder.dynamicTable.size, step.size, `table size after block ${i + 1}`);
  }
}

/** Runs the steps' header lists through one encoder and one decoder. */
function roundTripSteps(steps: Step[], maxTableSize: number): void {
  const encoder = new HpackEncoder({ maxTableSize });
  const decoder = new HpackDecoder({ maxTableSize });
  for (const step of steps) {
    deepEqual(decoder.decode(encoder.encode(step.headers).slice()), step.headers);
  }
}

Deno.test("HpackDecoder decodes RFC 7541 C.3 requests without Huffman", () => {
  decodeSteps(C3, 4096);
});

Deno.test("HpackDecoder decodes RFC 7541 C.4 requests with Huffman", () => {
  decodeSteps(C4, 4096);
});

Deno.test("HpackDecoder decodes RFC 7541 C.5 responses without Huffman, with evictions", () => {
  decodeSteps(C5, 256);
});

Deno.test("HpackDecoder decodes RFC 7541 C.6 responses with Huffman, with evictions", () => {
  decodeSteps(C6, 256);
});

Deno.test("HpackEncoder writes exactly the RFC 7541 C.4 request blocks", () => {
  const encoder = new HpackEncoder();
  for (const step of C4) {
    equal(toHex(encoder.encode(step.headers)), toHex(hex(step.block)));
    deepEqual(encoder.dynamicTable.fields(), step.table);
    equal(encoder.dynamicTable.size, step.size);
  }
});

Deno.test("HpackEncoder round trips the RFC 7541 C.3 - C.6 header lists", () => {
  roundTripSteps(C3, 4096);
  roundTripSteps(C5, 256);
});

// --- Encoder

Deno.test("HpackEncoder round trips random header lists through one connection", () => {
  const next = random(42);
  const names = ["x-a", "x-b", "x-c", "accept", ":path", "cookie", "user-agent", "date", "etag"];
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder();
  for (let block = 0; block < 500; block++) {
    const headers: string[] = [];
    const count = Math.floor(next() * 20);
    for (let i = 0; i < count; i++) {
      const name = next() < 0.7
        ? names[Math.floor(next() * names.length)]!
        : "x-" + randomString(next, 1 + Math.floor(next() * 10), "abcdefghijklmnopqrstuvwxyz-");
      const value = next() < 0.5
        ? String(Math.floor(next() * 10))
        : randomString(next, Math.floor(next() * 200));
      headers.push(name, value);
    }
    deepEqual(decoder.decode(encoder.encode(headers).slice()), headers, `block ${block}`);
    deepEqual(decoder.dynamicTable.fields(), encoder.dynamicTable.fields());
  }
});

Deno.test("HpackEncoder round trips with a large table and large values", () => {
  const next = random(1);
  const size = 65536;
  const encoder = new HpackEncoder({ maxTableSize: size, maxTableSizeLimit: size });
  const decoder = new HpackDecoder({ maxTableSize: size });
  for (let block = 0; block < 50; block++) {
    const headers: string[] = [];
    for (let i = 0; i < 40; i++) {
      headers.push(`x-field-${Math.floor(next() * 100)}`, randomString(next, next() * 3000));
    }
    headers.push("x-huge", randomString(next, 100_000)); // grows the encoder's buffer
    deepEqual(decoder.decode(encoder.encode(headers).slice()), headers, `block ${block}`);
    equal(decoder.dynamicTable.size, encoder.dynamicTable.size);
  }
  equal(encoder.dynamicTable.maxSize, size);
});

Deno.test("HpackEncoder starts the next block with a size update after setMaxTableSize", () => {
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder();
  const headers = ["x-a", "1", "x-b", "2"];
  decoder.decode(encoder.encode(headers).slice());
  encoder.setMaxTableSize(40); // room for one of the two entries
  decoder.setMaxTableSize(40);
  const block = encoder.encode(headers).slice();
  equal(toHex(block.subarray(0, 2)), "3f09"); // size update: 31 + 9 = 40
  deepEqual(decoder.decode(block), headers);
  equal(decoder.dynamicTable.maxSize, 40);
  deepEqual(decoder.dynamicTable.fields(), encoder.dynamicTable.fields());
  // Only one block carries the update.
  equal((encoder.encode(headers)[0]! & 0xe0) === 0x20, false);
});

Deno.test("HpackEncoder emits the minimum then the final size after a drop and a rise", () => {
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder();
  decoder.decode(encoder.encode(["x-a", "1"]).slice());
  encoder.setMaxTableSize(0);
  encoder.setMaxTableSize(4096);
  const block = encoder.encode([]).slice();
  equal(toHex(block), "20" + "3fe11f"); // 0, then 4096
  decoder.decode(block);
  equal(decoder.dynamicTable.length, 0); // the entry was evicted at size 0
  equal(decoder.dynamicTable.maxSize, 4096);
});

Deno.test("HpackEncoder emits no size update when the size did not change", () => {
  const encoder = new HpackEncoder();
  encoder.setMaxTableSize(4096);
  encoder.setMaxTableSize(100_000); // capped at maxTableSizeLimit, 4096
  equal(toHex(encoder.encode([":method", "GET"])), "82");
});

Deno.test("HpackEncoder announces its own limit when the peer starts with a bigger table", () => {
  const encoder = new HpackEncoder({ maxTableSize: 8192, maxTableSizeLimit: 1024 });
  const decoder = new HpackDecoder({ maxTableSize: 8192 });
  const block = encoder.encode(["x-a", "1"]).slice();
  equal(toHex(block.subarray(0, 3)), "3fe107"); // 31 + 993 = 1024
  deepEqual(decoder.decode(block), ["x-a", "1"]);
  equal(decoder.dynamicTable.maxSize, 1024);
});

Deno.test("HpackEncoder never indexes authorization", () => {
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder();
  const headers = ["authorization", "Bearer secret-token-value"];
  for (let i = 0; i < 2; i++) {
    const block = encoder.encode(headers).slice();
    equal(toHex(block.subarray(0, 2)), "1f08"); // never indexed, name index 23
    deepEqual(decoder.decode(block), headers);
  }
  equal(encoder.dynamicTable.length, 0);
  equal(decoder.dynamicTable.length, 0);
});

Deno.test("HpackEncoder never indexes short cookies but indexes long ones", () => {
  const encoder = new HpackEncoder();
  equal(toHex(encoder.encode(["cookie", "id=1"]).subarray(0, 2)), "1f11"); // never indexed, 32
  equal(encoder.dynamicTable.length, 0);
  equal(encoder.encode(["cookie", "session=0123456789abcdef"])[0], 0x40 | 32);
  equal(encoder.dynamicTable.length, 1);
  equal(toHex(encoder.encode(["set-cookie", "a=b; Path=/; HttpOnly"]).subarray(0, 2)), "1f28");
  // An empty cookie matches static entry 32 fully, yet stays a never-indexed literal.
  equal(toHex(encoder.encode(["cookie", ""])), "1f1100");
  equal(encoder.dynamicTable.length, 1);
});

Deno.test("HpackEncoder does not index per-message values or oversized entries", () => {
  const encoder = new HpackEncoder({ maxTableSize: 256 });
  encoder.encode([
    "date",
    "Mon, 21 Oct 2013 20:13:21 GMT",
    "content-length",
    "1234",
    "x-request-id",
    "f00d",
    ":path",
    "/search?q=1",
    "x-big",
    "v".repeat(200),
  ]);
  equal(encoder.dynamicTable.length, 0);
  encoder.encode([":path", "/static/app.js"]);
  equal(encoder.dynamicTable.length, 1);
});

Deno.test("HpackEncoder sends random ids as raw octets, other values Huffman-coded when shorter (RFC 7541 §5.2)", () => {
  const id = "8d6f3c1e-2b7a-4e0f-9a55-0c2d4e6f8a10";
  const encoder = new HpackEncoder();
  const block = encoder.encode(["x-request-id", id, "traceparent", `00-${"ab".repeat(16)}-01`]);
  const decoded = new HpackDecoder().decode(block);
  deepEqual(decoded, ["x-request-id", id, "traceparent", `00-${"ab".repeat(16)}-01`]);
  // Literal without indexing with a new name (0x00), the name Huffman-coded, then
  // the value: H bit clear, its length, its octets as they are.
  equal(block[0], 0x00);
  const nameLength = block[1]! & 0x7f;
  equal(block[1]! & 0x80, 0x80);
  equal(block[2 + nameLength], id.length);
  equal(new TextDecoder().decode(block.subarray(3 + nameLength, 3 + nameLength + id.length)), id);
  // The other random ids too: each value's length octet has the H bit clear.
  for (const name of ["traceparent", "x-correlation-id"]) {
    const one = new HpackEncoder().encode([name, id]);
    equal(one[2 + (one[1]! & 0x7f)], id.length, name);
  }
  // The same octets under another name are indexed and Huffman-coded (H bit set).
  const other = encoder.encode(["x-other-id", id]);
  equal(other[0], 0x40);
  equal(other[2 + (other[1]! & 0x7f)]! & 0x80, 0x80);
  deepEqual(new HpackDecoder().decode(other), ["x-other-id", id]);
});

Deno.test("HpackEncoder reuses its buffer between calls", () => {
  const encoder = new HpackEncoder();
  const first = encoder.encode(["x-a", "1"]);
  const second = encoder.encode(["x-b", "2"]);
  equal(first.buffer, second.buffer);
});

Deno.test("HpackEncoder refuses an odd-length list and non-octet chars", () => {
  const encoder = new HpackEncoder();
  throws(() => encoder.encode(["x-a"]), RangeError);
  throws(() => encoder.setMaxTableSize(-1), RangeError);
  deepEqual(encoder.encode([":method", "GET"]), new Uint8Array([0x82])); // still usable
  throws(() => encoder.encode(["x-a", "1", "x-b", "\u20ac"]), RangeError);
  // x-a entered the table in a block the peer will never see: the encoder stops.
  throws(() => encoder.encode([":method", "GET"]), /earlier encode\(\) failed/);
});

// --- Decoder errors

Deno.test("HpackDecoder rejects index 0", () => {
  throws(() => new HpackDecoder().decode(hex("80")), HpackError);
});

Deno.test("HpackDecoder rejects an index past the dynamic table", () => {
  throws(() => new HpackDecoder().decode(hex("be")), HpackError); // 62, table empty
});

Deno.test("HpackDecoder rejects a name index past the dynamic table", () => {
  throws(() => new HpackDecoder().decode(hex("7e 0161")), HpackError); // name 62, value "a"
});

Deno.test("HpackDecoder rejects an integer above 2^31-1", () => {
  throws(() => new HpackDecoder().decode(hex("ff ffff ffff 0f")), HpackError);
});

Deno.test("HpackDecoder rejects an integer with too many continuation octets", () => {
  throws(() => new HpackDecoder().decode(hex("ff 8080 8080 8000")), HpackError);
});

Deno.test("HpackDecoder rejects invalid Huffman data", () => {
  const decoder = new HpackDecoder();
  throws(() => decoder.decode(hex("04 84 ffff ffff")), HpackError); // EOS in :path value
  throws(() => decoder.decode(hex("04 82 1fff")), HpackError); // padding over 7 bits
  throws(() => decoder.decode(hex("04 81 18")), HpackError); // padding not all ones
});

Deno.test("HpackDecoder rejects a string length beyond the block", () => {
  throws(() => new HpackDecoder().decode(hex("04 0c 2f73 616d")), HpackError);
});

Deno.test("HpackDecoder rejects a size update above the advertised limit", () => {
  throws(() => new HpackDecoder().decode(hex("3fe2 1f")), HpackError); // 4097 > 4096
});

Deno.test("HpackDecoder rejects a size update after the first field", () => {
  throws(() => new HpackDecoder().decode(hex("82 20")), HpackError);
});

Deno.test("HpackDecoder rejects a block without the size update a lower limit requires", () => {
  const decoder = new HpackDecoder();
  decoder.setMaxTableSize(1024);
  throws(() => decoder.decode(hex("82")), HpackError);
  throws(() => decoder.decode(new Uint8Array(0)), HpackError);
  deepEqual(decoder.decode(hex("3fe1 0782")), [":method", "GET"]); // 1024, then :method GET
});

Deno.test("HpackDecoder accepts two size updates at the start of a block", () => {
  const decoder = new HpackDecoder();
  decoder.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
  deepEqual(decoder.decode(hex("20 3fe1 1f 82")), [":method", "GET"]);
  equal(decoder.dynamicTable.length, 0);
  equal(decoder.dynamicTable.maxSize, 4096);
});

Deno.test("HpackDecoder rejects a truncated block", () => {
  const decoder = new HpackDecoder();
  throws(() => decoder.decode(hex("ff")), HpackError); // inside an index
  throws(() => decoder.decode(hex("40")), HpackError); // before the name
  throws(() => decoder.decode(hex("41")), HpackError); // before the value
  throws(() => decoder.decode(hex("40 01 61")), HpackError); // name, no value
});

// --- Header list size

Deno.test("HpackDecoder survives an HPACK bomb and stays in sync for the next block", () => {
  const decoder = new HpackDecoder({ maxHeaderListSize: 16384 });
  const big = "x".repeat(4000);
  // A 4 KB literal added to the table, then 500 one-octet references to it
  // (index 62): about 2 MB of header list from a 4.5 KB block.
  const entry = hex("40 06" + toHex(new TextEncoder().encode("x-bomb")) + "7f a11e");
  const block = new Uint8Array(entry.length + big.length + 500);
  block.set(entry);
  block.fill(0x78, entry.length, entry.length + big.length); // 'x'
  block.fill(0xbe, entry.length + big.length);
  let caught: unknown;
  try {
    decoder.decode(block);
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof HeaderListSizeError)) throw new Error("Expected HeaderListSizeError");
  equal(caught instanceof HpackError, true);
  equal(caught.size, 501 * (6 + 4000 + 32));
  equal(caught.limit, 16384);
  // The whole block was decoded: the entry is in the table, as in the peer's.
  deepEqual(decoder.dynamicTable.fields(), ["x-bomb", big]);
  deepEqual(decoder.decode(hex("be 82")), ["x-bomb", big, ":method", "GET"]);
});

Deno.test("HpackDecoder accepts a header list exactly at maxHeaderListSize", () => {
  const decoder = new HpackDecoder({ maxHeaderListSize: 42 });
  deepEqual(decoder.decode(hex("82")), [":method", "GET"]); // 7 + 3 + 32 = 42
  throws(() => decoder.decode(hex("8282")), HeaderListSizeError);
});

// --- Dynamic table

Deno.test("DynamicTable empties itself for an entry larger than the table", () => {
  const table = new DynamicTable({ maxSize: 100, searchable: true });
  table.add("x-a", "1");
  table.add("x-b", "v".repeat(100));
  equal(table.length, 0);
  equal(table.size, 0);
  equal(table.find("x-a", "1"), 0);
});

Deno.test("DynamicTable keeps indices and search right across wrap-around and growth", () => {
  const table = new DynamicTable({ maxSize: 40 * 37, searchable: true });
  for (let i = 0; i < 1000; i++) {
    table.add(`n${i % 7}`, `v${i % 100}`.padEnd(3, "_"));
    for (let k = 1; k <= table.length; k++) {
      const j = i - k + 1;
      equal(table.name(k), `n${j % 7}`);
    }
  }
  equal(table.length, 40); // entries 960 to 999
  equal(table.find("n5", "v99"), 1); // entry 999
  equal(table.find("n0", "v94"), 6); // entry 994
  equal(table.find("n0", "v0"), -6); // entry 900 was evicted; 994 has the name
  table.setMaxSize(37);
  deepEqual(table.fields(), ["n5", "v99"]);
  equal(table.find("n0", "v94"), 0);
});
