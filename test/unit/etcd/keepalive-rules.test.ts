// The etcd backend's timing rules with plain numbers: the bounds safety rests on.
import { describe, expect, test } from 'vitest';
import {
  backgroundInterval,
  defaultMaxKeepaliveAge,
  keepaliveNotBefore,
  keepaliveTimeout,
  keepFreshSince,
  mayLeadWithoutReading,
  onClock,
  proofTooOld,
  renewalProofAge,
  type ShortcutView,
  shortcutProofAge,
  type WatchProbeView,
  watchProbe,
} from '../../../src/etcd/keepalive-rules.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';

const timings = (leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number) => ({
  leaseDurationMs,
  renewDeadlineMs,
  retryPeriodMs,
});

describe('how old a keepalive may be', () => {
  test('default: min(1.2 × retryPeriod, (renewDeadline − retryPeriod) / 2)', () => {
    expect(defaultMaxKeepaliveAge(timings(15_000, 10_000, 2_000))).toBe(2_400);
    // Tight timings: the safety bound wins.
    expect(defaultMaxKeepaliveAge(timings(2_000, 1_500, 1_000))).toBe(250);
    // renewDeadline just above 1.2 × retryPeriod: still positive, never negative.
    expect(defaultMaxKeepaliveAge(timings(2_000, 1_201, 1_000))).toBeCloseTo(100.5);
  });

  test('a term proved by a keepalive of the default age outlives the next renewal', () => {
    for (const [lease, renew, retry] of [
      [15_000, 10_000, 2_000],
      [3_000, 2_000, 500],
      [2_000, 1_500, 1_000],
      [2_000, 1_201, 1_000],
    ] as const) {
      const age = defaultMaxKeepaliveAge(timings(lease, renew, retry));
      // Proof sent `age` before a renewal at t; the term lasts until t − age + renewDeadline,
      // the next renewal comes at t + retryPeriod (its proof must arrive before the deadline).
      expect(renew - age).toBeGreaterThan(retry);
    }
  });

  test('the shortcut may lead with a proof up to renewDeadline − retryPeriod old', () => {
    expect(shortcutProofAge(timings(15_000, 10_000, 2_000))).toBe(8_000);
    expect(shortcutProofAge(timings(2_000, 1_201, 1_200))).toBe(1);
  });

  test('a renewal reuses only keepalives sent since its previous attempt began, and not too old', () => {
    expect(keepaliveNotBefore(10_000, 8_000, 2_400)).toBe(8_000);
    expect(keepaliveNotBefore(10_000, 5_000, 2_400)).toBe(7_600);
    expect(keepaliveNotBefore(10_000, null, 2_400)).toBe(10_000);
    expect(keepaliveNotBefore(10_000, 5_000, undefined)).toBe(5_000);
  });

  test('a campaign proves the lease again when its proof aged while it queued', () => {
    expect(proofTooOld(5_000, 2_000, 2_400)).toBe(true);
    expect(proofTooOld(5_000, 3_000, 2_400)).toBe(false);
  });

  test('keep-fresh: only when shared, once three quarters of the age have passed', () => {
    expect(keepFreshSince(10_000, 8_000, 2_400, 5)).toBe(8_200);
    expect(keepFreshSince(10_000, 8_500, 2_400, 5)).toBeNull();
    expect(keepFreshSince(10_000, 8_000, 2_400, 1)).toBeNull();
    expect(keepFreshSince(10_000, 8_000, 0, 5)).toBeNull();
  });

  test('session cadence: background keepalive every TTL/3; unanswered after max(1 s, min(timeout, TTL/2))', () => {
    expect(backgroundInterval(15)).toBe(5_000);
    expect(keepaliveTimeout(15, 5_000)).toBe(5_000);
    expect(keepaliveTimeout(2, 5_000)).toBe(1_000);
    expect(keepaliveTimeout(1, 5_000)).toBe(1_000);
    expect(keepaliveTimeout(6, 2_000)).toBe(2_000);
  });
});

describe('one clock conversion', () => {
  test('the same clock: the reading as it is', () => {
    const clock = new FakeClock({ start: 100 });
    expect(onClock(clock, clock, 42)).toBe(42);
  });

  test('two clocks: the offset taken now, never later than the true instant', () => {
    const session = new FakeClock({ start: 1_000 });
    const elector = new FakeClock({ start: 50_000 });
    // 300 ms ago on the session clock → 300 ms ago on the elector's.
    expect(onClock(elector, session, 700)).toBe(49_700);
    // A reading "in the future" of the session clock maps to now, not later.
    expect(onClock(elector, session, 1_500)).toBe(50_000);
  });
});

describe('leading without reading the election', () => {
  const base: ShortcutView = {
    aheadDeleted: true,
    waitedAs: 'e/1',
    campaignKey: 'e/1',
    readAt: 0,
    now: 1_000,
    waitedOnStream: 3,
    currentStream: 3,
    watchesSynced: false,
    keyKnown: true,
    ownWatchVouches: true,
  };

  test('allowed when every condition holds', () => {
    expect(mayLeadWithoutReading(base)).toBe(true);
  });

  test('each condition is necessary', () => {
    const breaks: Partial<ShortcutView>[] = [
      { aheadDeleted: false },
      { campaignKey: 'e/2' },
      { currentStream: 4 },
      { waitedOnStream: -1 },
      { now: 100 }, // read too recent for unsynced watches
      { keyKnown: false },
      { ownWatchVouches: false },
    ];
    for (const change of breaks) expect(mayLeadWithoutReading({ ...base, ...change })).toBe(false);
  });

  test('a recent read is enough when every watch was created synced', () => {
    expect(mayLeadWithoutReading({ ...base, now: 100, watchesSynced: true })).toBe(true);
  });
});

describe('renewals ride on the background keepalive (issue 15)', () => {
  test('default timings: 1.2 background intervals, bounded so the term outlives two renewals', () => {
    // 15 s / 10 s / 2 s, TTL 15 s: background every 5 s; 1.2 × 5 s = 6 s, bounded by 10 − 4.8 s.
    expect(renewalProofAge(timings(15_000, 10_000, 2_000), backgroundInterval(15, 10_000))).toBe(
      5_200,
    );
    // Tight timings: never below the default age.
    expect(renewalProofAge(timings(2_000, 1_500, 500), backgroundInterval(2, 1_500))).toBe(500);
    expect(renewalProofAge(timings(2_000, 1_201, 1_000), backgroundInterval(2, 1_201))).toBeCloseTo(
      100.5,
    );
  });

  test('a term proved by a keepalive of that age outlives the next renewal; the background one is reusable', () => {
    for (const [lease, renew, retry] of [
      [15_000, 10_000, 2_000],
      [60_000, 40_000, 5_000],
      [3_000, 2_000, 500],
      [2_000, 1_500, 1_000],
      [2_000, 1_201, 1_000],
    ] as const) {
      const ttl = Math.ceil(lease / 1_000);
      const age = renewalProofAge(timings(lease, renew, retry), backgroundInterval(ttl, renew));
      expect(renew - age).toBeGreaterThan(retry);
    }
    // With the defaults a background keepalive (every 5 s) still serves a renewal fired just
    // before the next one is answered.
    expect(renewalProofAge(timings(15_000, 10_000, 2_000), 5_000)).toBeGreaterThan(5_000);
  });
});

describe('the watch probe: only when the store moved past what the stream vouched for', () => {
  const base: WatchProbeView = {
    now: 10_000,
    knownRevision: 7n,
    confirmedRevision: 6n,
    neededRevision: 5n,
    lastHeardAt: 0,
    probingSince: null,
    probeMs: 2_000,
  };

  test('a silent stream that may hide a change is probed', () => {
    expect(watchProbe(base)).toBe('send');
    expect(watchProbe({ ...base, lastHeardAt: 9_000 })).toBe('wait');
  });

  test('nothing to hide: an idle store, a confirmed revision, or watchers etcd would not answer for', () => {
    expect(watchProbe({ ...base, confirmedRevision: 7n })).toBe('quiet');
    expect(watchProbe({ ...base, confirmedRevision: 9n })).toBe('quiet');
    expect(watchProbe({ ...base, neededRevision: 8n })).toBe('quiet');
    expect(watchProbe({ ...base, neededRevision: null })).toBe('quiet');
  });

  test('a probe without a confirming answer within probeMs resets the stream', () => {
    expect(watchProbe({ ...base, probingSince: 9_000 })).toBe('wait');
    expect(watchProbe({ ...base, probingSince: 8_000 })).toBe('reset');
  });
});
