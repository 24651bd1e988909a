import { deepEqual, equal, throws } from "node:assert/strict";
import { StreamTable } from "../h2/stream_table.ts";

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

Deno.test("StreamTable agrees with a Map over 250,000 random sets, deletes and gets", () => {
  const next = random(7);
  for (let round = 0; round < 50; round++) {
    const table = new StreamTable<number>();
    const map = new Map<number, number>();
    // Few keys (dense probe runs) in half the rounds, many (growth) in the others.
    const keys = round % 2 === 0 ? 64 : 4096;
    for (let op = 0; op < 5000; op++) {
      const key = 1 + Math.floor(next() * keys);
      const what = next();
      if (what < 0.5) {
        table.set(key, op);
        map.set(key, op);
      } else if (what < 0.8) {
        equal(table.delete(key), map.delete(key), `delete ${key}`);
      } else {
        equal(table.get(key), map.get(key), `get ${key}`);
      }
      equal(table.size, map.size);
    }
    for (const [key, value] of map) equal(table.get(key), value);
    deepEqual([...table.values()].sort((a, b) => a - b), [...map.values()].sort((a, b) => a - b));
  }
});

Deno.test("StreamTable keeps entries reachable when a deletion splits a run that wraps around the end", () => {
  const table = new StreamTable<string>();
  // 15, 31 and 47 all hash to the last slot of 16: the run wraps to slots 0 and 1.
  for (const key of [15, 31, 47]) table.set(key, `v${key}`);
  equal(table.delete(15), true);
  equal(table.get(31), "v31");
  equal(table.get(47), "v47");
  equal(table.delete(31), true);
  equal(table.get(47), "v47");
  equal(table.size, 1);
});

Deno.test("StreamTable empties after a large burst and works on", () => {
  const table = new StreamTable<number>();
  for (let id = 1; id < 20_000; id += 2) table.set(id, id);
  equal(table.size, 10_000);
  for (let id = 1; id < 20_000; id += 2) equal(table.delete(id), true);
  equal(table.size, 0);
  table.set(5, 5);
  equal(table.get(5), 5);
  deepEqual(table.values(), [5]);
});

Deno.test("StreamTable never takes key 0 for a free slot, so empty tables stay empty", () => {
  const a = new StreamTable<string>();
  const b = new StreamTable<string>();
  // Empty tables share one store: nothing done to one may show in another.
  equal(a.has(0), false);
  equal(a.delete(0), false);
  equal(a.size, 0);
  throws(() => a.set(0, "zero"), RangeError);
  throws(() => a.set(2 ** 31, "too large"), RangeError);
  a.set(7, "seven");
  equal(a.get(7), "seven");
  equal(b.get(7), undefined);
  equal(b.has(7), false);
  equal(new StreamTable<string>().get(7), undefined);
});
