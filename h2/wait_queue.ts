/**
 * A first-in, first-out queue whose entries can leave from anywhere at once:
 * a request cancelled while it waits (for a stream slot, for a handler slot)
 * must not stay behind as a dead entry, nor cost a scan of the queue.
 *
 * @module
 */

/** One entry of a {@linkcode WaitQueue}: pass it to {@linkcode WaitQueue.remove}. */
export interface WaitEntry<T> {
  /** What waits. */
  readonly value: T;
}

/** An entry with its links; `queued` is false once it left. */
interface Node<T> extends WaitEntry<T> {
  prev: Node<T> | null;
  next: Node<T> | null;
  queued: boolean;
}

/**
 * A doubly linked FIFO queue: `push`, `shift` and `remove` are O(1).
 *
 * @example Take the first, let another leave from the middle
 * ```ts
 * import { WaitQueue } from "./wait_queue.ts";
 * import { equal } from "node:assert/strict";
 * const queue = new WaitQueue<string>();
 * queue.push("a");
 * const b = queue.push("b");
 * queue.push("c");
 * queue.remove(b);
 * equal(queue.size, 2);
 * equal(queue.shift(), "a");
 * equal(queue.shift(), "c");
 * equal(queue.shift(), undefined);
 * ```
 */
export class WaitQueue<T> {
  #head: Node<T> | null = null;
  #tail: Node<T> | null = null;
  #size = 0;

  /** How many entries wait. */
  get size(): number {
    return this.#size;
  }

  /**
   * Adds `value` at the end.
   *
   * @param value What waits.
   * @returns Its entry, to remove it early.
   */
  push(value: T): WaitEntry<T> {
    const node: Node<T> = { value, prev: this.#tail, next: null, queued: true };
    if (this.#tail === null) this.#head = node;
    else this.#tail.next = node;
    this.#tail = node;
    this.#size++;
    return node;
  }

  /**
   * Takes the first entry out.
   *
   * @returns Its value, or `undefined` when the queue is empty.
   */
  shift(): T | undefined {
    const node = this.#head;
    if (node === null) return undefined;
    this.#unlink(node);
    return node.value;
  }

  /**
   * Takes an entry out wherever it is; a no-op once it has left.
   *
   * @param entry What {@linkcode WaitQueue.push} returned.
   * @returns Whether it was still queued.
   */
  remove(entry: WaitEntry<T>): boolean {
    const node = entry as Node<T>;
    if (!node.queued) return false;
    this.#unlink(node);
    return true;
  }

  #unlink(node: Node<T>): void {
    if (node.prev === null) this.#head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.#tail = node.prev;
    else node.next.prev = node.prev;
    // Unlinked both ways: a node that left keeps no other entry reachable.
    node.prev = node.next = null;
    node.queued = false;
    this.#size--;
  }
}
