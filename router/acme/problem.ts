/**
 * ACME errors: the CA's problem documents (RFC 8555 §6.7, RFC 7807) kept
 * whole, so that a log line can say what the CA said (type and detail), and
 * errors of our own side (timeouts, malformed answers) as a separate class.
 *
 * @module
 */

/** The problem-type URN prefix of RFC 8555 §6.7. */
const ACME_URN = "urn:ietf:params:acme:error:";

/** A problem document as the CA sends it, narrowed to what is read. */
export interface ProblemDocument {
  /** A URI; ACME's are `urn:ietf:params:acme:error:<name>`. */
  type: string;
  /** What went wrong, for a person. */
  detail: string;
  /** The HTTP status, when it came with a response. */
  status?: number;
  /** Per-identifier problems (RFC 8555 §6.7.1). */
  subproblems?: ProblemDocument[];
}

/**
 * The CA answered with a problem document: the order, an authorization or a
 * request failed for a reason the CA names.
 *
 * @example
 * ```ts
 * import { AcmeProblemError } from "./problem.ts";
 * import { equal } from "node:assert/strict";
 * const error = new AcmeProblemError({
 *   type: "urn:ietf:params:acme:error:connection",
 *   detail: "Connection refused",
 * });
 * equal(error.shortType, "connection");
 * equal(error.message, "The CA refused: connection: Connection refused");
 * ```
 */
export class AcmeProblemError extends Error {
  /** The problem as the CA sent it. */
  readonly problem: ProblemDocument;
  /** How long the CA asked us to wait before trying again (ms), from Retry-After. */
  retryAfter?: number;

  /** @param problem The CA's problem document. */
  constructor(problem: ProblemDocument) {
    super(`The CA refused: ${shorten(problem.type)}: ${problem.detail}`);
    this.name = "AcmeProblemError";
    this.problem = problem;
  }

  /** The type without the ACME URN prefix (`badNonce`, `connection`, …). */
  get shortType(): string {
    return shorten(this.problem.type);
  }
}

/**
 * Something failed on the way to or from the CA that is not the CA's verdict:
 * a timeout, an unreachable directory, an answer that is not ACME.
 *
 * @example
 * ```ts
 * import { AcmeError } from "./problem.ts";
 * import { equal } from "node:assert/strict";
 * equal(new AcmeError("Order timed out").name, "AcmeError");
 * ```
 */
export class AcmeError extends Error {
  /**
   * @param message What failed.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AcmeError";
  }
}

/**
 * Reads a problem document out of untrusted JSON, or `undefined` when the
 * value is not one; strings are cut, so a hostile CA cannot flood the log.
 *
 * @param value Parsed JSON from the CA.
 * @param status The HTTP status it came with, if any.
 * @returns The problem, or `undefined`.
 *
 * @example
 * ```ts
 * import { toProblem } from "./problem.ts";
 * import { equal } from "node:assert/strict";
 * equal(toProblem({ type: "urn:ietf:params:acme:error:badNonce", detail: "old" })?.detail, "old");
 * equal(toProblem("nope"), undefined);
 * ```
 */
export function toProblem(value: unknown, status?: number): ProblemDocument | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.type !== "string" && typeof record.detail !== "string") return undefined;
  const problem: ProblemDocument = {
    type: cut(typeof record.type === "string" ? record.type : "about:blank", 200),
    detail: cut(typeof record.detail === "string" ? record.detail : "", 1000),
  };
  if (status !== undefined) problem.status = status;
  if (Array.isArray(record.subproblems)) {
    problem.subproblems = record.subproblems.slice(0, 20)
      .map((sub) => toProblem(sub))
      .filter((sub): sub is ProblemDocument => sub !== undefined);
  }
  return problem;
}

function shorten(type: string): string {
  return type.startsWith(ACME_URN) ? type.slice(ACME_URN.length) : type;
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
