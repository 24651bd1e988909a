/**
 * Forces a full garbage collection in another Deno process through its V8
 * inspector (started with `--inspect=127.0.0.1:0`), and reads what the heap
 * holds afterwards: the soak's measure of retained memory.
 *
 * Without it, RSS under load is a sawtooth: the old generation grows by tens
 * of MiB between full collections, so two samples of RSS differ by whichever
 * side of a collection they fell on. After a forced full collection what is
 * left is what is still referenced, which is where a leak shows.
 *
 * Only the Runtime and HeapProfiler methods below are called: the Debugger
 * domain stays off, so the process runs its code as before, and the session
 * is closed again at once.
 *
 * @module
 */

/** The inspector's WebSocket address from a `deno run --inspect` stderr line. */
export function inspectorUrl(line: string): string | null {
  return line.match(/Debugger listening on (ws:\/\/\S+)/)?.[1] ?? null;
}

/**
 * Connects to the inspector at `url`, runs `HeapProfiler.collectGarbage`
 * (a full, compacting collection) and returns the V8 heap's used octets
 * after it (`Runtime.getHeapUsage`).
 *
 * @throws {Error} When the inspector does not answer within `timeoutMs`, goes
 *   away, or answers with an error.
 */
export async function collectGarbage(url: string, timeoutMs = 10_000): Promise<number> {
  const socket = new WebSocket(url);
  const pending = new Map<number, (message: CdpMessage) => void>();
  let nextId = 1;
  let fail!: (error: Error) => void;
  // Settles only by failing: no answer in time, or the inspector went away. Marked
  // handled at once: a failure after the answer concerns no one.
  const failed = new Promise<never>((_, reject) => fail = reject);
  failed.catch(() => {});
  const timer = setTimeout(
    () => fail(new Error(`inspector ${url}: no answer in ${timeoutMs} ms`)),
    timeoutMs,
  );
  socket.onclose = () => fail(new Error(`inspector ${url}: closed`));
  socket.onerror = () => fail(new Error(`inspector ${url}: connection failed`));
  const call = (method: string): Promise<CdpMessage> =>
    Promise.race([
      new Promise<CdpMessage>((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        socket.send(JSON.stringify({ id, method, params: {} }));
      }),
      failed,
    ]);
  socket.onmessage = (event) => {
    let message: CdpMessage;
    try {
      message = JSON.parse(String(event.data));
    } catch {
      return fail(new Error(`inspector ${url}: not JSON: ${String(event.data).slice(0, 80)}`));
    }
    if (message.id !== undefined) pending.get(message.id)?.(message);
  };
  try {
    await Promise.race([new Promise((resolve) => socket.onopen = resolve), failed]);
    const gc = await call("HeapProfiler.collectGarbage");
    if (gc.error) throw new Error(`inspector: collectGarbage: ${gc.error.message}`);
    const usage = await call("Runtime.getHeapUsage");
    const used = usage.result?.usedSize;
    if (typeof used !== "number") {
      throw new Error(`inspector: getHeapUsage: ${usage.error?.message ?? "no usedSize"}`);
    }
    return used;
  } finally {
    clearTimeout(timer);
    socket.onclose = socket.onerror = socket.onmessage = null;
    socket.close();
  }
}

/** The part of a Chrome DevTools Protocol answer read here. */
interface CdpMessage {
  id?: number;
  result?: { usedSize?: number };
  error?: { message: string };
}
