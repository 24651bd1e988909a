import { equal, match, ok } from "node:assert/strict";
import { runCli, withCli } from "./_cli.ts";

Deno.test("the CLI's banner lists its version, ports, admin URL, services, auth and TLS", async () => {
  const token = "api-token-for-the-banner-01";
  await withCli(
    [
      "--admin-port",
      "0",
      "--token",
      `api=${token}`,
      "--route",
      "/web=web",
      "--ready-service",
      "api",
    ],
    async (text) => {
      match(text, /^ptth \d+\.\d+\.\d+\n/);
      match(text, /Listening for reverse tunnels on tcp:\/\/127\.0\.0\.1:\d+\n/);
      match(text, /Listening for HTTP traffic on http:\/\/127\.0\.0\.1:\d+\n/);
      const admin = text.match(/Admin: dashboard at (http:\/\/127\.0\.0\.1:\d+\/) \(.*no token\)/);
      ok(admin, text);
      match(text, /Authentication: tokens for 1 service \(api\)/);
      match(text, /TLS: off for HTTP traffic, off for tunnels/);
      match(text, /Services: api, web; \/readyz waits for api\n/);
      ok(!text.includes(token));
      const health = await fetch(`${admin[1]}healthz`);
      equal(await health.text(), "ok\n");
      const ready = await fetch(`${admin[1]}readyz`);
      equal(ready.status, 503);
      await ready.body?.cancel();
      const metrics = await fetch(`${admin[1]}metrics`);
      match(await metrics.text(), /^# TYPE ptth_tunnels_connected gauge$/m);
    },
  );
});

Deno.test("the CLI can turn the admin listener off, and guard it with a token from the environment", async () => {
  await withCli(["--admin-port", "off"], (text) => {
    match(text, /^Admin: off$/m);
  });
  const token = "admin-token-from-the-env-01";
  await withCli(["--admin-port", "0"], async (text) => {
    const url = text.match(/Admin: dashboard at (\S+) .*token required/)?.[1];
    ok(url, text);
    ok(!text.includes(token), "the banner never shows the token");
    const denied = await fetch(`${url}metrics`);
    equal(denied.status, 401);
    await denied.body?.cancel();
    const allowed = await fetch(`${url}metrics`, { headers: { authorization: `Bearer ${token}` } });
    equal(allowed.status, 200);
    await allowed.body?.cancel();
  }, { env: { PTTH_ADMIN_TOKEN: token } });
});

Deno.test("with --log-format json, the banner and every log line are JSON objects", async () => {
  await withCli(["--admin-port", "off", "--log-format", "json"], (text) => {
    const lines = text.trim().split("\n");
    ok(lines.length >= 7, text);
    for (const line of lines) {
      const record = JSON.parse(line);
      equal(typeof record.time, "string");
      equal(record.level, "info");
      equal(typeof record.msg, "string");
    }
    match(lines[0]!, /"msg":"ptth \d+\.\d+\.\d+"/);
  });
});

Deno.test("the CLI rejects a bad log level, log format or short admin token with exit code 2", async () => {
  for (
    const [args, pattern] of [
      [
        ["--log-level", "loud"],
        /Invalid --log-level: "loud" is not one of debug, info, warn, error/,
      ],
      [["--log-format", "xml"], /Invalid --log-format: "xml" is not one of text, json/],
      [["--admin-token", "short"], /Invalid --admin-token: the token is too short/],
      [["--admin-port", "none"], /Invalid --admin-port/],
      [["--ready-service", "Bad Name"], /Invalid --ready-service/],
    ] as const
  ) {
    const { code, stderr: text } = await runCli(args);
    equal(code, 2, text);
    match(text, pattern);
    ok(!text.includes('short"'), "a token is never quoted");
  }
});
