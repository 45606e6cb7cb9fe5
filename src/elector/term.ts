import type { Clock } from '../clock.js';
import { isTermValid } from './decisions.js';

/**
 * One period of leadership. Its validity is computed from the clock on every call, so it is
 * right even just after the process was paused (SIGSTOP, a long GC) and before any timer ran.
 */
export class Term<Fence = undefined> {
  /** Aborted when the term ends: at its deadline at the latest, at once on observed loss or stop. */
  readonly signal: AbortSignal;
  #validUntil: number;
  #ended = false;

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
    signal: AbortSignal,
  ) {
    this.#validUntil = validUntil;
    this.signal = signal;
  }

  /** True while the term has not ended and its deadline has not passed on the local clock. */
  isValid(): boolean {
    return !this.#ended && !this.signal.aborted && isTermValid(this.#validUntil, this.clock.now());
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

  /** @internal elector only */
  end(): void {
    this.#ended = true;
  }
}
