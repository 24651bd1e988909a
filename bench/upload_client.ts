/**
 * An upload with Deno's `fetch`, as an application would make it: either a
 * body of known length (a `Blob`: `content-length` is sent) or a
 * `ReadableStream` of fixed-size chunks (no length: HTTP/1.1 chunked
 * encoding). One unmeasured upload of 1 MiB the same way first (connection,
 * JIT), then the measured one. Prints one JSON line:
 * `{"status":200,"bytes":N,"seconds":S}`, `bytes` being what the server
 * counted (the `/upload` route of bench/handlers.ts).
 *
 * The known-length body is built before the clock starts: Deno takes longer
 * to build a large `Blob` than to send it, and the figure is the transfer.
 * A `Blob` rather than a `Uint8Array`: Deno's client sends the latter
 * several times slower, which would measure the client.
 *
 *     deno run -A bench/upload_client.ts <url> <bytes> <chunk bytes> length|stream
 *
 * @module
 */

const [url, totalText, chunkText, mode] = Deno.args;
const total = Number(totalText);
const chunk = Number(chunkText);
if (!url || !(total > 0) || !(chunk > 0) || (mode !== "length" && mode !== "stream")) {
  console.error("usage: upload_client.ts <url> <bytes> <chunk bytes> length|stream");
  Deno.exit(2);
}

/** A body of `bytes`: all at once, or pulled in chunks of `chunk` (a new buffer each, as a reader would give). */
function body(bytes: number): BodyInit {
  if (mode === "length") return new Blob([new Uint8Array(bytes)]);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const n = Math.min(chunk, bytes - sent);
      controller.enqueue(new Uint8Array(n));
      sent += n;
      if (sent >= bytes) controller.close();
    },
  }, { highWaterMark: 0 });
}

async function upload(payload: BodyInit): Promise<{ status: number; bytes: number }> {
  const response = await fetch(url!, {
    method: "POST",
    body: payload,
    headers: { "content-type": "application/octet-stream" },
  });
  const text = await response.text();
  const counted = response.ok ? Number(JSON.parse(text).bytes) : -1;
  return { status: response.status, bytes: counted };
}

await upload(body(1024 * 1024));
const payload = body(total);
const start = performance.now();
const result = await upload(payload);
const seconds = (performance.now() - start) / 1000;
console.log(JSON.stringify({ ...result, seconds }));
