/**
 * Checks the import rules of ARCHITECTURE.md over the module graph Deno
 * itself builds (`deno info --json`, so imports in comments and doc examples
 * do not count): each room imports only the rooms it may, a room never
 * imports a face, and no module takes part in an import cycle. Prints one
 * line per violation and exits 1 when there is any.
 *
 *     deno run --allow-read --allow-run --allow-write=/tmp tools/check_imports.ts
 *
 * @module
 */

/** The faces: the root modules users import. A room must never import one. */
const FACES = new Set(["mod.ts", "router.ts", "backend.ts", "cli.ts", "config.ts"]);

/**
 * What each room may import besides itself. `router/` and `backend/` never
 * import each other; `h2/`, `ws/` and `log/` are leaves.
 */
const ALLOWED: Record<string, readonly string[]> = {
  h2: [],
  ws: [],
  log: [],
  tunnel: ["h2", "ws", "log"],
  config: ["h2", "log", "tunnel"],
  router: ["h2", "ws", "log", "tunnel", "config"],
  backend: ["h2", "ws", "log", "tunnel"],
};

const root = new URL("..", import.meta.url);

/** The room a module belongs to: its first folder, or `""` for a face. */
function roomOf(path: string): string {
  const slash = path.indexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/** Every source module of the rooms and the faces, relative to the root. */
function sources(): string[] {
  const found: string[] = [...FACES];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(new URL(dir, root))) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory) walk(`${path}/`);
      else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) found.push(path);
    }
  };
  for (const room of Object.keys(ALLOWED)) walk(`${room}/`);
  return found;
}

interface GraphModule {
  specifier: string;
  dependencies?: Array<{ code?: { specifier?: string }; type?: { specifier?: string } }>;
}

/** The import edges between local modules, as paths relative to the root. */
async function importGraph(paths: string[]): Promise<Map<string, Set<string>>> {
  // One graph for all: a module that imports every source.
  const entry = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const lines = paths.map((path) => `import ${JSON.stringify(new URL(path, root).href)};`);
    await Deno.writeTextFile(entry, lines.join("\n") + "\n");
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", new URL("deno.json", root).pathname, entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      throw new Error(`deno info failed: ${new TextDecoder().decode(output.stderr)}`);
    }
    const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: GraphModule[];
    };
    const local = (specifier: string | undefined) =>
      specifier?.startsWith(root.href) ? specifier.slice(root.href.length) : null;
    const edges = new Map<string, Set<string>>();
    for (const module of graph.modules) {
      const from = local(module.specifier);
      if (from === null) continue;
      const to = new Set<string>();
      for (const dependency of module.dependencies ?? []) {
        for (const specifier of [dependency.code?.specifier, dependency.type?.specifier]) {
          const path = local(specifier);
          if (path !== null && path.endsWith(".ts")) to.add(path);
        }
      }
      edges.set(from, to);
    }
    return edges;
  } finally {
    await Deno.remove(entry);
  }
}

/** The groups of modules that import each other in a circle (Tarjan's algorithm). */
function cycles(edges: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const target of edges.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, index.get(target)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const group: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        group.push(member);
      } while (member !== node);
      if (group.length > 1 || edges.get(node)?.has(node)) found.push(group.sort());
    }
  };
  for (const node of [...edges.keys()].sort()) if (!index.has(node)) visit(node);
  return found;
}

/**
 * The violations of the import rules in a graph of local modules.
 *
 * @param edges Each module's imports, as paths relative to the root.
 * @returns One line per violation, empty when the rules hold.
 */
export function violations(edges: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  for (const [from, targets] of edges) {
    const room = roomOf(from);
    if (room === "" || !(room in ALLOWED)) continue; // Faces may import any room.
    for (const to of targets) {
      const target = roomOf(to);
      if (target === room) continue;
      if (target === "" && FACES.has(to)) {
        problems.push(`${from} imports the face ${to}: a room never imports a face`);
      } else if (!ALLOWED[room]!.includes(target)) {
        problems.push(`${from} imports ${to}: ${room}/ may not import ${target || to}`);
      }
    }
  }
  for (const group of cycles(edges)) problems.push(`import cycle: ${group.join(" → ")}`);
  return problems;
}

if (import.meta.main) {
  const problems = violations(await importGraph(sources()));
  for (const line of problems) console.error(line);
  if (problems.length > 0) {
    console.error(`${problems.length} import rule violation(s); see ARCHITECTURE.md`);
    Deno.exit(1);
  }
  console.error("import rules hold");
}
