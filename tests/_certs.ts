/**
 * A private CA and a server certificate for localhost and 127.0.0.1, made
 * with openssl at test time in a temporary directory removed at once (the
 * keys only live in memory).
 *
 * @module
 */

/** PEM texts of a test CA and a server certificate it signed. */
export interface TestCerts {
  /** The CA's certificate: what clients trust. */
  ca: string;
  /** The server certificate (localhost, 127.0.0.1). */
  cert: string;
  /** Its private key. */
  key: string;
}

async function run(args: string[], cwd: string): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
      .output();
  } catch (error) {
    throw new Error(
      "The TLS tests make their certificates with openssl, which is missing: " +
        "install the Debian package `openssl`",
      { cause: error },
    );
  }
  if (!output.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
}

async function generate(): Promise<TestCerts> {
  const dir = await Deno.makeTempDir({ prefix: "ptth-certs-" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    await run([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "1",
      "-subj",
      "/CN=ptth test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ], dir);
    await run([
      "req",
      ...ec,
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=localhost",
    ], dir);
    await Deno.writeTextFile(
      `${dir}/server.ext`,
      "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" +
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    const serial = "0x" +
      Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0"))
        .join("");
    await run([
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-set_serial",
      serial,
      "-days",
      "1",
      "-extfile",
      "server.ext",
      "-out",
      "server.pem",
    ], dir);
    return {
      ca: await Deno.readTextFile(`${dir}/ca.pem`),
      cert: await Deno.readTextFile(`${dir}/server.pem`),
      key: await Deno.readTextFile(`${dir}/server.key`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

let once: Promise<TestCerts> | undefined;

/** The test certificates, made once per test process. */
export function testCerts(): Promise<TestCerts> {
  return once ??= generate();
}
