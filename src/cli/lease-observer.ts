/**
 * Follows who leads an election without campaigning and without a LeaderElector: the backend's
 * `watch()` pushes changes, `inspect()` reads the lease, and polling covers the time the watch
 * is down. The observer's identity can never be a candidate's (it contains a NUL character, which
 * `leader-elect run --identity` rejects), so the backend never mistakes it for the holder.
 */
import { randomUUID } from 'node:crypto';
import { type LeaseBackend, type LeaseStatus, systemClock, type WatchHandle } from '../index.js';

export interface LeaseObserverOptions {
  /** Poll interval while the watch is down (or when the backend cannot watch). */
  readonly pollMs: number;
  /** Deadline of each inspect call. */
  readonly requestTimeoutMs: number;
  /** Called for the first status and whenever the holder or its token changes. */
  readonly onChange: (status: LeaseStatus) => void;
  /** A failed read or a watch that went down. */
  readonly onError?: (error: unknown) => void;
  /** The watch went up or down. */
  readonly onWatch?: (up: boolean) => void;
}

export function observerIdentity(): string {
  return `\u0000leader-elect observer ${randomUUID()}`;
}

export class LeaseObserver {
  readonly #backend: LeaseBackend<unknown>;
  readonly #options: LeaseObserverOptions;
  readonly #identity = observerIdentity();
  readonly #closing = new AbortController();
  #watch: WatchHandle | null = null;
  #watchUp = false;
  #pollTimer: ReturnType<typeof setTimeout> | null = null;
  #last: { holder: string | null; token: bigint | null } | null = null;
  /** Bumped by every pushed observation: an inspect that started earlier may be older. */
  #pushes = 0;
  #refreshing: Promise<void> | null = null;
  #refreshAgain = false;

  constructor(backend: LeaseBackend<unknown>, options: LeaseObserverOptions) {
    if (typeof backend.inspect !== 'function') {
      throw new TypeError(`${backend.description} cannot be inspected`);
    }
    this.#backend = backend;
    this.#options = options;
  }

  /** Reads the lease once (rejecting when that fails), then follows it until `close()`. */
  async start(): Promise<LeaseStatus> {
    const status = await this.#inspect();
    this.#publish(status);
    if (typeof this.#backend.watch === 'function') {
      this.#watch = this.#backend.watch(
        (event) => {
          if (this.#closing.signal.aborted) return;
          switch (event.type) {
            case 'up':
              this.#setWatchUp(true);
              this.#refresh();
              return;
            case 'down':
              if (event.error !== undefined) this.#options.onError?.(event.error);
              this.#setWatchUp(false);
              return;
            case 'changed':
              this.#refresh();
              return;
            case 'observed':
              this.#pushes++;
              // Holder and token come with the push; the rest (time left) from a fresh read.
              this.#publish({
                holder: event.observation.holder,
                token: event.observation.token,
                leaseDurationMs: null,
                remainingMs: null,
                renewTime: null,
              });
              return;
          }
        },
        { clock: systemClock, identity: this.#identity },
      );
    }
    if (!this.#watchUp) this.#schedulePoll();
    return status;
  }

  close(): void {
    this.#closing.abort();
    this.#watch?.close();
    this.#watch = null;
    if (this.#pollTimer !== null) clearTimeout(this.#pollTimer);
    this.#pollTimer = null;
  }

  #setWatchUp(up: boolean): void {
    if (this.#watchUp === up) return;
    this.#watchUp = up;
    this.#options.onWatch?.(up);
    if (up) {
      if (this.#pollTimer !== null) clearTimeout(this.#pollTimer);
      this.#pollTimer = null;
    } else {
      this.#schedulePoll();
    }
  }

  #schedulePoll(): void {
    if (this.#pollTimer !== null || this.#closing.signal.aborted) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = null;
      this.#refresh();
      if (!this.#watchUp) this.#schedulePoll();
    }, this.#options.pollMs);
  }

  /** Serialized reads: one at a time, and one more if asked for while one runs. */
  #refresh(): void {
    if (this.#refreshing !== null) {
      this.#refreshAgain = true;
      return;
    }
    const pushesAtStart = this.#pushes;
    this.#refreshing = this.#inspect()
      .then(
        (status) => {
          if (this.#pushes === pushesAtStart) this.#publish(status);
        },
        (error: unknown) => {
          if (!this.#closing.signal.aborted) this.#options.onError?.(error);
        },
      )
      .finally(() => {
        this.#refreshing = null;
        if (this.#refreshAgain && !this.#closing.signal.aborted) {
          this.#refreshAgain = false;
          this.#refresh();
        }
      });
  }

  #inspect(): Promise<LeaseStatus> {
    const inspect = this.#backend.inspect as NonNullable<LeaseBackend['inspect']>;
    return inspect.call(this.#backend, {
      signal: AbortSignal.any([
        this.#closing.signal,
        AbortSignal.timeout(this.#options.requestTimeoutMs),
      ]),
    });
  }

  #publish(status: LeaseStatus): void {
    if (this.#closing.signal.aborted) return;
    const last = this.#last;
    if (last !== null && last.holder === status.holder && last.token === status.token) return;
    this.#last = { holder: status.holder, token: status.token };
    this.#options.onChange(status);
  }
}
