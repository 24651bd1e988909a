/**
 * Server-sent events as a browser sees them, against `url` (the `/sse` route
 * of bench/handlers.ts):
 *
 * 1. time to first event of one single-event stream at a time (median of 20,
 *    after one warm-up);
 * 2. `streams` streams at once (each on its own HTTP/1.1 connection, as
 *    EventSource does without HTTP/2; the connections are opened first by a
 *    round of `/tiny` requests), each receiving `events` events sent every
 *    `interval` ms: each stream's time to first event, and each event's
 *    delivery latency (the backend stamps it with its clock; same machine).
 *
 * Prints one JSON line with the figures (ms).
 *
 *     deno run -A bench/sse_client.ts <url> <streams> <events> <interval ms>
 *
 * @module
 */

const [url, streamsArg = "100", eventsArg = "100", intervalArg = "10"] = Deno.args;
if (!url) throw new Error("usage: sse_client.ts <url> <streams> <events> <interval>");
const streams = Number(streamsArg);
const events = Number(eventsArg);
const now = () => performance.timeOrigin + performance.now();

// Open the connections (kept alive in the client's pool) and warm the client up.
await Promise.all(
  Array.from({ length: streams }, async () => (await fetch(new URL("/tiny", url))).text()),
);

// 1. One single-event stream at a time.
const single = new URL(url);
single.searchParams.set("events", "1");
const alone: number[] = [];
for (let i = 0; i < 21; i++) {
  const start = performance.now();
  const reader = (await fetch(single)).body!.getReader();
  await reader.read();
  if (i > 0) alone.push(performance.now() - start); // The first one warms up.
  while (!(await reader.read()).done);
}

// 2. Many paced streams at once.
const paced = new URL(url);
paced.searchParams.set("events", String(events));
paced.searchParams.set("interval", intervalArg);
const delivery: number[] = [];
const decoder = new TextDecoder();

async function one(start: number) {
  const response = await fetch(paced, { headers: { accept: "text/event-stream" } });
  let received = 0;
  let firstEventMs = -1;
  let text = "";
  for await (const chunk of response.body!) {
    const at = now();
    text += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const event = text.slice(0, end);
      text = text.slice(end + 2);
      received++;
      if (firstEventMs < 0) firstEventMs = performance.now() - start;
      const stamp = event.match(/^data: ([\d.]+)$/m);
      if (stamp) delivery.push(at - Number(stamp[1]));
    }
  }
  return { received, firstEventMs, ok: response.status === 200 && received === events };
}

const start = performance.now();
const results = await Promise.all(Array.from({ length: streams }, () => one(start)));
console.log(JSON.stringify({
  streams,
  events,
  received: results.reduce((n, r) => n + r.received, 0),
  failed: results.filter((r) => !r.ok).length,
  wallMs: performance.now() - start,
  firstEventMs: results.map((r) => r.firstEventMs),
  deliveryMs: delivery,
  aloneFirstEventMs: alone,
}));
