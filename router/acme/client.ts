/**
 * The ACME protocol (RFC 8555) as far as a server needs it: the directory,
 * nonces, an account, orders for DNS names, authorizations, challenges,
 * finalization and the certificate download, plus ACME Renewal Information
 * (draft-ietf-acme-ari). Requests are JWS-signed with `jose`; every request
 * has a deadline and every answer a size bound, since the CA is a remote
 * peer like any other.
 *
 * @module
 */

import { calculateJwkThumbprint, exportJWK, FlattenedSign, type JWK } from "jose";
import { base64Url } from "./certificates.ts";
import { AcmeError, AcmeProblemError, toProblem } from "./problem.ts";

/** Largest answer read from the CA: a certificate chain is a few KiB. */
const MAX_ANSWER_BYTES = 1 << 20;
/** Fresh nonces asked for after `badNonce` before giving up (RFC 8555 §6.5). */
const BAD_NONCE_RETRIES = 3;
/** Polling starts this fast and doubles up to the cap, unless the CA says Retry-After. */
const POLL_FIRST_MS = 250;
const POLL_MAX_MS = 5_000;

/** The ACME directory's resources (RFC 8555 §7.1.1), with ARI's `renewalInfo`. */
export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  renewalInfo?: string;
  meta?: { termsOfService?: string };
}

/** An order object (RFC 8555 §7.1.3), narrowed to what is read. */
export interface Order {
  status: "pending" | "ready" | "processing" | "valid" | "invalid";
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: unknown;
}

/** A challenge object (RFC 8555 §7.1.5). */
export interface Challenge {
  type: string;
  url: string;
  token: string;
  status: string;
  error?: unknown;
}

/** An authorization object (RFC 8555 §7.1.4). */
export interface Authorization {
  status: "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";
  identifier: { type: string; value: string };
  challenges: Challenge[];
}

/** A renewal window from ARI (draft-ietf-acme-ari §4.2). */
export interface RenewalInfo {
  /** Renew no earlier than this (ms since the epoch). */
  start: number;
  /** Renew before this (ms since the epoch). */
  end: number;
  /** When to ask again (ms from now), from Retry-After. */
  retryAfter?: number;
}

/** Options of {@linkcode AcmeClient}. */
export interface AcmeClientOptions {
  /** The directory URL. */
  directoryUrl: string;
  /** The account key pair (P-256). */
  accountKey: CryptoKeyPair;
  /** Contact address for the account (`mailto:` is added). */
  email?: string;
  /** PEM certificates to trust for the CA's own HTTPS, besides the system's roots. */
  caCerts?: string[];
  /** Deadline of each request (ms). */
  requestTimeout: number;
}

/** An answer from the CA: status, headers and parsed body. */
interface Answer {
  status: number;
  headers: Headers;
  json: unknown;
  text: string;
}

/**
 * One ACME account at one CA. Methods take an `AbortSignal` that bounds the
 * whole operation (an order's deadline, the manager's shutdown).
 *
 * @example
 * ```ts ignore
 * import { AcmeClient } from "./client.ts";
 * import { generateKeyPair } from "./certificates.ts";
 * const client = new AcmeClient({
 *   directoryUrl: "https://acme-staging-v02.api.letsencrypt.org/directory",
 *   accountKey: await generateKeyPair(),
 *   requestTimeout: 30_000,
 * });
 * await client.account(AbortSignal.timeout(60_000));
 * client.close();
 * ```
 */
export class AcmeClient {
  #options: AcmeClientOptions;
  #http: Deno.HttpClient | undefined;
  #directory: Directory | undefined;
  #nonces: string[] = [];
  #kid: string | undefined;
  #jwk: JWK | undefined;
  #thumbprint: string | undefined;

  /** @param options The CA and the account. */
  constructor(options: AcmeClientOptions) {
    this.#options = options;
    if (options.caCerts && options.caCerts.length > 0) {
      this.#http = Deno.createHttpClient({ caCerts: options.caCerts });
    }
  }

  /** The directory URL. */
  get directoryUrl(): string {
    return this.#options.directoryUrl;
  }

  /** Releases the HTTP client. */
  close(): void {
    this.#http?.close();
    this.#http = undefined;
  }

  /**
   * The CA's directory, fetched once.
   *
   * @param signal Bounds the request.
   * @returns The directory.
   */
  async directory(signal: AbortSignal): Promise<Directory> {
    if (this.#directory) return this.#directory;
    const answer = await this.#request(this.#options.directoryUrl, { method: "GET" }, signal);
    if (answer.status !== 200) throw this.#failure(answer, "Reading the ACME directory");
    const json = answer.json as Record<string, unknown> | undefined;
    for (const key of ["newNonce", "newAccount", "newOrder"]) {
      if (typeof json?.[key] !== "string") {
        throw new AcmeError(`The ACME directory has no ${key}: ${this.#options.directoryUrl}`);
      }
    }
    this.#directory = json as unknown as Directory;
    return this.#directory;
  }

  /**
   * Registers the account, or finds it when the key is known already (the CA
   * answers 200 with the same URL), agreeing to the terms of service.
   *
   * @param signal Bounds the requests.
   * @returns The account URL (the JWS `kid`).
   */
  async account(signal: AbortSignal): Promise<string> {
    if (this.#kid) return this.#kid;
    const directory = await this.directory(signal);
    const payload: Record<string, unknown> = { termsOfServiceAgreed: true };
    if (this.#options.email) payload.contact = [`mailto:${this.#options.email}`];
    const answer = await this.#post(directory.newAccount, payload, signal, true);
    const location = answer.headers.get("location");
    if ((answer.status !== 200 && answer.status !== 201) || !location) {
      throw this.#failure(answer, "Registering the ACME account");
    }
    this.#kid = location;
    return location;
  }

  /**
   * The key authorization of a challenge token (RFC 8555 §8.1):
   * `token "." base64url(JWK thumbprint of the account key)`.
   *
   * @param token The challenge's token.
   * @returns The key authorization.
   */
  async keyAuthorization(token: string): Promise<string> {
    this.#thumbprint ??= await calculateJwkThumbprint(await this.#publicJwk(), "sha256");
    return `${token}.${this.#thumbprint}`;
  }

  /**
   * Creates an order for DNS names.
   *
   * @param names The identifiers.
   * @param signal Bounds the requests.
   * @param replaces The ARI identifier of the certificate this order renews,
   *   when the CA offers ARI (draft-ietf-acme-ari §5).
   * @returns The order's URL and object.
   */
  async newOrder(
    names: readonly string[],
    signal: AbortSignal,
    replaces?: string,
  ): Promise<{ url: string; order: Order }> {
    const directory = await this.directory(signal);
    const payload: Record<string, unknown> = {
      identifiers: names.map((value) => ({ type: "dns", value })),
    };
    if (replaces !== undefined && directory.renewalInfo) payload.replaces = replaces;
    const answer = await this.#post(directory.newOrder, payload, signal);
    const url = answer.headers.get("location");
    if (answer.status !== 201 || !url) throw this.#failure(answer, "Creating the order");
    return { url, order: this.#order(answer) };
  }

  /**
   * Fetches an authorization (POST-as-GET).
   *
   * @param url Its URL.
   * @param signal Bounds the request.
   * @returns The authorization.
   */
  async authorization(url: string, signal: AbortSignal): Promise<Authorization> {
    const answer = await this.#post(url, null, signal);
    if (answer.status !== 200) throw this.#failure(answer, "Reading an authorization");
    const json = answer.json as Authorization | undefined;
    if (!json || typeof json.status !== "string" || !Array.isArray(json.challenges)) {
      throw new AcmeError(`Not an ACME authorization: ${url}`);
    }
    return json;
  }

  /**
   * Tells the CA a challenge is ready to be validated (RFC 8555 §7.5.1).
   *
   * @param url The challenge's URL.
   * @param signal Bounds the request.
   */
  async respond(url: string, signal: AbortSignal): Promise<void> {
    const answer = await this.#post(url, {}, signal);
    if (answer.status !== 200) throw this.#failure(answer, "Answering a challenge");
  }

  /**
   * Polls an authorization until it is no longer pending, at the pace the CA
   * asks for (Retry-After) or with a doubling delay.
   *
   * @param url The authorization's URL.
   * @param signal Bounds the polling.
   * @returns The settled authorization.
   */
  async settledAuthorization(url: string, signal: AbortSignal): Promise<Authorization> {
    let delay = POLL_FIRST_MS;
    for (;;) {
      const answer = await this.#post(url, null, signal);
      if (answer.status !== 200) throw this.#failure(answer, "Reading an authorization");
      const authorization = answer.json as Authorization;
      if (authorization?.status !== "pending") return authorization;
      await sleep(retryAfter(answer.headers) ?? delay, signal);
      delay = Math.min(delay * 2, POLL_MAX_MS);
    }
  }

  /**
   * Polls an order until its status is not `pending`/`processing` (or, with
   * `ready` as target, until it is ready to finalize).
   *
   * @param url The order's URL.
   * @param signal Bounds the polling.
   * @returns The order.
   */
  async settledOrder(url: string, signal: AbortSignal): Promise<Order> {
    let delay = POLL_FIRST_MS;
    for (;;) {
      const answer = await this.#post(url, null, signal);
      if (answer.status !== 200) throw this.#failure(answer, "Reading the order");
      const order = this.#order(answer);
      if (order.status !== "pending" && order.status !== "processing") return order;
      await sleep(retryAfter(answer.headers) ?? delay, signal);
      delay = Math.min(delay * 2, POLL_MAX_MS);
    }
  }

  /**
   * Sends the CSR of a ready order (RFC 8555 §7.4).
   *
   * @param order The order.
   * @param csr The DER CSR.
   * @param signal Bounds the request.
   */
  async finalize(order: Order, csr: Uint8Array, signal: AbortSignal): Promise<void> {
    const answer = await this.#post(order.finalize, { csr: base64Url(csr) }, signal);
    if (answer.status !== 200) throw this.#failure(answer, "Finalizing the order");
  }

  /**
   * Downloads the certificate chain of a valid order (PEM, leaf first).
   *
   * @param url The order's `certificate` URL.
   * @param signal Bounds the request.
   * @returns The PEM chain.
   */
  async certificate(url: string, signal: AbortSignal): Promise<string> {
    const answer = await this.#post(url, null, signal, false, "application/pem-certificate-chain");
    if (answer.status !== 200 || !answer.text.includes("-----BEGIN CERTIFICATE-----")) {
      throw this.#failure(answer, "Downloading the certificate");
    }
    return answer.text;
  }

  /**
   * The CA's suggested renewal window for a certificate, or `undefined` when
   * the CA offers no ARI (draft-ietf-acme-ari §4.2: an unauthenticated GET).
   *
   * @param ariId The certificate's ARI identifier.
   * @param signal Bounds the request.
   * @returns The window, or `undefined`.
   */
  async renewalInfo(ariId: string, signal: AbortSignal): Promise<RenewalInfo | undefined> {
    const directory = await this.directory(signal);
    if (!directory.renewalInfo) return undefined;
    const base = directory.renewalInfo.replace(/\/+$/, "");
    const answer = await this.#request(`${base}/${ariId}`, { method: "GET" }, signal);
    if (answer.status !== 200) throw this.#failure(answer, "Reading renewal information");
    const window = (answer.json as { suggestedWindow?: { start?: unknown; end?: unknown } })
      ?.suggestedWindow;
    const start = Date.parse(String(window?.start));
    const end = Date.parse(String(window?.end));
    if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) {
      throw new AcmeError("The CA's renewal information has no valid suggestedWindow");
    }
    const info: RenewalInfo = { start, end };
    const after = retryAfter(answer.headers);
    if (after !== undefined) info.retryAfter = after;
    return info;
  }

  async #publicJwk(): Promise<JWK> {
    if (this.#jwk) return this.#jwk;
    const { kty, crv, x, y } = await exportJWK(this.#options.accountKey.publicKey);
    this.#jwk = { kty, crv, x, y };
    return this.#jwk;
  }

  #order(answer: Answer): Order {
    const order = answer.json as Order | undefined;
    if (
      !order || typeof order.status !== "string" || !Array.isArray(order.authorizations) ||
      typeof order.finalize !== "string"
    ) {
      throw new AcmeError("Not an ACME order");
    }
    return order;
  }

  async #nonce(signal: AbortSignal): Promise<string> {
    const kept = this.#nonces.pop();
    if (kept) return kept;
    const directory = await this.directory(signal);
    const answer = await this.#request(directory.newNonce, { method: "HEAD" }, signal);
    const nonce = answer.headers.get("replay-nonce");
    if (!nonce) throw new AcmeError("The CA gave no nonce");
    return nonce;
  }

  /** A JWS-signed POST (RFC 8555 §6.2); `payload` null is POST-as-GET (§6.3). */
  async #post(
    url: string,
    payload: unknown,
    signal: AbortSignal,
    withJwk = false,
    accept = "application/json",
  ): Promise<Answer> {
    const body = payload === null
      ? new Uint8Array(0)
      : new TextEncoder().encode(JSON.stringify(payload));
    for (let attempt = 0;; attempt++) {
      const header: Record<string, unknown> = {
        alg: "ES256",
        nonce: await this.#nonce(signal),
        url,
      };
      if (withJwk) header.jwk = await this.#publicJwk();
      else header.kid = this.#kid ?? await this.account(signal);
      const jws = await new FlattenedSign(body).setProtectedHeader(header)
        .sign(this.#options.accountKey.privateKey);
      const answer = await this.#request(url, {
        method: "POST",
        headers: { "content-type": "application/jose+json", accept },
        body: JSON.stringify(jws),
      }, signal);
      const problem = answer.status >= 400 ? toProblem(answer.json, answer.status) : undefined;
      if (problem?.type.endsWith(":badNonce") && attempt < BAD_NONCE_RETRIES) continue;
      return answer;
    }
  }

  /** One HTTP exchange with its own deadline within `signal`; keeps the nonce it brings. */
  async #request(url: string, init: RequestInit, signal: AbortSignal): Promise<Answer> {
    const controller = new AbortController();
    const stop = () => controller.abort(signal.reason);
    if (signal.aborted) stop();
    signal.addEventListener("abort", stop, { once: true });
    const timer = setTimeout(
      () => controller.abort(new AcmeError(`No answer from the CA within the deadline: ${url}`)),
      this.#options.requestTimeout,
    );
    try {
      const response = await fetch(url, {
        ...init,
        signal: controller.signal,
        ...(this.#http ? { client: this.#http } : {}),
      });
      const nonce = response.headers.get("replay-nonce");
      if (nonce) this.#nonces.push(nonce);
      const text = await readText(response, url);
      let json: unknown = undefined;
      const type = response.headers.get("content-type") ?? "";
      if (type.includes("json")) {
        try {
          json = JSON.parse(text);
        } catch {
          throw new AcmeError(`The CA sent malformed JSON: ${url}`);
        }
      }
      return { status: response.status, headers: response.headers, json, text };
    } catch (error) {
      if (error instanceof AcmeError) throw error;
      if (controller.signal.aborted) {
        const reason = controller.signal.reason;
        throw reason instanceof Error ? reason : new AcmeError(`Request aborted: ${url}`);
      }
      throw new AcmeError(`Cannot reach the CA: ${url}: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", stop);
    }
  }

  #failure(answer: Answer, what: string): Error {
    const problem = toProblem(answer.json, answer.status);
    if (problem) {
      const error = new AcmeProblemError(problem);
      const after = retryAfter(answer.headers);
      if (after !== undefined) error.retryAfter = after;
      return error;
    }
    return new AcmeError(`${what} failed with HTTP ${answer.status}`);
  }
}

/** Reads a body of at most {@linkcode MAX_ANSWER_BYTES}. */
async function readText(response: Response, url: string): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new AcmeError(`The CA's answer is larger than ${MAX_ANSWER_BYTES} bytes: ${url}`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Retry-After as milliseconds from now (RFC 9110 §10.2.3: seconds or a date),
 * or `undefined` when absent or unreadable.
 *
 * @param headers The answer's headers.
 * @returns The delay.
 *
 * @example
 * ```ts
 * import { retryAfter } from "./client.ts";
 * import { equal } from "node:assert/strict";
 * equal(retryAfter(new Headers({ "retry-after": "3" })), 3000);
 * equal(retryAfter(new Headers()), undefined);
 * ```
 */
export function retryAfter(headers: Headers): number | undefined {
  const value = headers.get("retry-after");
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** Waits `ms`, or rejects when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", abort, { once: true });
  });
}
