/**
 * After a term ends, a follower does not campaign until three things are true:
 * - the old term's work is over (at most `stopGracePeriod`): two works of ours never overlap;
 * - after a failed work or a resignation, one `retryPeriod` has passed, so that another
 *   candidate takes the released lease first;
 * - after a transfer, the backend has reported its outcome: until then only the successor may
 *   take the lease, and a campaign of ours would be noise at best.
 * The hold is lifted once, by calling `onLifted`; `cancel()` (the elector left the state) ends
 * it without.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { WorkWaits } from './work-waits.js';

export class CampaignHold {
  readonly #clock: Clock;
  readonly #onLifted: () => void;
  #workDone = false;
  #pauseDone: boolean;
  #transferDone: boolean;
  #pauseTimer: TimerHandle | null = null;
  #over = false;

  constructor(
    clock: Clock,
    options: { readonly pauseMs: number; readonly awaitingTransfer: boolean },
    onLifted: () => void,
  ) {
    this.#clock = clock;
    this.#onLifted = onLifted;
    this.#pauseDone = options.pauseMs === 0;
    this.#transferDone = !options.awaitingTransfer;
    if (!this.#pauseDone) {
      this.#pauseTimer = clock.setTimer(() => {
        this.#pauseTimer = null;
        this.#pauseDone = true;
        this.#liftIfReady();
      }, options.pauseMs);
    }
  }

  /** Waits for the ended term's work (bounded by the elector's stopGracePeriod). */
  awaitWork(work: Promise<void>, waits: WorkWaits): void {
    void waits.wait(work).then(() => {
      this.#workDone = true;
      this.#liftIfReady();
    });
  }

  /** The backend reported the outcome of our transfer. */
  transferDone(): void {
    this.#transferDone = true;
    this.#liftIfReady();
  }

  /** Ends the hold without lifting it; its pause timer goes with it. */
  cancel(): void {
    this.#over = true;
    if (this.#pauseTimer !== null) this.#clock.clearTimer(this.#pauseTimer);
    this.#pauseTimer = null;
  }

  #liftIfReady(): void {
    if (this.#over || !this.#workDone || !this.#pauseDone || !this.#transferDone) return;
    this.#over = true;
    this.#onLifted();
  }
}
