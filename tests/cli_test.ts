import { equal, match, ok, throws } from "node:assert/strict";
import { ConfigError, loadConfig } from "../config/load.ts";
import { LISTEN, runCli, withCli } from "./_cli.ts";

const noEnv = () => undefined;
const noFile = () => "{}";

/** Resolves flags and environment as the CLI does, without a config file. */
function parseCli(args: string[], env: (name: string) => string | undefined) {
  return loadConfig(args, env, noFile);
}

Deno.test("the CLI uses the Go original's ports by default", () => {
  const config = parseCli([], noEnv);
  equal(config.port, 8888);
  equal(config.tunnelPort, 8887);
  equal(config.hostname, "0.0.0.0");
});

Deno.test("the CLI reads PTTH_PORT and PTTH_TUNNEL_PORT, and flags win over them", () => {
  const env = (name: string) => ({ PTTH_PORT: "9000", PTTH_TUNNEL_PORT: "9001" })[name];
  equal(parseCli([], env).port, 9000);
  equal(parseCli([], env).tunnelPort, 9001);
  equal(parseCli(["--port", "7000"], env).port, 7000);
});

Deno.test("the CLI rejects unknown flags and bad ports with a ConfigError naming them", () => {
  throws(() => parseCli(["--nope"], noEnv), ConfigError);
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
  for (const section of ["Listening", "TLS", "Authentication", "Routing", "Limits", "Other"]) {
    match(help.stdout, new RegExp(`^${section}:$`, "m"));
  }
  match(help.stdout, /--port <port> +Public HTTP port.*\n +\[env PTTH_PORT, default 8888\]/);
  match(help.stdout, /flag wins over the environment, the environment over the file/);
  match(help.stdout, /with ptth\.json:\n +\{\n +"port": 443,/);
  const version = await runCli(["--version"]);
  equal(version.code, 0);
  match(version.stdout, /^ptth \d+\.\d+\.\d+/);
});

Deno.test("the CLI's banner says which services have tokens, whether anonymous tunnels are accepted and how many routes there are", async () => {
  const token = "s3cret-token-0123456789";
  await withCli(["--token", `api=${token}`, "--route", "/=api", "--route", "/v2=api"], (text) => {
    match(text, /Authentication: tokens for 1 service \(api\), anonymous tunnels refused/);
    match(text, /Routes: 2 rules/);
    ok(!text.includes(token), "the banner never shows a token");
  });
});

Deno.test("the CLI starts a router, prints where it listens, and stops on SIGTERM", async () => {
  await withCli([], async (text) => {
    match(text, /Listening for reverse tunnels on tcp:\/\/127\.0\.0\.1:\d+/);
    const port = Number(text.match(/HTTP traffic on http:\/\/127\.0\.0\.1:(\d+)/)![1]);
    match(text, /Authentication: off \(no tokens\), anonymous tunnels accepted/);
    match(text, /TLS: off for HTTP traffic, off for tunnels/);
    match(text, /Routes: none/);
    const response = await fetch(`http://127.0.0.1:${port}/`);
    equal(response.status, 503);
    await response.body?.cancel();
  });
});

Deno.test("the CLI names a missing permission in one line and exits 2", async () => {
  const root = new URL("..", import.meta.url).pathname;
  for (
    const [permissions, needed] of [
      [
        ["--allow-net"],
        /^ptth: Missing permission: Requires env access to "PTTH_\w+"; a router needs --allow-net and --allow-env/,
      ],
      [["--allow-env"], /^ptth: Missing permission: Requires net access to "127\.0\.0\.1:0"/],
    ] as const
  ) {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...permissions, "cli.ts", ...LISTEN],
      cwd: root,
      stdout: "null",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stderr);
    equal(code, 2, text);
    match(text, needed);
    equal(text.trim().split("\n").length, 1, `one line: ${text}`);
  }
});

Deno.test("the CLI warns at start, one line each, about what the configuration can never do", async () => {
  const token = "0123456789abcdef-api";
  await withCli(
    ["--token", `api=${token}`, "--route", "/static=cdn"],
    (text) =>
      match(
        text,
        /\nWarning: Route \/static=cdn sends requests to service cdn, which no backend can serve: no token is configured for cdn and anonymous tunnels are refused\n/,
      ),
    { until: /Warning: [^\n]*\n/ },
  );
});

Deno.test("the CLI names the listener that cannot open, in one line, exit 2 for an address and 1 for a port in use", async () => {
  const cases: Array<[string[], RegExp, number]> = [
    [
      ["--hostname", "not-a-host.invalid"],
      /^ptth: Cannot listen on not-a-host\.invalid:0 \(tunnel port\): the host name does not resolve \(see --hostname\)$/,
      2,
    ],
    [
      ["--hostname", "192.0.2.1"],
      /^ptth: Cannot listen on 192\.0\.2\.1:0 \(tunnel port\): the address is not one of this machine's \(see --hostname\)$/,
      2,
    ],
    [
      ["--hostname", "127.0.0.1", "--admin-hostname", "192.0.2.1", "--admin-port", "0"],
      /^ptth: Cannot listen on 192\.0\.2\.1:0 \(admin port\): the address is not one of this machine's \(see --admin-hostname\)$/,
      2,
    ],
  ];
  using busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  cases.push([
    ["--hostname", "127.0.0.1", "--port", String(busy.addr.port), "--admin-port", "0"],
    new RegExp(
      `^ptth: Cannot listen on 127\\.0\\.0\\.1:${busy.addr.port} \\(public port\\): the port is in use \\(see --port\\)$`,
    ),
    1,
  ]);
  for (const [flags, line, code] of cases) {
    const result = await runCli(["--port", "0", "--tunnel-port", "0", ...flags]);
    equal(result.code, code, result.stderr);
    equal(result.stderr.trim().split("\n").length, 1, `one line: ${result.stderr}`);
    match(result.stderr.trim(), line);
  }
});
