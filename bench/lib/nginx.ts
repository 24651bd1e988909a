/**
 * The nginx hop: Debian's nginx as a reverse proxy in front of the direct
 * `Deno.serve` baseline, the yardstick of what a proxy hop costs on this
 * machine (issue 19). One worker; an upstream keepalive pool to Deno.serve
 * over HTTP/1.1; the access log on, written through a 64 KiB buffer.
 * Bodies stream both ways (`proxy_buffering off`, `proxy_request_buffering
 * off`), as they do through the ptth router: buffered, a 1 GiB transfer would
 * be spooled to temporary files.
 *
 * It runs with a prefix and configuration of its own in the run's temporary
 * folder, on free ports: one for HTTP/1.1, one for h2c with prior knowledge
 * (nginx 1.22 speaks only HTTP/2 on a plain `listen … http2` port).
 *
 * @module
 */

import type { RunContext } from "./context.ts";
import { childPids, sleep } from "./processes.ts";
import { registerTarget, TARGET, type Target } from "./targets.ts";

/** What the configuration needs. */
export interface NginxConfigOptions {
  /** Its prefix: logs, pid file and temporary files go there. */
  prefix: string;
  /** The HTTP/1.1 port and the h2c port on 127.0.0.1. */
  port: number;
  h2cPort: number;
  /** The port of the Deno.serve upstream on 127.0.0.1. */
  upstreamPort: number;
  /** The `user` directive, needed when started as root (workers would be `nobody`). */
  user?: string;
}

/**
 * The nginx.conf of the hop.
 *
 * @example
 * ```ts
 * import { nginxConfig } from "./nginx.ts";
 * import { equal } from "node:assert/strict";
 * const conf = nginxConfig({ prefix: "/tmp/x", port: 8080, h2cPort: 8081, upstreamPort: 9000 });
 * equal(conf.includes("worker_processes 1;"), true);
 * equal(conf.includes("server 127.0.0.1:9000;"), true);
 * equal(conf.includes("keepalive 64;"), true);
 * equal(conf.includes("access_log /tmp/x/access.log combined buffer=64k;"), true);
 * ```
 */
export function nginxConfig(o: NginxConfigOptions): string {
  return [
    ...(o.user ? [`user ${o.user};`] : []),
    "daemon off;",
    "master_process on;",
    "worker_processes 1;",
    `pid ${o.prefix}/nginx.pid;`,
    `error_log ${o.prefix}/error.log warn;`,
    "worker_rlimit_nofile 16384;",
    "events {",
    "  worker_connections 8192;",
    "}",
    "http {",
    `  access_log ${o.prefix}/access.log combined buffer=64k;`,
    `  client_body_temp_path ${o.prefix}/client_body;`,
    `  proxy_temp_path ${o.prefix}/proxy;`,
    `  fastcgi_temp_path ${o.prefix}/fastcgi;`,
    `  uwsgi_temp_path ${o.prefix}/uwsgi;`,
    `  scgi_temp_path ${o.prefix}/scgi;`,
    "  client_max_body_size 0;",
    "  upstream direct {",
    `    server 127.0.0.1:${o.upstreamPort};`,
    "    keepalive 64;",
    "  }",
    "  server {",
    `    listen 127.0.0.1:${o.port};`,
    `    listen 127.0.0.1:${o.h2cPort} http2;`,
    "    location / {",
    "      proxy_pass http://direct;",
    "      proxy_http_version 1.1;",
    '      proxy_set_header Connection "";',
    "      proxy_buffering off;",
    "      proxy_request_buffering off;",
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");
}

/**
 * `n` distinct TCP ports free on 127.0.0.1 right now (bound together, then
 * released: another process could take one before it is used, which the
 * start then reports).
 *
 * @example
 * ```ts
 * import { freePorts } from "./nginx.ts";
 * import { equal } from "node:assert/strict";
 * const [a, b] = freePorts(2);
 * equal(a! > 0 && b! > 0 && a !== b, true);
 * ```
 */
export function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => l.addr.port);
  for (const listener of listeners) listener.close();
  return ports;
}

/** Where nginx is: Debian's /usr/sbin/nginx, else the PATH's. */
function nginxBinary(): string {
  try {
    Deno.statSync("/usr/sbin/nginx");
    return "/usr/sbin/nginx";
  } catch {
    return "nginx";
  }
}

/** Waits until `port` accepts a connection, or throws after `timeoutMs`. */
async function waitListening(port: number, timeoutMs: number, alive: () => boolean) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline && alive()) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`nothing listens on port ${port}`);
}

/** Starts the nginx hop in front of `upstream` (the direct target). */
export async function startNginx(ctx: RunContext, upstream: Target): Promise<Target> {
  const prefix = `${ctx.tmpDir}/nginx`;
  await Deno.mkdir(prefix, { recursive: true });
  const [port, h2cPort] = freePorts(2) as [number, number];
  const conf = `${prefix}/nginx.conf`;
  await Deno.writeTextFile(
    conf,
    nginxConfig({
      prefix,
      port,
      h2cPort,
      upstreamPort: upstream.port,
      user: Deno.uid() === 0 ? "root" : undefined,
    }),
  );
  const proc = ctx.procs.spawn("nginx", nginxBinary(), [
    "-p",
    prefix,
    "-c",
    conf,
    "-e",
    `${prefix}/error.log`,
  ]);
  try {
    await waitListening(port, 10_000, () => !proc.exited);
    await waitListening(h2cPort, 2_000, () => !proc.exited);
    const workers = childPids(proc.pid);
    if (workers.length !== 1) throw new Error(`nginx has ${workers.length} workers, not 1`);
    ctx.procs.adopt(workers[0]!);
    registerTarget(ctx, TARGET.nginx);
    return {
      key: TARGET.nginx,
      port,
      h2cPort,
      router: proc,
      routerPids: workers,
      backendPids: upstream.backendPids,
      procs: [proc],
    };
  } catch (error) {
    const log = await Deno.readTextFile(`${prefix}/error.log`).catch(() => "");
    await proc.stop();
    throw new Error(`nginx did not start: ${(error as Error).message}; ${log.slice(-300)}`);
  }
}
