/**
 * The watches one etcd election needs, on the client's shared watch stream (see watch-hub.ts):
 *
 * - `own`: deletions of our candidate key (a leader learns of its loss without polling, and a
 *   renewal can trust that the key still exists);
 * - `leader`: the leader key, to report who leads (puts) and to campaign again on its deletion;
 * - `predecessor`: deletions of the newest key older than ours (etcd's recipe: no thundering
 *   herd — each follower wakes only for the key just ahead of it).
 *
 * It also keeps the two facts the backend's shortcuts rest on: who the leader was last reported
 * to be (so that only changes are reported), and the wait behind exactly one older candidate (see
 * keepalive-rules.ts `mayLeadWithoutReading`).
 */
import type { IKeyValue } from 'etcd3';
import type { WatchEvent } from '../backend/lease-backend.js';
import type { Clock } from '../clock.js';
import type { LeaderElectError } from '../errors.js';
import type { WatchHub } from './watch-hub.js';
import type { WatchSink, WatchSubscription } from './watch-subscription.js';

export type Slot = 'own' | 'leader' | 'predecessor';

/** What the watches report to the election. */
export interface WatchesOwner {
  /** Our key `key` was deleted at `modRevision`. */
  ownKeyDeleted(key: string, modRevision: bigint): void;
  /** A watch event for the elector. */
  emit(event: WatchEvent): void;
  /**
   * The watch on our key `key` is live but started after the campaign's revision (see
   * WatchSpec.startNow): a read of the key, sent now, makes it vouch (see `verified`).
   */
  ownWatchNeedsCheck(key: string): void;
}

/** A wait behind exactly one older candidate, recorded by the read that found it. */
export interface WaitInLine {
  readonly ours: string;
  readonly ahead: string;
  /** Clock reading of the read. */
  readonly since: number;
  /** The watch stream the waiting watches run on (-1 until they are live). */
  streamGeneration: number;
  /** The deletion of `ahead` was delivered. */
  aheadDeleted: boolean;
}

/** How long an attempt waits for its new watches to be confirmed before answering anyway. */
const WATCH_READY_WAIT_MS = 250;

/**
 * One watch of one slot, and the sink of its subscription: one object per watch (a process may
 * hold thousands), whose callbacks go to the election's watches.
 */
class Watched implements WatchSink {
  subscription: WatchSubscription | null = null;
  /**
   * Our own key's watch may have started after its campaign's revision (see WatchSpec.startNow):
   * a read that found the key, sent while the watch was live, closes that gap.
   */
  verified = false;

  constructor(
    readonly watches: ElectionWatches,
    readonly slot: Slot,
    readonly key: string,
  ) {}

  get active(): boolean {
    return this.subscription?.active === true;
  }

  event(type: 'put' | 'delete', kv: IKeyValue): void {
    this.watches.onEvent(this, type, kv);
  }

  ready(): void {
    if (this.slot === 'own') this.watches.onOwnReady(this);
    this.watches.onState();
  }

  down(error: LeaderElectError): void {
    this.watches.onState(error);
  }

  ended(error: LeaderElectError | null): void {
    this.watches.onEnded(this, error);
  }
}

export class ElectionWatches {
  readonly #hub: WatchHub;
  readonly #clock: Clock;
  readonly #owner: WatchesOwner;
  // The three slots as fields (not a record object): a process may hold thousands of elections.
  #own: Watched | null = null;
  #leader: Watched | null = null;
  #predecessor: Watched | null = null;
  /** The leader as last reported, to emit `observed` only when its value changes. */
  #leaderSeen: { readonly key: string; readonly value: string } | null = null;
  #line: WaitInLine | null = null;
  #up = false;
  /** Attempts waiting for the watches to be live. Created on first use. */
  #readyWaiters: Set<() => void> | null = null;
  #closed = false;

  constructor(hub: WatchHub, clock: Clock, owner: WatchesOwner) {
    this.#hub = hub;
    this.#clock = clock;
    this.#owner = owner;
  }

  /** Watches `key` in `slot` from `fromRevision` (null: none); a same-key call keeps the watch. */
  watch(slot: Slot, key: string | null, fromRevision = 0n): void {
    const current = this.#slot(slot);
    if (current !== null && current.key === key) return;
    current?.subscription?.close();
    this.#setSlot(slot, null);
    if (key !== null && !this.#closed) {
      // Our own key's watch starts at the current revision (cheap for etcd even when thousands of
      // elections campaign at once) and is verified by a read if it started late; the others
      // decide who leads next and must not miss an event.
      const watched = new Watched(this, slot, key);
      this.#setSlot(slot, watched);
      watched.subscription = this.#hub.subscribe(
        {
          key: Buffer.from(key),
          deletesOnly: slot !== 'leader',
          startRevision: fromRevision,
          startNow: slot === 'own',
        },
        watched,
      );
    }
    this.onState();
  }

  /** As a follower: report `leader` as the leader from now on (changes of its value only). */
  follow(leader: { readonly key: string; readonly value: string }): void {
    this.#leaderSeen = { key: leader.key, value: leader.value };
  }

  /** Records (or clears) the wait behind exactly one older candidate. */
  waitInLine(line: { readonly ours: string; readonly ahead: string } | null): WaitInLine | null {
    this.#line =
      line === null
        ? null
        : { ...line, since: this.#clock.now(), streamGeneration: -1, aheadDeleted: false };
    return this.#line;
  }

  /** The recorded wait, once: a campaign consumes it whether or not it uses it. */
  takeLine(): WaitInLine | null {
    const line = this.#line;
    this.#line = null;
    return line;
  }

  /** The waiting watches are live now: the wait holds only while they stay on this stream. */
  lineIsLive(line: WaitInLine | null): void {
    if (line !== null && this.#line === line) line.streamGeneration = this.#hub.streamGeneration;
  }

  get streamGeneration(): number {
    return this.#hub.streamGeneration;
  }

  /** Every watch we hold was created synced (see WatchSubscription.synced). */
  get synced(): boolean {
    for (const watched of [this.#own, this.#leader, this.#predecessor]) {
      if (watched !== null && watched.subscription?.synced !== true) return false;
    }
    return true;
  }

  /** Whether the watch on our own key reports every deletion of `key` from now on. */
  vouchesFor(key: string): boolean {
    const own = this.#own;
    return (
      own?.key === key &&
      own.subscription?.active === true &&
      (own.subscription.complete || own.verified)
    );
  }

  /**
   * A read that found our key was sent while the own watch was live (`liveAtRead`, see
   * {@link ownWatchLive}): from then on the watch vouches for the key.
   */
  verified(key: string, liveAtRead: Watched | null): void {
    if (liveAtRead !== null && this.#own === liveAtRead && liveAtRead.key === key) {
      liveAtRead.verified = true;
    }
  }

  /** The own watch if it watches `key` and is live now (pass it to {@link verified} later). */
  ownWatchLive(key: string): Watched | null {
    const own = this.#own;
    return own !== null && own.key === key && own.active ? own : null;
  }

  /**
   * We lead: the leader and predecessor watches are no longer needed. Cancelling them writes to
   * the watch stream (about half a millisecond each through gRPC), so it happens after the
   * elector has taken the new term, not on the handoff's critical path (setImmediate: the next
   * turn of the event loop, not a time). Their events until then can only make the elector
   * confirm its term with a renewal.
   */
  dropFollowerWatches(): void {
    this.#leaderSeen = null;
    const leader = this.#leader;
    const predecessor = this.#predecessor;
    if (leader === null && predecessor === null) return;
    setImmediate(() => {
      if (this.#closed) return;
      if (leader !== null && this.#leader === leader) this.watch('leader', null);
      if (predecessor !== null && this.#predecessor === predecessor)
        this.watch('predecessor', null);
    });
  }

  /** Drops every watch (resign, close). */
  dropAll(): void {
    for (const slot of ['own', 'leader', 'predecessor'] as const) {
      this.#slot(slot)?.subscription?.close();
      this.#setSlot(slot, null);
    }
    this.onState();
  }

  /** Waits (at most WATCH_READY_WAIT_MS) until every watch is live, so the elector need not poll. */
  async ready(signal: AbortSignal): Promise<void> {
    const live = [this.#own, this.#leader, this.#predecessor].filter(
      (w): w is Watched => w !== null,
    );
    if (live.every((w) => w.active) || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.#readyWaiters?.delete(done);
        this.#clock.clearTimer(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = this.#clock.setTimer(done, WATCH_READY_WAIT_MS);
      signal.addEventListener('abort', done, { once: true });
      this.#readyWaiters ??= new Set();
      this.#readyWaiters.add(done);
    });
    if (signal.aborted) throw signal.reason;
  }

  close(): void {
    this.dropAll();
    this.#closed = true;
    this.#resolveReadyWaiters();
  }

  // ------------------------------------------------------------ sink callbacks (Watched)

  /** An event of one of our watches (ignored once the slot watches something else). */
  onEvent(watched: Watched, type: 'put' | 'delete', kv: IKeyValue): void {
    const { slot, key } = watched;
    if (this.#slot(slot) !== watched) return;
    if (slot === 'own') {
      if (type === 'delete') this.#owner.ownKeyDeleted(key, BigInt(kv.mod_revision));
      return;
    }
    if (type === 'delete') {
      if (slot === 'leader') this.#leaderSeen = null;
      if (this.#line !== null && this.#line.ahead === key) this.#line.aheadDeleted = true;
      this.#owner.emit({ type: 'changed' });
      return;
    }
    if (slot === 'leader') this.#onLeaderPut(key, kv);
  }

  /**
   * Our key's watch is live. If it may have missed events since the campaign, the owner checks
   * the key at once rather than in the next renewal: with thousands of elections starting
   * together, every leader's first renewal otherwise had to read its key through a full attempt
   * (about 90 MB of short-lived objects in the 10,000-election burst, measured, issue 15).
   */
  onOwnReady(watched: Watched): void {
    if (this.#own !== watched || watched.verified || watched.subscription?.complete !== false) {
      return;
    }
    this.#owner.ownWatchNeedsCheck(watched.key);
  }

  /** Emits `up` once every watch we need is live, `down` (with the cause) when that ends. */
  onState(error?: LeaderElectError): void {
    const own = this.#own;
    const leader = this.#leader;
    const predecessor = this.#predecessor;
    const up =
      (own !== null || leader !== null || predecessor !== null) &&
      (own === null || own.active) &&
      (leader === null || leader.active) &&
      (predecessor === null || predecessor.active);
    if (up) {
      this.#resolveReadyWaiters();
      if (!this.#up) {
        this.#up = true;
        this.#owner.emit({ type: 'up' });
      }
      return;
    }
    if (error !== undefined && this.#up) {
      this.#up = false;
      this.#owner.emit({ type: 'down', error });
    }
  }

  /** The server ended one of our watches for good. */
  onEnded(watched: Watched, error: LeaderElectError | null): void {
    if (this.#slot(watched.slot) === watched) this.#setSlot(watched.slot, null);
    if (error !== null) {
      this.onState(error);
      return;
    }
    // History compacted under the watch: campaign again, which re-reads and re-watches.
    this.#owner.emit({ type: 'changed' });
  }

  #slot(slot: Slot): Watched | null {
    return slot === 'own' ? this.#own : slot === 'leader' ? this.#leader : this.#predecessor;
  }

  #setSlot(slot: Slot, watched: Watched | null): void {
    if (slot === 'own') this.#own = watched;
    else if (slot === 'leader') this.#leader = watched;
    else this.#predecessor = watched;
  }

  #onLeaderPut(key: string, kv: IKeyValue): void {
    const value = kv.value.toString('utf8');
    const seen = this.#leaderSeen;
    if (seen === null || seen.key !== key || seen.value === value) return;
    this.#leaderSeen = { key, value };
    this.#owner.emit({
      type: 'observed',
      observation: {
        kind: 'not-held',
        holder: value,
        token: BigInt(kv.create_revision),
        expiresAt: null,
      },
    });
  }

  #resolveReadyWaiters(): void {
    const waiters = this.#readyWaiters;
    this.#readyWaiters = null;
    if (waiters !== null) for (const resolve of waiters) resolve();
  }
}
