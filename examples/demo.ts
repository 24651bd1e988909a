/**
 * Runs the README's three-terminal walk-through in one command: a router, a
 * backend and the user example, each its own process, on free ports. Exits 0
 * when all ten requests were answered "bar", and stops everything it started.
 *
 *     deno task demo
 *
 * @module
 */

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

const here = new URL(".", import.meta.url);
const config = new URL("../deno.json", import.meta.url).pathname;
const port = freePort();
const tunnelPort = freePort();
// Loopback only, and no fixed port: the demo must not clash with a router already running.
const env = {
  PTTH_HOSTNAME: "127.0.0.1",
  PTTH_PORT: String(port),
  PTTH_TUNNEL_PORT: String(tunnelPort),
  PTTH_ADMIN_PORT: "0",
};

function start(script: string, extraEnv: Record<string, string>, args: string[] = []) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", config, new URL(script, here).pathname, ...args],
    env: { ...env, ...extraEnv },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

const url = `http://127.0.0.1:${port}/foo`;
const router = start("router.ts", {});
let backend: Deno.ChildProcess | null = null;
let code = 1;
try {
  // The backend starts once the router listens (a cold cache can make the router slow to start).
  await waitFor(async () => {
    // Its public port listens once both do (a probe of the tunnel port would look like a
    // refused handshake in the router's log).
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  }, "the router");
  backend = start("backend.ts", { PTTH_ROUTER: `127.0.0.1:${tunnelPort}` });
  await waitFor(async () => {
    const response = await fetch(url);
    await response.body?.cancel();
    return response.status === 200;
  }, "the backend's tunnel");
  const user = start("user.ts", {}, [url]);
  code = (await user.status).code;
} finally {
  for (const child of [backend, router]) {
    if (child === null) continue;
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
  }
}
console.log(code === 0 ? "demo: all requests answered" : "demo: failed");
Deno.exit(code);
