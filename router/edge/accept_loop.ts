/**
 * The accept loop of every listener the router has (public, admin, tunnel):
 * it never ends on an accept error except the listener being closed, and it
 * admits connections within limits.
 *
 * Running out of file descriptors (EMFILE, ENFILE) or any other failed
 * accept is logged once per episode, backed off (10 ms doubling to 1 s) and
 * retried: the connection waits in the kernel's backlog meanwhile, and the
 * loop says why it is not accepting, for readiness probes. At the total cap
 * the loop stops accepting (connections wait in the backlog) after asking
 * the owner to make room; over the per-address cap a connection is accepted
 * and closed at once, counted, and logged at most once per interval.
 *
 * @module
 */

/** Options of an {@linkcode AcceptLoop}. */
export interface AcceptLoopOptions {
  /** The listener's name in logs and readiness reasons: `public`, `tunnel`, `admin`. */
  name: string;
  /** Connections admitted at once at most. */
  maxConnections: number;
  /** Connections from one address admitted at once at most. */
  maxPerAddress: number;
  /** What the limits count, in reasons and logs. @default {"connections"} */
  what?: string;
  /** Where lines go. */
  log: (line: string) => void;
  /**
   * Called at the total cap before waiting: closes an idle connection if
   * there is one (its release then lets the loop go on).
   */
  makeRoom?: () => void;
  /**
   * Takes an admitted connection. `release` must be called once it no longer
   * counts (closed, or past the phase the limits are about).
   */
  handle: (conn: Deno.Conn, release: () => void) => void;
  /**
   * Closes a connection refused over the per-address cap, resolving once its
   * socket is really gone: until then it counts against the total. By
   * default it is closed at once.
   */
  dismiss?: (conn: Deno.Conn) => Promise<void>;
}

/** The shortest and longest pause after a failed accept (ms). */
const BACKOFF_MIN = 10;
const BACKOFF_MAX = 1000;
/** A line about the loop's state (or its refusals) is logged at most this often (ms). */
const LOG_INTERVAL = 10_000;

/**
 * Accepts connections from `listener` until it is closed.
 *
 * @example Two connections from one address, one admitted
 * ```ts
 * import { AcceptLoop } from "./accept_loop.ts";
 * import { equal } from "node:assert/strict";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const held: Deno.Conn[] = [];
 * const loop = new AcceptLoop(listener, {
 *   name: "example", maxConnections: 10, maxPerAddress: 1, log: () => {},
 *   handle: (conn) => held.push(conn),
 * });
 * const port = (listener.addr as Deno.NetAddr).port;
 * const a = await Deno.connect({ hostname: "127.0.0.1", port });
 * const b = await Deno.connect({ hostname: "127.0.0.1", port });
 * equal(await b.read(new Uint8Array(1)), null); // closed at once
 * equal(loop.active, 1);
 * loop.close();
 * await loop.done;
 * for (const conn of [a, b, ...held]) conn.close();
 * ```
 */
export class AcceptLoop {
  /** Resolves when the listener has been closed and the loop has ended. */
  readonly done: Promise<void>;

  #listener: Deno.Listener;
  #options: AcceptLoopOptions;
  #what: string;
  #active = 0;
  #perAddress = new Map<string, number>();
  #closed = false;
  #reason: string | null = null;
  #wake: (() => void) | null = null;
  #refused = 0;
  #refusedSinceLog = 0;
  #lastRefusalLog = -Infinity;
  #failing = false;
  #loggedAt = new Map<string, number>();

  /**
   * @param listener The listener (already listening).
   * @param options Limits, logging and the handler.
   */
  constructor(listener: Deno.Listener, options: AcceptLoopOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#what = options.what ?? "connections";
    this.done = this.#run();
  }

  /** Connections admitted and not yet released. */
  get active(): number {
    return this.#active;
  }

  /** Connections refused over the per-address cap so far. */
  get refused(): number {
    return this.#refused;
  }

  /** Why the loop is not accepting now (`null` while it is). */
  get notAccepting(): string | null {
    return this.#reason;
  }

  /** Stops accepting: closes the listener and ends the loop. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reason = "closed";
    try {
      this.#listener.close();
    } catch {
      // Closed already.
    }
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Waits until woken (a release, close) or `ms` passed, if given. */
  #pause(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
      if (ms !== undefined) {
        timer = setTimeout(() => {
          this.#wake = null;
          resolve();
        }, ms);
      }
    });
  }

  async #run(): Promise<void> {
    const name = this.#options.name;
    let backoff = BACKOFF_MIN;
    while (!this.#closed) {
      if (this.#active >= this.#options.maxConnections) {
        this.#notAccepting(`at its limit of ${this.#options.maxConnections} ${this.#what}`);
        this.#options.makeRoom?.();
        if (this.#active >= this.#options.maxConnections) await this.#pause();
        continue;
      }
      // Below the limit again: accepting (unless accept itself fails, which says so).
      if (!this.#failing) this.#reason = null;
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closed || error instanceof Deno.errors.BadResource) break;
        if (error instanceof Deno.errors.Interrupted) continue;
        this.#notAccepting(`${describeAcceptError(error)}; retrying`);
        this.#failing = true;
        await this.#pause(backoff);
        backoff = Math.min(backoff * 2, BACKOFF_MAX);
        continue;
      }
      if (this.#failing) {
        this.#failing = false;
        this.#rateLimitedLog(`${name} listener accepting again`);
      }
      this.#reason = null;
      backoff = BACKOFF_MIN;
      this.#admit(conn);
    }
    this.#reason = "closed";
  }

  /** Records why the loop waits, logged once per reason and interval (episodes may flap). */
  #notAccepting(reason: string): void {
    if (this.#reason === reason) return;
    this.#reason = reason;
    this.#rateLimitedLog(`${this.#options.name} listener not accepting: ${reason}`);
  }

  #rateLimitedLog(line: string): void {
    const now = Date.now();
    if (now - (this.#loggedAt.get(line) ?? -Infinity) < LOG_INTERVAL) return;
    this.#loggedAt.set(line, now);
    this.#options.log(line);
  }

  #admit(conn: Deno.Conn): void {
    const address = (conn.remoteAddr as Deno.NetAddr).hostname ?? "";
    const count = this.#perAddress.get(address) ?? 0;
    if (count >= this.#options.maxPerAddress) {
      this.#refuse(address);
      const dismiss = this.#options.dismiss;
      if (dismiss === undefined) {
        try {
          conn.close();
        } catch {
          // Gone already.
        }
        return;
      }
      this.#active++;
      const gone = () => {
        this.#active--;
        this.#wakeUp();
      };
      dismiss(conn).then(gone, gone);
      return;
    }
    this.#perAddress.set(address, count + 1);
    this.#active++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#active--;
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.#perAddress.delete(address);
      else this.#perAddress.set(address, left);
      this.#wakeUp();
    };
    try {
      this.#options.handle(conn, release);
    } catch (error) {
      release();
      try {
        conn.close();
      } catch {
        // Gone already.
      }
      this.#options.log(`${this.#options.name} listener: ${(error as Error)?.message ?? error}`);
    }
  }

  #refuse(address: string): void {
    this.#refused++;
    this.#refusedSinceLog++;
    const now = Date.now();
    if (now - this.#lastRefusalLog < LOG_INTERVAL) return;
    const { name, maxPerAddress } = this.#options;
    this.#options.log(
      `${name} listener refused ${this.#refusedSinceLog} connection(s) over the limit of ` +
        `${maxPerAddress} ${this.#what} per address (latest from ${address})`,
    );
    this.#lastRefusalLog = now;
    this.#refusedSinceLog = 0;
  }
}

/** What a failed accept means, in a few words. */
function describeAcceptError(error: unknown): string {
  const code = (error as { code?: string })?.code;
  if (code === "EMFILE" || code === "ENFILE") return "too many open files";
  const message = String((error as Error)?.message ?? error);
  if (/too many open files/i.test(message)) return "too many open files";
  return message.split("\n")[0]!;
}

/**
 * Closes a TLS connection once its handshake has ended, resolving then.
 * Deno (2.9) runs an accepted TLS connection's handshake on its own, and
 * closing the connection before it ends keeps the socket open until the
 * client acts, out of sight: waiting keeps it counted (an `AcceptLoop`'s
 * `dismiss`).
 *
 * @param conn An accepted TLS connection.
 * @returns Resolves once it is closed.
 *
 * @example A handshake that failed: the connection is closed
 * ```ts
 * import { closeAfterHandshake } from "./accept_loop.ts";
 * import { equal } from "node:assert/strict";
 * let closed = false;
 * const conn = { handshake: () => Promise.reject(new Error("not TLS")), close: () => closed = true };
 * await closeAfterHandshake(conn as unknown as Deno.Conn);
 * equal(closed, true);
 * ```
 */
export function closeAfterHandshake(conn: Deno.Conn): Promise<void> {
  const close = () => {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  };
  return (conn as Deno.TlsConn).handshake().then(close, close);
}
