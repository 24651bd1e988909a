/**
 * 64 MiB each way through a router running in its own process, whose peak
 * RSS is read from /proc: flow control must keep it from buffering bodies.
 */
import { equal, ok } from "node:assert/strict";
import { serveReverse } from "../backend/serve_reverse.ts";
import { withTimeout } from "./_helpers.ts";

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

function memoryKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = status.match(new RegExp(`${field}:\\s+(\\d+) kB`));
  if (!match) throw new Error(`No ${field} for ${pid}`);
  return Number(match[1]);
}

/** Starts `deno run mod.ts` on free ports and reads the ports from its banner. */
async function spawnRouter() {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "mod.ts", "--hostname", "127.0.0.1", "--port", "0", "--tunnel-port", "0"],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!/HTTP traffic on \S+:(\d+)/.test(banner)) {
    const { value, done } = await withTimeout(lines.read(), 20_000, "router banner");
    if (done) throw new Error(`Router exited: ${banner}`);
    banner += value;
  }
  // Keep draining stderr so the router never blocks on a full pipe.
  (async () => {
    while (!(await lines.read()).done);
  })();
  const tunnelPort = Number(banner.match(/reverse tunnels on \S+:(\d+)/)![1]);
  const port = Number(banner.match(/HTTP traffic on \S+:(\d+)/)![1]);
  return { child, port, tunnelPort };
}

function pattern(size: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).map((_, i) => i & 0xff);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      const n = Math.min(chunk.length, size - sent);
      controller.enqueue(chunk.slice(0, n));
      sent += n;
      if (sent === size) controller.close();
    },
  });
}

async function drain(body: ReadableStream<Uint8Array>): Promise<number> {
  let total = 0;
  let ok = true;
  for await (const chunk of body) {
    for (let i = 0; i < chunk.length; i += 4099) ok &&= chunk[i] === ((total + i) % 65536) % 256;
    total += chunk.length;
  }
  if (!ok) throw new Error("Body bytes corrupted");
  return total;
}

/** Runs curl (an independent HTTP client) and returns its `-w` output. */
async function curl(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("curl", {
    args: ["-sS", "--max-time", "60", ...args],
  }).output();
  if (code !== 0) throw new Error(`curl failed: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

Deno.test("64 MiB up and 64 MiB down through the tunnel keep the router's memory bounded", async () => {
  const { child, port, tunnelPort } = await spawnRouter();
  const backend = serveReverse(
    { hostname: "127.0.0.1", port: tunnelPort, quiet: true },
    async (request) => {
      if (request.method === "POST") return new Response(String(await drain(request.body!)));
      return new Response(pattern(SIZE), { headers: { "content-length": String(SIZE) } });
    },
  );
  const upload = await Deno.makeTempFile();
  const download = await Deno.makeTempFile();
  try {
    await Deno.writeFile(upload, pattern(SIZE));
    await withTimeout(backend.connected, 10_000, "tunnel");
    const base = `http://127.0.0.1:${port}`;
    // Warm up, then take the baseline.
    await curl(["-o", "/dev/null", "--data-binary", "x", `${base}/warm`]);
    const baseline = memoryKiB(child.pid, "VmRSS");

    const up = (await curl(["--data-binary", `@${upload}`, "-w", " %{speed_upload}", `${base}/up`]))
      .split(" ");
    equal(Number(up[0]), SIZE, "the backend received every byte");
    const afterUpload = memoryKiB(child.pid, "VmHWM");

    const down =
      (await curl(["-o", download, "-w", "%{size_download} %{speed_download}", `${base}/down`]))
        .split(" ");
    equal(Number(down[0]), SIZE);
    const file = await Deno.open(download);
    equal(await drain(file.readable), SIZE, "downloaded bytes are intact");

    const peak = memoryKiB(child.pid, "VmHWM");
    const growthMiB = (peak - baseline) / 1024;
    console.log(
      `upload ${(Number(up[1]) / MiB).toFixed(0)} MiB/s, download ${
        (Number(down[1]) / MiB).toFixed(0)
      } MiB/s; router RSS ${(baseline / 1024).toFixed(0)} MiB, peak ${
        (afterUpload / 1024).toFixed(0)
      } MiB ` +
        `after upload, ${(peak / 1024).toFixed(0)} MiB after download (+${
          growthMiB.toFixed(1)
        } MiB)`,
    );
    // Flow control lets one stream have 4 MiB in flight (its window): the rest of the growth is
    // garbage awaiting collection. Either way far less than the 64 MiB moved.
    ok(growthMiB < 48, `router peak RSS grew by ${growthMiB.toFixed(1)} MiB`);
  } finally {
    await backend.shutdown();
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(upload);
    await Deno.remove(download);
  }
});
