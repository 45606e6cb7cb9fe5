/**
 * A timer slot on a {@link Clock} that re-arms in place.
 *
 * Why: a leader renews every `retryPeriod`, and a process may lead thousands of elections. With
 * a new timer per renewal, Node allocates a timer object (and a list entry) each time; re-arming
 * the same timer with `Clock.refreshTimer` (Node's `timeout.refresh()`) allocates nothing. The
 * slot keeps the timer it created after it fired and refreshes it when it is armed again with the
 * same delay; any other delay (or a clock without `refreshTimer`) gets a new timer.
 */
import type { Clock, TimerHandle } from './clock.js';

export class RefreshableTimer {
  readonly #clock: Clock;
  readonly #callback: () => void;
  /** The timer last created, kept after it fired (never after `clear`). */
  #handle: TimerHandle | null = null;
  #delay = -1;
  #pending = false;

  constructor(clock: Clock, callback: () => void) {
    this.#clock = clock;
    this.#callback = callback;
  }

  /** True while armed and not yet fired. */
  get pending(): boolean {
    return this.#pending;
  }

  /**
   * Fires the callback after `delayMs` (whole milliseconds are re-armed best: equal delays reuse
   * the timer). Replaces any pending arming.
   */
  arm(delayMs: number): void {
    const handle = this.#handle;
    if (handle !== null && delayMs === this.#delay && this.#clock.refreshTimer !== undefined) {
      this.#clock.refreshTimer(handle);
      this.#pending = true;
      return;
    }
    this.clear();
    this.#handle = this.#clock.setTimer(this.#fire, delayMs);
    this.#delay = delayMs;
    this.#pending = true;
  }

  /** Cancels a pending arming. A timer that already fired is kept for the next `arm`. */
  clear(): void {
    if (!this.#pending || this.#handle === null) return;
    this.#clock.clearTimer(this.#handle);
    this.#handle = null;
    this.#pending = false;
  }

  /** Cancels and forgets everything (the owner is done with the slot). */
  dispose(): void {
    this.clear();
    this.#handle = null;
  }

  readonly #fire = (): void => {
    this.#pending = false;
    this.#callback();
  };
}
