/**
 * Admission control for one etcd3 client (every election on it): at most `limit` admitted at
 * once, the rest wait in two FIFO lanes, and the urgent lane (a leader's renewal, a resignation)
 * always goes first. The client has two: one for its unary requests, one for its campaigns (see
 * client-resources.ts `CAMPAIGNS_IN_FLIGHT`).
 *
 * Why for requests: gRPC starts every call at once and counts its deadline from then. When
 * thousands of elections campaign together (a process starting 10,000 of them), the calls queue
 * inside one HTTP/2 connection instead, their deadlines run out there, etcd3's per-member circuit
 * breaker counts the failures and shuts the member out, and the retries make the queue longer. A
 * gate keeps the connection busy but not flooded (etcd batches concurrent writes into one raft
 * entry and fsync, so a few dozen in flight already reach its throughput), and a waiting request
 * has not started its deadline yet. A waiter whose signal aborts leaves the queue without being
 * sent.
 *
 * Lease keepalives and watches are streams, not unary calls: they never wait here.
 */

import { Fifo } from './fifo.js';

export type Lane = 'urgent' | 'normal';

/** Unary requests one client keeps in flight at most (see the module comment). */
export const DEFAULT_REQUEST_LIMIT = 64;

/** Frees an admitted slot (idempotent). */
export type Release = () => void;

interface Waiter {
  readonly admit: (release: Release) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal;
  /** Its signal aborted: it was rejected and is skipped when it comes up. */
  gone: boolean;
  onAbort: (() => void) | null;
}

export class RequestGate {
  readonly limit: number;
  #running = 0;
  /** Waiters not yet admitted nor aborted. */
  #waiting = 0;
  readonly #lanes: Record<Lane, Fifo<Waiter>> = { urgent: new Fifo(), normal: new Fifo() };

  constructor(limit = DEFAULT_REQUEST_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`request limit must be a positive integer, got ${limit}`);
    }
    this.limit = limit;
  }

  /** Admitted and not yet released. */
  get running(): number {
    return this.#running;
  }

  /** Waiting for a slot. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Runs `request` once a slot is free, and frees the slot when it settles. Rejects with
   * `signal.reason` if the signal aborts while it waits (the request is then never started);
   * once started, the request owns the signal.
   */
  run<T>(request: () => Promise<T>, signal: AbortSignal, lane: Lane = 'normal'): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#running < this.limit && this.#waiting === 0) return this.#runNow(request);
    return this.enter(signal, lane).then((release) => {
      const running = call(request);
      running.then(release, release);
      return running;
    });
  }

  /**
   * Resolves with the function that frees the slot once one is free (in FIFO order within the
   * lane); the caller must call it when done. Rejects with `signal.reason` if the signal aborts
   * while it waits.
   */
  enter(signal: AbortSignal, lane: Lane = 'normal'): Promise<Release> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#running < this.limit && this.#waiting === 0) {
      return Promise.resolve(this.#occupy());
    }
    return new Promise<Release>((admit, reject) => {
      const waiter: Waiter = { admit, reject, signal, gone: false, onAbort: null };
      waiter.onAbort = () => {
        // Left in its lane, skipped when it comes up: removal from the middle would be O(n).
        waiter.gone = true;
        waiter.onAbort = null;
        this.#waiting--;
        reject(signal.reason);
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.#lanes[lane].push(waiter);
      this.#waiting++;
    });
  }

  #runNow<T>(request: () => Promise<T>): Promise<T> {
    const release = this.#occupy();
    const running = call(request);
    running.then(release, release);
    return running;
  }

  /** Takes a slot; returns its release. */
  #occupy(): Release {
    this.#running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      this.#next();
    };
  }

  #next(): void {
    while (this.#running < this.limit) {
      const waiter = this.#lanes.urgent.shift() ?? this.#lanes.normal.shift();
      if (waiter === undefined) return;
      if (waiter.gone) continue;
      if (waiter.onAbort !== null) waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.onAbort = null;
      this.#waiting--;
      waiter.admit(this.#occupy());
    }
  }
}

/** Calls `request`, turning a synchronous throw into a rejection. */
function call<T>(request: () => Promise<T>): Promise<T> {
  try {
    return request();
  } catch (error) {
    return Promise.reject(error);
  }
}
