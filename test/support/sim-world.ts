/**
 * A discrete-event world for property tests: one global time line, per-node clocks that run at
 * their own rates, process pauses, and a network with delays and lost messages between each node
 * and a shared linearizable store. Everything is driven by this scheduler, so a run is a pure
 * function of its seed and schedule.
 */
import type { WatchHandle } from '../../src/backend/lease-backend.js';
import type {
  LeaseRecord,
  RecordStore,
  RecordWatchEvent,
  StoredRecord,
} from '../../src/backend/record-store.js';
import type { Clock, TimerHandle } from '../../src/clock.js';
import type { MemoryStore } from '../../src/index.js';
import { flushMicrotasks } from '../../src/testing/index.js';

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

export class SimWorld {
  now = 0;
  private queue: Scheduled[] = [];
  private seq = 0;

  at(time: number, run: () => void): Scheduled {
    const item: Scheduled = {
      at: Math.max(time, this.now),
      seq: this.seq++,
      run,
      cancelled: false,
    };
    this.queue.push(item);
    return item;
  }

  /** Runs events in time order until `until`; `afterEach` checks invariants after every event. */
  async runUntil(until: number, afterEach: () => void, maxEvents = 200_000): Promise<void> {
    let count = 0;
    await flushMicrotasks();
    for (;;) {
      const next = this.pickNext();
      if (next === undefined || next.at > until) break;
      if (++count > maxEvents) throw new Error('simulation did not settle: too many events');
      this.queue.splice(this.queue.indexOf(next), 1);
      if (this.queue.length > 512) this.queue = this.queue.filter((item) => !item.cancelled);
      this.now = next.at;
      next.run();
      await flushMicrotasks();
      afterEach();
    }
    this.now = Math.max(this.now, until);
  }

  private pickNext(): Scheduled | undefined {
    let best: Scheduled | undefined;
    for (const item of this.queue) {
      if (item.cancelled) continue;
      if (best === undefined || item.at < best.at || (item.at === best.at && item.seq < best.seq))
        best = item;
    }
    return best;
  }

  get pending(): number {
    return this.queue.filter((item) => !item.cancelled).length;
  }
}

export interface NetworkFaults {
  /** Request and response delays in global ms. */
  delay(): number;
  /** Whether this response (or watch event) is lost. */
  lose(): boolean;
}

/** One process: a clock at its own rate, paused at times, talking to the store over a lossy link. */
export class SimNode implements Clock {
  pausedUntil = 0;
  /** While true every request and response of this node is lost (a partition). */
  partitioned = false;
  private readonly start: number;
  private lastWatchDelivery = 0;

  constructor(
    readonly world: SimWorld,
    readonly rate: number,
    readonly offset: number,
    private readonly faults: NetworkFaults,
    /**
     * When given, the wall clock is an NTP-disciplined one: global time plus this offset
     * (whatever the monotonic clock's rate). Otherwise it follows the monotonic clock.
     */
    readonly wallOffset?: number,
  ) {
    this.start = world.now;
  }

  now(): number {
    return this.offset + (this.world.now - this.start) * this.rate;
  }

  wallNow(): Date {
    if (this.wallOffset !== undefined) {
      return new Date(1_700_000_000_000 + this.world.now + this.wallOffset);
    }
    return new Date(1_700_000_000_000 + this.now());
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    return this.deliver(this.world.now + Math.max(0, delayMs) / this.rate, callback);
  }

  clearTimer(handle: TimerHandle): void {
    (handle as Scheduled).cancelled = true;
  }

  /** Runs `run` in this process at `time`, or when its pause ends. Cancel through the handle. */
  deliver(time: number, run: () => void): Scheduled {
    const handle: Scheduled = this.world.at(time, () => this.runOrDefer(handle, run));
    return handle;
  }

  private runOrDefer(handle: Scheduled, run: () => void): void {
    if (this.world.now < this.pausedUntil) {
      this.world.at(this.pausedUntil, () => {
        if (!handle.cancelled) this.runOrDefer(handle, run);
      });
      return;
    }
    run();
  }

  pause(forMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.world.now + forMs);
  }

  /** A RecordStore view of `store` through this node's link. */
  link(store: MemoryStore): RecordStore {
    const call = <T>(op: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        let settled = false;
        const onAbort = () => {
          if (settled) return;
          settled = true;
          reject(signal.reason);
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        if (this.partitioned) return; // the request never arrives; the caller's deadline aborts it
        this.world.at(this.world.now + this.faults.delay(), () => {
          const finish = (deliver: () => void) => {
            if (this.partitioned || this.faults.lose()) return;
            this.deliver(this.world.now + this.faults.delay(), () => {
              if (settled) return;
              settled = true;
              signal.removeEventListener('abort', onAbort);
              deliver();
            });
          };
          op(new AbortController().signal).then(
            (value) => finish(() => resolve(value)),
            (error: unknown) => finish(() => reject(error)),
          );
        });
      });
    return {
      description: 'sim',
      get: (name, signal) => call((s) => store.get(name, s), signal),
      create: (name, record: LeaseRecord, signal) =>
        call((s) => store.create(name, record, s), signal),
      update: (name, record: LeaseRecord, version, signal): Promise<StoredRecord> =>
        call((s) => store.update(name, record, version, s), signal),
      watch: (name, listener: (event: RecordWatchEvent) => void): WatchHandle => {
        let open = true;
        const inner = store.watch(name, (event) => {
          if (this.partitioned) return;
          // Watch streams keep order: each event is delivered no earlier than the previous one.
          const at = Math.max(this.lastWatchDelivery, this.world.now + this.faults.delay());
          this.lastWatchDelivery = at;
          this.deliver(at, () => {
            if (open) listener(event);
          });
        });
        return {
          close: () => {
            open = false;
            inner.close();
          },
        };
      },
    };
  }
}
