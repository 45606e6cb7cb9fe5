/**
 * Admission control for the unary requests of one etcd3 client (every election on it): at most
 * `limit` in flight, the rest wait in two FIFO lanes, and the urgent lane (a leader's renewal,
 * a resignation) always goes first.
 *
 * Why: gRPC starts every call at once and counts its deadline from then. When thousands of
 * elections campaign together (a process starting 10,000 of them), the calls queue inside one
 * HTTP/2 connection instead, their deadlines run out there, etcd3's per-member circuit breaker
 * counts the failures and shuts the member out, and the retries make the queue longer. A gate
 * keeps the connection busy but not flooded (etcd batches concurrent writes into one raft entry
 * and fsync, so a few dozen in flight already reach its throughput), and a waiting request has
 * not started its deadline yet. A waiter whose signal aborts leaves the queue without being sent.
 *
 * Lease keepalives and watches are streams, not unary calls: they never wait here.
 */

export type Lane = 'urgent' | 'normal';

/** Unary requests one client keeps in flight at most (see the module comment). */
export const DEFAULT_REQUEST_LIMIT = 64;

interface Waiter {
  readonly start: () => void;
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
}

export class RequestGate {
  readonly limit: number;
  #running = 0;
  readonly #lanes: Record<Lane, Waiter[]> = { urgent: [], normal: [] };

  constructor(limit = DEFAULT_REQUEST_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`request limit must be a positive integer, got ${limit}`);
    }
    this.limit = limit;
  }

  /** Requests in flight. */
  get running(): number {
    return this.#running;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#lanes.urgent.length + this.#lanes.normal.length;
  }

  /**
   * Runs `request` once a slot is free. Rejects with `signal.reason` if the signal aborts while
   * it waits (the request is then never started); once started, the request owns the signal.
   */
  run<T>(request: () => Promise<T>, signal: AbortSignal, lane: Lane = 'normal'): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#running < this.limit && this.waiting === 0) return this.#start(request);
    return new Promise<T>((resolve, reject) => {
      const queue = this.#lanes[lane];
      const waiter: Waiter = {
        signal,
        start: () => {
          signal.removeEventListener('abort', waiter.onAbort);
          this.#start(request).then(resolve, reject);
        },
        onAbort: () => {
          const index = queue.indexOf(waiter);
          if (index >= 0) queue.splice(index, 1);
          reject(signal.reason);
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      queue.push(waiter);
    });
  }

  #start<T>(request: () => Promise<T>): Promise<T> {
    this.#running++;
    let running: Promise<T>;
    try {
      running = request();
    } catch (error) {
      running = Promise.reject(error);
    }
    const done = () => {
      this.#running--;
      this.#next();
    };
    running.then(done, done);
    return running;
  }

  #next(): void {
    while (this.#running < this.limit) {
      const waiter = this.#lanes.urgent.shift() ?? this.#lanes.normal.shift();
      if (waiter === undefined) return;
      waiter.start();
    }
  }
}
