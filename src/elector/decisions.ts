/**
 * The pure part of the elector: validation and every timing decision, as functions of the
 * configuration, a clock reading and what the backend reported. No I/O, no timers, so each rule
 * is tested exhaustively with plain numbers.
 */
import type { LeaseNotHeld } from '../backend/lease-backend.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import type { ElectorPhase, HealthStatus } from './events.js';
import {
  DEFAULT_LEASE_DURATION_MS,
  DEFAULT_RENEW_DEADLINE_MS,
  DEFAULT_RETRY_PERIOD_MS,
  JITTER_FACTOR,
  type Timings,
} from './options.js';

export interface TimingInput {
  readonly leaseDuration?: number | undefined;
  readonly renewDeadline?: number | undefined;
  readonly retryPeriod?: number | undefined;
  readonly stopGracePeriod?: number | undefined;
}

/**
 * client-go's rules, with client-go's defaults:
 * `leaseDuration > renewDeadline > 1.2 × retryPeriod`, every value a positive finite number of
 * milliseconds (at least 1). Throws `LE_INVALID_TIMING` naming the rule and the values.
 */
export function resolveTimings(input: TimingInput): Timings {
  const leaseDuration = duration('leaseDuration', input.leaseDuration, DEFAULT_LEASE_DURATION_MS);
  const renewDeadline = duration('renewDeadline', input.renewDeadline, DEFAULT_RENEW_DEADLINE_MS);
  const retryPeriod = duration('retryPeriod', input.retryPeriod, DEFAULT_RETRY_PERIOD_MS);
  const stopGracePeriod =
    input.stopGracePeriod === undefined
      ? renewDeadline
      : duration('stopGracePeriod', input.stopGracePeriod, 0, true);
  if (!(leaseDuration > renewDeadline)) {
    throw new LeaderElectError(
      ErrorCode.InvalidTiming,
      `leaseDuration must be greater than renewDeadline (got leaseDuration=${leaseDuration} ms, renewDeadline=${renewDeadline} ms): followers must wait longer than a leader may keep leading`,
      { details: { rule: 'leaseDuration > renewDeadline', leaseDuration, renewDeadline } },
    );
  }
  if (!(renewDeadline > JITTER_FACTOR * retryPeriod)) {
    throw new LeaderElectError(
      ErrorCode.InvalidTiming,
      `renewDeadline must be greater than ${JITTER_FACTOR} × retryPeriod (got renewDeadline=${renewDeadline} ms, retryPeriod=${retryPeriod} ms, ${JITTER_FACTOR} × retryPeriod=${JITTER_FACTOR * retryPeriod} ms)`,
      {
        details: {
          rule: 'renewDeadline > 1.2 × retryPeriod',
          renewDeadline,
          retryPeriod,
        },
      },
    );
  }
  return { leaseDuration, renewDeadline, retryPeriod, stopGracePeriod };
}

/**
 * Timings are milliseconds. Below these, a value is almost certainly seconds written as
 * milliseconds (`leaseDuration: 15` for 15 s), which would renew hundreds of times a second:
 * it is refused. (No backend can honour a lease below 100 ms anyway: etcd and Kubernetes count
 * whole seconds.)
 */
export const MIN_PLAUSIBLE_MS: Readonly<Record<string, number>> = {
  leaseDuration: 100,
  renewDeadline: 100,
  retryPeriod: 10,
};

function duration(name: string, value: unknown, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const min = allowZero ? 0 : 1;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new LeaderElectError(
      ErrorCode.InvalidTiming,
      `${name} must be a finite number of milliseconds ≥ ${min}, got ${typeof value === 'number' ? value : JSON.stringify(value)}`,
      { details: { rule: `${name} ≥ ${min}`, [name]: value } },
    );
  }
  const plausible = MIN_PLAUSIBLE_MS[name];
  if (plausible !== undefined && value < plausible) {
    throw new LeaderElectError(
      ErrorCode.InvalidTiming,
      `${name} is ${value} ms: timings are milliseconds, and ${value} ms is almost certainly ${value} s given as milliseconds; write ${name}: ${value * 1000} for ${value} s (values below ${plausible} ms are refused)`,
      { details: { rule: `${name} ≥ ${plausible} ms (milliseconds, not seconds)`, [name]: value } },
    );
  }
  return value;
}

/**
 * `maxClockSkew` (see the elector option): undefined stays off (null); otherwise a finite number
 * of milliseconds ≥ 0. Throws `LE_INVALID_TIMING` naming the value.
 */
export function resolveMaxClockSkew(value: unknown): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new LeaderElectError(
      ErrorCode.InvalidTiming,
      `maxClockSkew must be a finite number of milliseconds ≥ 0 (or left out: off), got ${typeof value === 'number' ? value : JSON.stringify(value)}`,
      { details: { rule: 'maxClockSkew ≥ 0', maxClockSkew: value } },
    );
  }
  return value;
}

/** The safety margin: how much longer followers wait than a leader may lead. */
export function safetyMargin(timings: Timings): number {
  return timings.leaseDuration - timings.renewDeadline;
}

/**
 * Largest clock-rate mismatch (follower slower relative to leader) the margin tolerates:
 * safe while `renewDeadline × (1 + ρ) ≤ leaseDuration`.
 */
export function toleratedRateSkew(timings: Timings): number {
  return timings.leaseDuration / timings.renewDeadline - 1;
}

/** A follower's poll delay: `retryPeriod × (1 + rand × 1.2)`, as client-go's JitterUntil. */
export function jitteredRetry(retryPeriod: number, random: number): number {
  return retryPeriod * (1 + Math.min(Math.max(random, 0), 1) * JITTER_FACTOR);
}

/** The leader rule: a term is valid until the send time of its last good renewal + renewDeadline. */
export function termValidUntil(sentAt: number, timings: Timings): number {
  return sentAt + timings.renewDeadline;
}

/** Whether a term with this deadline is valid at `now` (strict: invalid at the deadline). */
export function isTermValid(validUntil: number, now: number): boolean {
  return now < validUntil;
}

export type FollowerPlan =
  /** Try now: the lease is free, released, or expired. */
  | { readonly action: 'attempt-now' }
  /** Try at `at` (a clock reading), because of `why`. */
  | { readonly action: 'attempt-at'; readonly at: number; readonly why: 'expiry' | 'poll' }
  /** Nothing to schedule: the watch will tell us (server-side expiry). */
  | { readonly action: 'wait-for-watch' };

/**
 * The follower rule. Acquire exactly at expiry (timer), at once when released, and otherwise
 * poll every jittered `retryPeriod` only while the watch is down.
 */
export function planFollower(
  observation: LeaseNotHeld,
  now: number,
  watchUp: boolean,
  timings: Timings,
  random: number,
): FollowerPlan {
  if (observation.holder === null && observation.expiresAt !== null)
    return { action: 'attempt-now' };
  const expiresAt = observation.expiresAt;
  if (expiresAt !== null && expiresAt <= now) return { action: 'attempt-now' };
  const pollAt = watchUp
    ? Number.POSITIVE_INFINITY
    : now + jitteredRetry(timings.retryPeriod, random);
  if (expiresAt !== null && expiresAt <= pollAt)
    return { action: 'attempt-at', at: expiresAt, why: 'expiry' };
  if (pollAt !== Number.POSITIVE_INFINITY) return { action: 'attempt-at', at: pollAt, why: 'poll' };
  return { action: 'wait-for-watch' };
}

/** When the leader renews next: `retryPeriod` after the last attempt, never past the term. */
export function nextRenewAt(lastAttemptAt: number, validUntil: number, timings: Timings): number {
  return Math.min(lastAttemptAt + timings.retryPeriod, validUntil);
}

/**
 * Delay of the leader's term timer: the term's deadline, or half a `renewDeadline` if that comes
 * first, in whole milliseconds (never early). Renewals keep moving the deadline; a timer of this
 * fixed delay is re-armed in place each time it fires before the deadline.
 */
export function termCheckDelay(validUntil: number, now: number, timings: Timings): number {
  const check = Math.max(1, Math.floor(timings.renewDeadline / 2));
  return Math.min(check, Math.max(0, Math.ceil(validUntil - now)));
}

/** Deadline for one backend call: a campaign gets `renewDeadline`, a renewal what is left of the term. */
export function callDeadline(
  mode: 'acquire' | 'renew',
  now: number,
  validUntil: number | null,
  timings: Timings,
): number {
  if (mode === 'renew' && validUntil !== null) return Math.max(0, validUntil - now);
  return timings.renewDeadline;
}

/** client-go's HealthzAdaptor rule: unhealthy only if we lead but have not renewed for leaseDuration + tolerance. */
export function isHealthy(
  leading: boolean,
  lastRenewAt: number | null,
  now: number,
  timings: Timings,
  toleranceMs: number,
): boolean {
  if (!leading || lastRenewAt === null) return true;
  return now - lastRenewAt <= timings.leaseDuration + toleranceMs;
}

/**
 * The health check's answer (see LeaderElector.healthz): `lastRenewAt` is the last renewal of the
 * term held (null: none is held), `phase` the elector's, for the message.
 */
export function healthStatus(
  name: string,
  phase: ElectorPhase,
  lastRenewAt: number | null,
  now: number,
  timings: Timings,
  toleranceMs: number,
): HealthStatus {
  const leading = lastRenewAt !== null;
  if (isHealthy(leading, lastRenewAt, now, timings, toleranceMs)) {
    return { ok: true, message: leading ? 'leading, renewing' : phase };
  }
  const since = Math.round(now - (lastRenewAt ?? now));
  return {
    ok: false,
    message: `leader "${name}" has not renewed for ${since} ms (> leaseDuration ${timings.leaseDuration} ms + tolerance ${toleranceMs} ms)`,
  };
}

/** A candidate as the leader saw it advertised (see LeaseBackend.candidates). */
export interface SeenCandidate {
  readonly identity: string;
  readonly priority: number;
  /** Clock reading when it was first seen with this priority, continuously since. */
  readonly since: number;
}

/**
 * The leader's view of the candidates after one look: those seen before keep their `since`
 * (while their priority is unchanged), new ones start now; candidates no longer live are gone.
 */
export function trackCandidates(
  seen: readonly SeenCandidate[],
  live: readonly { readonly identity: string; readonly priority: number }[],
  now: number,
): SeenCandidate[] {
  return live.map((candidate) => {
    const before = seen.find(
      (s) => s.identity === candidate.identity && s.priority === candidate.priority,
    );
    return {
      identity: candidate.identity,
      priority: candidate.priority,
      since: before?.since ?? now,
    };
  });
}

/**
 * Candidate priority: the candidate a leader of priority `own` should hand over to, or null. A
 * candidate qualifies when its priority is higher than ours and it has been live with that
 * priority for the whole stabilisation window (a candidate that keeps restarting does not pull
 * the lease back and forth). Among those, the highest priority, then the one seen longest.
 */
export function prioritySuccessor(
  self: string,
  own: number,
  seen: readonly SeenCandidate[],
  now: number,
  windowMs: number,
): string | null {
  let best: SeenCandidate | null = null;
  for (const candidate of seen) {
    if (candidate.identity === self || candidate.priority <= own) continue;
    if (now - candidate.since < windowMs) continue;
    if (
      best === null ||
      candidate.priority > best.priority ||
      (candidate.priority === best.priority && candidate.since < best.since)
    ) {
      best = candidate;
    }
  }
  return best?.identity ?? null;
}
