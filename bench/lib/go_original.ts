/**
 * The Go original as a target: the router and backend of
 * bench/go_original/ (the kevin-cantwell/ptth design on
 * golang.org/x/net/http2), built like the Go interop fixtures of the tests:
 * GOPATH mode with Debian's golang-golang-x-net-dev, nothing downloaded.
 *
 * @module
 */

import type { RunContext } from "./context.ts";
import { registerTarget, TARGET, type Target } from "./targets.ts";

/** Debian's Go packages (golang-golang-x-net-dev installs x/net there). */
const GOPATH = "/usr/share/gocode";

/** The built binaries. */
export interface GoBinaries {
  router: string;
  backend: string;
}

/**
 * Builds bench/go_original/router and backend into the run's temporary folder.
 *
 * @throws {Error} When go is missing or a build fails.
 */
export async function buildGoOriginal(ctx: RunContext): Promise<GoBinaries> {
  const build = async (name: "router" | "backend") => {
    const output = `${ctx.tmpDir}/go-${name}`;
    const out = await new Deno.Command("go", {
      args: ["build", "-o", output, `./bench/go_original/${name}`],
      cwd: ctx.root,
      env: { GO111MODULE: "off", GOPATH, GOFLAGS: "" },
      stdout: "null",
      stderr: "piped",
    }).output().catch((error) => {
      throw new Error(`go is needed (apt install golang-go golang-golang-x-net-dev): ${error}`);
    });
    if (!out.success) {
      throw new Error(`go build ${name} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    return output;
  };
  return { router: await build("router"), backend: await build("backend") };
}

/** Starts the Go router and one Go backend; resolves once the router holds the tunnel. */
export async function startGoOriginal(ctx: RunContext, binaries: GoBinaries): Promise<Target> {
  const router = ctx.procs.spawn("go-router", binaries.router, []);
  try {
    const listening = await router.waitEvent("listening", 10_000);
    const from = router.stdout.length;
    const backend = ctx.procs.spawn("go-backend", binaries.backend, [
      "-router",
      `127.0.0.1:${listening.tunnelPort}`,
    ]);
    try {
      await router.waitEvent("tunnel", 10_000, from);
    } catch (error) {
      await backend.stop();
      throw error;
    }
    registerTarget(ctx, TARGET.go);
    const port = Number(listening.port);
    return {
      key: TARGET.go,
      port,
      h2cPort: port,
      router,
      routerPids: [router.pid],
      backendPids: [backend.pid],
      procs: [router, backend],
    };
  } catch (error) {
    await router.stop();
    throw error;
  }
}
