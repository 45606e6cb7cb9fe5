import type { Clock } from '../clock.js';
import { isTermValid } from './decisions.js';

/**
 * One period of leadership. Its validity is computed from the clock on every call, so it is
 * right even just after the process was paused (SIGSTOP, a long GC) and before any timer ran.
 */
export class Term<Fence = undefined> {
  #validUntil: number;
  #ended = false;
  #aborted = false;
  #abortReason: unknown = undefined;
  /** Created on first use of `signal`: thousands of terms pay only for the signals read. */
  #controller: AbortController | null = null;

  constructor(
    /** Our identity. */
    readonly identity: string,
    /**
     * Fencing token: strictly greater than every earlier term's token in this election. Send it
     * with every write to downstream systems and have them reject lower tokens.
     */
    readonly token: bigint,
    /**
     * Clock reading when this process started the term (it had the winning answer). Validity is
     * counted from the send time of the request that proved the hold, which may be earlier.
     */
    readonly startedAt: number,
    validUntil: number,
    /** Backend-specific fencing helpers (for etcd: a guarded write). */
    readonly fence: Fence,
    private readonly clock: Clock,
  ) {
    this.#validUntil = validUntil;
  }

  /**
   * Aborted when the term ends: at its deadline at the latest, at once on observed loss or stop.
   * Its reason is a `LE_NOT_LEADER` error that says why.
   */
  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  /** True while the term has not ended and its deadline has not passed on the local clock. */
  isValid(): boolean {
    return !this.#ended && !this.#aborted && isTermValid(this.#validUntil, this.clock.now());
  }

  /** Milliseconds of validity left (0 once invalid). */
  remainingMs(): number {
    return this.isValid() ? this.#validUntil - this.clock.now() : 0;
  }

  /** The clock reading at which the term stops being valid unless renewed. */
  get validUntil(): number {
    return this.#validUntil;
  }

  /** @internal elector only */
  extend(validUntil: number): void {
    if (!this.#ended && validUntil > this.#validUntil) this.#validUntil = validUntil;
  }

  /** @internal elector only: the term is over for its user (signal aborted, not valid). */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }

  /** @internal elector only: the elector no longer renews it (abort comes first or with it). */
  end(): void {
    this.#ended = true;
  }
}
