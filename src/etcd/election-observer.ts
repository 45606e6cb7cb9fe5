/**
 * Who leads an etcd election, pushed as it changes, without campaigning: one read of the
 * election's keys, then one watch on the whole prefix from the revision after that read, applied
 * to a local copy of the candidates. The leader is the candidate with the lowest create revision,
 * as in the recipe; every change of it (including "nobody") is reported once, in revision order.
 * (etcd's own `Observe` reports puts to the leader key only, never a deletion — etcd#18163.)
 */
import type { IKeyValue } from 'etcd3';
import { scopedSignal } from '../abort.js';
import type { ObserveListener, WatchHandle } from '../backend/lease-backend.js';
import type { TimerHandle } from '../clock.js';
import type { LeaderElectError } from '../errors.js';
import type { ClientResources } from './client-resources.js';
import { type Candidate, type ElectionRecipe, prefixRange } from './election-recipe.js';
import type { WatchSink, WatchSubscription } from './watch-subscription.js';

/** How long to wait before reading again after a failed read (the watch is down meanwhile). */
const RETRY_MS = 1_000;

export class ElectionObserver implements WatchSink, WatchHandle {
  readonly #resources: ClientResources;
  readonly #recipe: ElectionRecipe;
  readonly #listener: ObserveListener;
  readonly #requestTimeout: number;
  /** Layout keys of the election → their candidate. */
  readonly #candidates = new Map<string, Candidate>();
  #subscription: WatchSubscription | null = null;
  #leader: { readonly key: string; readonly value: string } | null | undefined;
  #retryTimer: TimerHandle | null = null;
  #closed = false;

  constructor(
    resources: ClientResources,
    recipe: ElectionRecipe,
    requestTimeout: number,
    listener: ObserveListener,
  ) {
    this.#resources = resources;
    this.#recipe = recipe;
    this.#requestTimeout = requestTimeout;
    this.#listener = listener;
    void this.#start();
  }

  close(): void {
    this.#closed = true;
    this.#subscription?.close();
    this.#subscription = null;
    if (this.#retryTimer !== null) this.#resources.clock.clearTimer(this.#retryTimer);
    this.#retryTimer = null;
  }

  /** Reads the election, reports its leader, and watches every change after that read. */
  async #start(): Promise<void> {
    const scope = scopedSignal(undefined, {
      ms: this.#requestTimeout,
      clock: this.#resources.clock,
      reason: () => new Error(`reading the election took more than ${this.#requestTimeout} ms`),
    });
    try {
      const view = await this.#recipe.read(scope.signal);
      if (this.#closed) return;
      this.#candidates.clear();
      for (const candidate of view.candidates) this.#candidates.set(candidate.key, candidate);
      this.#report();
      const range = prefixRange(this.#recipe.prefix);
      this.#subscription = this.#resources.hub.subscribe(
        {
          key: range.key,
          rangeEnd: range.range_end,
          deletesOnly: false,
          startRevision: view.revision + 1n,
        },
        this,
      );
    } catch (error) {
      if (this.#closed) return;
      this.#emit({ type: 'down', error: this.#recipe.error(error, 'observe') });
      this.#retryTimer = this.#resources.clock.setTimer(() => {
        this.#retryTimer = null;
        if (!this.#closed) void this.#start();
      }, RETRY_MS);
    } finally {
      scope.dispose();
    }
  }

  // ------------------------------------------------------------ WatchSink

  event(type: 'put' | 'delete', kv: IKeyValue): void {
    if (this.#closed) return;
    const key = kv.key.toString('utf8');
    if (type === 'delete') {
      this.#candidates.delete(key);
    } else {
      const [candidate] = this.#recipe.candidates([kv]);
      if (candidate !== undefined) this.#candidates.set(key, candidate);
    }
    this.#report();
  }

  ready(): void {
    this.#emit({ type: 'up' });
  }

  down(error: LeaderElectError): void {
    this.#emit({ type: 'down', error });
  }

  ended(error: LeaderElectError | null): void {
    this.#subscription = null;
    if (this.#closed) return;
    // Compacted past our revision (or cancelled): read again and watch from there.
    this.#emit({ type: 'down', ...(error === null ? {} : { error }) });
    void this.#start();
  }

  // ------------------------------------------------------------ helpers

  /** Reports the leader (the lowest create revision) if it changed. */
  #report(): void {
    let oldest: Candidate | null = null;
    for (const candidate of this.#candidates.values()) {
      if (oldest === null || candidate.createRevision < oldest.createRevision) oldest = candidate;
    }
    const last = this.#leader;
    if (
      last !== undefined &&
      (last === null
        ? oldest === null
        : oldest !== null && last.key === oldest.key && last.value === oldest.value)
    ) {
      return;
    }
    this.#leader = oldest === null ? null : { key: oldest.key, value: oldest.value };
    this.#emit(
      oldest === null
        ? { type: 'leader', holder: null, token: null }
        : { type: 'leader', holder: oldest.value, token: oldest.createRevision },
    );
  }

  #emit(event: Parameters<ObserveListener>[0]): void {
    try {
      this.#listener(event);
    } catch {
      // an observer's listener must not break the watch
    }
  }
}
