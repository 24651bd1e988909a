/**
 * The layout's promises: a backend's import loads nothing of the router, the
 * route table loads no npm package, and the import rules of ARCHITECTURE.md
 * hold (tools/check_imports.ts, also run by `deno task check`).
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { violations } from "../tools/check_imports.ts";
import { measurementsIn } from "../tools/check_comments.ts";

const root = new URL("..", import.meta.url);

/** The local files and npm packages `deno info` finds behind a module. */
async function graphOf(path: string): Promise<{ files: string[]; npm: string[] }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(path, root).pathname],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  ok(output.success, new TextDecoder().decode(output.stderr));
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    modules: Array<{ specifier: string }>;
  };
  const files = graph.modules.map((m) => m.specifier)
    .filter((s) => s.startsWith(root.href)).map((s) => s.slice(root.href.length));
  // (`npmPackages` lists the whole lockfile's packages, not the graph's: not read.)
  const npm = graph.modules.map((m) => m.specifier).filter((s) => s.startsWith("npm:"));
  return { files, npm };
}

Deno.test("the backend's import (mod.ts) loads no npm package and no router, admin, config or CLI code", async () => {
  const { files, npm } = await graphOf("mod.ts");
  deepEqual(npm, []);
  const routerSide = files.filter((file) =>
    file.startsWith("router/") || file.startsWith("config/") ||
    ["router.ts", "cli.ts", "config.ts"].includes(file)
  );
  deepEqual(routerSide, []);
  ok(files.includes("backend/serve_reverse.ts"), "the backend itself is there");
});

Deno.test("the route table loads no npm package and not the router", async () => {
  const { files, npm } = await graphOf("router/routes.ts");
  deepEqual(npm, []);
  equal(files.includes("router/create_router.ts"), false);
});

Deno.test("the import rules catch a room importing a forbidden room, a face, or a cycle", () => {
  const graph = (edges: Record<string, string[]>) =>
    new Map(Object.entries(edges).map(([from, to]) => [from, new Set(to)]));
  deepEqual(violations(graph({ "router/a.ts": ["h2/b.ts", "config/c.ts"], "h2/b.ts": [] })), []);
  equal(violations(graph({ "backend/a.ts": ["router/pool.ts"] })).length, 1);
  equal(violations(graph({ "router/a.ts": ["backend/a.ts"] })).length, 1);
  equal(violations(graph({ "h2/a.ts": ["tunnel/b.ts"] })).length, 1);
  equal(violations(graph({ "router/a.ts": ["router.ts"] })).length, 1);
  const circle = violations(graph({ "h2/a.ts": ["h2/b.ts"], "h2/b.ts": ["h2/a.ts"] }));
  deepEqual(circle, ["import cycle: h2/a.ts → h2/b.ts"]);
});

Deno.test("the import rules hold for the whole repository", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-run", "--allow-write", "tools/check_imports.ts"],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(output.code, 0, new TextDecoder().decode(output.stderr));
});

Deno.test("measurements in source comments are found, and figures in code or strings are not", () => {
  const source = [
    "// Frames of 256 KiB: uploads ran 612 against 544 MB/s in alternated runs.",
    "/**",
    " * A window of 4 MiB (RFC 9113 §6.9.2).",
    " * It cut the router's CPU by 12% faster than before.",
    " */",
    'const note = "612 MB/s"; // the timeout is 60 s',
  ].join("\n");
  deepEqual(measurementsIn(source), [
    "1: Frames of 256 KiB: uploads ran 612 against 544 MB/s in alternated runs.",
    "4: It cut the router's CPU by 12% faster than before.",
  ]);
});
