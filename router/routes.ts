/**
 * The route table: from a request's host and path to the service that
 * answers it, longest match first (exact host, then the longest wildcard
 * suffix, then any host; within those, the longest path prefix).
 *
 * @module
 */

import type { RouteSpec } from "../config/router_options.ts";
import { normalizePath } from "./request_path.ts";

interface Route {
  exactHost: string | null;
  /** For `*.apps.example.com`: `.apps.example.com`. */
  suffix: string | null;
  path: string;
  service: string;
}

/** The outcome of {@linkcode RouteTable.resolve}. */
export type RouteMatch = { service: string } | null;

/**
 * Lower-cases a host and strips the port and a trailing dot.
 *
 * @param host A Host header or URL host.
 * @returns The bare host name.
 *
 * @example
 * ```ts
 * import { normalizeHost } from "./routes.ts";
 * import { equal } from "node:assert/strict";
 * equal(normalizeHost("API.Example.com.:8080"), "api.example.com");
 * equal(normalizeHost("[::1]:8888"), "[::1]");
 * ```
 */
export function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const colon = h.lastIndexOf(":");
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

/** A segment's parameters: from `;` to the end of the segment. */
const PARAMETERS = /;[^/]*/g;

/** A route's path, canonical as request paths are (so `/%61dmin` is `/admin`). */
function routePath(path: string): string {
  if (/[?#]/.test(path)) throw new TypeError(`Invalid route path: ${JSON.stringify(path)}`);
  try {
    return normalizePath(path).replace(PARAMETERS, "");
  } catch (error) {
    throw new TypeError(`Invalid route path ${JSON.stringify(path)}: ${(error as Error).message}`);
  }
}

/** Whether `path` starts with `prefix` on a segment boundary. */
function pathMatches(prefix: string, path: string): boolean {
  if (prefix === "/") return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path[prefix.length] === "/" || prefix.endsWith("/");
}

/**
 * Routes requests to services.
 *
 * @example
 * ```ts
 * import { RouteTable } from "./routes.ts";
 * import { deepEqual } from "node:assert/strict";
 * const table = new RouteTable([
 *   { host: "*.apps.example.com", service: "*" },
 *   { host: "example.com", path: "/api", service: "api" },
 *   { host: "example.com", service: "web" },
 * ]);
 * deepEqual(table.resolve("shop.apps.example.com", "/"), { service: "shop" });
 * deepEqual(table.resolve("example.com", "/api/users"), { service: "api" });
 * deepEqual(table.resolve("example.com", "/apiary"), { service: "web" });
 * deepEqual(table.resolve("other.com", "/"), null);
 * ```
 */
export class RouteTable {
  #routes: Route[];

  /** @param specs The routes, in any order. */
  constructor(specs: RouteSpec[] = []) {
    this.#routes = specs.map((spec) => {
      const host = spec.host === undefined ? null : normalizeHost(spec.host);
      const wildcard = host?.startsWith("*.") ?? false;
      if (spec.service === "*" && !wildcard) {
        throw new TypeError(`Invalid route: service "*" needs a wildcard host (${spec.host})`);
      }
      return {
        exactHost: wildcard ? null : host,
        suffix: wildcard ? host!.slice(1) : null,
        path: routePath(spec.path ?? "/"),
        service: spec.service,
      };
    });
  }

  /** Whether no routes are configured (then every request goes to any tunnel). */
  get isEmpty(): boolean {
    return this.#routes.length === 0;
  }

  /**
   * Finds the service for a request.
   *
   * @param host The request's host (any case, port allowed).
   * @param path The request's path, canonical (`normalizePath`).
   * @returns The service, or `null` when no route matches.
   */
  resolve(host: string, path: string): RouteMatch {
    const name = normalizeHost(host);
    // Segment parameters (`/admin;jsessionid=1`) are matched without: servlet
    // containers drop them before they route.
    if (path.includes(";")) path = path.replace(PARAMETERS, "");
    let best: Route | null = null;
    let bestRank = -1;
    for (const route of this.#routes) {
      let hostRank: number;
      if (route.exactHost !== null) {
        if (route.exactHost !== name) continue;
        hostRank = 1_000_000;
      } else if (route.suffix !== null) {
        if (!name.endsWith(route.suffix) || name.length === route.suffix.length) continue;
        hostRank = 1000 + route.suffix.length;
      } else {
        hostRank = 0;
      }
      if (!pathMatches(route.path, path)) continue;
      const rank = hostRank * 10_000 + route.path.length;
      if (rank > bestRank) {
        best = route;
        bestRank = rank;
      }
    }
    if (best === null) return null;
    if (best.service === "*") {
      // The service is the host's first label: shop.apps.example.com -> shop.
      return { service: name.slice(0, name.indexOf(".")) };
    }
    return { service: best.service };
  }
}
