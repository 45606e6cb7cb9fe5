import type { Clock, TimerHandle } from '../clock.js';

interface FakeTimer {
  readonly id: number;
  /** Creation (or refresh) order: ties in `at` fire in this order. */
  readonly seq: number;
  readonly at: number;
  readonly callback: () => void;
}

interface FakeTimerHandle {
  readonly id: number;
  readonly delayMs: number;
  readonly callback: () => void;
  cleared: boolean;
}

/**
 * A deterministic {@link Clock} for tests: time moves only when `advance` is called, timers fire
 * in time order (ties in creation order), and pending promise callbacks run between timers.
 *
 * @example
 * const clock = new FakeClock();
 * const elector = new LeaderElector({ backend, clock, random: () => 0 });
 * elector.run();
 * await clock.advance(15_000);
 */
export class FakeClock implements Clock {
  #now: number;
  readonly #wallOffset: number;
  readonly #timers = new Map<number, FakeTimer>();
  #nextId = 1;
  #nextSeq = 1;
  #created = 0;

  constructor(options: { readonly start?: number; readonly wallStart?: Date } = {}) {
    this.#now = options.start ?? 0;
    this.#wallOffset =
      (options.wallStart ?? new Date('2026-01-01T00:00:00Z')).getTime() - this.#now;
  }

  now(): number {
    return this.#now;
  }

  wallNow(): Date {
    return new Date(this.#wallOffset + this.#now);
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const handle: FakeTimerHandle = {
      id: this.#nextId++,
      delayMs: Math.max(0, delayMs),
      callback,
      cleared: false,
    };
    this.#created++;
    this.#arm(handle);
    return handle;
  }

  clearTimer(handle: TimerHandle): void {
    const timer = handle as FakeTimerHandle;
    timer.cleared = true;
    this.#timers.delete(timer.id);
  }

  /** Like Node's `timeout.refresh()`: the same delay again, from now. Throws after clearTimer. */
  refreshTimer(handle: TimerHandle): void {
    const timer = handle as FakeTimerHandle;
    if (timer.cleared)
      throw new Error(`FakeClock: timer ${timer.id} was cleared; refresh needs a live one`);
    this.#arm(timer);
  }

  /** Timers created with setTimer so far (refreshes do not count). */
  get timersCreated(): number {
    return this.#created;
  }

  #arm(handle: FakeTimerHandle): void {
    this.#timers.set(handle.id, {
      id: handle.id,
      seq: this.#nextSeq++,
      at: this.#now + handle.delayMs,
      callback: handle.callback,
    });
  }

  /** Number of timers not yet fired or cleared (a stopped elector must leave 0). */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Clock reading of the next timer, or `undefined`. */
  nextTimerAt(): number | undefined {
    let next: number | undefined;
    for (const timer of this.#timers.values())
      if (next === undefined || timer.at < next) next = timer.at;
    return next;
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flushMicrotasks();
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.at > target) break;
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.at);
      next.callback();
      await flushMicrotasks();
    }
    this.#now = target;
    await flushMicrotasks();
  }

  /** Jumps time forward without firing timers, as a paused process sees it on resume. */
  jump(ms: number): void {
    this.#now += ms;
  }

  #earliest(): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const timer of this.#timers.values()) {
      if (
        best === undefined ||
        timer.at < best.at ||
        (timer.at === best.at && timer.seq < best.seq)
      ) {
        best = timer;
      }
    }
    return best;
  }
}

/** Lets every queued promise callback run (they may queue more; a macrotask waits for all). */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
