/**
 * What the campaign does with what it hears, as pure rules: a watch event, an attempt's answer,
 * a follower's plan, the end of a term. Each takes plain values (the event, a few facts of the
 * elector's state) and returns an action; the campaign (campaign.ts) carries it out. Timing rules
 * are in decisions.ts.
 */
import type { LeaseNotHeld, WatchEvent } from '../backend/lease-backend.js';
import { type FollowerPlan, isTermValid } from './decisions.js';
import type { LeaderInfo, StopReason } from './events.js';
import type { Timings } from './options.js';

/** After this many back-to-back immediate retries a follower falls back to its jittered poll. */
export const MAX_IMMEDIATE_RETRIES = 5;

/** What the campaign knows of itself when a watch event arrives. */
export interface WatchView {
  readonly identity: string;
  /** A term is held (leading, or stopping while its work winds down). */
  readonly leading: boolean;
  /** An attempt is in flight. */
  readonly busy: boolean;
}

export type WatchReaction =
  /** The watch is established: a follower need not poll (see planFollower). */
  | { readonly action: 'watch-up' }
  /** The watch broke: report `error` (if any), and poll meanwhile (see pollsAfterWatchDown). */
  | { readonly action: 'watch-down'; readonly error: unknown }
  /** Attempt now (or once the attempt in flight settles). */
  | { readonly action: 'attempt' }
  /** An operator asks us, the holder, to hand over to `to`. */
  | { readonly action: 'hand-over'; readonly to: string }
  /**
   * While an attempt is in flight: note who leads; when nobody does, attempt again once the
   * attempt in flight settles (`retry`).
   */
  | { readonly action: 'note-leader'; readonly leader: LeaderInfo; readonly retry: boolean }
  /** A follower's observation: plan the next attempt from it. */
  | { readonly action: 'follow'; readonly observation: LeaseNotHeld }
  | { readonly action: 'none' };

const WATCH_UP: WatchReaction = { action: 'watch-up' };
const ATTEMPT: WatchReaction = { action: 'attempt' };
const NONE: WatchReaction = { action: 'none' };

/**
 * The reaction to a watch event (of a running elector whose term, if any, is still valid).
 * While we lead, another holder (or a released record) is confirmed by a renewal, which reveals
 * a loss through its compare-and-swap: a stale watch event cannot end a term.
 */
export function watchReaction(event: WatchEvent, view: WatchView): WatchReaction {
  switch (event.type) {
    case 'up':
      return WATCH_UP;
    case 'down':
      return { action: 'watch-down', error: event.error };
    case 'changed':
      return ATTEMPT;
    case 'transfer-requested':
      return { action: 'hand-over', to: event.to };
    case 'observed': {
      const { observation } = event;
      if (view.leading) return observation.holder === view.identity ? NONE : ATTEMPT;
      if (view.busy) {
        return {
          action: 'note-leader',
          leader: { identity: observation.holder, token: observation.token },
          retry: observation.holder === null,
        };
      }
      return { action: 'follow', observation };
    }
  }
}

/**
 * A follower whose watch broke polls, unless something will attempt anyway: an attempt in
 * flight, or one scheduled.
 */
export function pollsAfterWatchDown(leading: boolean, scheduled: boolean, busy: boolean): boolean {
  return !leading && !scheduled && !busy;
}

/**
 * An acquisition's answer, valid until `validUntil`:
 * - `give-back`: we may not lead now (stopping, or holding the campaign after a term): the abort
 *   came too late for the backend, release it;
 * - `too-late`: the answer came after the term would already have ended (a slow backend or a
 *   pause): campaign again at once, the next acquisition gets a new, higher token;
 * - `start`: start the term.
 */
export function acquisitionOutcome(
  mayLead: boolean,
  validUntil: number,
  now: number,
): 'give-back' | 'too-late' | 'start' {
  if (!mayLead) return 'give-back';
  if (!isTermValid(validUntil, now)) return 'too-late';
  return 'start';
}

/**
 * A renewal's answer for the held term of token `token`:
 * - `lost`: the backend answered for another term (campaign again at once);
 * - `lapsed`: the term passed its deadline while the renewal was in flight; a term never comes
 *   back to life;
 * - `extended`: the term is valid from the renewal's send time.
 */
export function renewalOutcome(
  token: bigint,
  answeredToken: bigint,
  validUntil: number,
  now: number,
): 'lost' | 'lapsed' | 'extended' {
  if (answeredToken !== token) return 'lost';
  if (!isTermValid(validUntil, now)) return 'lapsed';
  return 'extended';
}

export type FollowerStep =
  | FollowerPlan
  /** Too many immediate attempts in a row: fall back to the jittered poll. */
  | { readonly action: 'poll' };

/**
 * The follower's pacing: its plan, except that at most MAX_IMMEDIATE_RETRIES immediate attempts
 * run back to back (a lease that keeps looking free but cannot be taken must not spin), then one
 * jittered poll; any other plan resets the count. Returns the step and the new count.
 */
export function paceFollower(
  plan: FollowerPlan,
  immediateRetries: number,
): { readonly step: FollowerStep; readonly immediateRetries: number } {
  if (plan.action !== 'attempt-now') return { step: plan, immediateRetries: 0 };
  if (immediateRetries < MAX_IMMEDIATE_RETRIES) {
    return { step: plan, immediateRetries: immediateRetries + 1 };
  }
  return { step: { action: 'poll' }, immediateRetries: 0 };
}

/**
 * How long a follower holds its campaign after a term ended for `reason` (see CampaignHold):
 * one retryPeriod after a failed work or a resignation, so that another candidate takes the
 * released lease first; after a transfer, until the backend reports its outcome.
 */
export function holdAfterTerm(
  reason: StopReason,
  timings: Timings,
): { readonly pauseMs: number; readonly awaitingTransfer: boolean } {
  return {
    pauseMs: reason === 'work-failed' || reason === 'resigned' ? timings.retryPeriod : 0,
    awaitingTransfer: reason === 'transferred',
  };
}
