/**
 * The batched log writer: lines leave in few writes and in order, a target
 * that stops taking them never blocks the caller and costs bounded memory,
 * and lines still waiting when the process exits are written.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { BatchedWriter } from "../log/batched_writer.ts";
import { withTimeout } from "./_helpers.ts";

const decoder = new TextDecoder();

Deno.test("a thousand lines leave in a few writes, in order", async () => {
  const writes: string[] = [];
  const target = {
    write: (p: Uint8Array) => {
      writes.push(decoder.decode(p));
      return Promise.resolve(p.length);
    },
    writeSync: (p: Uint8Array) => p.length,
  };
  const writer = new BatchedWriter(target, { flushOnUnload: false, flushInterval: 10 });
  const lines = Array.from({ length: 1000 }, (_, i) => `line ${i}`);
  for (const line of lines) writer.line(line);
  await writer.close();
  ok(writes.length <= 2, `${writes.length} writes for 1,000 lines`);
  deepEqual(writes.join("").split("\n").slice(0, -1), lines);
});

Deno.test("a target that stops taking lines never blocks the caller, and drops past the bound", async () => {
  let release!: () => void;
  const stuck = new Promise<void>((resolve) => release = resolve);
  const writes: string[] = [];
  const target = {
    write: async (p: Uint8Array) => {
      await stuck; // A full pipe: the reader stopped.
      writes.push(decoder.decode(p));
      return p.length;
    },
    writeSync: (p: Uint8Array) => p.length,
  };
  const writer = new BatchedWriter(target, {
    flushOnUnload: false,
    batchBytes: 100,
    maxPendingBytes: 1000,
  });
  for (let i = 0; i < 10_000; i++) writer.line(`request ${i} answered`); // Returns at once.
  ok(writer.dropped > 9000, `${writer.dropped} dropped`);
  release();
  await withTimeout(writer.close(), 5000, "flush");
  const text = writes.join("");
  ok(text.startsWith("request 0 answered\n"));
  ok(/\d+ log line\(s\) dropped: the log's reader did not keep up\n/.test(text), text.slice(-200));
  ok(text.length < 3000, `what waited was bounded: ${text.length} bytes`);
});

Deno.test("lines still waiting when the program calls Deno.exit are written", async () => {
  const module = new URL("../log/batched_writer.ts", import.meta.url).href;
  const program = `
    import { BatchedWriter } from ${JSON.stringify(module)};
    const writer = new BatchedWriter(Deno.stderr, { flushInterval: 60_000 });
    for (let i = 0; i < 100; i++) writer.line("line " + i);
    Deno.exit(0);
  `;
  const output = await withTimeout(
    new Deno.Command(Deno.execPath(), {
      args: ["eval", program],
      stdout: "null",
      stderr: "piped",
    }).output(),
    30_000,
    "child",
  );
  equal(output.code, 0);
  const lines = decoder.decode(output.stderr).trim().split("\n");
  equal(lines.length, 100);
  equal(lines[99], "line 99");
});
