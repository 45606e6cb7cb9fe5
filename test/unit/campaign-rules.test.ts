/**
 * The campaign's reactions as pure rules (src/elector/campaign-rules.ts) and the health check's
 * answer (decisions.ts healthStatus), with plain values; elector.test.ts drives the campaign that
 * carries them out on the fake clock.
 */
import { describe, expect, test } from 'vitest';
import type { LeaseNotHeld, WatchEvent } from '../../src/backend/lease-backend.js';
import {
  acquisitionOutcome,
  holdAfterTerm,
  MAX_IMMEDIATE_RETRIES,
  paceFollower,
  pollsAfterWatchDown,
  renewalOutcome,
  watchReaction,
} from '../../src/elector/campaign-rules.js';
import { type FollowerPlan, healthStatus, resolveTimings } from '../../src/elector/decisions.js';

const timings = resolveTimings({});
const follower = { identity: 'b', leading: false, busy: false };
const leader = { identity: 'b', leading: true, busy: false };
const busyFollower = { identity: 'b', leading: false, busy: true };

function observed(holder: string | null, token: bigint | null = 1n): WatchEvent {
  const observation: LeaseNotHeld = { kind: 'not-held', holder, token, expiresAt: 15_000 };
  return { type: 'observed', observation };
}

describe('the reaction to a watch event', () => {
  test('up, down (with its error), changed, a transfer request', () => {
    expect(watchReaction({ type: 'up' }, follower)).toEqual({ action: 'watch-up' });
    const error = new Error('broken');
    expect(watchReaction({ type: 'down', error }, leader)).toEqual({
      action: 'watch-down',
      error,
    });
    expect(watchReaction({ type: 'down' }, follower)).toEqual({
      action: 'watch-down',
      error: undefined,
    });
    expect(watchReaction({ type: 'changed' }, follower)).toEqual({ action: 'attempt' });
    expect(watchReaction({ type: 'transfer-requested', to: 'c' }, leader)).toEqual({
      action: 'hand-over',
      to: 'c',
    });
  });

  test('while we lead: another holder or a released record is confirmed by a renewal; our own record is nothing', () => {
    expect(watchReaction(observed('a'), leader)).toEqual({ action: 'attempt' });
    expect(watchReaction(observed(null, null), leader)).toEqual({ action: 'attempt' });
    expect(watchReaction(observed('b'), leader)).toEqual({ action: 'none' });
  });

  test('while an attempt is in flight: note the leader; nobody leads: attempt again after it', () => {
    expect(watchReaction(observed('a', 4n), busyFollower)).toEqual({
      action: 'note-leader',
      leader: { identity: 'a', token: 4n },
      retry: false,
    });
    expect(watchReaction(observed(null, null), busyFollower)).toEqual({
      action: 'note-leader',
      leader: { identity: null, token: null },
      retry: true,
    });
  });

  test('a follower with nothing in flight plans from the observation', () => {
    const event = observed('a');
    expect(watchReaction(event, follower)).toEqual({
      action: 'follow',
      observation: event.type === 'observed' ? event.observation : null,
    });
  });

  test('a broken watch: only an idle follower polls', () => {
    expect(pollsAfterWatchDown(false, false, false)).toBe(true);
    expect(pollsAfterWatchDown(true, false, false)).toBe(false);
    expect(pollsAfterWatchDown(false, true, false)).toBe(false);
    expect(pollsAfterWatchDown(false, false, true)).toBe(false);
  });
});

describe("an attempt's answer", () => {
  test('an acquisition: give back while we may not lead, campaign again when too late, else start', () => {
    expect(acquisitionOutcome(false, 10_000, 0)).toBe('give-back');
    expect(acquisitionOutcome(false, 10_000, 20_000)).toBe('give-back');
    expect(acquisitionOutcome(true, 10_000, 10_000)).toBe('too-late');
    expect(acquisitionOutcome(true, 10_000, 9_999)).toBe('start');
  });

  test("a renewal: another term's token is a loss, a lapsed term never comes back, else extended", () => {
    expect(renewalOutcome(3n, 4n, 10_000, 0)).toBe('lost');
    expect(renewalOutcome(3n, 4n, 10_000, 20_000)).toBe('lost');
    expect(renewalOutcome(3n, 3n, 10_000, 10_000)).toBe('lapsed');
    expect(renewalOutcome(3n, 3n, 10_000, 9_999)).toBe('extended');
  });
});

describe("the follower's pacing", () => {
  const now: FollowerPlan = { action: 'attempt-now' };

  test(`at most ${MAX_IMMEDIATE_RETRIES} immediate attempts in a row, then one poll, then again`, () => {
    let retries = 0;
    const steps: string[] = [];
    for (let i = 0; i < 2 * (MAX_IMMEDIATE_RETRIES + 1); i++) {
      const paced = paceFollower(now, retries);
      steps.push(paced.step.action);
      retries = paced.immediateRetries;
    }
    const round = [...Array<string>(MAX_IMMEDIATE_RETRIES).fill('attempt-now'), 'poll'];
    expect(steps).toEqual([...round, ...round]);
  });

  test('any other plan is taken as it is and resets the count', () => {
    const at: FollowerPlan = { action: 'attempt-at', at: 5_000, why: 'expiry' };
    expect(paceFollower(at, 3)).toEqual({ step: at, immediateRetries: 0 });
    const wait: FollowerPlan = { action: 'wait-for-watch' };
    expect(paceFollower(wait, 4)).toEqual({ step: wait, immediateRetries: 0 });
  });
});

describe('the hold after a term', () => {
  test('one retryPeriod after a failed work or a resignation; a transfer waits for its outcome', () => {
    expect(holdAfterTerm('work-failed', timings)).toEqual({
      pauseMs: 2_000,
      awaitingTransfer: false,
    });
    expect(holdAfterTerm('resigned', timings)).toEqual({ pauseMs: 2_000, awaitingTransfer: false });
    expect(holdAfterTerm('transferred', timings)).toEqual({ pauseMs: 0, awaitingTransfer: true });
    for (const reason of ['lost', 'renew-deadline', 'stopped'] as const) {
      expect(holdAfterTerm(reason, timings)).toEqual({ pauseMs: 0, awaitingTransfer: false });
    }
  });
});

describe('the health check', () => {
  test('no term: healthy, the phase as message', () => {
    expect(healthStatus('jobs', 'follower', null, 99_000, timings, 20_000)).toEqual({
      ok: true,
      message: 'follower',
    });
  });

  test('a term renewed within leaseDuration + tolerance: healthy', () => {
    expect(healthStatus('jobs', 'leader', 1_000, 36_000, timings, 20_000)).toEqual({
      ok: true,
      message: 'leading, renewing',
    });
  });

  test('past it: unhealthy, naming the election, the time since the renewal and the bound', () => {
    expect(healthStatus('jobs', 'stopping', 1_000, 36_000.6, timings, 20_000)).toEqual({
      ok: false,
      message:
        'leader "jobs" has not renewed for 35001 ms (> leaseDuration 15000 ms + tolerance 20000 ms)',
    });
  });
});
