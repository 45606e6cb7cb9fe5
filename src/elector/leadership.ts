/**
 * The term we hold, from its start to its end, as the campaign (campaign.ts) directs it: the
 * campaign decides when a term starts, is renewed and ends; Leadership carries it out and owns
 * what lives only while we lead:
 * - the term itself and its work: `onStartedLeading`'s promise, which exists before the callback
 *   runs (so that a `stop()` from inside it waits for the real work) and settles, never
 *   rejecting, when the work is over;
 * - the term timer, which makes the campaign end the term at its deadline if no renewal moved it;
 * - the lookout for a candidate of higher priority (see priority-watch.ts);
 * - winding the work down: abort `term.signal`, wait for the work up to `stopGracePeriod`;
 * - the user's callbacks and events of a term: `onStartedLeading`, `startedLeading`, `renewed`,
 *   `onStoppedLeading`, `stoppedLeading`.
 */
import type { LeaseHeld } from '../backend/lease-backend.js';
import type { Clock } from '../clock.js';
import { ErrorCode, LeaderElectError, toLeaderElectError } from '../errors.js';
import type { MetricsRecorder } from '../observability/metrics.js';
import { RefreshableTimer } from '../refreshable-timer.js';
import { termCheckDelay } from './decisions.js';
import type { ElectorReporter } from './elector-reporter.js';
import type { HeldTerm } from './elector-state.js';
import type { StopReason } from './events.js';
import type { LeaderElectorOptions, Timings } from './options.js';
import type { PriorityWatch } from './priority-watch.js';
import { Term } from './term.js';
import type { WorkWaits } from './work-waits.js';

export interface LeadershipSetup<Fence> {
  readonly identity: string;
  readonly name: string;
  readonly timings: Timings;
  readonly clock: Clock;
  readonly options: Pick<LeaderElectorOptions<Fence>, 'onStartedLeading' | 'onStoppedLeading'>;
  readonly metrics: MetricsRecorder;
  readonly report: ElectorReporter<Fence>;
  readonly workWaits: WorkWaits;
  /** The term timer fired: the campaign ends the term if it is past its deadline, else re-arms. */
  readonly onTermTimer: () => void;
}

export class Leadership<Fence> {
  readonly #o: LeadershipSetup<Fence>;
  /** Ends a held term at its deadline if no renewal extended it (see arm). */
  readonly #termTimer: RefreshableTimer;
  /** With `priority`, while we lead: the lookout for a higher-priority candidate. */
  #lookout: PriorityWatch | null = null;

  constructor(setup: LeadershipSetup<Fence>) {
    this.#o = setup;
    this.#termTimer = new RefreshableTimer(setup.clock, setup.onTermTimer);
  }

  /** The lookout each term starts (and each term's end stops), or null. */
  set lookout(watch: PriorityWatch | null) {
    this.#lookout = watch;
  }

  /**
   * A term proved by `observation`, valid until `validUntil`. Its work begins with `begin()`;
   * `onWorkFailed` runs if it throws or rejects (other than with the term's own abort reason),
   * after the failure was reported.
   */
  open(
    observation: LeaseHeld<Fence>,
    validUntil: number,
    now: number,
    onWorkFailed: (held: HeldTerm<Fence>) => void,
  ): { readonly held: HeldTerm<Fence>; readonly begin: () => void } {
    const { clock, identity, name, report } = this.#o;
    const term = new Term<Fence>(
      identity,
      observation.token,
      now,
      validUntil,
      observation.fence,
      clock,
    );
    let settle: (work: Promise<unknown>) => void = () => undefined;
    const started = new Promise<unknown>((resolve) => {
      settle = resolve;
    });
    const held: HeldTerm<Fence> = {
      term,
      handingOver: false,
      lastRenewAt: now,
      localRequest: null,
      work: started.then(
        () => undefined,
        (error: unknown) => {
          if (term.signal.aborted && error === term.signal.reason) return;
          report.error(
            toLeaderElectError(
              error,
              ErrorCode.CallbackFailed,
              `onStartedLeading of "${name}" failed`,
            ),
          );
          onWorkFailed(held);
        },
      ),
    };
    const begin = () => {
      try {
        settle(Promise.resolve(this.#o.options.onStartedLeading?.(term)));
      } catch (error) {
        settle(Promise.reject(error));
      }
      report.emit('startedLeading', term);
      this.#lookout?.start();
    };
    return { held, begin };
  }

  /** The term has started (it is the campaign's state): its timer and metrics. */
  started(held: HeldTerm<Fence>, now: number, waitedMs: number): void {
    const { metrics } = this.#o;
    this.arm(held, now);
    metrics.leaderStatus(true);
    metrics.termStarted(held.term.token);
    metrics.timeToAcquire(waitedMs);
  }

  /**
   * Arms the term timer for the held term's deadline, or for half a renewDeadline if that comes
   * first: renewals keep moving the deadline, and a timer of that fixed delay (never later than
   * the deadline) re-arms in place each time it fires early, so thousands of leading elections
   * create no timer per renewal or per term check.
   */
  arm(held: HeldTerm<Fence>, now: number): void {
    this.#termTimer.arm(termCheckDelay(held.term.validUntil, now, this.#o.timings));
  }

  /** A renewal sent at `sentAt` went through (`latencyMs` after it started): the term goes on. */
  extend(held: HeldTerm<Fence>, validUntil: number, now: number, latencyMs: number): void {
    const { metrics, report } = this.#o;
    const { term } = held;
    term.extend(validUntil);
    held.lastRenewAt = now;
    // A pending term timer fires at the old validUntil at the latest and re-arms itself for the
    // new one (validity only grows): renewals never touch it.
    if (!this.#termTimer.pending) this.arm(held, now);
    if (metrics.enabled) metrics.renewLatency(latencyMs, true);
    if (report.listens('renewed')) report.emit('renewed', term, latencyMs);
  }

  /**
   * Aborts the term's work and waits for it (up to stopGracePeriod); past that, reports it with
   * `then` (what the elector does anyway). The campaign renews meanwhile.
   */
  async windDown(held: HeldTerm<Fence>, why: string, then: string): Promise<void> {
    const { term } = held;
    term.abort(new LeaderElectError(ErrorCode.NotLeader, `term ${term.token} ended: ${why}`));
    if (!(await this.#o.workWaits.wait(held.work))) {
      this.#o.report.error(this.graceExceeded(then));
    }
  }

  /** The work did not finish within stopGracePeriod after term.signal aborted. */
  graceExceeded(then: string): LeaderElectError {
    const { name, timings } = this.#o;
    return new LeaderElectError(
      ErrorCode.CallbackFailed,
      `onStartedLeading of "${name}" did not finish within stopGracePeriod (${timings.stopGracePeriod} ms) after term.signal aborted; ${then}`,
    );
  }

  /** The term is over for `reason`: its signal aborts, it is no longer renewed. */
  end(held: HeldTerm<Fence>, reason: StopReason): void {
    const { term } = held;
    term.abort(
      new LeaderElectError(
        ErrorCode.NotLeader,
        `term ${term.token} of "${this.#o.name}" ended: ${reason}`,
      ),
    );
    term.end();
    this.#termTimer.clear();
  }

  /** After the campaign left the term: the user hears of its end. */
  ended(term: Term<Fence>, reason: StopReason): void {
    const { options, report } = this.#o;
    report.callback('onStoppedLeading', () => options.onStoppedLeading?.(term, reason));
    report.emit('stoppedLeading', term, reason);
  }

  /** The lookout stops with the term. */
  stopLookout(): void {
    this.#lookout?.stop();
  }

  /** The elector stops: no term timer is left. */
  dispose(): void {
    this.#termTimer.dispose();
  }
}
