/**
 * Which names may get a certificate: exact DNS names only (a wildcard needs
 * the DNS-01 challenge, which the router cannot answer), never an IP address,
 * in the lowercase ASCII form the CA and the TLS SNI extension use.
 *
 * @module
 */

/** One DNS label (RFC 1035 §2.3.1, digits allowed first as RFC 1123 §2.1 says). */
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * The name as a certificate can carry it, or `null` when it cannot get one
 * through HTTP-01: a wildcard, an IP address, a single label, or not a
 * DNS name at all.
 *
 * @param name A host name as configured or announced.
 * @returns The canonical name (lowercase, no trailing dot), or `null`.
 *
 * @example
 * ```ts
 * import { certificateName } from "./names.ts";
 * import { equal } from "node:assert/strict";
 * equal(certificateName("API.Example.com."), "api.example.com");
 * equal(certificateName("*.example.com"), null);
 * equal(certificateName("127.0.0.1"), null);
 * equal(certificateName("localhost"), null);
 * ```
 */
export function certificateName(name: string): string | null {
  const lower = name.toLowerCase().replace(/\.$/, "");
  if (lower.length === 0 || lower.length > 253) return null;
  const labels = lower.split(".");
  if (labels.length < 2) return null;
  for (const label of labels) if (!LABEL.test(label)) return null;
  // A name whose last label is all digits is an IPv4 address, not a DNS name.
  if (/^\d+$/.test(labels[labels.length - 1]!)) return null;
  return lower;
}
