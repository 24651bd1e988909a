/**
 * The benchmark's child processes (bench/lib/processes.ts), started for
 * real: stderr written to a file and read back only when a line is waited
 * for (how a router's startup lines are found while its request log goes
 * to disk), and a child started under a file limit of its own.
 */
import { equal, match, rejects } from "node:assert/strict";
import { Processes } from "../bench/lib/processes.ts";

Deno.test("a child's stderr goes to a file, and a line is found in it when waited for", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ptth-bench-test-" });
  const procs = new Processes(dir);
  try {
    const stderrFile = `${dir}/child.log`;
    const child = procs.spawn("logger", "sh", [
      "-c",
      "echo 'to stdout'; echo 'starting' >&2; sleep 0.2; echo 'listening on 127.0.0.1:4321' >&2; sleep 30",
    ], { stderrFile });
    const line = await child.waitLine("stderr", (l) => /listening on \S+:\d+/.test(l), 5000);
    equal(line, "listening on 127.0.0.1:4321");
    equal(await child.waitLine("stdout", (l) => l === "to stdout", 5000), "to stdout");
    equal(await Deno.readTextFile(stderrFile), "starting\nlistening on 127.0.0.1:4321\n");
    match(await child.tail(), /starting \| listening on 127\.0\.0\.1:4321 \| to stdout/);
    await rejects(
      child.waitLine("stderr", (l) => l === "never", 300),
      /timed out waiting for output/,
    );
  } finally {
    await procs.stopAll(500);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a child runs under the file limit it is given, and a strict one that cannot be set fails it", async () => {
  const procs = new Processes(Deno.cwd());
  try {
    const limited = procs.spawn("limited", "sh", ["-c", "ulimit -n"], {
      fdLimit: { files: 1024, strict: true },
    });
    equal(await limited.waitLine("stdout", (l) => l !== "", 5000), "1024");
    equal((await limited.status).code, 0);
    const hard = Number(
      new TextDecoder().decode(
        (await new Deno.Command("sh", { args: ["-c", "ulimit -Hn"] }).output()).stdout,
      ),
    );
    // Above the hard limit: a strict limit fails the start, a loose one runs with what it has.
    const strict = procs.spawn("strict", "true", [], {
      fdLimit: { files: hard + 1, strict: true },
    });
    equal((await strict.status).code, 97);
    const loose = procs.spawn("loose", "true", [], { fdLimit: { files: hard + 1, strict: false } });
    equal((await loose.status).code, 0);
  } finally {
    await procs.stopAll(500);
  }
});
