/**
 * The router's command line (mod.ts) in a child process, for the CLI tests.
 *
 * @module
 */

import { ok } from "node:assert/strict";
import { withTimeout } from "./_helpers.ts";

const root = new URL("..", import.meta.url).pathname;

/**
 * Loopback, free ports: what every started CLI in these tests listens on (a
 * test's own `--admin-port` comes later and wins).
 */
export const LISTEN = [
  "--hostname",
  "127.0.0.1",
  "--port",
  "0",
  "--tunnel-port",
  "0",
  "--admin-port",
  "0",
];

/** Runs the CLI with `args` to its end; its exit code, stdout and stderr. */
export async function runCli(args: readonly string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "mod.ts", ...args],
    cwd: root,
    env,
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** What {@link withCli} may be told besides the flags. */
export interface WithCliOptions {
  /** Added to the child's environment. */
  env?: Record<string, string>;
  /** Read stderr until this matches. @default {the banner's last line, `Routes: …`} */
  until?: RegExp;
}

/**
 * Starts the CLI on {@link LISTEN} with `args`, reads its stderr up to the end
 * of the banner (the `Routes:` line), hands that to `check`, then stops it with SIGTERM and checks
 * that it exited cleanly.
 */
export async function withCli(
  args: string[],
  check: (banner: string) => Promise<void> | void,
  { env = {}, until = /Routes:[^\n]*\n/ }: WithCliOptions = {},
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "mod.ts", ...LISTEN, ...args],
    cwd: root,
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!until.test(text)) {
      const { value, done } = await withTimeout(reader.read(), 20_000, "banner");
      if (done) break;
      text += value;
    }
    await check(text);
  } finally {
    child.kill("SIGTERM");
    const status = await withTimeout(child.status, 10_000, "router exit");
    ok(status.success, `router exited with ${status.code}`);
    await reader.cancel();
  }
}
