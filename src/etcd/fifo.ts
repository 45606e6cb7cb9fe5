/**
 * A FIFO queue whose operations are O(1) whatever its length. `Array.prototype.shift` copies the
 * array once it is large (an array of 100,000 entries lives in V8's large-object space, which
 * cannot be trimmed in place), so draining a queue of n entries with it costs O(n²): with 100,000
 * elections starting at once, the request gate's waiters and the watch stream's pending creates
 * were such queues (measured, issue 15).
 */
export class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Compact once the consumed part dominates: amortised O(1).
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
