/**
 * The documentation a new user reads matches the package: every backend
 * option and server property is in the README, optional parameters show as
 * optional, files the README points at exist and are published, and the
 * examples of the faces' exports import what JSR users can import.
 */
import { deepEqual, equal, ok } from "node:assert/strict";

const root = new URL("..", import.meta.url);
const readme = await Deno.readTextFile(new URL("README.md", root));

interface DocSymbol {
  name: string;
  declarations: Array<{
    jsDoc?: { tags?: Array<{ kind: string; doc?: string }> };
    def: {
      properties?: Array<{ name: string }>;
      params?: Array<{ name?: string; optional?: boolean }>;
    };
  }>;
}

/** The exported symbols of a face, from `deno doc --json`. */
async function symbolsOf(face: string): Promise<DocSymbol[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", face],
    cwd: root.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  ok(output.success, new TextDecoder().decode(output.stderr));
  const doc = JSON.parse(new TextDecoder().decode(output.stdout));
  return doc.nodes[new URL(face, root).href].symbols;
}

function symbol(symbols: DocSymbol[], name: string): DocSymbol {
  const found = symbols.find((s) => s.name === name);
  ok(found, name);
  return found;
}

Deno.test("the README's backend table names every serveReverse option and server property", async () => {
  const symbols = await symbolsOf("mod.ts");
  const options = symbol(symbols, "ServeReverseOptions").declarations[0]!.def.properties!;
  const section = readme.slice(readme.indexOf("### Backend"), readme.indexOf("## WebSockets"));
  const missing = options.map((p) => p.name).filter((name) => !section.includes(`\`${name}\``));
  deepEqual(missing, [], "options missing from the README's backend section");
  const server = symbol(symbols, "ReverseServer").declarations[0]!.def.properties!;
  const absent = server.map((p) => p.name).filter((name) => !section.includes(`\`${name}`));
  deepEqual(absent, [], "server properties missing from the README's backend section");
});

Deno.test("optional parameters of the public functions show as optional", async () => {
  const checks: Array<[string, string, string]> = [
    ["router.ts", "createRouter", "options"],
    ["mod.ts", "upgradeWebSocket", "options"],
  ];
  for (const [face, name, parameter] of checks) {
    const params = symbol(await symbolsOf(face), name).declarations.at(-1)!.def.params!;
    const param = params.find((p) => p.name === parameter);
    ok(param, `${name}(${parameter})`);
    equal(param.optional, true, `${name}(${parameter}?)`);
  }
});

Deno.test("files the README points at exist and are published", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const include: string[] = config.publish.include;
  const named = new Set(
    [...readme.matchAll(/\b((?:examples|docs)\/[\w./-]+\.\w+|[A-Z]+\.md)\b/g)].map((m) => m[1]!),
  );
  ok(named.size > 3, [...named].join());
  for (const path of named) {
    await Deno.stat(new URL(path, root)); // Throws when it does not exist.
    ok(
      include.some((entry) => entry === path || (entry.endsWith("/") && path.startsWith(entry))),
      `${path} is in publish.include`,
    );
  }
});

Deno.test("examples in the faces' documentation import what users of the package can import", async () => {
  for (
    const face of ["mod.ts", "router.ts", "backend.ts", "config.ts", "cli.ts", "backend/hono.ts"]
  ) {
    for (const exported of await symbolsOf(face)) {
      for (const declaration of exported.declarations) {
        for (const tag of declaration.jsDoc?.tags ?? []) {
          if (tag.kind !== "example") continue;
          for (const [, specifier] of (tag.doc ?? "").matchAll(/from "([^"]+)"/g)) {
            ok(
              !specifier!.startsWith("."),
              `${face} ${exported.name}: its example imports ${specifier}, which JSR users cannot`,
            );
          }
        }
      }
    }
  }
});
