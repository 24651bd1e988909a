/**
 * Debian's Pebble (a test ACME CA) and pebble-challtestsrv (its mock DNS,
 * answering 127.0.0.1 for every name) on free loopback ports, with real
 * validation: Pebble's validation authority connects to the HTTP-01
 * responder on `httpPort`. `PEBBLE_VA_ALWAYS_VALID` is never set.
 *
 * @module
 */

import { testCerts } from "./_certs.ts";

/** A running Pebble. */
export interface Pebble {
  /** The ACME directory URL. */
  directoryUrl: string;
  /** The CA certificate that signed Pebble's own HTTPS certificate (trust it as `caCerts`). */
  caCert: string;
  /** The root of the certificates Pebble issues (from its management port). */
  root(): Promise<string>;
  /** How many lines of Pebble's log so far contain `text`. */
  logCount(text: string): number;
  /** Stops both processes and removes the config. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startPebble}. */
export interface PebbleOptions {
  /** The port Pebble's validation authority dials for HTTP-01. */
  httpPort: number;
  /** The port it dials for TLS-ALPN-01. @default {a free port} */
  tlsPort?: number;
  /** Lifetime of issued certificates (seconds). @default {3600} */
  validitySeconds?: number;
}

/** A free loopback TCP port (the listener is closed before the port is handed out). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function spawn(
  command: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  lines: string[],
): Deno.ChildProcess {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command, {
      args,
      env,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    throw new Error(`${command} is required for the ACME tests (apt install pebble): ${error}`);
  }
  for (const stream of [child.stdout, child.stderr]) {
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (chunk) => void lines.push(...chunk.split("\n")) }),
    ).catch(() => {});
  }
  return child;
}

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    // already gone
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    child.status,
    new Promise((resolve) => {
      timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
        resolve(undefined);
      }, 5_000);
    }),
  ]);
  clearTimeout(timer);
  await child.status;
}

/**
 * Starts pebble-challtestsrv and Pebble, and waits (at most 15 s) until the
 * directory answers.
 *
 * @param options The validation ports and the certificate lifetime.
 * @returns The running CA.
 */
export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const certs = await testCerts();
  const dir = await Deno.makeTempDir({ prefix: "ptth-pebble-" });
  await Deno.writeTextFile(`${dir}/cert.pem`, certs.cert);
  await Deno.writeTextFile(`${dir}/key.pem`, certs.key);
  const acmePort = freePort();
  const managementPort = freePort();
  const dnsPort = freePort();
  const challtestManagement = freePort();
  await Deno.writeTextFile(
    `${dir}/pebble.json`,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: "cert.pem",
        privateKey: "key.pem",
        httpPort: options.httpPort,
        tlsPort: options.tlsPort ?? freePort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        certificateValidityPeriod: options.validitySeconds ?? 3600,
      },
    }),
  );
  const lines: string[] = [];
  const dnsLines: string[] = [];
  const dns = spawn(
    "pebble-challtestsrv",
    [
      "-defaultIPv4",
      "127.0.0.1",
      "-defaultIPv6",
      "",
      "-dns01",
      `127.0.0.1:${dnsPort}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-management",
      `127.0.0.1:${challtestManagement}`,
    ],
    {},
    dir,
    dnsLines,
  );
  const pebble = spawn(
    "pebble",
    ["-config", "pebble.json", "-dnsserver", `127.0.0.1:${dnsPort}`],
    { PEBBLE_VA_NOSLEEP: "1" },
    dir,
    lines,
  );
  const client = Deno.createHttpClient({ caCerts: [certs.ca] });
  const stop = async () => {
    client.close();
    await stopChild(pebble);
    await stopChild(dns);
    await Deno.remove(dir, { recursive: true });
  };
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const response = await fetch(directoryUrl, { client });
      await response.body?.cancel();
      // The mock DNS must answer before Pebble's first validation.
      if (response.ok && dnsLines.some((line) => line.includes("Starting management server"))) {
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Pebble did not start within 15 s:\n${[...dnsLines, ...lines].join("\n")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    directoryUrl,
    caCert: certs.ca,
    async root() {
      const response = await fetch(`https://127.0.0.1:${managementPort}/roots/0`, { client });
      return await response.text();
    },
    logCount: (text) => lines.filter((line) => line.includes(text)).length,
    stop,
  };
}
