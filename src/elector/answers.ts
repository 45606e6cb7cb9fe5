/**
 * What the backend's answer to an attempt means: an observation (we hold the lease, or someone
 * else does) or a failed call, after an acquisition or a renewal, and what the campaign does
 * next — start a term, extend it, end it, give a lease back, attempt again now, at a time, after
 * a jittered poll, or when the watch says so. The rules are pure (campaign-rules.ts,
 * decisions.ts); this unit applies them to the campaign's state. The campaign (campaign.ts)
 * owns that state and every transition: it is the host here, and makes the attempts.
 */
import type { LeaseHeld, LeaseNotHeld, Observation } from '../backend/lease-backend.js';
import type { Clock } from '../clock.js';
import { ErrorCode, toLeaderElectError } from '../errors.js';
import type { MetricsRecorder } from '../observability/metrics.js';
import type { AttemptSchedule } from './attempt-schedule.js';
import type { Mode } from './backend-calls.js';
import { acquisitionOutcome, paceFollower, renewalOutcome } from './campaign-rules.js';
import { jitteredRetry, nextRenewAt, planFollower, termValidUntil } from './decisions.js';
import type { ElectorReporter } from './elector-reporter.js';
import { type ElectorState, type Following, type HeldTerm, heldTermOf } from './elector-state.js';
import type { ElectorStatus } from './elector-status.js';
import type { StopReason } from './events.js';
import type { Leadership } from './leadership.js';
import type { Timings } from './options.js';
import type { Term } from './term.js';

/** What the answers need of their campaign. */
export interface AnswersHost<Fence> {
  readonly identity: string;
  readonly name: string;
  readonly timings: Timings;
  readonly clock: Clock;
  readonly random: () => number;
  readonly metrics: MetricsRecorder;
  readonly report: ElectorReporter<Fence>;
  /** Who leads as last observed, and readiness. */
  readonly status: ElectorStatus<Fence>;
  /** The next attempt. */
  readonly schedule: AttemptSchedule;
  readonly leadership: Leadership<Fence>;
  readonly state: ElectorState<Fence>;
  /** The backend's watch is live: a follower may wait for its events instead of polling. */
  watchUp(): boolean;
  /** A follower's acquisition succeeded in time: the term starts. */
  startTerm(
    following: Following,
    observation: LeaseHeld<Fence>,
    validUntil: number,
    now: number,
  ): void;
  /** Ends the held term (see Campaign). */
  endTerm(reason: StopReason): void;
  /** Gives the lease of term `token` back. */
  release(token: bigint): Promise<void>;
  /** Ends the held term at its deadline if that has passed; whether it did. */
  expireTermIfDue(): boolean;
}

export class Answers<Fence> {
  readonly #host: AnswersHost<Fence>;

  constructor(host: AnswersHost<Fence>) {
    this.#host = host;
  }

  /** The attempt (`mode`, for the term `termAtStart`, begun at `startedAt`) got an answer. */
  observed(
    mode: Mode,
    termAtStart: Term<Fence> | null,
    startedAt: number,
    observation: Observation<Fence>,
  ): void {
    const host = this.#host;
    if (host.state.kind === 'stopped') return;
    const now = host.clock.now();
    if (!host.status.readiness.ready) host.status.setReadiness(true, 'the backend answers', null);
    const held = this.#heldIfCurrent(mode, termAtStart);
    if (observation.kind === 'held') {
      host.report.recovered();
      if (mode === 'acquire') {
        this.#acquired(observation, now);
      } else if (held !== null) {
        this.#renewed(held, observation, startedAt, now);
      }
      return;
    }
    if (held !== null) {
      host.metrics.renewLatency(now - startedAt, false);
      host.endTerm('lost');
    }
    this.notHeld(observation, now);
  }

  /** The attempt failed (`reason`: the error, or the abort reason at its deadline). */
  failed(mode: Mode, termAtStart: Term<Fence> | null, startedAt: number, reason: unknown): void {
    const host = this.#host;
    if (host.state.kind === 'stopped') return;
    const now = host.clock.now();
    const error = toLeaderElectError(
      reason,
      ErrorCode.BackendError,
      `${mode} of "${host.name}" failed`,
    );
    host.report.error(error);
    host.status.setReadiness(false, error.message, error.code);
    const held = this.#heldIfCurrent(mode, termAtStart);
    if (held !== null) {
      host.metrics.renewLatency(now - startedAt, false);
      if (host.expireTermIfDue()) return;
      host.schedule.at(nextRenewAt(now, held.term.validUntil, host.timings), now);
      return;
    }
    if (host.state.kind === 'following') this.schedulePoll();
  }

  /**
   * Someone else holds the lease (an answer, or a record the watch pushed): note the leader and
   * plan the follower's next attempt.
   */
  notHeld(observation: LeaseNotHeld, now: number): void {
    const host = this.#host;
    if (heldTermOf(host.state) !== null) return;
    // A record still naming us (a lapsed term of ours) is not a leader worth announcing.
    if (observation.holder !== host.identity) {
      host.status.observeLeader({ identity: observation.holder, token: observation.token });
    }
    const state = host.state;
    if (state.kind !== 'following') return;
    const plan = planFollower(observation, now, host.watchUp(), host.timings, host.random());
    const { step, immediateRetries } = paceFollower(plan, state.immediateRetries);
    state.immediateRetries = immediateRetries;
    switch (step.action) {
      case 'attempt-now':
        host.schedule.after(0);
        return;
      case 'poll':
        this.schedulePoll();
        return;
      case 'attempt-at':
        host.schedule.at(step.at, now);
        return;
      case 'wait-for-watch':
        host.schedule.cancel();
        return;
    }
  }

  /** The next attempt after a jittered retryPeriod (client-go's wait.JitterUntil). */
  schedulePoll(): void {
    const host = this.#host;
    host.schedule.after(jitteredRetry(host.timings.retryPeriod, host.random()));
  }

  /** The held term if this renewal (`mode`, the term it started for) still concerns it. */
  #heldIfCurrent(mode: Mode, termAtStart: Term<Fence> | null): HeldTerm<Fence> | null {
    const held = heldTermOf(this.#host.state);
    return mode === 'renew' && termAtStart !== null && held?.term === termAtStart ? held : null;
  }

  #acquired(observation: LeaseHeld<Fence>, now: number): void {
    const host = this.#host;
    const state = host.state;
    const validUntil = termValidUntil(observation.sentAt, host.timings);
    const following = state.kind === 'following' && state.hold === null ? state : null;
    switch (acquisitionOutcome(following !== null, validUntil, now)) {
      case 'give-back':
        void host.release(observation.token);
        return;
      case 'too-late':
        host.schedule.after(0);
        return;
      case 'start':
        if (following !== null) host.startTerm(following, observation, validUntil, now);
        return;
    }
  }

  #renewed(
    held: HeldTerm<Fence>,
    observation: LeaseHeld<Fence>,
    startedAt: number,
    now: number,
  ): void {
    const host = this.#host;
    const { term } = held;
    switch (renewalOutcome(term.token, observation.token, term.validUntil, now)) {
      case 'lost':
        host.endTerm('lost');
        host.schedule.after(0);
        return;
      case 'lapsed':
        host.endTerm('renew-deadline');
        return;
      case 'extended':
        break;
    }
    host.leadership.extend(
      held,
      termValidUntil(observation.sentAt, host.timings),
      now,
      now - startedAt,
    );
    host.schedule.at(nextRenewAt(startedAt, term.validUntil, host.timings), now);
  }
}
