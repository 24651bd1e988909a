/**
 * The certificate manager: one certificate per name, obtained from an ACME CA
 * through HTTP-01, kept in the state directory, reused across restarts,
 * renewed ahead of expiry, and handed to the TLS listener through
 * {@linkcode AcmeManager.certificateFor} and a change event. A name that
 * fails backs off on its own and never holds up the others.
 *
 * @module
 */

import { ACME_DEFAULTS } from "../../config/defaults.ts";
import { Logger } from "../../log/logger.ts";
import {
  type CertificateInfo,
  csrFor,
  generateKeyPair,
  privateKeyToPem,
  readCertificate,
} from "./certificates.ts";
import { AcmeClient, type Authorization, type Order } from "./client.ts";
import { Http01Responder } from "./http01.ts";
import { certificateName } from "./names.ts";
import { AcmeError, AcmeProblemError, type ProblemDocument, toProblem } from "./problem.ts";
import { backoff, OrderBudget, renewalTime } from "./schedule.ts";
import { StateDir } from "./state_dir.ts";

/** How often the CA's renewal information is asked again when it names no Retry-After. */
const ARI_RECHECK_MS = 6 * 3_600_000;
/** Bounds on a CA's Retry-After for renewal information: never hammer it, never forget it. */
const ARI_RECHECK_MIN_MS = 60_000;
const ARI_RECHECK_MAX_MS = 24 * 3_600_000;
/** Longest wait of the scheduler's timer (timers overflow past 2^31-1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of {@linkcode AcmeManager}. */
export interface AcmeManagerOptions {
  /** The account's contact address. */
  email: string;
  /** The names that should have certificates; read at start and at each {@linkcode AcmeManager.refresh}. */
  names: () => Iterable<string>;
  /** The CA's directory URL. @default {Let's Encrypt production} */
  directoryUrl?: string;
  /** PEM texts of certificates to trust for the CA's HTTPS (a private CA such as Pebble). */
  caCerts?: string[];
  /** Where the account key and certificates live. @default {"ptth-state"} */
  stateDir?: string;
  /** How long one order may take, from new order to certificate (ms). @default {120000} */
  orderTimeout?: number;
  /** How long one request to the CA may take (ms). @default {30000} */
  requestTimeout?: number;
  /** New orders per hour at most, over all names. @default {20} */
  ordersPerHour?: number;
  /** The wait after a name's first failure, doubled after each (ms). @default {60000} */
  retryDelay?: number;
  /** The longest wait between attempts for a failing name (ms). @default {3600000} */
  retryMaxDelay?: number;
  /** Where log lines go. @default {a logger on stderr} */
  logger?: Logger;
}

/** A certificate the manager serves: the PEM chain and key, and its end of validity. */
export interface ManagedCertificate {
  /** The name it was issued for. */
  name: string;
  /** The chain, leaf first (PEM). */
  cert: string;
  /** The private key (PKCS#8 PEM). */
  key: string;
  /** End of validity (ms since the epoch). */
  notAfter: number;
}

/** How an order ended, as `ptth_acme_orders_total{result}` counts it. */
export type OrderResult = "issued" | "failed";

/** One name's state, as the dashboard shows it. */
export interface NameStatus {
  /** The name. */
  name: string;
  /** End of validity of the certificate served, if any (ms since the epoch). */
  notAfter?: number;
  /** When the next order (or renewal) is due (ms since the epoch). */
  nextAttempt: number;
  /** Failed orders in a row. */
  failures: number;
  /** The last failure, as logged. */
  lastError?: string;
}

interface NameState {
  name: string;
  current?: ManagedCertificate;
  info?: CertificateInfo;
  /** When to order next: the renewal time, or the end of a backoff. */
  nextAttempt: number;
  /** When to ask the CA's renewal information next. */
  ariCheckAt: number;
  failures: number;
  lastError?: string;
}

/**
 * Obtains and renews certificates for the names `options.names` returns.
 *
 * @example
 * ```ts ignore
 * import { AcmeManager } from "./manager.ts";
 * const manager = new AcmeManager({
 *   email: "ops@example.com",
 *   names: () => ["www.example.com"],
 * });
 * manager.onCertificate((cert) => console.log("new certificate for", cert.name));
 * await manager.start();
 * // in the public HTTP handler, before routing:
 * //   const body = manager.challengeResponse(path); if (body !== null) return new Response(body);
 * // in the TLS listener's SNI lookup:
 * //   manager.certificateFor(serverName)
 * await manager.close();
 * ```
 */
export class AcmeManager {
  #options: Required<Omit<AcmeManagerOptions, "caCerts" | "logger">> & { caCerts: string[] };
  #log: Logger;
  #state: StateDir;
  #client: AcmeClient | undefined;
  #responder = new Http01Responder();
  #budget: OrderBudget;
  #names = new Map<string, NameState>();
  #served = new Map<string, ManagedCertificate>();
  #certificateListeners = new Set<(certificate: ManagedCertificate) => void>();
  #orderListeners = new Set<(name: string, result: OrderResult) => void>();
  #stop = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #again = false;

  /** @param options The account, the CA, the names and the bounds. */
  constructor(options: AcmeManagerOptions) {
    this.#options = {
      email: options.email,
      names: options.names,
      directoryUrl: options.directoryUrl ?? ACME_DEFAULTS.acmeDirectory,
      caCerts: options.caCerts ?? [],
      stateDir: options.stateDir ?? ACME_DEFAULTS.stateDir,
      orderTimeout: options.orderTimeout ?? ACME_DEFAULTS.acmeOrderTimeout,
      requestTimeout: options.requestTimeout ?? ACME_DEFAULTS.acmeRequestTimeout,
      ordersPerHour: options.ordersPerHour ?? ACME_DEFAULTS.acmeOrdersPerHour,
      retryDelay: options.retryDelay ?? ACME_DEFAULTS.acmeRetryDelay,
      retryMaxDelay: options.retryMaxDelay ?? ACME_DEFAULTS.acmeRetryMaxDelay,
    };
    this.#log = options.logger ?? new Logger();
    this.#state = new StateDir(this.#options.stateDir, this.#options.directoryUrl);
    this.#budget = new OrderBudget(this.#options.ordersPerHour);
  }

  /**
   * Loads the account key and the stored certificates of the current names
   * (served at once), then orders what is missing in the background.
   */
  async start(): Promise<void> {
    const accountKey = await this.#state.accountKey();
    this.#client = new AcmeClient({
      directoryUrl: this.#options.directoryUrl,
      accountKey,
      email: this.#options.email,
      caCerts: this.#options.caCerts,
      requestTimeout: this.#options.requestTimeout,
    });
    await this.#sync();
    this.#kick();
  }

  /**
   * Reads the names again (routes changed, a backend announced a host):
   * new names get their stored certificate or an order, names gone stop
   * being served.
   */
  async refresh(): Promise<void> {
    await this.#sync();
    this.#kick();
  }

  /** Stops ordering (an order under way is abandoned) and releases the CA client. */
  async close(): Promise<void> {
    this.#stop.abort(new AcmeError("The certificate manager is closing"));
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    this.#client?.close();
  }

  /**
   * The certificate to serve for a TLS server name, if the manager has one.
   * Synchronous and allocation-free: it runs in every TLS handshake.
   *
   * @param serverName The SNI name.
   * @returns The certificate, or `undefined`.
   */
  certificateFor(serverName: string): ManagedCertificate | undefined {
    return this.#served.get(serverName) ?? this.#served.get(canonical(serverName));
  }

  /**
   * The HTTP-01 answer for a request path, or `null` when the path is no
   * challenge under way (then route the request as usual).
   *
   * @param path The request's path.
   * @returns The key authorization, or `null`.
   */
  challengeResponse(path: string): string | null {
    return this.#responder.response(path);
  }

  /**
   * Calls `listener` whenever a name gets a new certificate (first issue,
   * renewal), so that the TLS listener swaps it in for new handshakes.
   *
   * @param listener Receives the certificate.
   * @returns A function that removes the listener.
   */
  onCertificate(listener: (certificate: ManagedCertificate) => void): () => void {
    this.#certificateListeners.add(listener);
    return () => this.#certificateListeners.delete(listener);
  }

  /**
   * Calls `listener` after every order, issued or failed (for metrics).
   *
   * @param listener Receives the name and the result.
   * @returns A function that removes the listener.
   */
  onOrder(listener: (name: string, result: OrderResult) => void): () => void {
    this.#orderListeners.add(listener);
    return () => this.#orderListeners.delete(listener);
  }

  /**
   * Resolves once the work under way (orders, renewal checks) is done: at
   * start, after {@linkcode AcmeManager.refresh}, or when a timer fired.
   *
   * @returns A promise that resolves when idle.
   */
  async whenIdle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Every certificate served now. */
  certificates(): ManagedCertificate[] {
    return [...this.#served.values()];
  }

  /** Every managed name's state, for the dashboard. */
  status(): NameStatus[] {
    return [...this.#names.values()].map((state) => {
      const status: NameStatus = {
        name: state.name,
        nextAttempt: state.nextAttempt,
        failures: state.failures,
      };
      if (state.current) status.notAfter = state.current.notAfter;
      if (state.lastError !== undefined) status.lastError = state.lastError;
      return status;
    });
  }

  /** Brings the name table in line with `options.names()`. */
  async #sync(): Promise<void> {
    const wanted = new Set<string>();
    for (const raw of this.#options.names()) {
      const name = certificateName(raw);
      if (name === null) {
        if (!raw.startsWith("*.")) continue;
        this.#log.debug("No certificate for a wildcard name: it needs DNS-01", { name: raw });
        continue;
      }
      wanted.add(name);
    }
    for (const name of [...this.#names.keys()]) {
      if (!wanted.has(name)) {
        this.#names.delete(name);
        this.#served.delete(name);
      }
    }
    const now = Date.now();
    for (const name of wanted) {
      if (this.#names.has(name)) continue;
      const state: NameState = { name, nextAttempt: now, ariCheckAt: now, failures: 0 };
      this.#names.set(name, state);
      const stored = await this.#state.readCertificate(name).catch((error) => {
        this.#log.warn("Cannot read a stored certificate", { name, error: String(error) });
        return undefined;
      });
      if (!stored) continue;
      try {
        const info = readCertificate(stored.cert);
        if (info.notAfter > now && info.names.includes(name)) {
          this.#install(state, stored.cert, stored.key, info, false);
        }
      } catch (error) {
        this.#log.warn("Ignoring a stored certificate that cannot be read", {
          name,
          error: String(error),
        });
      }
    }
  }

  /** Serves a certificate and schedules its renewal. */
  #install(
    state: NameState,
    cert: string,
    key: string,
    info: CertificateInfo,
    announce: boolean,
  ): void {
    const current: ManagedCertificate = { name: state.name, cert, key, notAfter: info.notAfter };
    state.current = current;
    state.info = info;
    state.nextAttempt = renewalTime(info, Date.now());
    state.ariCheckAt = Date.now();
    this.#served.set(state.name, current);
    if (!announce) return;
    for (const listener of this.#certificateListeners) {
      try {
        listener(current);
      } catch (error) {
        this.#log.error("A certificate listener threw", { error: String(error) });
      }
    }
  }

  /** Runs the work loop now, or marks it to run again when it is running. */
  #kick(): void {
    if (this.#stop.signal.aborted) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#work().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.#kick();
      } else {
        this.#arm();
      }
    });
  }

  /** Sets the timer for the earliest due name. */
  #arm(): void {
    if (this.#stop.signal.aborted) return;
    let next = Infinity;
    for (const state of this.#names.values()) {
      next = Math.min(next, state.nextAttempt, state.current ? state.ariCheckAt : Infinity);
    }
    if (next === Infinity) return;
    const wait = Math.min(Math.max(0, next - Date.now()), MAX_TIMER_MS);
    this.#timer = setTimeout(() => this.#kick(), wait);
  }

  /** Orders (one at a time) for every name that is due. */
  async #work(): Promise<void> {
    for (const state of [...this.#names.values()]) {
      if (this.#stop.signal.aborted) return;
      if (this.#names.get(state.name) !== state) continue;
      const now = Date.now();
      if (state.current && state.info && state.ariCheckAt <= now && state.nextAttempt > now) {
        await this.#checkRenewalInfo(state);
      }
      if (state.nextAttempt > Date.now()) continue;
      const wait = this.#budget.take(Date.now());
      if (wait > 0) {
        state.nextAttempt = Date.now() + wait;
        this.#log.info("Certificate order waits for the hourly order budget", {
          name: state.name,
          waitSeconds: Math.ceil(wait / 1000),
        });
        continue;
      }
      await this.#order(state);
    }
  }

  /** Asks the CA's renewal window for a certificate, when the CA offers ARI. */
  async #checkRenewalInfo(state: NameState): Promise<void> {
    const info = state.info!;
    if (!info.ariId) {
      state.ariCheckAt = Infinity;
      return;
    }
    try {
      // The client bounds the request by requestTimeout; closing aborts it.
      const window = await this.#client!.renewalInfo(info.ariId, this.#stop.signal);
      if (!window) {
        state.ariCheckAt = Infinity;
        return;
      }
      state.nextAttempt = renewalTime(info, Date.now(), window);
      const recheck = Math.min(
        Math.max(window.retryAfter ?? ARI_RECHECK_MS, ARI_RECHECK_MIN_MS),
        ARI_RECHECK_MAX_MS,
      );
      state.ariCheckAt = Date.now() + recheck;
      this.#log.debug("Renewal window from the CA", {
        name: state.name,
        renewAt: new Date(state.nextAttempt).toISOString(),
      });
    } catch (error) {
      if (this.#stop.signal.aborted) return;
      state.ariCheckAt = Date.now() + ARI_RECHECK_MIN_MS;
      this.#log.warn("Cannot read the CA's renewal information", {
        name: state.name,
        error: (error as Error).message,
      });
    }
  }

  /** One order for one name, its result logged, counted and scheduled. */
  async #order(state: NameState): Promise<void> {
    const controller = new AbortController();
    const abort = () => controller.abort(this.#stop.signal.reason);
    this.#stop.signal.addEventListener("abort", abort, { once: true });
    const timer = setTimeout(
      () =>
        controller.abort(new AcmeError(`Order timed out after ${this.#options.orderTimeout} ms`)),
      this.#options.orderTimeout,
    );
    try {
      const { cert, key, info } = await this.#obtain(state, controller.signal);
      await this.#state.writeCertificate(state.name, { cert, key });
      if (this.#names.get(state.name) !== state) return; // dropped meanwhile
      state.failures = 0;
      delete state.lastError;
      this.#install(state, cert, key, info, true);
      this.#log.info("Certificate issued", {
        name: state.name,
        notAfter: new Date(info.notAfter).toISOString(),
        renewAt: new Date(state.nextAttempt).toISOString(),
      });
      this.#emitOrder(state.name, "issued");
    } catch (error) {
      if (this.#stop.signal.aborted) return;
      state.failures++;
      let wait = backoff(state.failures, this.#options.retryDelay, this.#options.retryMaxDelay);
      if (error instanceof AcmeProblemError && error.retryAfter !== undefined) {
        wait = Math.min(Math.max(wait, error.retryAfter), this.#options.retryMaxDelay);
      }
      state.nextAttempt = Date.now() + wait;
      state.lastError = (error as Error).message;
      const fields: Record<string, string | number | undefined> = {
        name: state.name,
        failures: state.failures,
        retryInSeconds: Math.ceil(wait / 1000),
        serving: state.current ? "previous certificate" : "none",
      };
      if (error instanceof AcmeProblemError) {
        fields.type = error.problem.type;
        fields.detail = error.problem.detail;
        if (error.problem.status !== undefined) fields.status = error.problem.status;
      } else {
        fields.error = (error as Error).message;
      }
      this.#log.warn("Certificate order failed", fields);
      this.#emitOrder(state.name, "failed");
    } finally {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener("abort", abort);
    }
  }

  #emitOrder(name: string, result: OrderResult): void {
    for (const listener of this.#orderListeners) {
      try {
        listener(name, result);
      } catch (error) {
        this.#log.error("An order listener threw", { error: String(error) });
      }
    }
  }

  /** The RFC 8555 §7.4 flow for one name: order, HTTP-01, finalize, download. */
  async #obtain(
    state: NameState,
    signal: AbortSignal,
  ): Promise<{ cert: string; key: string; info: CertificateInfo }> {
    const client = this.#client!;
    const name = state.name;
    await client.account(signal);
    const { url, order } = await client.newOrder([name], signal, state.info?.ariId);
    for (const authorizationUrl of order.authorizations) {
      await this.#authorize(client, authorizationUrl, signal);
    }
    let settled = await client.settledOrder(url, signal);
    if (settled.status !== "ready") throw orderFailure(settled, "is not ready to finalize");
    const keys = await generateKeyPair();
    await client.finalize(settled, await csrFor([name], keys), signal);
    settled = await client.settledOrder(url, signal);
    if (settled.status !== "valid" || !settled.certificate) {
      throw orderFailure(settled, "has no certificate");
    }
    const cert = await client.certificate(settled.certificate, signal);
    const info = readCertificate(cert);
    if (!info.names.includes(name)) {
      throw new AcmeError(`The CA issued a certificate that does not name ${name}`);
    }
    return { cert, key: await privateKeyToPem(keys.privateKey), info };
  }

  /** Answers one authorization's HTTP-01 challenge and waits for the CA's verdict. */
  async #authorize(client: AcmeClient, url: string, signal: AbortSignal): Promise<void> {
    const authorization = await client.authorization(url, signal);
    if (authorization.status === "valid") return;
    if (authorization.status !== "pending") throw authorizationFailure(authorization);
    const challenge = authorization.challenges.find((c) => c.type === "http-01");
    if (!challenge) {
      throw new AcmeError(
        `The CA offers no http-01 challenge for ${authorization.identifier?.value}`,
      );
    }
    this.#responder.add(challenge.token, await client.keyAuthorization(challenge.token));
    try {
      await client.respond(challenge.url, signal);
      const settled = await client.settledAuthorization(url, signal);
      if (settled.status !== "valid") throw authorizationFailure(settled);
    } finally {
      this.#responder.delete(challenge.token);
    }
  }
}

/** The CA's reason for a failed authorization: its challenge's problem document. */
function authorizationFailure(authorization: Authorization): Error {
  for (const challenge of authorization.challenges ?? []) {
    const problem = toProblem(challenge.error);
    if (problem) return new AcmeProblemError(problem);
  }
  return new AcmeError(
    `Authorization for ${authorization.identifier?.value} is ${authorization.status}`,
  );
}

/** The CA's reason for a failed order, or what state it was left in. */
function orderFailure(order: Order, what: string): Error {
  const problem: ProblemDocument | undefined = toProblem(order.error);
  if (problem) return new AcmeProblemError(problem);
  return new AcmeError(`The order ${what} (status ${order.status})`);
}

/** The form names are kept in: lowercase, no trailing dot. */
function canonical(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}
