/**
 * Host patterns, as routes, `serviceHosts` and `PTTH-Hosts` write them: an
 * exact name (`api.example.com`) or `*.suffix` for every name below the
 * suffix (`*.example.com` matches `a.example.com` and `a.b.example.com`, not
 * `example.com`). {@linkcode HostIndex} answers which patterns overlap or match
 * a name in time proportional to its labels, not to the number of patterns.
 *
 * @module
 */

const LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
const PATTERN = new RegExp(`^(?=.{1,253}$)(\\*\\.)?${LABEL}(\\.${LABEL})*$`);

/**
 * Whether `text` is a host pattern: a lowercase DNS name without a port or
 * trailing dot, maybe preceded by `*.`.
 *
 * @param text The candidate.
 * @returns Whether it is a pattern.
 *
 * @example
 * ```ts
 * import { isHostPattern } from "./host_patterns.ts";
 * import { equal } from "node:assert/strict";
 * equal(isHostPattern("*.example.com"), true);
 * equal(isHostPattern("Example.com"), false);
 * equal(isHostPattern("*"), false);
 * ```
 */
export function isHostPattern(text: string): boolean {
  return PATTERN.test(text);
}

/**
 * Whether `pattern` matches every name `name` can stand for (`name` is a host
 * or itself a `*.suffix` pattern): what a service's pattern must do for a host
 * its backend announces.
 *
 * @param pattern A host pattern.
 * @param name An exact name or a `*.suffix` pattern.
 * @returns Whether the pattern covers it.
 *
 * @example
 * ```ts
 * import { hostPatternCovers } from "./host_patterns.ts";
 * import { equal } from "node:assert/strict";
 * equal(hostPatternCovers("*.example.com", "*.a.example.com"), true);
 * equal(hostPatternCovers("*.a.example.com", "*.example.com"), false);
 * equal(hostPatternCovers("*.example.com", "example.com"), false);
 * ```
 */
export function hostPatternCovers(pattern: string, name: string): boolean {
  if (!pattern.startsWith("*.")) return pattern === name;
  const suffix = pattern.slice(1);
  if (name.startsWith("*.")) return name.endsWith(suffix);
  return name.endsWith(suffix) && name.length > suffix.length;
}

/**
 * Whether two patterns share at least one name.
 *
 * @param a A host pattern.
 * @param b Another.
 * @returns Whether some host matches both.
 *
 * @example
 * ```ts
 * import { hostPatternsOverlap } from "./host_patterns.ts";
 * import { equal } from "node:assert/strict";
 * equal(hostPatternsOverlap("*.example.com", "api.example.com"), true);
 * equal(hostPatternsOverlap("*.example.com", "example.com"), false);
 * equal(hostPatternsOverlap("*.a.example.com", "*.example.com"), true);
 * ```
 */
export function hostPatternsOverlap(a: string, b: string): boolean {
  return hostPatternCovers(a, b) || hostPatternCovers(b, a) ||
    (a.startsWith("*.") && b.startsWith("*.") &&
      (a.endsWith(b.slice(1)) || b.endsWith(a.slice(1))));
}

/** Who holds a key of the index, and how many times. */
type Holders = Map<string, number>;

function hold(map: Map<string, Holders>, key: string, holder: string, delta: number): void {
  let holders = map.get(key);
  if (holders === undefined) map.set(key, holders = new Map());
  const count = (holders.get(holder) ?? 0) + delta;
  if (count > 0) holders.set(holder, count);
  else holders.delete(holder);
  if (holders.size === 0) map.delete(key);
}

/** A holder of the key other than `except` (any holder when `except` is undefined). */
function other(holders: Holders | undefined, except: string | undefined): string | undefined {
  if (holders === undefined) return undefined;
  for (const holder of holders.keys()) if (holder !== except) return holder;
  return undefined;
}

/**
 * A multiset of host patterns, each held by someone (a service, a route):
 * finds who holds a pattern overlapping a name, or matching a host.
 *
 * @example
 * ```ts
 * import { HostIndex } from "./host_patterns.ts";
 * import { equal } from "node:assert/strict";
 * const index = new HostIndex();
 * index.add("*.example.com", "web");
 * index.add("api.example.net", "api");
 * equal(index.match("shop.example.com"), "web");
 * equal(index.overlapping("*.net", "web"), "api");
 * equal(index.overlapping("*.net", "api"), undefined);
 * index.remove("api.example.net", "api");
 * equal(index.overlapping("*.net"), undefined);
 * ```
 */
export class HostIndex {
  /** Exact names. */
  #exact = new Map<string, Holders>();
  /** Wildcards by their suffix: `*.example.com` as `.example.com`. */
  #wild = new Map<string, Holders>();
  /** Every pattern under a suffix (`a.example.com`, `*.b.example.com` under `.example.com`). */
  #under = new Map<string, Holders>();

  /** Whether no pattern is held. */
  get isEmpty(): boolean {
    return this.#exact.size === 0 && this.#wild.size === 0;
  }

  /**
   * Holds a pattern once more.
   *
   * @param pattern A host pattern.
   * @param holder Who holds it.
   */
  add(pattern: string, holder: string): void {
    this.#update(pattern, holder, 1);
  }

  /**
   * Lets go of a pattern once (no-op if not held).
   *
   * @param pattern A host pattern.
   * @param holder Who held it.
   */
  remove(pattern: string, holder: string): void {
    if (this.#holds(pattern, holder)) this.#update(pattern, holder, -1);
  }

  #holds(pattern: string, holder: string): boolean {
    const map = pattern.startsWith("*.") ? this.#wild : this.#exact;
    return map.get(pattern.startsWith("*.") ? pattern.slice(1) : pattern)?.has(holder) ?? false;
  }

  #update(pattern: string, holder: string, delta: number): void {
    const wildcard = pattern.startsWith("*.");
    const base = wildcard ? pattern.slice(2) : pattern;
    if (wildcard) hold(this.#wild, pattern.slice(1), holder, delta);
    else hold(this.#exact, pattern, holder, delta);
    // Proper suffixes of the base: `a.b.example.com` is under `.b.example.com`, `.example.com`, `.com`.
    for (let i = base.indexOf("."); i >= 0; i = base.indexOf(".", i + 1)) {
      hold(this.#under, base.slice(i), holder, delta);
    }
  }

  /**
   * Finds who holds a pattern that shares at least one name with `name`.
   *
   * @param name An exact name or a `*.suffix` pattern.
   * @param except A holder to disregard (the asker itself).
   * @returns A holder, or `undefined` when none overlaps.
   */
  overlapping(name: string, except?: string): string | undefined {
    const wildcard = name.startsWith("*.");
    // The same exact name, or a wildcard above it.
    let found = wildcard ? undefined : other(this.#exact.get(name), except);
    for (let i = name.indexOf("."); found === undefined && i >= 0; i = name.indexOf(".", i + 1)) {
      found = other(this.#wild.get(name.slice(i)), except);
    }
    // A wildcard also overlaps every pattern below it.
    if (found === undefined && wildcard) found = other(this.#under.get(name.slice(1)), except);
    return found;
  }

  /**
   * Finds who holds the pattern a host matches: its exact name first, then
   * the longest wildcard.
   *
   * @param host A lowercase host name without a port.
   * @returns A holder, or `undefined`.
   */
  match(host: string): string | undefined {
    let found = other(this.#exact.get(host), undefined);
    for (let i = host.indexOf("."); found === undefined && i >= 0; i = host.indexOf(".", i + 1)) {
      found = other(this.#wild.get(host.slice(i)), undefined);
    }
    return found;
  }
}

/** Two services whose host patterns overlap. */
export interface HostPatternConflict {
  /** The service listed second. */
  service: string;
  /** Its pattern that overlaps. */
  pattern: string;
  /** The service listed first. */
  other: string;
  /** Its pattern that overlaps. */
  otherPattern: string;
}

/**
 * Says what a conflict is, for configuration errors.
 *
 * @param conflict Two overlapping patterns.
 * @returns One line naming both patterns and their services.
 *
 * @example
 * ```ts
 * import { describeHostConflict } from "./host_patterns.ts";
 * import { equal } from "node:assert/strict";
 * equal(
 *   describeHostConflict({ service: "b", pattern: "*.x.io", other: "a", otherPattern: "y.x.io" }),
 *   '"*.x.io" of service "b" overlaps "y.x.io" of service "a" (a host belongs to at most one service)',
 * );
 * ```
 */
export function describeHostConflict(conflict: HostPatternConflict): string {
  const { service, pattern, other, otherPattern } = conflict;
  const quote = JSON.stringify;
  return `${quote(pattern)} of service ${quote(service)} overlaps ${quote(otherPattern)} ` +
    `of service ${quote(other)} (a host belongs to at most one service)`;
}

/**
 * Finds two services whose patterns share a name: a host belongs to at most
 * one service, so such a configuration is refused.
 *
 * @param serviceHosts Patterns per service.
 * @returns The first conflict, or `undefined`.
 *
 * @example
 * ```ts
 * import { findHostConflict } from "./host_patterns.ts";
 * import { deepEqual, equal } from "node:assert/strict";
 * equal(findHostConflict({ api: ["api.example.com"], web: ["www.example.com"] }), undefined);
 * deepEqual(findHostConflict({ api: ["api.example.com"], web: ["*.example.com"] }), {
 *   service: "web", pattern: "*.example.com", other: "api", otherPattern: "api.example.com",
 * });
 * ```
 */
export function findHostConflict(
  serviceHosts: Readonly<Record<string, readonly string[]>>,
): HostPatternConflict | undefined {
  const index = new HostIndex();
  for (const [service, patterns] of Object.entries(serviceHosts)) {
    for (const pattern of patterns) {
      const other = index.overlapping(pattern, service);
      if (other === undefined) continue;
      const otherPattern = serviceHosts[other]!.find((p) => hostPatternsOverlap(p, pattern))!;
      return { service, pattern, other, otherPattern };
    }
    for (const pattern of patterns) index.add(pattern, service);
  }
  return undefined;
}
