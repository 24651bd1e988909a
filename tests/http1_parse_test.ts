/**
 * The edge's HTTP/1.1 parsing with exact bytes: request heads (RFC 9112
 * §2-§6, RFC 9110 §5, §7.2), the chunked coding (RFC 9112 §7.1), the Host
 * check, and response heads. Smuggling-shaped input must be refused, never
 * read one way here and another way elsewhere.
 *
 * @module
 */

import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import {
  findHeadEnd,
  Http1Error,
  type Http1Head,
  isHttp2Preface,
  parseHead,
} from "../router/edge/http1_head.ts";
import { ChunkedDecoder } from "../router/edge/http1_chunked.ts";
import { ByteSink, responseHead } from "../router/edge/http1_response.ts";
import { isValidHost } from "../router/host.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Parses a complete head given as text (its bytes are the text's UTF-16 units, latin1). */
function head(text: string): Http1Head {
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  const end = findHeadEnd(bytes, 0, 0, bytes.length);
  ok(end > 0, "the head is complete");
  return parseHead(bytes, 0, end);
}

/** The status a head is refused with, or 0 when it is accepted. */
function refusal(text: string): number {
  try {
    head(text);
    return 0;
  } catch (error) {
    if (error instanceof Http1Error) return error.status;
    throw error;
  }
}

// ---- request heads ----------------------------------------------------------------------------

Deno.test("a request head: method, origin-form target, lower-case names, OWS trimmed", () => {
  const h = head(
    "POST /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Thing: \t spaced \t\r\n" +
      "Content-Length: 3\r\n\r\n",
  );
  equal(h.method, "POST");
  equal(h.path, "/a/b?c=d");
  equal(h.authority, null);
  equal(h.minor, 1);
  equal(h.host, "example.com");
  equal(h.contentLength, 3);
  equal(h.chunked, false);
  equal(h.keepAlive, true);
  deepEqual(h.fields, ["host", "example.com", "x-thing", "spaced", "content-length", "3"]);
});

Deno.test("field values keep obs-text octets (ISO-8859-1), and NBSP is not trimmed as OWS", () => {
  const h = head("GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9\xa0\r\n\r\n");
  equal(h.fields[3], "caf\xe9\xa0");
});

Deno.test("leading and trailing bytes around a head: findHeadEnd stops at the empty line", () => {
  const bytes = encoder.encode("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /next");
  equal(findHeadEnd(bytes, 0, 0, bytes.length), 27);
  // Searching on from where an earlier search stopped (less 3) finds a split boundary.
  equal(findHeadEnd(bytes, 0, 24, 26), -1);
  equal(findHeadEnd(bytes, 0, 23, 27), 27);
});

Deno.test("an absolute-form target gives the host; its scheme is ignored (RFC 9112 §3.2.2)", () => {
  const h = head("GET https://target.example:8443/p?q HTTP/1.1\r\nHost: other.example\r\n\r\n");
  equal(h.authority, "target.example:8443");
  equal(h.path, "/p?q");
  equal(head("GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n").path, "/");
  equal(head("GET http://a.example?x=1 HTTP/1.1\r\nHost: a.example\r\n\r\n").path, "/?x=1");
  equal(refusal("GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"), 400);
  equal(refusal("GET http://u@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n"), 400);
});

Deno.test("asterisk-form only for OPTIONS; authority-form and CONNECT, TRACE are refused", () => {
  equal(head("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").path, "*");
  equal(refusal("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  equal(refusal("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"), 405);
  equal(refusal("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
  equal(refusal("GET a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
});

Deno.test("HTTP/1.0 and 1.1 are served, other versions get 505, garbage 400", () => {
  equal(head("GET / HTTP/1.0\r\n\r\n").minor, 0);
  equal(refusal("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  equal(refusal("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505);
  equal(refusal("GET / http/1.1\r\nHost: a\r\n\r\n"), 400);
  equal(refusal("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);
  equal(refusal("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  equal(refusal("GE@T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  equal(refusal("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  equal(refusal("GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
});

Deno.test("Host: exactly one in HTTP/1.1, none needed in 1.0, and always host [:port] (finding 12)", () => {
  equal(refusal("GET / HTTP/1.1\r\n\r\n"), 400);
  equal(refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
  equal(head("GET / HTTP/1.0\r\n\r\n").host, null);
  for (const bad of ["victim.example/admin?", "a@b", "a.example:99999", "a.example:", "", "a b"]) {
    equal(refusal(`GET / HTTP/1.1\r\nHost: ${bad}\r\n\r\n`), 400, `Host: ${bad}`);
  }
  equal(head("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n").host, "[2001:db8::1]:8080");
});

Deno.test("smuggling: Content-Length and Transfer-Encoding together are refused (RFC 9112 §6.3)", () => {
  equal(
    refusal(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
    ),
    400,
  );
  equal(
    refusal(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
    ),
    400,
  );
});

Deno.test("smuggling: chunked must be the final coding, once; others are not implemented", () => {
  equal(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"), 400);
  equal(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400);
  equal(
    refusal(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
    ),
    400,
  );
  equal(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  equal(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n"), 400);
  equal(refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  equal(head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").chunked, true);
});

Deno.test("smuggling: Content-Length is digits only, once, and not past 15 digits", () => {
  equal(
    refusal("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n"),
    400,
  );
  for (const value of ["+4", "-1", "4 4", "0x10", "4,4", "1e3", "9999999999999999"]) {
    equal(
      refusal(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${value}\r\n\r\n`),
      400,
      `Content-Length: ${value}`,
    );
  }
  equal(head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n").contentLength, 7);
});

Deno.test("smuggling: bare CR, bare LF, obs-fold and whitespace before the colon are refused", () => {
  equal(refusal("GET / HTTP/1.1\r\nHost: a\rX-Y: z\r\n\r\n"), 400);
  equal(refusal("GET / HTTP/1.1\r\nHost: a\r\nX-Y: 1\r2\r\n\r\n"), 400);
  throws(() => findHeadEnd(encoder.encode("GET / HTTP/1.1\nHost: a\n\n"), 0, 0, 25), Http1Error);
  equal(refusal("GET / HTTP/1.1\r\nHost: a\r\nX-Y: 1\r\n 2\r\n\r\n"), 400);
  equal(refusal("GET / HTTP/1.1\r\nHost: a\r\n\tX-Y: 1\r\n\r\n"), 400);
  equal(refusal("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
  equal(refusal("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"), 400);
  equal(refusal("GET / HTTP/1.1\r\nHost: a\r\nX(Y): 1\r\n\r\n"), 400);
  equal(refusal("GET / HTTP/1.1\r\nHost: a\r\nX-Y: a\x00b\r\n\r\n"), 400);
  equal(refusal("GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n"), 400);
});

Deno.test("Connection, Expect and Upgrade decide keep-alive, 100-continue and upgrades", () => {
  equal(head("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").keepAlive, false);
  equal(head("GET / HTTP/1.0\r\n\r\n").keepAlive, false);
  equal(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive, true);
  equal(head("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n").expectContinue, true);
  equal(head("PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expectContinue, false);
  equal(refusal("PUT / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n"), 417);
  const upgrade = head(
    "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
  );
  equal(upgrade.upgrade, true);
  equal(head("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").upgrade, false);
});

Deno.test("the HTTP/2 preface is told from HTTP/1.1 on its first bytes", () => {
  const preface = encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  equal(isHttp2Preface(preface, 0, preface.length), true);
  equal(isHttp2Preface(preface, 0, 10), null);
  equal(isHttp2Preface(encoder.encode("PRI * HTTP/1.1"), 0, 14), false);
  equal(isHttp2Preface(encoder.encode("GET"), 0, 3), false);
});

// ---- the Host check ---------------------------------------------------------------------------

Deno.test("isValidHost accepts reg-names, IPv4 and bracketed IPv6 with an optional port", () => {
  for (
    const good of ["a", "a.example", "xn--bcher-kva.example:80", "10.0.0.1", "[::1]", "[::1]:1"]
  ) {
    equal(isValidHost(good), true, good);
  }
  for (
    const good of ["[2001:db8::10.0.0.1]", "a.example:65535", "a.example:0", "a_b~c!$&'()*+,;="]
  ) {
    equal(isValidHost(good), true, good);
  }
  for (const bad of ["", "a/b", "a?b", "a#b", "a@b", "a:65536", "a:", "a:1:2", "[::1", "[::g]"]) {
    equal(isValidHost(bad), false, bad);
  }
  for (const bad of ["[1:2:3:4:5:6:7:8:9]", "[fe80::1%25eth0]", "[v1.x]", "a b", "a%zz", ":80"]) {
    equal(isValidHost(bad), false, bad);
  }
});

// ---- the chunked coding -----------------------------------------------------------------------

/** Decodes `text` fed in pieces of `step` octets; the body, and where the decoder stopped. */
function chunked(text: string, step = Infinity, maxTrailer = 1024) {
  const bytes = encoder.encode(text);
  const decoder_ = new ChunkedDecoder(maxTrailer);
  let body = "";
  let used = 0;
  for (let at = 0; at < bytes.length && !decoder_.done; at = used) {
    const end = Math.min(bytes.length, at + step);
    used = decoder_.decode(bytes, at, end, (chunk) => body += decoder.decode(chunk));
  }
  return { body, done: decoder_.done, used };
}

function chunkedStatus(text: string, maxTrailer = 1024): number {
  try {
    chunked(text, Infinity, maxTrailer);
    return 0;
  } catch (error) {
    if (error instanceof Http1Error) return error.status;
    throw error;
  }
}

Deno.test("chunked: sizes, data, extensions and trailers, whole or an octet at a time", () => {
  const text = "5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET /next";
  for (const step of [Infinity, 1, 3]) {
    const result = chunked(text, step);
    equal(result.body, "hello world", `step ${step}`);
    equal(result.done, true);
    equal(result.used, text.length - "GET /next".length);
  }
  equal(chunked("A\r\n0123456789\r\n0\r\n\r\n").body, "0123456789");
});

Deno.test("chunked smuggling: negative, non-hex, oversized and space-broken sizes are refused", () => {
  for (const size of ["-1", "0x5", "+5", " 5", "5 5", "", "g", "fffffffffffffff"]) {
    equal(chunkedStatus(`${size}\r\nhello\r\n0\r\n\r\n`), 400, JSON.stringify(size));
  }
  // 13 hex digits (2^52 octets) is the largest size taken.
  equal(chunked("0000000000005\r\nhello\r\n0\r\n\r\n").body, "hello");
});

Deno.test("chunked smuggling: bare CR or LF, data longer than its size, controls in extensions", () => {
  equal(chunkedStatus("5\rhello\r\n0\r\n\r\n"), 400);
  equal(chunkedStatus("5\nhello\r\n0\r\n\r\n"), 400);
  equal(chunkedStatus("5\r\nhelloX\r\n0\r\n\r\n"), 400);
  equal(chunkedStatus("5\r\nhello\r0\r\n\r\n"), 400);
  equal(chunkedStatus("5;a=\x01\r\nhello\r\n0\r\n\r\n"), 400);
  equal(chunkedStatus(`5;${"x".repeat(2000)}\r\nhello\r\n0\r\n\r\n`), 400);
  equal(chunkedStatus("0\r\n\r\r\n"), 400);
});

Deno.test("chunked trailers: counted against the header limit, folded ones refused", () => {
  equal(chunkedStatus("0\r\nX-A: 1\r\n\r\n", 11), 0);
  equal(chunkedStatus(`0\r\nX-A: ${"y".repeat(100)}\r\n\r\n`, 50), 431);
  equal(chunkedStatus("0\r\nX-A: 1\r\n 2\r\n\r\n"), 400);
  equal(chunkedStatus("0\r\nX-A: \x7f\r\n\r\n"), 400);
});

// ---- response heads ---------------------------------------------------------------------------

function respond(
  status: number,
  fields: Record<string, string>,
  hasBody: boolean,
  request = { method: "GET", minor: 1, keepAlive: true },
) {
  const sink = new ByteSink(64);
  const framing = responseHead(sink, status, new Headers(fields), hasBody, request);
  return { text: decoder.decode(sink.view()), framing };
}

Deno.test("response heads: hop-by-hop fields dropped, date added, chunked when the length is unknown", () => {
  const { text, framing } = respond(200, {
    connection: "x-secret",
    "keep-alive": "timeout=5",
    "transfer-encoding": "gzip",
    upgrade: "h2c",
    "x-kept": "1",
  }, true);
  match(text, /^HTTP\/1.1 200 OK\r\n/);
  ok(!/connection: x-secret|keep-alive|transfer-encoding: gzip|upgrade/i.test(text), text);
  match(text, /\r\nx-kept: 1\r\n/);
  match(text, /\r\ndate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
  match(text, /\r\ntransfer-encoding: chunked\r\n\r\n$/);
  deepEqual(framing, { length: -1, chunked: true, noBody: false, close: false });
});

Deno.test("response heads: lengths, HEAD, 204, 304, HTTP/1.0 and close", () => {
  equal(respond(200, { "content-length": "5" }, true).framing.length, 5);
  match(respond(200, {}, false).text, /\r\ncontent-length: 0\r\n/);
  const headResponse = respond(200, { "content-length": "5" }, true, {
    method: "HEAD",
    minor: 1,
    keepAlive: true,
  });
  deepEqual(headResponse.framing, { length: -1, chunked: false, noBody: true, close: false });
  match(headResponse.text, /\r\ncontent-length: 5\r\n/);
  ok(!respond(204, { "content-length": "0" }, false).text.includes("content-length"));
  equal(respond(304, {}, true).framing.noBody, true);
  // HTTP/1.0 has no chunked coding: an unknown length ends with the connection.
  const old = respond(200, {}, true, { method: "GET", minor: 0, keepAlive: true });
  deepEqual(old.framing, { length: -1, chunked: false, noBody: false, close: true });
  match(old.text, /\r\nconnection: close\r\n/);
  match(
    respond(200, { "content-length": "1" }, true, { method: "GET", minor: 0, keepAlive: true })
      .text,
    /\r\nconnection: keep-alive\r\n/,
  );
  match(respond(200, {}, false, { method: "GET", minor: 1, keepAlive: false }).text, /close/);
});
