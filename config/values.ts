/**
 * How option values are written and checked: ports, hostnames, sizes,
 * durations, counts, booleans, tokens, routes, host patterns per service and
 * proxy addresses, each from flag or environment text and from config-file
 * JSON. Private to config.ts.
 *
 * @module
 */

import type { RouteSpec } from "./router_options.ts";
import { isServiceName } from "../tunnel/handshake.ts";
import { describeHostConflict, findHostConflict, isHostPattern } from "./host_patterns.ts";

/**
 * Invalid configuration: an unknown option, a malformed value, a missing or
 * unreadable file. Its message is one line naming the flag, environment
 * variable or config-file key at fault, and never contains a token.
 *
 * @example
 * ```ts
 * import { ConfigError, loadConfig } from "jsr:@ptth/router/config";
 * import { throws } from "node:assert/strict";
 * throws(
 *   () => loadConfig(["--port", "http"], () => undefined, () => "{}"),
 *   new ConfigError('Invalid --port: "http" is not a port (0-65535)'),
 * );
 * ```
 */
export class ConfigError extends Error {
  /**
   * Creates the error.
   *
   * @param message One line naming the bad flag, variable or key.
   * @param options `cause`: the underlying error, e.g. from reading a file.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** Names a nested config-file key for error messages: `name("[1].service")`. */
export type KeyNamer = (suffix?: string) => string;

/** How the values of one kind of option are written and checked. */
export interface ValueType<T> {
  /** The placeholder after the flag in `--help`, e.g. `<port>`. */
  readonly metavar: string;
  /** The flag may repeat and the environment variable is a comma-separated list. */
  readonly list: boolean;
  /** A boolean: the flag alone means true, with a `no-` prefix false. */
  readonly switch?: boolean;
  /**
   * Parses text: the flag's values in order (a repeated single-valued flag:
   * the last wins) or the environment variable's value (split at commas for lists).
   *
   * @param texts The values.
   * @param label The flag or variable, for error messages.
   * @returns The value.
   */
  parse(texts: readonly string[], label: string): T;
  /**
   * Checks a value from the JSON config file.
   *
   * @param value The parsed JSON.
   * @param name Names the key, or a key nested in it, for error messages.
   * @returns The value.
   */
  fromJson(value: unknown, name: KeyNamer): T;
}

/** The error for a bad value: `Invalid <label>: <detail>`. */
export function invalid(label: string, detail: string): ConfigError {
  return new ConfigError(`Invalid ${label}: ${detail}`);
}

/** Text as error messages quote it: JSON, so that spaces and control characters show. */
export const quote = (text: string): string => JSON.stringify(text);

/** A JSON value as an error message shows it: short, one line. */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function scalar<T>(
  metavar: string,
  parse: (text: string, label: string) => T,
  fromJson: (value: unknown, name: KeyNamer) => T,
): ValueType<T> {
  return {
    metavar,
    list: false,
    parse: (texts, label) => parse(texts[texts.length - 1] ?? "", label),
    fromJson,
  };
}

/** A JSON value that must be a string, then parsed as text would be. */
function jsonString<T>(
  expected: string,
  parse: (text: string, label: string) => T,
): (value: unknown, name: KeyNamer) => T {
  return (value, name) => {
    if (typeof value !== "string") {
      throw invalid(name(), `expected ${expected}, got ${show(value)}`);
    }
    return parse(value, name());
  };
}

function parsePort(text: string, label: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw invalid(label, `${quote(text)} is not a port (0-65535)`);
  }
  return Number(text);
}

/** Ports 0-65535 (0: any free port). */
export const portType = scalar("<port>", parsePort, (value, name) => {
  if (typeof value !== "number") {
    throw invalid(name(), `expected a port number (0-65535), got ${show(value)}`);
  }
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw invalid(name(), `${show(value)} is not a port (0-65535)`);
  }
  return value;
});

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function isIPv6(text: string): boolean {
  if (!text.includes(":") || !/^[0-9a-f:.]+$/i.test(text)) return false;
  // The WHATWG URL parser implements the full IPv6 text grammar (RFC 4291 §2.2).
  return URL.canParse(`http://[${text}]/`);
}

function parseHostname(text: string, label: string): string {
  if (IPV4.test(text) || isIPv6(text) || DNS_NAME.test(text.toLowerCase())) return text;
  throw invalid(label, `${quote(text)} is not a hostname or IP address`);
}

/** Interfaces to listen on: host names, IPv4 or bare IPv6 addresses. */
export const hostnameType = scalar("<host>", parseHostname, jsonString("a string", parseHostname));

/** Host names (the admin listener's): repeat the flag, commas in the environment, an array in the file. */
export const hostnamesType: ValueType<string[]> = {
  metavar: "<host>",
  list: true,
  parse: (texts, label) => [...new Set(texts.map((text) => parseHostname(text, label)))],
  fromJson(value, name) {
    if (!Array.isArray(value)) throw invalid(name(), "expected an array of host names");
    return [
      ...new Set(value.map((entry, index) => {
        if (typeof entry !== "string") {
          throw invalid(name(`[${index}]`), `expected a string, got ${show(entry)}`);
        }
        return parseHostname(entry, name(`[${index}]`));
      })),
    ];
  },
};

function parsePath(text: string, label: string): string {
  if (text === "") throw invalid(label, "the file name is empty");
  return text;
}

/** File names, not read here: the files are read when the options are built. */
export const fileType = scalar("<file>", parsePath, jsonString("a file name", parsePath));

/** A folder name (the state directory), not created here. */
export const dirType = scalar("<dir>", parsePath, jsonString("a folder name", parsePath));

/** Lists of file names (PEM files to trust): repeat the flag, commas in the environment, an array in the file. */
export const filesType: ValueType<string[]> = {
  metavar: "<file>",
  list: true,
  parse: (texts, label) => texts.map((text) => parsePath(text, label)),
  fromJson(value, name) {
    if (!Array.isArray(value)) throw invalid(name(), "expected an array of file names");
    return value.map((entry, index) => {
      if (typeof entry !== "string") {
        throw invalid(name(`[${index}]`), `expected a string, got ${show(entry)}`);
      }
      return parsePath(entry, name(`[${index}]`));
    });
  },
};

function parseEmail(text: string, label: string): string {
  // A contact for the ACME account (RFC 8555 §7.3): one mailbox, nothing a URI would mangle.
  if (
    !/^[^\s@,:<>]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/i.test(text)
  ) {
    throw invalid(label, `${quote(text)} is not an email address`);
  }
  return text;
}

/** An email address (the ACME account's contact). */
export const emailType = scalar("<email>", parseEmail, jsonString("an email address", parseEmail));

function parseHttpsUrl(text: string, label: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(label, `${quote(text)} is not a URL`);
  }
  // RFC 8555 §6.1: ACME runs over HTTPS only.
  if (url.protocol !== "https:") throw invalid(label, `${quote(text)} is not an https:// URL`);
  return text;
}

/** An https:// URL (the ACME directory). */
export const httpsUrlType = scalar("<url>", parseHttpsUrl, jsonString("a URL", parseHttpsUrl));

function parseUrlPath(text: string, label: string): string {
  if (text === "off") return "";
  // An absolute path without query or fragment: it is compared with the request's path.
  if (!/^\/[\x21-\x7e]*$/.test(text) || /[?#]/.test(text)) {
    throw invalid(label, `${quote(text)} is not an absolute path (or off)`);
  }
  return text;
}

/** A URL path on the public port (the WebSocket tunnel's), or `off` (`""`). */
export const urlPathType = scalar("<path>", parseUrlPath, jsonString("a path", parseUrlPath));

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);

/** Reads true/false, 1/0, yes/no, on/off (any case). */
export function parseBoolean(text: string, label: string): boolean {
  const word = text.toLowerCase();
  if (TRUE.has(word)) return true;
  if (FALSE.has(word)) return false;
  throw invalid(label, `${quote(text)} is not a boolean (true/false, 1/0, yes/no, on/off)`);
}

/** Booleans: a bare flag is true (see `switch`); JSON takes only true and false. */
export function booleanType(metavar: string): ValueType<boolean> {
  const type = scalar(metavar, parseBoolean, (value, name) => {
    if (typeof value !== "boolean") {
      throw invalid(name(), `expected true or false, got ${show(value)}`);
    }
    return value;
  });
  return { ...type, switch: true };
}

const SIZE_UNITS = new Map([
  ["", 1],
  ["b", 1],
  ["kb", 1024],
  ["kib", 1024],
  ["mb", 1024 ** 2],
  ["mib", 1024 ** 2],
  ["gb", 1024 ** 3],
  ["gib", 1024 ** 3],
]);

/** Sizes in bytes: `65536`, `512kb`, `10mb`, `1gb` (powers of 1024), maybe `unlimited`. */
export function sizeType(unlimited: boolean): ValueType<number> {
  const expected = `a size (e.g. 10mb${unlimited ? ", or unlimited" : ""})`;
  const parse = (text: string, label: string): number => {
    if (unlimited && text.toLowerCase() === "unlimited") return Infinity;
    const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text);
    const unit = SIZE_UNITS.get(match?.[2]?.toLowerCase() ?? "?");
    const bytes = match && unit ? Number(match[1]) * unit : NaN;
    if (!Number.isSafeInteger(bytes) || bytes < 1) {
      throw invalid(label, `${quote(text)} is not ${expected}`);
    }
    return bytes;
  };
  return scalar("<size>", parse, (value, name) => {
    if (typeof value === "string") return parse(value, name());
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw invalid(name(), `${show(value)} is not ${expected}`);
    }
    return value;
  });
}

const DURATION_UNITS = new Map([["", 1], ["ms", 1], ["s", 1000], ["m", 60_000], ["h", 3_600_000]]);
/** setTimeout fires at once for delays above a signed 32-bit integer of milliseconds. */
const MAX_TIMER = 2 ** 31 - 1;

/** Durations in milliseconds: `500`, `500ms`, `30s`, `5m`, `1h`. */
export function durationType(min = 1): ValueType<number> {
  const expected = "a duration (e.g. 30s, 500ms, 5m)";
  const check = (ms: number, shown: string, label: string): number => {
    if (!Number.isFinite(ms)) throw invalid(label, `${shown} is not ${expected}`);
    if (ms < min) {
      const least = min === 1 ? "greater than 0" : `at least ${min} ms`;
      throw invalid(label, `${shown} is too short: it must be ${least}`);
    }
    if (ms > MAX_TIMER) throw invalid(label, `${shown} is too long (at most 24 days)`);
    return ms;
  };
  const parse = (text: string, label: string): number => {
    const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text);
    const unit = DURATION_UNITS.get(match?.[2]?.toLowerCase() ?? "?");
    return check(match && unit ? Math.round(Number(match[1]) * unit) : NaN, quote(text), label);
  };
  return scalar("<duration>", parse, (value, name) => {
    if (typeof value === "string") return parse(value, name());
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw invalid(name(), `${show(value)} is not ${expected}`);
    }
    return check(value, show(value), name());
  });
}

/** Positive integers, maybe `unlimited`. */
export function countType(unlimited: boolean, min = 1): ValueType<number> {
  const expected = `${min === 0 ? "a whole number" : "a positive integer"}${
    unlimited ? " or unlimited" : ""
  }`;
  const parse = (text: string, label: string): number => {
    if (unlimited && text.toLowerCase() === "unlimited") return Infinity;
    const count = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(count) || count < min) {
      throw invalid(label, `${quote(text)} is not ${expected}`);
    }
    return count;
  };
  return scalar("<n>", parse, (value, name) => {
    if (typeof value === "string") return parse(value, name());
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
      throw invalid(name(), `${show(value)} is not ${expected}`);
    }
    return value;
  });
}

// The handshake's rule (PROTOCOL.md §3): a name a backend could not register is refused here.
const SERVICE_RULE =
  'up to 63 lowercase letters, digits, "-", "_" and ".", starting with a letter or digit';
/** Shorter tokens can be guessed by brute force, even with the rate limit on failures. */
export const MIN_TOKEN_LENGTH = 16;

/** Checks a token; messages name its service, never the token itself. */
function checkToken(token: string, service: string, label: string): string {
  if (token.length < MIN_TOKEN_LENGTH) {
    throw invalid(
      label,
      `the token for service ${quote(service)} is too short (at least ${MIN_TOKEN_LENGTH} ` +
        "characters, so that it cannot be guessed)",
    );
  }
  // Backends send tokens in an Authorization header field (RFC 9110 §5.5): visible ASCII only.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw invalid(
      label,
      `the token for service ${quote(service)} has spaces, control or non-ASCII characters`,
    );
  }
  return token;
}

function addToken(tokens: Map<string, string[]>, service: string, token: string): void {
  const list = tokens.get(service) ?? [];
  if (!list.includes(token)) list.push(token);
  tokens.set(service, list);
}

function tokenRecord(tokens: Map<string, string[]>): Record<string, string | string[]> {
  const record: Record<string, string | string[]> = {};
  for (const [service, list] of tokens) record[service] = list.length === 1 ? list[0]! : list;
  return record;
}

/** Tokens per service: `SERVICE=TOKEN` items, or a JSON object of a token or an array of them. */
export const tokensType: ValueType<Record<string, string | string[]>> = {
  metavar: "<service=token>",
  list: true,
  parse(texts, label) {
    const tokens = new Map<string, string[]>();
    texts.forEach((text, index) => {
      const equals = text.indexOf("=");
      // A malformed entry may be a bare token: describe it by position, never quote it.
      if (equals < 0) throw invalid(label, `entry ${index + 1} is not SERVICE=TOKEN`);
      const service = text.slice(0, equals);
      if (!isServiceName(service)) {
        throw invalid(label, `entry ${index + 1} has a bad service name (${SERVICE_RULE})`);
      }
      addToken(tokens, service, checkToken(text.slice(equals + 1), service, label));
    });
    return tokenRecord(tokens);
  },
  fromJson(value, name) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw invalid(name(), 'expected an object like {"service": "token"}');
    }
    const tokens = new Map<string, string[]>();
    for (const [service, entry] of Object.entries(value)) {
      const key = `.${service}`;
      if (!isServiceName(service)) {
        throw invalid(name(key), `${quote(service)} is not a service name (${SERVICE_RULE})`);
      }
      const list: unknown[] = Array.isArray(entry) ? entry : [entry];
      if (list.length === 0) throw invalid(name(key), "expected at least one token");
      list.forEach((token, index) => {
        const at = Array.isArray(entry) ? `${key}[${index}]` : key;
        if (typeof token !== "string") {
          throw invalid(name(at), "expected a token string or an array of them");
        }
        addToken(tokens, service, checkToken(token, service, name(at)));
      });
    }
    return tokenRecord(tokens);
  },
};

const HOST_LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
const ROUTE_HOST = new RegExp(`^(\\*\\.)?${HOST_LABEL}(\\.${HOST_LABEL})*$`);
/** RFC 3986 §3.3 path characters; no query, fragment or spaces. */
const ROUTE_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;

function checkRouteHost(host: string, label: string): string {
  if (host.includes(":")) {
    throw invalid(label, `host ${quote(host)} has a port; routes match host names only`);
  }
  if (!ROUTE_HOST.test(host)) {
    throw invalid(
      label,
      `${quote(host)} is not a route host (a lowercase host name, or *.suffix for subdomains)`,
    );
  }
  return host;
}

function checkRoutePath(path: string, label: string): string {
  if (!path.startsWith("/")) throw invalid(label, `path ${quote(path)} does not start with "/"`);
  if (!ROUTE_PATH.test(path)) {
    throw invalid(label, `${quote(path)} is not a URL path (no spaces, query or fragment)`);
  }
  return path;
}

function checkRouteService(service: string, host: string | undefined, label: string): string {
  if (service === "*") {
    if (host?.startsWith("*.")) return service;
    throw invalid(label, 'service "*" needs a wildcard host (*.suffix)');
  }
  if (!isServiceName(service)) {
    throw invalid(label, `${quote(service)} is not a service name (${SERVICE_RULE})`);
  }
  return service;
}

function makeRoute(host: string | undefined, path: string | undefined, service: string): RouteSpec {
  // Keys left out rather than undefined: the router may test them with `in`.
  return {
    ...(host === undefined ? {} : { host }),
    ...(path === undefined ? {} : { path }),
    service,
  };
}

/** `host=svc`, `host/path=svc` or `/path=svc`. */
function parseRoute(text: string, label: string): RouteSpec {
  // Service names have no "=", paths may: the last "=" separates them.
  const equals = text.lastIndexOf("=");
  if (equals < 0) {
    throw invalid(label, `${quote(text)} is not PATTERN=SERVICE (e.g. api.example.com/v1=api)`);
  }
  const pattern = text.slice(0, equals);
  const slash = pattern.indexOf("/");
  const host = slash < 0 ? pattern : pattern.slice(0, slash);
  const path = slash < 0 ? undefined : pattern.slice(slash);
  if (host === "" && path === undefined) {
    throw invalid(label, `${quote(text)} has no host or path (use "/" for every request)`);
  }
  const checkedHost = host === "" ? undefined : checkRouteHost(host, label);
  return makeRoute(
    checkedHost,
    path === undefined ? undefined : checkRoutePath(path, label),
    checkRouteService(text.slice(equals + 1), checkedHost, label),
  );
}

const ROUTE_KEYS = ["host", "path", "service"];

function routeFromJson(value: unknown, name: KeyNamer, at: string): RouteSpec {
  if (typeof value === "string") return parseRoute(value, name(at));
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(name(at), 'expected "PATTERN=SERVICE" or {"host", "path", "service"}');
  }
  const fields: Record<string, unknown> = { ...value };
  for (const key of Object.keys(fields)) {
    if (!ROUTE_KEYS.includes(key)) throw new ConfigError(`Unknown ${name(`${at}.${key}`)}`);
  }
  const text = (key: string): string | undefined => {
    const field = fields[key];
    if (field === undefined) return undefined;
    if (typeof field !== "string") {
      throw invalid(name(`${at}.${key}`), `expected a string, got ${show(field)}`);
    }
    return field;
  };
  const host = text("host");
  const path = text("path");
  const service = text("service");
  if (service === undefined) throw invalid(name(`${at}.service`), "a route needs a service");
  return makeRoute(
    host === undefined ? undefined : checkRouteHost(host, name(`${at}.host`)),
    path === undefined ? undefined : checkRoutePath(path, name(`${at}.path`)),
    checkRouteService(service, host, name(`${at}.service`)),
  );
}

/** Two rules for the same host and path would make the route table ambiguous. */
function checkDistinct(routes: RouteSpec[], label: (index: number) => string): RouteSpec[] {
  const seen = new Set<string>();
  routes.forEach((route, index) => {
    const pattern = `${route.host ?? ""}${route.path ?? "/"}`;
    if (seen.has(pattern)) throw invalid(label(index), `${quote(pattern)} is routed twice`);
    seen.add(pattern);
  });
  return routes;
}

/** The route table: `PATTERN=SERVICE` items, or JSON strings and `{host, path, service}` objects. */
export const routesType: ValueType<RouteSpec[]> = {
  metavar: "<pattern=service>",
  list: true,
  parse: (texts, label) => checkDistinct(texts.map((text) => parseRoute(text, label)), () => label),
  fromJson(value, name) {
    if (!Array.isArray(value)) throw invalid(name(), "expected an array of routes");
    const routes = value.map((entry, index) => routeFromJson(entry, name, `[${index}]`));
    return checkDistinct(routes, (index) => name(`[${index}]`));
  },
};

function checkHostPattern(pattern: string, service: string, label: string): string {
  if (!isHostPattern(pattern)) {
    throw invalid(
      label,
      `${quote(pattern)} of service ${quote(service)} is not a host pattern ` +
        "(a lowercase host name without a port, or *.suffix for subdomains)",
    );
  }
  return pattern;
}

function addPattern(hosts: Map<string, string[]>, service: string, pattern: string): void {
  const list = hosts.get(service) ?? [];
  if (!list.includes(pattern)) list.push(pattern);
  hosts.set(service, list);
}

/** A host belongs to at most one service: patterns of two services must not share a name. */
function checkDisjoint(hosts: Map<string, string[]>, label: string): Record<string, string[]> {
  const record = Object.fromEntries(hosts);
  const conflict = findHostConflict(record);
  if (conflict !== undefined) throw invalid(label, describeHostConflict(conflict));
  return record;
}

/**
 * The host patterns each service's backends may announce: `SERVICE=PATTERN`
 * items, or a JSON object from service to a pattern or an array of them.
 */
export const serviceHostsType: ValueType<Record<string, string[]>> = {
  metavar: "<service=pattern>",
  list: true,
  parse(texts, label) {
    const hosts = new Map<string, string[]>();
    for (const text of texts) {
      const equals = text.indexOf("=");
      if (equals < 0) {
        throw invalid(label, `${quote(text)} is not SERVICE=PATTERN (e.g. api=*.api.example.com)`);
      }
      const service = text.slice(0, equals);
      if (!isServiceName(service)) {
        throw invalid(label, `${quote(service)} is not a service name (${SERVICE_RULE})`);
      }
      addPattern(hosts, service, checkHostPattern(text.slice(equals + 1), service, label));
    }
    return checkDisjoint(hosts, label);
  },
  fromJson(value, name) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw invalid(name(), 'expected an object like {"api": ["api.example.com"]}');
    }
    const hosts = new Map<string, string[]>();
    for (const [service, entry] of Object.entries(value)) {
      const key = `.${service}`;
      if (!isServiceName(service)) {
        throw invalid(name(key), `${quote(service)} is not a service name (${SERVICE_RULE})`);
      }
      // An empty array is allowed: the service announces no hosts, as without an entry.
      hosts.set(service, []);
      const list: unknown[] = Array.isArray(entry) ? entry : [entry];
      list.forEach((pattern, index) => {
        const at = Array.isArray(entry) ? `${key}[${index}]` : key;
        if (typeof pattern !== "string") {
          throw invalid(name(at), "expected a host pattern or an array of them");
        }
        addPattern(hosts, service, checkHostPattern(pattern, service, name(at)));
      });
    }
    return checkDisjoint(hosts, name());
  },
};

function parseProxy(text: string, label: string): string {
  const [address = "", prefix, extra] = text.split("/");
  const v4 = IPV4.test(address);
  const bits = v4 ? 32 : 128;
  const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
  if ((!v4 && !isIPv6(address)) || !prefixOk || extra !== undefined) {
    throw invalid(label, `${quote(text)} is not an IP address or CIDR range (e.g. 10.0.0.0/8)`);
  }
  return text;
}

/** Trusted proxies: IPv4 or IPv6 addresses or CIDR ranges, kept as written. */
export const proxiesType: ValueType<string[]> = {
  metavar: "<ip|cidr>",
  list: true,
  parse: (texts, label) => texts.map((text) => parseProxy(text, label)),
  fromJson(value, name) {
    if (!Array.isArray(value)) throw invalid(name(), "expected an array of addresses");
    return value.map((entry, index) => {
      if (typeof entry !== "string") {
        throw invalid(name(`[${index}]`), `expected a string, got ${show(entry)}`);
      }
      return parseProxy(entry, name(`[${index}]`));
    });
  },
};

/** A port, or `off` (`false` in the file) to turn a listener off. */
export const portOrOffType: ValueType<number | "off"> = scalar(
  "<port|off>",
  (text, label) => text.toLowerCase() === "off" ? "off" : parsePort(text, label),
  (value, name) => value === "off" || value === false ? "off" : portType.fromJson(value, name),
);

/** One of a few words (a log format, a log level), any case. */
export function choiceType<T extends string>(choices: readonly T[]): ValueType<T> {
  const expected = choices.join(", ");
  const parse = (text: string, label: string): T => {
    const choice = choices.find((c) => c === text.toLowerCase());
    if (choice === undefined) throw invalid(label, `${quote(text)} is not one of ${expected}`);
    return choice;
  };
  return scalar(`<${choices.join("|")}>`, parse, jsonString(`one of ${expected}`, parse));
}

function parseService(text: string, label: string): string {
  if (!isServiceName(text)) {
    throw invalid(label, `${quote(text)} is not a service name (${SERVICE_RULE})`);
  }
  return text;
}

/** Service names: repeat the flag, commas in the environment, a JSON array in the file. */
export const servicesType: ValueType<string[]> = {
  metavar: "<service>",
  list: true,
  parse: (texts, label) => [...new Set(texts.map((text) => parseService(text, label)))],
  fromJson(value, name) {
    if (!Array.isArray(value)) throw invalid(name(), "expected an array of service names");
    return [
      ...new Set(value.map((entry, index) => {
        if (typeof entry !== "string") {
          throw invalid(name(`[${index}]`), `expected a string, got ${show(entry)}`);
        }
        return parseService(entry, name(`[${index}]`));
      })),
    ];
  },
};

/** A secret of at least 16 visible ASCII characters; messages never quote it. */
function parseSecret(text: string, label: string): string {
  if (text.length < MIN_TOKEN_LENGTH) {
    throw invalid(
      label,
      `the token is too short (at least ${MIN_TOKEN_LENGTH} characters, so that it cannot be guessed)`,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(text)) {
    throw invalid(label, "the token has spaces, control or non-ASCII characters");
  }
  return text;
}

/** The admin token: sent as `Authorization: Bearer <token>`, so visible ASCII only. */
export const secretType: ValueType<string> = scalar("<token>", parseSecret, (value, name) => {
  if (typeof value !== "string") throw invalid(name(), "expected a token string");
  return parseSecret(value, name());
});
