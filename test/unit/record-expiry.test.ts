// maxClockSkew (issue 15, client-go#448): the record stores' expiry rule with plain numbers, its
// validation, and the record backend using it on a fake clock whose wall clock we set.
import { describe, expect, test } from 'vitest';
import { recordExpiresAt } from '../../src/backend/record-expiry.js';
import { resolveMaxClockSkew } from '../../src/elector/decisions.js';
import {
  ErrorCode,
  formatMicroTime,
  LeaderElectError,
  LeaderElector,
  MemoryStore,
  RecordLeaseBackend,
} from '../../src/index.js';
import { FakeClock } from '../../src/testing/index.js';

const HOUR = 3_600_000;

describe('recordExpiresAt', () => {
  const base = {
    observedAt: 1_000,
    leaseDurationMs: 15_000,
    renewTimeWallMs: 50_000,
    wallNowMs: 50_000,
    now: 1_000,
  };

  test('off (null): a full lease after the first observation, whatever the record says', () => {
    expect(recordExpiresAt({ ...base, renewTimeWallMs: 50_000 - HOUR, maxClockSkewMs: null })).toBe(
      16_000,
    );
  });

  test('on: a record renewed long ago by our wall clock is expired at once', () => {
    const expiresAt = recordExpiresAt({
      ...base,
      renewTimeWallMs: 50_000 - HOUR,
      maxClockSkewMs: 1_000,
    });
    expect(expiresAt).toBeLessThanOrEqual(base.now);
  });

  test('on: renewTime + leaseDuration + maxClockSkew on our wall clock, if before the observation rule', () => {
    // Renewed 10 s ago by our wall clock: 15 + 1 − 10 = 6 s from now.
    expect(recordExpiresAt({ ...base, renewTimeWallMs: 40_000, maxClockSkewMs: 1_000 })).toBe(
      7_000,
    );
    // Renewed just now (or in our future: the holder's clock is ahead): the observation rule.
    expect(recordExpiresAt({ ...base, maxClockSkewMs: 1_000 })).toBe(16_000);
    expect(recordExpiresAt({ ...base, renewTimeWallMs: 60_000, maxClockSkewMs: 1_000 })).toBe(
      16_000,
    );
    // An unreadable renewTime: the observation rule.
    expect(recordExpiresAt({ ...base, renewTimeWallMs: null, maxClockSkewMs: 1_000 })).toBe(16_000);
  });
});

describe('maxClockSkew validation', () => {
  test('left out: off', () => {
    expect(resolveMaxClockSkew(undefined)).toBeNull();
  });

  test('a finite number of milliseconds ≥ 0', () => {
    expect(resolveMaxClockSkew(0)).toBe(0);
    expect(resolveMaxClockSkew(1_000)).toBe(1_000);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '1000', null]) {
      let caught: unknown;
      try {
        resolveMaxClockSkew(bad);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(LeaderElectError);
      expect((caught as LeaderElectError).code).toBe(ErrorCode.InvalidTiming);
      expect((caught as LeaderElectError).message).toMatch(/maxClockSkew/);
    }
  });

  test('the elector refuses a bad value at construction', () => {
    expect(
      () =>
        new LeaderElector({
          backend: new MemoryStore().lease('x'),
          maxClockSkew: -5,
          clock: new FakeClock(),
        }),
    ).toThrow(/maxClockSkew/);
  });
});

describe('a restart that need not wait a full lease', () => {
  const signal = new AbortController().signal;

  /** A store holding a record whose holder renewed an hour ago (by the wall clock of `clock`). */
  function deadHolder(clock: FakeClock) {
    const store = new MemoryStore();
    const old = formatMicroTime(new Date(clock.wallNow().getTime() - HOUR));
    store.putRaw('lease', {
      holderIdentity: 'gone',
      leaseDurationMs: 15_000,
      acquireTime: old,
      renewTime: old,
      leaseTransitions: 3,
    });
    return store;
  }

  const acquire = (backend: RecordLeaseBackend, clock: FakeClock) =>
    backend.attempt({ mode: 'acquire', identity: 'me', leaseDurationMs: 15_000, clock, signal });

  test('without maxClockSkew: the record is observed for a full lease first (client-go)', async () => {
    const clock = new FakeClock();
    const backend = new RecordLeaseBackend(deadHolder(clock), 'lease');
    backend.configure({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
    expect(await acquire(backend, clock)).toMatchObject({ kind: 'not-held', expiresAt: 15_000 });
  });

  test('with maxClockSkew: taken at once, with the next token', async () => {
    const clock = new FakeClock();
    const backend = new RecordLeaseBackend(deadHolder(clock), 'lease');
    backend.configure({
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      maxClockSkewMs: 1_000,
    });
    expect(await acquire(backend, clock)).toMatchObject({ kind: 'held', token: 4n });
  });

  test('the elector passes it on: a restarted candidate leads without waiting', async () => {
    const clock = new FakeClock();
    const store = deadHolder(clock);
    const elector = new LeaderElector({
      backend: store.lease('lease'),
      identity: 'me',
      clock,
      maxClockSkew: 1_000,
    });
    void elector.run();
    await clock.advance(0);
    expect(elector.isLeader()).toBe(true);
    await elector.stop();
  });
});
