/** One subscription to a client's watch stream (watch-hub.ts): what it asks, where events go. */
import type { IKeyValue } from 'etcd3';
import type { LeaderElectError } from '../errors.js';
import type { WatchHub } from './watch-hub.js';

export interface WatchSpec {
  readonly key: Buffer;
  /** Watch every key in `[key, rangeEnd)` instead of `key` alone (an election's prefix). */
  readonly rangeEnd?: Buffer;
  /** Deliver deletions only. */
  readonly deletesOnly: boolean;
  /** First revision to deliver (replays history from there). */
  readonly startRevision: bigint;
  /**
   * Create the first server-side watcher at the current revision instead of `startRevision`, if
   * the store has moved past it. etcd serves a watcher that starts in the past from its
   * "unsynced" group, which it catches up in batches every 100 ms under one lock: thousands of
   * them (a process campaigning in thousands of elections) take seconds to create. The
   * subscription then reports {@link WatchSubscription.complete} false when events between
   * `startRevision` and the creation may have been skipped; the owner covers that gap itself
   * (a read). Re-creations after a reconnect always resume where delivery stopped.
   */
  readonly startNow?: boolean;
}

export interface WatchSink {
  /** A change of the key, in revision order. */
  event(type: 'put' | 'delete', kv: IKeyValue): void;
  /** The subscription is live on the server (after creation or re-creation). */
  ready(): void;
  /** The stream broke; the subscription will be re-created when it reconnects. */
  down(error: LeaderElectError): void;
  /**
   * The server ended the subscription for good (history compacted, permission denied); it is
   * not re-created. `error` is null for a compaction.
   */
  ended(error: LeaderElectError | null): void;
}

export interface WatchSubscription {
  /** True while the server confirmed the subscription and the stream is up. */
  readonly active: boolean;
  /**
   * False when the subscription may have skipped events after its start revision (a `startNow`
   * watcher created after the store had moved on): it only reports what happens after its
   * creation. True for every other subscription.
   */
  readonly complete: boolean;
  /**
   * True when etcd created its current watcher "synced" (starting after the store's revision at
   * creation): such a watcher gets each event as it is committed, so the events of all synced
   * watchers of one stream arrive in revision order. A watcher that starts in the past is caught
   * up by etcd's sync loop (every 100 ms) and is in order with the others only after that.
   */
  readonly synced: boolean;
  close(): void;
}

/** The hub's bookkeeping of one subscription: where delivery stopped, its watcher's state. */
export class Subscription implements WatchSubscription {
  readonly id: number;
  nextRevision: bigint;
  /** The start revision of its current server-side watcher. */
  createdStart = 0n;
  state: 'pending' | 'creating' | 'active' | 'closed' = 'pending';
  complete = true;
  synced = false;
  /** The next creation starts at the current revision (see WatchSpec.startNow). */
  startNow: boolean;

  constructor(
    private readonly hub: WatchHub,
    id: number,
    readonly spec: WatchSpec,
    readonly sink: WatchSink,
  ) {
    this.id = id;
    this.nextRevision = spec.startRevision;
    this.startNow = spec.startNow === true;
  }

  get active(): boolean {
    return this.state === 'active';
  }

  close(): void {
    if (this.state === 'closed') return;
    this.hub.unsubscribe(this);
  }
}
