/**
 * Which hosts a tunnel may announce (`PTTH-Hosts`, PROTOCOL.md §4): only
 * names its service's configured patterns cover, never a name a route names;
 * anonymous tunnels of a router with tokens announce none. Also answers which
 * service a host belongs to by configuration, for requests no route matches.
 *
 * @module
 */

import type { RouteSpec } from "../../config/router_options.ts";
import {
  describeHostConflict,
  findHostConflict,
  HostIndex,
  hostPatternCovers,
  isHostPattern,
} from "../../config/host_patterns.ts";
import { ConfigError } from "../../config/values.ts";
import { HandshakeError } from "../../tunnel/handshake.ts";
import { normalizeHost } from "../routes.ts";

/** Options of {@linkcode HostPolicy}. */
export interface HostPolicyOptions {
  /** Host patterns per service; patterns of two services must not overlap. */
  serviceHosts: Readonly<Record<string, readonly string[]>>;
  /** The route table: hosts it names cannot be announced. */
  routes: readonly RouteSpec[];
  /** Whether any token is configured (then anonymous tunnels announce no hosts). */
  tokensConfigured: boolean;
}

/**
 * The rules for announced hosts.
 *
 * @example A token's service announces only what its patterns cover
 * ```ts
 * import { HostPolicy } from "./host_policy.ts";
 * import { equal, throws } from "node:assert/strict";
 * const policy = new HostPolicy({
 *   serviceHosts: { api: ["api.example.com"], web: ["*.web.example.com"] },
 *   routes: [],
 *   tokensConfigured: true,
 * });
 * policy.check("web", false, ["*.shop.web.example.com"]);
 * throws(() => policy.check("web", false, ["api.example.com"]), { status: 403 });
 * throws(() => policy.check("default", true, ["x.example.org"]), { status: 403 });
 * equal(policy.owner("a.web.example.com"), "web");
 * ```
 */
export class HostPolicy {
  #patterns: ReadonlyMap<string, readonly string[]>;
  /** Every service's patterns, for owner lookups and the single-tenant case. */
  #owners = new HostIndex();
  #routes = new HostIndex();
  #tokensConfigured: boolean;

  /**
   * @param options Patterns, routes, whether tokens are configured.
   * @throws {ConfigError} When a pattern is malformed, or patterns of two services overlap.
   */
  constructor(options: HostPolicyOptions) {
    // The same checks as the configuration's, for routers built without it.
    for (const [service, patterns] of Object.entries(options.serviceHosts)) {
      const bad = patterns.find((pattern) => !isHostPattern(pattern));
      if (bad !== undefined) {
        throw new ConfigError(
          `Invalid serviceHosts: ${JSON.stringify(bad)} of service ${JSON.stringify(service)} ` +
            "is not a host pattern (a lowercase host name without a port, or *.suffix)",
        );
      }
    }
    const conflict = findHostConflict(options.serviceHosts);
    if (conflict !== undefined) {
      throw new ConfigError(`Invalid serviceHosts: ${describeHostConflict(conflict)}`);
    }
    this.#patterns = new Map(Object.entries(options.serviceHosts));
    for (const [service, patterns] of this.#patterns) {
      for (const pattern of patterns) this.#owners.add(pattern, service);
    }
    for (const route of options.routes) {
      if (route.host !== undefined) this.#routes.add(normalizeHost(route.host), route.service);
    }
    this.#tokensConfigured = options.tokensConfigured;
  }

  /**
   * Checks the hosts a tunnel announces; returns when all are allowed.
   *
   * @param service The tunnel's service.
   * @param anonymous Whether it came without a token.
   * @param hosts The announced names (valid `PTTH-Hosts` items).
   * @throws {HandshakeError} 403 naming the first host refused and why.
   */
  check(service: string, anonymous: boolean, hosts: readonly string[]): void {
    for (const host of hosts) {
      const why = this.#refusal(service, anonymous, host);
      if (why !== null) {
        throw new HandshakeError(403, `Host ${host} not allowed for service ${service}: ${why}`);
      }
    }
  }

  #refusal(service: string, anonymous: boolean, host: string): string | null {
    // Anyone may open an anonymous tunnel: beside tokens it must not take a tenant's traffic.
    if (anonymous && this.#tokensConfigured) {
      return "anonymous tunnels announce no hosts on a router with tokens";
    }
    const patterns = this.#patterns.get(service);
    if (patterns !== undefined) {
      if (!patterns.some((pattern) => hostPatternCovers(pattern, host))) {
        return "no pattern of the service covers it";
      }
    } else if (!anonymous || this.#tokensConfigured) {
      return "the service has no host patterns configured";
    } else if (this.#owners.overlapping(host, service) !== undefined) {
      // A single-tenant router announces freely, but not what a configured service owns.
      return "another service claims it";
    }
    // Routes win over announced hosts, so announcing a routed name could only mislead.
    if (this.#routes.overlapping(host) !== undefined) return "a route names it";
    return null;
  }

  /**
   * The service whose patterns match a host, so that a request for it goes
   * to that service (or waits for it) and never to another's tunnel.
   *
   * @param host A lowercase host name without a port.
   * @returns The service, or `undefined` when no pattern matches.
   */
  owner(host: string): string | undefined {
    return this.#owners.isEmpty ? undefined : this.#owners.match(host);
  }
}
