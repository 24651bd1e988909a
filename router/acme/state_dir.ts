/**
 * The state directory: the ACME account key and the certificates, kept per
 * CA so that a staging certificate is never served after a switch to
 * production. Directories are 0700 and files 0600 (they hold private keys);
 * files are written whole to a temporary name and renamed, so a crash never
 * leaves half a key.
 *
 *     <stateDir>/acme/<ca>/account.key.pem
 *     <stateDir>/acme/<ca>/certificates/<name>/cert.pem   (chain, leaf first)
 *     <stateDir>/acme/<ca>/certificates/<name>/key.pem
 *
 * @module
 */

import { join } from "node:path";
import { generateKeyPair, keyPairFromPem, privateKeyToPem } from "./certificates.ts";

/** A certificate chain and its private key, as PEM. */
export interface StoredCertificate {
  /** The chain, leaf first. */
  cert: string;
  /** The private key (PKCS#8). */
  key: string;
}

/** What a stored name may look like: a validated DNS name, never a path. */
const SAFE_NAME = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;

/**
 * The folder name of a CA: its directory URL's host and path, with every
 * character outside `[a-z0-9.-]` turned into `_`.
 *
 * @param directoryUrl The ACME directory URL.
 * @returns The folder name.
 *
 * @example
 * ```ts
 * import { caFolder } from "./state_dir.ts";
 * import { equal } from "node:assert/strict";
 * equal(
 *   caFolder("https://acme-v02.api.letsencrypt.org/directory"),
 *   "acme-v02.api.letsencrypt.org_directory",
 * );
 * ```
 */
export function caFolder(directoryUrl: string): string {
  const url = new URL(directoryUrl);
  const port = url.port ? `_${url.port}` : "";
  return `${url.hostname}${port}${url.pathname}`.toLowerCase().replace(/[^a-z0-9.-]/g, "_")
    .replace(/_+$/, "");
}

/**
 * The state directory of one CA.
 *
 * @example
 * ```ts
 * import { StateDir } from "./state_dir.ts";
 * import { equal } from "node:assert/strict";
 * const root = await Deno.makeTempDir();
 * const state = new StateDir(root, "https://ca.example/dir");
 * const first = await state.accountKey();
 * const again = await new StateDir(root, "https://ca.example/dir").accountKey();
 * const jwk = async (keys: CryptoKeyPair) =>
 *   JSON.stringify(await crypto.subtle.exportKey("jwk", keys.publicKey));
 * equal(await jwk(first), await jwk(again));
 * equal((await Deno.stat(`${root}/acme/ca.example_dir/account.key.pem`)).mode! & 0o777, 0o600);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class StateDir {
  #root: string;
  #ca: string;

  /**
   * @param root The state directory (created when missing).
   * @param directoryUrl The CA's directory URL.
   */
  constructor(root: string, directoryUrl: string) {
    this.#root = join(root);
    this.#ca = join(root, "acme", caFolder(directoryUrl));
  }

  /** The CA's folder. */
  get path(): string {
    return this.#ca;
  }

  /**
   * The account key, made and stored on first use.
   *
   * @returns The key pair.
   */
  async accountKey(): Promise<CryptoKeyPair> {
    const file = join(this.#ca, "account.key.pem");
    const pem = await readIfThere(file);
    if (pem !== undefined) return await keyPairFromPem(pem);
    const keys = await generateKeyPair();
    await this.#ensureDirs(this.#ca);
    await writePrivate(file, await privateKeyToPem(keys.privateKey));
    return keys;
  }

  /**
   * The stored certificate of `name`, if both files are there.
   *
   * @param name A DNS name.
   * @returns The certificate and key, or `undefined`.
   */
  async readCertificate(name: string): Promise<StoredCertificate | undefined> {
    const dir = this.#certDir(name);
    const cert = await readIfThere(join(dir, "cert.pem"));
    const key = await readIfThere(join(dir, "key.pem"));
    return cert !== undefined && key !== undefined ? { cert, key } : undefined;
  }

  /**
   * Stores the certificate of `name`, replacing the old one; the key first,
   * so that the certificate on disk never pairs with a key not yet written.
   *
   * @param name A DNS name.
   * @param stored The certificate and key.
   */
  async writeCertificate(name: string, stored: StoredCertificate): Promise<void> {
    const dir = this.#certDir(name);
    await this.#ensureDirs(dir);
    await writePrivate(join(dir, "key.pem.next"), stored.key);
    await writePrivate(join(dir, "cert.pem.next"), stored.cert);
    await Deno.rename(join(dir, "key.pem.next"), join(dir, "key.pem"));
    await Deno.rename(join(dir, "cert.pem.next"), join(dir, "cert.pem"));
  }

  #certDir(name: string): string {
    if (!SAFE_NAME.test(name)) throw new TypeError(`Not a storable DNS name: ${name}`);
    return join(this.#ca, "certificates", name);
  }

  /** Creates `dir` and its parents up to the root, each 0700. */
  async #ensureDirs(dir: string): Promise<void> {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    for (let path = dir; path.length >= this.#root.length; path = join(path, "..")) {
      await Deno.chmod(path, 0o700);
      if (path === this.#root) break;
    }
  }
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Writes a file readable by its owner only, whole or not at all. */
async function writePrivate(file: string, text: string): Promise<void> {
  const temporary = `${file}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temporary, text, { mode: 0o600 });
    await Deno.chmod(temporary, 0o600);
    await Deno.rename(temporary, file);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}
