/**
 * Keys, CSRs and certificates, through `@peculiar/x509` (ASN.1 and PKCS#10
 * done by a maintained library over WebCrypto, not by hand): P-256 keys in
 * PKCS#8 PEM, a CSR for one name, and what the manager reads from an issued
 * chain (validity, names, the ARI certificate identifier).
 *
 * @module
 */

// @peculiar/x509 resolves its ASN.1 types through tsyringe, which needs the
// Reflect metadata API: it must be loaded before the library.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** ECDSA over P-256 with SHA-256: what every ACME CA accepts and TLS stacks serve fastest. */
const EC_ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/**
 * A new P-256 key pair, extractable so that it can be stored.
 *
 * @returns The key pair.
 *
 * @example
 * ```ts
 * import { generateKeyPair } from "./certificates.ts";
 * import { equal } from "node:assert/strict";
 * const keys = await generateKeyPair();
 * equal(keys.privateKey.algorithm.name, "ECDSA");
 * ```
 */
export function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(EC_ALGORITHM, true, ["sign", "verify"]);
}

/**
 * A private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`), as TLS stacks read it.
 *
 * @param key An extractable private key.
 * @returns The PEM text.
 *
 * @example
 * ```ts
 * import { generateKeyPair, privateKeyToPem } from "./certificates.ts";
 * import { match } from "node:assert/strict";
 * const { privateKey } = await generateKeyPair();
 * match(await privateKeyToPem(privateKey), /^-----BEGIN PRIVATE KEY-----/);
 * ```
 */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY") + "\n";
}

/**
 * Reads a P-256 key pair back from its PKCS#8 PEM private key (the public
 * half is derived from it).
 *
 * @param pem The PEM text from {@linkcode privateKeyToPem}.
 * @returns The key pair.
 *
 * @example
 * ```ts
 * import { generateKeyPair, keyPairFromPem, privateKeyToPem } from "./certificates.ts";
 * import { equal } from "node:assert/strict";
 * const pem = await privateKeyToPem((await generateKeyPair()).privateKey);
 * const keys = await keyPairFromPem(pem);
 * equal(keys.publicKey.type, "public");
 * ```
 */
export async function keyPairFromPem(pem: string): Promise<CryptoKeyPair> {
  const der = x509.PemConverter.decodeFirst(pem);
  const privateKey = await crypto.subtle.importKey("pkcs8", der, EC_ALGORITHM, true, ["sign"]);
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", privateKey);
  const publicKey = await crypto.subtle.importKey(
    "jwk",
    { kty, crv, x, y },
    EC_ALGORITHM,
    true,
    ["verify"],
  );
  return { privateKey, publicKey };
}

/**
 * A PKCS#10 certificate request for `names` (the first is the subject's
 * common name), DER-encoded as the ACME finalize request wants it.
 *
 * @param names DNS names.
 * @param keys The certificate's key pair.
 * @returns The DER bytes.
 *
 * @example
 * ```ts
 * import { csrFor, generateKeyPair } from "./certificates.ts";
 * import { equal } from "node:assert/strict";
 * const der = await csrFor(["a.example"], await generateKeyPair());
 * equal(der[0], 0x30); // a DER SEQUENCE
 * ```
 */
export async function csrFor(names: readonly string[], keys: CryptoKeyPair): Promise<Uint8Array> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [names[0]!] }],
    keys,
    signingAlgorithm: EC_ALGORITHM,
    extensions: [
      new x509.SubjectAlternativeNameExtension(
        names.map((value) => ({ type: "dns" as const, value })),
      ),
    ],
  });
  return new Uint8Array(csr.rawData);
}

/** What the manager reads from an issued certificate (the first of its chain). */
export interface CertificateInfo {
  /** Start of validity (ms since the epoch). */
  notBefore: number;
  /** End of validity (ms since the epoch). */
  notAfter: number;
  /** The DNS names it is valid for (subjectAltName). */
  names: string[];
  /**
   * Its ACME Renewal Information identifier (draft-ietf-acme-ari §4.1):
   * base64url(authority key identifier) "." base64url(serial number), or
   * `undefined` without an authority key identifier.
   */
  ariId?: string;
}

/**
 * Reads validity, names and ARI identifier of the first certificate of a PEM chain.
 *
 * @param pem The chain, leaf first.
 * @returns What it says.
 * @throws {Error} When the text holds no certificate.
 *
 * @example
 * ```ts ignore
 * import { readCertificate } from "./certificates.ts";
 * const info = readCertificate(await Deno.readTextFile("cert.pem"));
 * console.log(new Date(info.notAfter), info.names);
 * ```
 */
export function readCertificate(pem: string): CertificateInfo {
  const cert = new x509.X509Certificate(x509.PemConverter.decodeFirst(pem));
  const names: string[] = [];
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  for (const name of san?.names.items ?? []) {
    if (name.type === "dns") names.push(name.value.toLowerCase());
  }
  const info: CertificateInfo = {
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    names,
  };
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (aki?.keyId) {
    // The serial's DER content octets, as the certificate carries them.
    info.ariId = `${hexToBase64Url(aki.keyId)}.${hexToBase64Url(cert.serialNumber)}`;
  }
  return info;
}

/** Splits a PEM chain into its certificates' PEM texts. */
export function splitChain(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function hexToBase64Url(hex: string): string {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return base64Url(bytes);
}

/**
 * Base64url without padding (RFC 4648 §5), as JOSE and ACME write binary values.
 *
 * @param bytes The bytes.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { base64Url } from "./certificates.ts";
 * import { equal } from "node:assert/strict";
 * equal(base64Url(new Uint8Array([0xfb, 0xff])), "-_8");
 * ```
 */
export function base64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
