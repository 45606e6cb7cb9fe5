/**
 * `observeLeader(backend)`: who leads an election, as it changes, without campaigning — for a
 * service that routes requests to the leader, a dashboard, `leader-elect watch`.
 *
 * Changes come from the backend's push channel (`LeaseBackend.observe`: etcd watches the
 * election's prefix, record stores their record), or, for a backend that has none, from its
 * elector watch plus a read on each change. The lease is read once at the start and whenever the
 * push channel comes (back) up; while it is down the observer reads every `pollInterval`.
 * Changes are reported in order and de-duplicated: a change of holder or of token, `identity:
 * null` when nobody holds the lease. The observer's identity (used only to open an elector
 * watch) contains a NUL character, which no candidate of the CLI can have.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { type ScopedSignal, scopedSignal } from '../abort.js';
import type { LeaseBackend, LeaseStatus, WatchHandle } from '../backend/lease-backend.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { ErrorCode, LeaderElectError, toLeaderElectError } from '../errors.js';

/** Who leads, as an observer sees it. */
export interface LeaderChange {
  /** The holder's identity, or null when nobody holds the lease. */
  readonly identity: string | null;
  /** The holder's fencing token when known. */
  readonly token: bigint | null;
}

export interface ObserveLeaderOptions {
  /** Ends the observer (its iterators finish). */
  readonly signal?: AbortSignal;
  /**
   * How often the lease is read while the push channel is down (or when the backend has none).
   * @default 2000
   */
  readonly pollInterval?: number;
  /** Deadline of each read, in milliseconds. @default 5000 */
  readonly requestTimeout?: number;
  /** @default the process clock */
  readonly clock?: Clock;
}

export interface LeaderObserverEvents {
  /** The leader changed (the first one is the leader when observing began). */
  leader: [change: LeaderChange];
  /** A read failed, or the push channel went down with an error. */
  error: [error: LeaderElectError];
  /** The push channel is up (true) or down (false: polling). */
  push: [up: boolean];
}

const DEFAULT_POLL_MS = 2_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/** The identity an observer uses with an elector watch: never a candidate's. */
export function observerIdentity(): string {
  return `\u0000leader-elect observer ${randomUUID()}`;
}

export class LeaderObserver
  extends EventEmitter<LeaderObserverEvents>
  implements AsyncIterable<LeaderChange>
{
  readonly #backend: LeaseBackend<unknown>;
  readonly #clock: Clock;
  readonly #pollMs: number;
  readonly #requestTimeout: number;
  readonly #closing = new AbortController();
  readonly #detachSignal: () => void;
  #push: WatchHandle | null = null;
  #pushUp = false;
  #pollTimer: TimerHandle | null = null;
  #current: LeaderChange | undefined;
  /** Bumped by every pushed change: a read that started earlier may be older than it. */
  #pushes = 0;
  #reading: Promise<void> | null = null;
  #readAgain = false;
  readonly #iterators = new Set<(change: LeaderChange | null) => void>();
  readonly #warned = new Set<string>();
  readonly #first: Promise<LeaderChange>;
  #resolveFirst: (change: LeaderChange) => void = () => undefined;
  #rejectFirst: (error: unknown) => void = () => undefined;

  constructor(backend: LeaseBackend<unknown>, options: ObserveLeaderOptions = {}) {
    super();
    if (typeof backend?.inspect !== 'function') {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `${backend?.description ?? 'this backend'} cannot be observed: it has no inspect()`,
      );
    }
    const pollMs = options.pollInterval ?? DEFAULT_POLL_MS;
    const requestTimeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
    for (const [name, value, min] of [
      ['pollInterval', pollMs, 10],
      ['requestTimeout', requestTimeout, 1],
    ] as const) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
        throw new LeaderElectError(
          ErrorCode.InvalidOption,
          `${name} must be a number of milliseconds ≥ ${min}, got ${String(value)}`,
        );
      }
    }
    this.#backend = backend;
    this.#clock = options.clock ?? systemClock;
    this.#pollMs = pollMs;
    this.#requestTimeout = requestTimeout;
    this.#first = new Promise<LeaderChange>((resolve, reject) => {
      this.#resolveFirst = resolve;
      this.#rejectFirst = reject;
    });
    this.#first.catch(() => undefined);
    const signal = options.signal;
    const onAbort = () => this.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.#detachSignal = () => signal?.removeEventListener('abort', onAbort);
    if (signal?.aborted) {
      this.close();
      return;
    }
    this.#openPush();
    this.#read();
    if (!this.#pushUp) this.#schedulePoll();
  }

  /** The leader as last observed (undefined before the first read answered). */
  get current(): LeaderChange | undefined {
    return this.#current;
  }

  get closed(): boolean {
    return this.#closing.signal.aborted;
  }

  /**
   * The leader when observing began: resolves with the first change, rejects with the error of
   * the first read if it failed (the observer keeps trying meanwhile).
   */
  first(): Promise<LeaderChange> {
    return this.#first;
  }

  /** Stops observing; every iterator ends. Idempotent. */
  close(): void {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort(new LeaderElectError(ErrorCode.Aborted, 'the observer was closed'));
    this.#detachSignal();
    this.#push?.close();
    this.#push = null;
    if (this.#pollTimer !== null) this.#clock.clearTimer(this.#pollTimer);
    this.#pollTimer = null;
    for (const next of [...this.#iterators]) next(null);
    this.#rejectFirst(this.#closing.signal.reason);
  }

  /** Every change from now on (starting with the current leader when known), until closed. */
  [Symbol.asyncIterator](): AsyncIterator<LeaderChange> {
    const queue: LeaderChange[] = this.#current === undefined ? [] : [this.#current];
    let wake: (() => void) | null = null;
    let done = this.closed;
    const next = (change: LeaderChange | null) => {
      if (change === null) done = true;
      else queue.push(change);
      wake?.();
    };
    if (!done) this.#iterators.add(next);
    const finish = (): IteratorResult<LeaderChange> => {
      this.#iterators.delete(next);
      return { done: true, value: undefined };
    };
    return {
      next: async () => {
        while (queue.length === 0 && !done) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = null;
        }
        const change = queue.shift();
        return change === undefined ? finish() : { done: false, value: change };
      },
      return: async () => {
        done = true;
        return finish();
      },
    };
  }

  // ---------------------------------------------------------------- sources

  #openPush(): void {
    const backend = this.#backend;
    try {
      if (typeof backend.observe === 'function') {
        this.#push = backend.observe((event) => {
          if (this.closed) return;
          switch (event.type) {
            case 'up':
              this.#setPushUp(true);
              this.#read();
              return;
            case 'down':
              if (event.error !== undefined)
                this.#reportError(event.error, 'the push channel failed');
              this.#setPushUp(false);
              return;
            case 'leader':
              this.#pushes++;
              this.#publish({ identity: event.holder, token: event.token });
              return;
          }
        });
      } else if (typeof backend.watch === 'function') {
        // An elector watch under an identity no candidate can have; every change means a read.
        this.#push = backend.watch(
          (event) => {
            if (this.closed) return;
            switch (event.type) {
              case 'up':
                this.#setPushUp(true);
                this.#read();
                return;
              case 'down':
                if (event.error !== undefined) this.#reportError(event.error, 'the watch failed');
                this.#setPushUp(false);
                return;
              case 'changed':
                this.#read();
                return;
              case 'observed':
                this.#pushes++;
                this.#publish({
                  identity: event.observation.holder,
                  token: event.observation.token,
                });
                return;
            }
          },
          { clock: this.#clock, identity: observerIdentity() },
        );
      }
    } catch (error) {
      this.#reportError(error, 'the push channel could not be opened');
    }
  }

  #setPushUp(up: boolean): void {
    if (this.#pushUp === up) return;
    this.#pushUp = up;
    this.#emit('push', up);
    if (up) {
      if (this.#pollTimer !== null) this.#clock.clearTimer(this.#pollTimer);
      this.#pollTimer = null;
    } else {
      this.#schedulePoll();
    }
  }

  #schedulePoll(): void {
    if (this.#pollTimer !== null || this.closed) return;
    this.#pollTimer = this.#clock.setTimer(() => {
      this.#pollTimer = null;
      this.#read();
      if (!this.#pushUp) this.#schedulePoll();
    }, this.#pollMs);
  }

  /** One read at a time, and one more if asked for while one runs. */
  #read(): void {
    if (this.#reading !== null) {
      this.#readAgain = true;
      return;
    }
    const pushesAtStart = this.#pushes;
    const scope: ScopedSignal = scopedSignal(this.#closing.signal, {
      ms: this.#requestTimeout,
      clock: this.#clock,
      reason: () =>
        new LeaderElectError(
          ErrorCode.BackendTimeout,
          `reading ${this.#backend.description} took more than ${this.#requestTimeout} ms`,
        ),
    });
    const inspect = this.#backend.inspect as NonNullable<LeaseBackend['inspect']>;
    this.#reading = inspect
      .call(this.#backend, { signal: scope.signal })
      .then(
        (status: LeaseStatus) => {
          // A change pushed while this read was in flight is newer than what it read.
          if (this.#pushes === pushesAtStart) {
            this.#publish({ identity: status.holder, token: status.token });
          }
        },
        (error: unknown) => {
          if (this.closed) return;
          const typed = this.#reportError(error, `reading ${this.#backend.description} failed`);
          if (this.#current === undefined) this.#rejectFirst(typed);
        },
      )
      .finally(() => {
        scope.dispose();
        this.#reading = null;
        if (this.#readAgain && !this.closed) {
          this.#readAgain = false;
          this.#read();
        }
      });
  }

  #publish(change: LeaderChange): void {
    if (this.closed) return;
    const last = this.#current;
    if (last !== undefined && last.identity === change.identity && last.token === change.token) {
      return;
    }
    this.#current = change;
    this.#resolveFirst(change);
    for (const next of this.#iterators) next(change);
    this.#emit('leader', change);
  }

  #reportError(error: unknown, what: string): LeaderElectError {
    const typed = toLeaderElectError(error, ErrorCode.BackendUnavailable, what);
    if (this.listenerCount('error') > 0) {
      this.#emit('error', typed);
    } else if (!this.#warned.has(typed.code)) {
      // Never silent: without a listener, each kind of error is one process warning.
      this.#warned.add(typed.code);
      process.emitWarning(`observer of ${this.#backend.description}: ${typed.message}`, {
        type: 'LeaderElectWarning',
        code: typed.code,
      });
    }
    return typed;
  }

  #emit<E extends keyof LeaderObserverEvents>(
    event: E,
    ...args: EventEmitter.ArgumentMap<LeaderObserverEvents>[Extract<E, keyof LeaderObserverEvents>]
  ): void {
    try {
      this.emit(event, ...args);
    } catch {
      // a throwing listener must not break the observer
    }
  }
}

/**
 * Follows who leads the election of `backend`, without campaigning.
 *
 * @example
 * const observer = observeLeader(etcdBackend({ client, election: 'jobs' }), { signal });
 * for await (const { identity, token } of observer) {
 *   console.log(identity === null ? 'no leader' : `${identity} leads (token ${token})`);
 * }
 */
export function observeLeader(
  backend: LeaseBackend<unknown>,
  options: ObserveLeaderOptions = {},
): LeaderObserver {
  return new LeaderObserver(backend, options);
}
