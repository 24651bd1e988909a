/**
 * A byte stream over a WebSocket's binary messages, for a tunnel that runs
 * through an HTTPS port: each write is one binary message, reads return the
 * messages' bytes in order. Writes wait while the socket's `bufferedAmount`
 * is high, so a slow peer slows the HTTP/2 writer instead of filling memory.
 *
 * @module
 */

import type { ByteIO } from "../h2/connection.ts";

/** Options of {@linkcode WebSocketIO}. */
export interface WebSocketIOOptions {
  /** Writes wait while more than this many bytes are queued on the socket. @default {1048576} */
  highWaterMark?: number;
}

/**
 * Wraps an open (or opening) WebSocket as a {@linkcode ByteIO}.
 *
 * @example Bytes through a WebSocket pair
 * ```ts
 * import { WebSocketIO } from "./websocket_io.ts";
 * import { equal } from "node:assert/strict";
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
 *   const { socket, response } = Deno.upgradeWebSocket(request);
 *   const io = new WebSocketIO(socket);
 *   (async () => {
 *     const buf = new Uint8Array(16);
 *     const n = await io.read(buf);
 *     await io.write(buf.subarray(0, n ?? 0));
 *   })();
 *   return response;
 * });
 * const io = new WebSocketIO(new WebSocket(`ws://127.0.0.1:${server.addr.port}/`));
 * await io.write(new Uint8Array([1, 2, 3]));
 * const buf = new Uint8Array(16);
 * equal(await io.read(buf), 3);
 * io.close();
 * await server.shutdown();
 * ```
 */
export class WebSocketIO implements ByteIO {
  #socket: WebSocket;
  #highWaterMark: number;
  #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | null = null;
  #wakeReader: (() => void) | null = null;
  #opened: Promise<void>;

  /**
   * @param socket The WebSocket; its `binaryType` is set to `arraybuffer`.
   * @param options Write buffering.
   */
  constructor(socket: WebSocket, options: WebSocketIOOptions = {}) {
    this.#socket = socket;
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
    socket.binaryType = "arraybuffer";
    this.#opened = socket.readyState === WebSocket.OPEN
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
        socket.addEventListener("open", () => resolve(), { once: true });
        socket.addEventListener("close", () => reject(new Error("WebSocket closed")), {
          once: true,
        });
      });
    this.#opened.catch(() => {});
    socket.addEventListener("message", (event) => {
      const data = event.data;
      if (!(data instanceof ArrayBuffer)) {
        // Only binary messages carry the tunnel; text is a peer's mistake.
        this.#error = new Error("Text message on a tunnel WebSocket");
        this.close();
        return;
      }
      this.#chunks.push(new Uint8Array(data));
      this.#wake();
    });
    socket.addEventListener("close", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.addEventListener("error", (event) => {
      this.#error ??= new Error((event as ErrorEvent).message ?? "WebSocket error");
    });
  }

  #wake(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = null;
    wake?.();
  }

  /** Reads the next bytes received; `null` once the socket has closed. */
  async read(p: Uint8Array): Promise<number | null> {
    while (true) {
      const chunk = this.#chunks[0];
      if (chunk !== undefined) {
        const n = Math.min(p.length, chunk.length);
        p.set(chunk.subarray(0, n));
        if (n === chunk.length) this.#chunks.shift();
        else this.#chunks[0] = chunk.subarray(n);
        return n;
      }
      if (this.#ended) {
        if (this.#error !== null) throw this.#error;
        return null;
      }
      await new Promise<void>((resolve) => this.#wakeReader = resolve);
    }
  }

  /** Sends `p` as one binary message; resolves when the socket's backlog is low again. */
  async write(p: Uint8Array): Promise<number> {
    if (this.#socket.readyState === WebSocket.CONNECTING) await this.#opened;
    if (this.#socket.readyState !== WebSocket.OPEN) {
      throw this.#error ?? new Error("Cannot write: the tunnel WebSocket is closed");
    }
    // A copy: the HTTP/2 writer reuses its buffer once the write resolves.
    this.#socket.send(p.slice());
    // The WebSocket API has no drain event: poll while the backlog is high.
    let wait = 1;
    while (this.#socket.bufferedAmount > this.#highWaterMark) {
      if (this.#socket.readyState !== WebSocket.OPEN) break;
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 20);
    }
    return p.length;
  }

  /** Closes the WebSocket (1000). */
  close(): void {
    this.#ended = true;
    this.#wake();
    try {
      if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close(1000);
      else if (this.#socket.readyState === WebSocket.CONNECTING) this.#socket.close();
    } catch {
      // Closed already.
    }
  }
}
