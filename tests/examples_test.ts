/** The examples a new user runs first: the demo, end to end, in child processes. */
import { equal, match, ok } from "node:assert/strict";
import { withTimeout } from "./_helpers.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("deno task demo listens on loopback and free ports only, and warns of nothing", async () => {
  // A router already running on this machine holds the default admin port.
  let held: Deno.Listener | null = null;
  try {
    held = Deno.listen({ hostname: "127.0.0.1", port: 8889 });
  } catch {
    // Taken already: the demo must cope with that too.
  }
  try {
    const output = await withTimeout(
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "examples/demo.ts"],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output(),
      90_000,
      "demo",
    );
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    equal(output.code, 0, text);
    match(text, /demo: all requests answered/);
    match(text, /Listening for HTTP traffic on http:\/\/127\.0\.0\.1:\d+/);
    match(text, /Listening for reverse tunnels on tcp:\/\/127\.0\.0\.1:\d+/);
    const admin = text.match(/Admin: dashboard at http:\/\/127\.0\.0\.1:(\d+)\//);
    ok(admin, "the admin listener is up, on a free port");
    ok(Number(admin[1]) !== 8889);
    ok(!/ WARN /.test(text), `no warning:\n${text}`);
  } finally {
    held?.close();
  }
});
