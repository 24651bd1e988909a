/**
 * The benchmark's parsers of its load generators' output (bench/lib/tools.ts),
 * on output that Debian's wrk 4.1.0, h2load (nghttp2 1.52.0) and curl 7.88.1
 * printed on this machine, normal and failing runs alike: a parser that
 * misreads them would put wrong figures in BENCHMARKS.md without an error.
 */
import { equal, throws } from "node:assert/strict";
import {
  CURL_WRITE_OUT,
  parseCurl,
  parseH2load,
  parseWrk,
  toBytes,
  toMs,
} from "../bench/lib/tools.ts";

const WRK_OK = `Running 1s test @ http://127.0.0.1:43883/tiny
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   254.52us  508.88us   6.69ms   95.49%
    Req/Sec    54.52k    21.94k   88.30k    60.00%
  Latency Distribution
     50%  136.00us
     75%  204.00us
     90%  385.00us
     99%    3.07ms
  54008 requests in 1.00s, 5.36MB read
Requests/sec:  53944.02
Transfer/sec:      5.35MB`;

const WRK_NON_2XX = `Running 2s test @ http://127.0.0.1:42061/nope
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.36ms    4.29ms  43.47ms   95.06%
    Req/Sec    27.84k    12.51k   44.46k    60.00%
  Latency Distribution
     50%  210.00us
     75%  552.00us
     90%    2.55ms
     99%   27.08ms
  55354 requests in 2.00s, 6.28MB read
  Non-2xx or 3xx responses: 55354
Requests/sec:  27643.98
Transfer/sec:      3.14MB`;

/**
 * A server that closes every connection on its first request, then stops
 * listening: nothing answered, read and write errors.
 */
const WRK_SOCKET_ERRORS = `Running 2s test @ http://127.0.0.1:36513/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     0.00      0.00     0.00      -nan%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  0 requests in 2.04s, 0.00B read
  Socket errors: connect 0, read 797, write 5813, timeout 0
Requests/sec:      0.00
Transfer/sec:       0.00B`;

const H2LOAD_OK = `starting benchmark...
spawning thread #0: 5 total client(s). Timing-based test with 0s of warm-up time and 1s of main duration for measurements.
Application protocol: h2c

finished in 1.00s, 15652.00 req/s, 428.40KB/s
requests: 15652 total, 15662 started, 15652 done, 15652 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 15652 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 428.40KB (438686) total, 107.15KB (109719) headers (space savings 91.24%), 45.86KB (46956) data
                     min         max         mean         sd        +/- sd
time for request:      191us      5.98ms       624us       284us    91.22%
time for connect:      187us       366us       288us        68us    60.00%
time to 1st byte:     3.69ms      3.89ms      3.84ms        82us    80.00%
req/s           :    3104.00     3148.03     3128.55       17.32    60.00%`;

const H2LOAD_FAILED = `starting benchmark...
spawning thread #0: 2 total client(s). 10 total requests
Application protocol: h2c

finished in 8.27ms, 1208.61 req/s, 62.79KB/s
requests: 10 total, 10 started, 10 done, 0 succeeded, 10 failed, 0 errored, 0 timeout
status codes: 0 2xx, 0 3xx, 10 4xx, 0 5xx
traffic: 532B (532) total, 142B (142) headers (space savings 82.47%), 100B (100) data
                     min         max         mean         sd        +/- sd
time for request:      123us      2.55ms       900us       941us    80.00%
time for connect:      279us      1.27ms       776us       702us   100.00%
time to 1st byte:     3.00ms      3.16ms      3.08ms       108us   100.00%
req/s           :     718.76      789.91      754.33       50.31   100.00%`;

Deno.test("toMs and toBytes read wrk's and h2load's units", () => {
  equal(toMs("136.00us"), 0.136);
  equal(toMs("27.08ms"), 27.08);
  equal(toMs("1.10s"), 1100);
  equal(toMs("2m"), 120_000);
  equal(toMs("-nan%"), NaN);
  equal(toBytes("5.36MB"), 5.36 * 1024 * 1024);
  equal(toBytes("428.40KB"), 428.4 * 1024);
  equal(toBytes("0.00B"), 0);
  equal(toBytes("12 MB"), NaN);
});

Deno.test("parseWrk reads rate, percentiles, bytes and requests of a clean run", () => {
  const r = parseWrk(WRK_OK);
  equal(r.reqPerSec, 53944.02);
  equal(r.p50Ms, 0.136);
  equal(r.p99Ms, 3.07);
  equal(r.meanMs, 0.25452);
  equal(r.requests, 54008);
  equal(r.errors, 0);
  equal(r.mbPerSec.toFixed(3), ((5.36 * 1024 * 1024) / 1e6).toFixed(3));
});

Deno.test("parseWrk counts non-2xx responses and socket errors as errors", () => {
  equal(parseWrk(WRK_NON_2XX).errors, 55354);
  const dead = parseWrk(WRK_SOCKET_ERRORS);
  equal(dead.errors, 797 + 5813);
  equal(dead.requests, 0);
  equal(dead.reqPerSec, 0);
  // wrk prints zeros when nothing was answered: no latency, not a latency of 0.
  equal(dead.p50Ms, NaN);
  equal(dead.p99Ms, NaN);
  equal(dead.meanMs, NaN);
});

Deno.test("parseWrk refuses output without a summary (wrk could not connect)", () => {
  throws(() => parseWrk("unable to connect to 127.0.0.1:1 Connection refused"), /Cannot parse/);
});

Deno.test("parseH2load reads rate, mean and max latency, traffic and succeeded requests", () => {
  const r = parseH2load(H2LOAD_OK);
  equal(r.reqPerSec, 15652);
  equal(r.seconds, 1);
  equal(r.meanMs, 0.624);
  equal(r.maxMs, 5.98);
  equal(r.requests, 15652);
  equal(r.errors, 0);
  equal(r.mbPerSec, 438686 / 1e6);
  equal(r.p50Ms, NaN);
});

Deno.test("parseH2load counts requests that did not succeed (4xx) as errors", () => {
  const r = parseH2load(H2LOAD_FAILED);
  equal(r.requests, 0);
  equal(r.errors, 10);
  equal(r.seconds, 0.00827);
  throws(() => parseH2load("starting benchmark...\n"), /Cannot parse/);
});

Deno.test("parseCurl splits the write-out line from the body", () => {
  equal(CURL_WRITE_OUT.startsWith("\n"), true, "the figures start on a line of their own");
  const download = parseCurl("\n200 1000000 0 0.006851 0.006127");
  equal(download.status, 200);
  equal(download.download, 1_000_000);
  equal(download.upload, 0);
  equal(download.seconds, 0.006851);
  equal(download.ttfbMs, 6.127);
  equal(download.body, "");
  const upload = parseCurl('{"bytes":100000}\n200 16 100000 0.012055 0.005557');
  equal(upload.body, '{"bytes":100000}');
  equal(upload.upload, 100_000);
  equal(upload.download, 16);
  const multiline = parseCurl("line one\nline two\n404 18 0 0.001 0.001\n");
  equal(multiline.body, "line one\nline two");
  equal(multiline.status, 404);
});
