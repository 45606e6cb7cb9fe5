/**
 * How long the child gets between SIGTERM and SIGKILL when the term ends.
 *
 * The term ends (and SIGTERM is sent) at `sentAt + renewDeadline` at the latest, where `sentAt`
 * is the send time of the last successful renewal; no other candidate can acquire before
 * `sentAt + leaseDuration`. The child must be dead in between, so the grace is capped at
 * `leaseDuration − renewDeadline − slack`. The slack keeps part of the margin for what the
 * margin exists for: clocks that run at slightly different rates, a late timer, signal delivery.
 */
import type { Timings } from '../index.js';
import { formatDuration } from './duration.js';

/** Minimum slack, for timer lateness and signal delivery. */
export const MIN_GRACE_SLACK_MS = 100;
/** Share of the lease duration kept as slack (keeps ~10% clock-rate tolerance). */
export const GRACE_SLACK_FRACTION = 0.1;

export interface GracePlan {
  /** The grace to use, in milliseconds. */
  readonly graceMs: number;
  /** The largest grace the timings allow. */
  readonly capMs: number;
  /** The slack kept out of the margin. */
  readonly slackMs: number;
  /** Set when the requested grace does not fit (or nothing fits). */
  readonly warning?: string;
}

export function graceSlack(timings: Pick<Timings, 'leaseDuration'>): number {
  return Math.max(MIN_GRACE_SLACK_MS, timings.leaseDuration * GRACE_SLACK_FRACTION);
}

/**
 * @param requestedMs `--grace`, or `undefined` for the default (the cap).
 */
export function planGrace(
  requestedMs: number | undefined,
  timings: Pick<Timings, 'leaseDuration' | 'renewDeadline'>,
): GracePlan {
  const slackMs = graceSlack(timings);
  const margin = timings.leaseDuration - timings.renewDeadline;
  const capMs = Math.max(0, margin - slackMs);
  const budget = `leaseDuration ${formatDuration(timings.leaseDuration)} − renewDeadline ${formatDuration(timings.renewDeadline)} − slack ${formatDuration(slackMs)}`;
  if (capMs === 0) {
    return {
      graceMs: 0,
      capMs,
      slackMs,
      warning: `the lease timings leave no time for a grace period (${budget} ≤ 0): the command gets SIGKILL as soon as the term ends; raise --lease-duration or lower --renew-deadline to give it time`,
    };
  }
  if (requestedMs === undefined) return { graceMs: capMs, capMs, slackMs };
  if (requestedMs <= capMs) return { graceMs: requestedMs, capMs, slackMs };
  return {
    graceMs: capMs,
    capMs,
    slackMs,
    warning: `--grace ${formatDuration(requestedMs)} does not fit: the child must be dead before the lease can expire for others, which leaves ${formatDuration(capMs)} (${budget}); using ${formatDuration(capMs)}. Raise --lease-duration or lower --renew-deadline for a longer grace`,
  };
}
