/**
 * Bounded waits for a leader's work (the promise `onStartedLeading` returned). `stop()` and a
 * re-campaign after a loss wait for it at most `stopGracePeriod`; `cancelAll()` (on teardown)
 * ends every wait at once, so that no grace timer outlives a stopped elector.
 */
import type { Clock, TimerHandle } from '../clock.js';

export class WorkWaits {
  readonly #clock: Clock;
  readonly #graceMs: number;
  /** Open waits. Created on first use: most electors never wait for work. */
  #open: Map<(settled: boolean) => void, TimerHandle> | null = null;

  constructor(clock: Clock, graceMs: number) {
    this.#clock = clock;
    this.#graceMs = graceMs;
  }

  /** Resolves true if `work` settled within the grace, false when the grace ran out (or on cancel). */
  wait(work: Promise<void> | null): Promise<boolean> {
    if (work === null) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const finish = (settled: boolean) => {
        const timer = this.#open?.get(finish);
        if (timer === undefined) return;
        this.#open?.delete(finish);
        this.#clock.clearTimer(timer);
        resolve(settled);
      };
      this.#open ??= new Map();
      this.#open.set(
        finish,
        this.#clock.setTimer(() => finish(false), this.#graceMs),
      );
      void work.then(() => finish(true));
    });
  }

  /** Ends every open wait as "did not settle". */
  cancelAll(): void {
    const open = this.#open;
    if (open === null) return;
    for (const finish of [...open.keys()]) finish(false);
  }
}
