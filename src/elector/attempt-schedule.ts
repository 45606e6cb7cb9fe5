/**
 * When the elector's next attempt (a follower's acquisition, a leader's renewal) runs: at a clock
 * time, through one re-armed timer, or — when it is already due — right after the current call
 * stack, as a microtask (a timer would add Node's 1 ms rounding to a handoff). Scheduling again
 * replaces what was scheduled; `cancel()` drops it.
 */
import type { Clock } from '../clock.js';
import { RefreshableTimer } from '../refreshable-timer.js';

export class AttemptSchedule extends RefreshableTimer {
  readonly #clock: Clock;
  readonly #run: () => void;
  /** Bumped to cancel an attempt queued as a microtask. */
  #generation = 0;

  constructor(clock: Clock, run: () => void) {
    super(clock, run);
    this.#clock = clock;
    this.#run = run;
  }

  /** True while a timed attempt is pending (a microtask attempt does not count). */
  get timerPending(): boolean {
    return this.pending;
  }

  /** Runs the attempt at clock reading `at` (`now` is the current reading). */
  at(at: number, now: number): void {
    this.#generation++;
    if (at <= now) {
      this.clear();
      const generation = this.#generation;
      queueMicrotask(() => {
        if (generation === this.#generation) this.#run();
      });
      return;
    }
    // Whole milliseconds (Node's timer resolution, rounded up: never early), so that a leader's
    // renewals, one retryPeriod apart, re-arm one timer.
    this.arm(Math.ceil(at - now));
  }

  /** Runs the attempt `delayMs` from now. */
  after(delayMs: number): void {
    const now = this.#clock.now();
    this.at(now + delayMs, now);
  }

  /** Drops what was scheduled (timed or queued). */
  cancel(): void {
    this.#generation++;
    this.clear();
  }

  override dispose(): void {
    this.#generation++;
    super.dispose();
  }
}
