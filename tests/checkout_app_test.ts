/**
 * The package used as a dependency from a checkout, as the README's "From a
 * checkout" says: a project of its own, outside this repository, whose
 * deno.json maps `@ptth/router` to the checkout with `links`, runs a router,
 * a backend and a slow handler, and prints no warning: the package behaves
 * the same whatever the importing project's deno.json says.
 */
import { equal } from "node:assert/strict";
import { withTimeout } from "./_helpers.ts";

const checkout = new URL("..", import.meta.url).pathname;

Deno.test("an app outside the repository, linked to the checkout, runs router and backend without a warning", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ptth-app-" });
  try {
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({
        imports: { "@ptth/router": "jsr:@ptth/router@^0.1.0" },
        links: [checkout],
      }),
    );
    await Deno.writeTextFile(
      `${dir}/app.ts`,
      `import { serveReverse } from "@ptth/router";
import { createRouter } from "@ptth/router/router";
const router = createRouter({ hostname: "127.0.0.1", port: 0, tunnelPort: 0, quiet: true });
const backend = serveReverse(
  { hostname: "127.0.0.1", port: router.tunnelAddr.port, quiet: true },
  async () => {
    await new Promise((resolve) => setTimeout(resolve, 300)); // a handler that takes a while
    return new Response("slow");
  },
);
await backend.connected;
const responses = await Promise.all(
  [0, 1, 2].map(() => fetch("http://127.0.0.1:" + router.addr.port + "/").then((r) => r.text())),
);
console.log(responses.join(","));
await backend.shutdown();
await router.shutdown();
`,
    );
    const output = await withTimeout(
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "app.ts"],
        cwd: dir,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output(),
      90_000,
      "the app",
    );
    const stderr = new TextDecoder().decode(output.stderr);
    equal(output.code, 0, stderr);
    equal(new TextDecoder().decode(output.stdout).trim(), "slow,slow,slow");
    // Downloads of npm packages may be reported; nothing else may be said.
    const said = stderr.split("\n").filter((line) =>
      line.trim() !== "" && !/^Download /.test(line)
    );
    equal(said.join("\n"), "", "no warning on stderr");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
