/**
 * The router's command line: flags and environment variables, usage text,
 * and `main(args)`, which runs a router until SIGINT or SIGTERM.
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "./deno.json" with { type: "json" };
import { createRouter } from "./router.ts";

/** The package version, read from deno.json. */
export const VERSION: string = denoJson.version;

const USAGE = `ptth ${VERSION}: a ReverseHTTP router

Backends dial the tunnel port and serve HTTP/2 over the connection they opened;
public HTTP requests to the HTTP port are proxied to them.

Usage:
  deno run -A jsr:@ptth/router [options]

Options:
  --port <n>          public HTTP port             (env PTTH_PORT, default 8888)
  --tunnel-port <n>   port backends dial           (env PTTH_TUNNEL_PORT, default 8887)
  --hostname <host>   interface to listen on       (env PTTH_HOSTNAME, default 0.0.0.0)
  -h, --help          show this help
  -V, --version       show the version

Examples:
  deno run -A jsr:@ptth/router
  deno run -A jsr:@ptth/router --port 8080 --tunnel-port 9000
  PTTH_PORT=80 deno run -A jsr:@ptth/router
`;

/** Bad command-line input: printed as one line, exit code 2. */
export class UsageError extends Error {
  /** @param message What is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The router settings the command line resolves to. */
export interface CliConfig {
  /** Public HTTP port. */
  port: number;
  /** Tunnel port. */
  tunnelPort: number;
  /** Interface to listen on. */
  hostname: string;
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given. */
  version: boolean;
}

function parsePort(name: string, value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new UsageError(`Invalid ${name}: ${JSON.stringify(value)} is not a port (0-65535)`);
  }
  return port;
}

/**
 * Resolves flags and environment into a configuration (flags win over env).
 *
 * @param args The command-line arguments.
 * @param env Reads an environment variable.
 * @returns The configuration.
 * @throws {UsageError} On unknown flags or bad values.
 *
 * @example
 * ```ts
 * import { parseCli } from "./cli.ts";
 * import { equal } from "node:assert/strict";
 * const config = parseCli(["--port", "9000"], (name) => name === "PTTH_TUNNEL_PORT" ? "9001" : undefined);
 * equal(config.port, 9000);
 * equal(config.tunnelPort, 9001);
 * ```
 */
export function parseCli(args: string[], env: (name: string) => string | undefined): CliConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string" },
        "tunnel-port": { type: "string" },
        hostname: { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0]!);
  }
  const port = values.port ?? env("PTTH_PORT");
  const tunnelPort = values["tunnel-port"] ?? env("PTTH_TUNNEL_PORT");
  return {
    port: port === undefined ? 8888 : parsePort(values.port ? "--port" : "PTTH_PORT", port),
    tunnelPort: tunnelPort === undefined ? 8887 : parsePort(
      values["tunnel-port"] ? "--tunnel-port" : "PTTH_TUNNEL_PORT",
      tunnelPort,
    ),
    hostname: values.hostname ?? env("PTTH_HOSTNAME") ?? "0.0.0.0",
    help: values.help ?? false,
    version: values.version ?? false,
  };
}

/** Prints the usage text to stdout. */
export function printUsage(): void {
  console.log(USAGE);
}

/**
 * Runs the router CLI until SIGINT or SIGTERM, then shuts down gracefully.
 *
 * @param args The command-line arguments.
 * @returns The exit code: 0, or 2 for bad usage.
 *
 * @example Bad flags give exit code 2
 * ```ts
 * import { main } from "./cli.ts";
 * import { equal } from "node:assert/strict";
 * const error = console.error;
 * console.error = () => {};
 * equal(await main(["--nope"]), 2);
 * console.error = error;
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let config: CliConfig;
  try {
    config = parseCli(args, (name) => Deno.env.get(name));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`ptth: ${error.message} (see --help)`);
    return 2;
  }
  if (config.help) {
    printUsage();
    return 0;
  }
  if (config.version) {
    console.log(`ptth ${VERSION}`);
    return 0;
  }
  const router = createRouter({
    hostname: config.hostname,
    port: config.port,
    tunnelPort: config.tunnelPort,
  });
  const { hostname, port } = router.tunnelAddr;
  console.error(`Listening for reverse tunnels on tcp://${hostname}:${port}`);
  console.error(`Listening for HTTP traffic on http://${router.addr.hostname}:${router.addr.port}`);
  const stop = () => {
    console.error("Shutting down: finishing in-flight requests");
    router.shutdown();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await router.finished;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  return 0;
}
