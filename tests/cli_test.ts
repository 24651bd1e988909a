import { equal, match, ok, throws } from "node:assert/strict";
import { parseCli, UsageError } from "../cli.ts";
import { withTimeout } from "./_helpers.ts";

const root = new URL("..", import.meta.url).pathname;
const noEnv = () => undefined;

async function runCli(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "mod.ts", ...args],
    cwd: root,
    env,
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test("parseCli() uses the Go original's ports by default", () => {
  const config = parseCli([], noEnv);
  equal(config.port, 8888);
  equal(config.tunnelPort, 8887);
  equal(config.hostname, "0.0.0.0");
});

Deno.test("parseCli() reads PTTH_PORT and PTTH_TUNNEL_PORT, and flags win over them", () => {
  const env = (name: string) => ({ PTTH_PORT: "9000", PTTH_TUNNEL_PORT: "9001" })[name];
  equal(parseCli([], env).port, 9000);
  equal(parseCli([], env).tunnelPort, 9001);
  equal(parseCli(["--port", "7000"], env).port, 7000);
});

Deno.test("parseCli() rejects unknown flags and bad ports with a UsageError naming them", () => {
  throws(() => parseCli(["--nope"], noEnv), UsageError);
  throws(() => parseCli(["--port", "http"], noEnv), /--port/);
  throws(() => parseCli(["--port", "70000"], noEnv), /--port/);
  throws(() => parseCli([], (n) => n === "PTTH_TUNNEL_PORT" ? "x" : undefined), /PTTH_TUNNEL_PORT/);
});

Deno.test("the CLI exits with code 2 and one clear line on bad flags", async () => {
  const { code, stderr } = await runCli(["--bogus"]);
  equal(code, 2);
  match(stderr, /ptth: .*bogus.*\(see --help\)/);
  equal(stderr.trim().split("\n").length, 1);
  const badEnv = await runCli([], { PTTH_PORT: "eighty" });
  equal(badEnv.code, 2);
  match(badEnv.stderr, /PTTH_PORT/);
});

Deno.test("the CLI prints usage with --help and the version with --version", async () => {
  const help = await runCli(["--help"]);
  equal(help.code, 0);
  match(help.stdout, /--tunnel-port/);
  match(help.stdout, /PTTH_PORT/);
  const version = await runCli(["--version"]);
  equal(version.code, 0);
  match(version.stdout, /^ptth \d+\.\d+\.\d+/);
});

Deno.test("the CLI starts a router, prints where it listens, and stops on SIGTERM", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "mod.ts", "--hostname", "127.0.0.1", "--port", "0", "--tunnel-port", "0"],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  try {
    while (!banner.includes("HTTP traffic on")) {
      const { value, done } = await withTimeout(reader.read(), 20_000, "banner");
      if (done) break;
      banner += value;
    }
    match(banner, /Listening for reverse tunnels on tcp:\/\/127\.0\.0\.1:\d+/);
    const port = Number(banner.match(/HTTP traffic on http:\/\/127\.0\.0\.1:(\d+)/)![1]);
    const response = await fetch(`http://127.0.0.1:${port}/`);
    equal(response.status, 503);
    await response.body?.cancel();
  } finally {
    child.kill("SIGTERM");
    const status = await withTimeout(child.status, 10_000, "router exit");
    ok(status.success, `router exited with ${status.code}`);
    await reader.cancel();
  }
});
