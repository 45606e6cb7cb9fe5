import { EventEmitter } from 'eventemitter3';
import { type Clock, systemClock } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { MetricsRecorder } from '../observability/metrics.js';
import { Campaign } from './campaign.js';
import {
  healthStatus,
  resolveMaxClockSkew,
  resolveTimings,
  safetyMargin,
  toleratedRateSkew,
} from './decisions.js';
import { ElectorReporter } from './elector-reporter.js';
import { heldTermOf, phaseOf } from './elector-state.js';
import type { ElectorEvents, ElectorPhase, HealthStatus, LeaderInfo, Readiness } from './events.js';
import { type LeaderElectorOptions, type Timings, validateElectorOptions } from './options.js';
import type { Term } from './term.js';
import type { TransferResult } from './term-handover.js';
import { waitForLeadership } from './wait-for-leadership.js';

/** Default tolerance of {@link LeaderElector.healthz}, as Kubernetes components configure it. */
export const DEFAULT_HEALTH_TOLERANCE_MS = 20_000;

/**
 * Campaigns for one election and leads while it holds the lease.
 *
 * Safety: a term is valid until the send time of its last successful renewal plus
 * `renewDeadline`; followers take over only `leaseDuration` after they first observed that
 * renewal. While clocks run at the same rate within `leaseDuration / renewDeadline − 1`, a leader
 * that stops when `term.signal` aborts has stopped before anyone else starts. Fencing tokens
 * (`term.token`) protect downstream writes when that assumption fails (pauses, skew).
 *
 * @example
 * const elector = new LeaderElector({
 *   backend: new MemoryStore().lease('reports'),
 *   onStartedLeading: async (term) => { await runUntilAborted(term.signal, term.token); },
 * });
 * elector.run();
 */
export class LeaderElector<Fence = undefined> extends EventEmitter<ElectorEvents<Fence>> {
  /** This candidate's identity. */
  readonly identity: string;
  /** The election's name in metrics and messages. */
  readonly name: string;
  /** Validated timings in milliseconds. */
  readonly timings: Timings;

  readonly #clock: Clock;
  /** The state machine; this class is its public face. */
  readonly #campaign: Campaign<Fence>;

  constructor(options: LeaderElectorOptions<Fence>) {
    super();
    const identity = validateElectorOptions(options);
    this.timings = resolveTimings(options);
    const maxClockSkew = resolveMaxClockSkew(options.maxClockSkew);
    // The backend may reject timings it cannot honour (e.g. Kubernetes: whole seconds).
    options.backend.configure?.({
      leaseDurationMs: this.timings.leaseDuration,
      renewDeadlineMs: this.timings.renewDeadline,
      retryPeriodMs: this.timings.retryPeriod,
      ...(maxClockSkew === null ? {} : { maxClockSkewMs: maxClockSkew }),
    });
    this.identity = identity;
    this.name = options.name ?? options.backend.name ?? options.backend.description;
    this.#clock = options.clock ?? systemClock;
    this.#campaign = new Campaign({
      options,
      identity,
      name: this.name,
      timings: this.timings,
      clock: this.#clock,
      metrics: MetricsRecorder.for(options.metrics, this.name),
      report: new ElectorReporter(this, this.name),
    });
  }

  /** Current phase: `idle`, `follower`, `leader`, `stopping` or `stopped`. */
  get phase(): ElectorPhase {
    return phaseOf(this.#campaign.state);
  }

  /** True while we hold a valid term, computed from the clock on every call. */
  isLeader(): boolean {
    return this.currentTerm() !== null;
  }

  /** The current term while it is valid, else `null`. */
  currentTerm(): Term<Fence> | null {
    const term = heldTermOf(this.#campaign.state)?.term ?? null;
    return term?.isValid() ? term : null;
  }

  /** Whether the elector can reach its backend now (see {@link Readiness}). */
  readiness(): Readiness {
    return this.#campaign.status.readiness;
  }

  /** The leader as last observed (`undefined` before the first observation). */
  get leader(): LeaderInfo | undefined {
    return this.#campaign.status.leader;
  }

  /** One line with the identity, the timings and the safety margin they give. */
  describe(): string {
    const t = this.timings;
    const skew = Math.round(toleratedRateSkew(t) * 100);
    return (
      `LeaderElector "${this.name}" identity=${this.identity} leaseDuration=${t.leaseDuration}ms ` +
      `renewDeadline=${t.renewDeadline}ms retryPeriod=${t.retryPeriod}ms ` +
      `safetyMargin=${safetyMargin(t)}ms (tolerates clock-rate differences up to ${skew}%)`
    );
  }

  /**
   * client-go's HealthzAdaptor rule: unhealthy only when we believe we lead (we hold a term,
   * valid or not yet ended) but have not renewed for longer than `leaseDuration + toleranceMs`.
   */
  healthz(toleranceMs = DEFAULT_HEALTH_TOLERANCE_MS): HealthStatus {
    const lastRenewAt = heldTermOf(this.#campaign.state)?.lastRenewAt ?? null;
    const now = this.#clock.now();
    return healthStatus(this.name, this.phase, lastRenewAt, now, this.timings, toleranceMs);
  }

  /**
   * Starts campaigning. Returns a promise that settles when the elector has stopped (after
   * `stop()`, the signal's abort, or the end of a one-shot term). Errors never reject it: they
   * are emitted as `error` events.
   * @throws `LE_ALREADY_RUNNING` when called twice, `LE_STOPPED` after a stop.
   */
  run(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    const { kind } = this.#campaign.state;
    if (kind === 'stopped' || kind === 'stopping') {
      throw new LeaderElectError(
        ErrorCode.Stopped,
        `elector "${this.name}" was stopped; create a new LeaderElector to campaign again`,
      );
    }
    if (kind !== 'idle') {
      throw new LeaderElectError(
        ErrorCode.AlreadyRunning,
        `elector "${this.name}" is already running (phase ${this.phase}); run() may be called once`,
      );
    }
    return this.#campaign.run(options.signal);
  }

  /**
   * Resolves with the term as soon as we lead (at once if we do).
   * Rejects with `signal.reason` on abort, or `LE_STOPPED` if the elector stops first.
   */
  waitForLeadership(options: { readonly signal?: AbortSignal } = {}): Promise<Term<Fence>> {
    return waitForLeadership(this, options.signal);
  }

  /**
   * Hands leadership to `identity`, a candidate of this election, without waiting for the lease
   * to expire. The term's work is aborted and awaited exactly as on `stop()` (bounded by
   * `stopGracePeriod`, renewing meanwhile); then the term ends (`onStoppedLeading` with reason
   * `transferred`) and the backend writes the hand-over, after which nobody but the successor may
   * take the lease. The successor starts a term of its own, with a higher fencing token, proved by
   * its own write (its validity counts from its own send time). This elector stays a candidate.
   *
   * Resolves once the successor confirmed, with its token. Rejects with:
   * - `LE_INVALID_IDENTITY`: `identity` is empty or our own;
   * - `LE_NOT_LEADER`: we do not lead (or lost the term meanwhile);
   * - `LE_STOPPED`: the elector is stopping; `LE_TRANSFER_IN_PROGRESS`: a transfer already runs;
   * - `LE_TRANSFER_REFUSED`: the backend cannot transfer, or refused before anything changed
   *   (unknown successor, a foreign candidate in the way): the term goes on untouched;
   * - `LE_TRANSFER_FAILED`: the successor did not confirm within `renewDeadline` (or `signal`
   *   aborted that wait): our term is over and the backend left the lease free.
   */
  async transfer(
    identity: string,
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<TransferResult> {
    return this.#campaign.transfer(identity, options.signal);
  }

  /**
   * Gives the term back to the election now, for someone else to lead. The work is aborted and
   * awaited exactly as on `stop()` (bounded by `stopGracePeriod`, renewing meanwhile); then the
   * term ends (`onStoppedLeading` with reason `resigned`), the lease is released (whatever
   * `releaseOnCancel` says), and this elector campaigns again after `retryPeriod`, so that a
   * waiting follower takes the lease first (a one-shot elector stops instead).
   *
   * Resolves `true` once the term ended by this call; `false`, changing nothing, when there is
   * no term to resign: not leading, `term` given and not the current one, a transfer or
   * resignation already under way, or the term ended otherwise while its work wound down.
   */
  resign(options: { readonly term?: Term<Fence> } = {}): Promise<boolean> {
    return this.#campaign.resign(options.term);
  }

  /**
   * Stops campaigning. A leader aborts `term.signal`, keeps renewing while it waits up to
   * `stopGracePeriod` for `onStartedLeading`'s promise, calls `onStoppedLeading`, then releases
   * the lease (unless `releaseOnCancel: false`). Resolves when nothing of the elector is left:
   * no timers, no watch, no backend call in flight. Idempotent.
   */
  stop(): Promise<void> {
    return this.#campaign.stop();
  }
}
