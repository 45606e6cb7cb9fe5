import { describe, expect, test } from 'vitest';
import {
  callDeadline,
  isHealthy,
  jitteredRetry,
  nextRenewAt,
  planFollower,
  resolveTimings,
  safetyMargin,
  termValidUntil,
  toleratedRateSkew,
} from '../../src/elector/decisions.js';
import { ErrorCode, LeaderElectError } from '../../src/index.js';

const defaults = resolveTimings({});

function timingError(input: Parameters<typeof resolveTimings>[0]): LeaderElectError {
  try {
    resolveTimings(input);
  } catch (error) {
    if (error instanceof LeaderElectError) return error;
    throw error;
  }
  throw new Error('expected resolveTimings to throw');
}

describe('timing validation (client-go rules)', () => {
  test('defaults are 15 s / 10 s / 2 s, grace = renewDeadline', () => {
    expect(defaults).toEqual({
      leaseDuration: 15_000,
      renewDeadline: 10_000,
      retryPeriod: 2_000,
      stopGracePeriod: 10_000,
    });
    expect(safetyMargin(defaults)).toBe(5_000);
    expect(toleratedRateSkew(defaults)).toBeCloseTo(0.5);
  });

  test('leaseDuration must exceed renewDeadline, naming the rule and values', () => {
    const error = timingError({ leaseDuration: 10_000, renewDeadline: 10_000 });
    expect(error.code).toBe(ErrorCode.InvalidTiming);
    expect(error.message).toContain('leaseDuration must be greater than renewDeadline');
    expect(error.message).toContain('leaseDuration=10000 ms');
    expect(error.details).toMatchObject({ leaseDuration: 10_000, renewDeadline: 10_000 });
  });

  test('renewDeadline must exceed 1.2 × retryPeriod', () => {
    expect(() => resolveTimings({ renewDeadline: 2_400, retryPeriod: 2_000 })).toThrow(
      /renewDeadline must be greater than 1.2 × retryPeriod/,
    );
    expect(resolveTimings({ renewDeadline: 2_401, retryPeriod: 2_000 }).renewDeadline).toBe(2_401);
  });

  test.each([
    [{ leaseDuration: 0 }, 'leaseDuration'],
    [{ renewDeadline: -1 }, 'renewDeadline'],
    [{ retryPeriod: Number.NaN }, 'retryPeriod'],
    [{ retryPeriod: Number.POSITIVE_INFINITY }, 'retryPeriod'],
    [{ leaseDuration: '15s' as unknown as number }, 'leaseDuration'],
    [{ stopGracePeriod: -5 }, 'stopGracePeriod'],
  ])('non-positive or non-numeric %o is rejected', (input, name) => {
    const error = timingError(input);
    expect(error.code).toBe(ErrorCode.InvalidTiming);
    expect(error.message).toContain(name);
  });
});

describe('follower rule', () => {
  const t = resolveTimings({ leaseDuration: 1_000, renewDeadline: 800, retryPeriod: 100 });

  test('released or free: attempt now', () => {
    expect(
      planFollower({ kind: 'not-held', holder: null, token: 3n, expiresAt: 50 }, 60, true, t, 0.5),
    ).toEqual({
      action: 'attempt-now',
    });
  });

  test('held with the watch up: a timer exactly at expiry, no poll', () => {
    expect(
      planFollower(
        { kind: 'not-held', holder: 'a', token: 1n, expiresAt: 1_500 },
        600,
        true,
        t,
        0.9,
      ),
    ).toEqual({
      action: 'attempt-at',
      at: 1_500,
      why: 'expiry',
    });
  });

  test('held with the watch down: jittered poll before expiry, expiry when sooner', () => {
    expect(
      planFollower(
        { kind: 'not-held', holder: 'a', token: 1n, expiresAt: 1_500 },
        600,
        false,
        t,
        0.5,
      ),
    ).toEqual({
      action: 'attempt-at',
      at: 600 + 100 * 1.6,
      why: 'poll',
    });
    expect(
      planFollower(
        { kind: 'not-held', holder: 'a', token: 1n, expiresAt: 650 },
        600,
        false,
        t,
        0.5,
      ),
    ).toEqual({
      action: 'attempt-at',
      at: 650,
      why: 'expiry',
    });
  });

  test('already expired: attempt now', () => {
    expect(
      planFollower({ kind: 'not-held', holder: 'a', token: 1n, expiresAt: 600 }, 600, true, t, 0),
    ).toEqual({
      action: 'attempt-now',
    });
  });

  test('server-side expiry with the watch up: wait for the watch; down: poll', () => {
    expect(
      planFollower({ kind: 'not-held', holder: 'a', token: 1n, expiresAt: null }, 0, true, t, 0),
    ).toEqual({
      action: 'wait-for-watch',
    });
    expect(
      planFollower({ kind: 'not-held', holder: 'a', token: 1n, expiresAt: null }, 0, false, t, 0),
    ).toEqual({
      action: 'attempt-at',
      at: 100,
      why: 'poll',
    });
  });

  test('jitter spans retryPeriod × [1, 2.2], clamped', () => {
    expect(jitteredRetry(2_000, 0)).toBe(2_000);
    expect(jitteredRetry(2_000, 1)).toBe(4_400);
    expect(jitteredRetry(2_000, 7)).toBe(4_400);
    expect(jitteredRetry(2_000, -1)).toBe(2_000);
  });
});

describe('leader rule', () => {
  test('a term is valid until sentAt + renewDeadline; renewals every retryPeriod, never past it', () => {
    expect(termValidUntil(1_000, defaults)).toBe(11_000);
    expect(nextRenewAt(1_000, 11_000, defaults)).toBe(3_000);
    expect(nextRenewAt(10_500, 11_000, defaults)).toBe(11_000);
  });

  test('a renewal call gets what is left of the term; a campaign gets renewDeadline', () => {
    expect(callDeadline('renew', 4_000, 11_000, defaults)).toBe(7_000);
    expect(callDeadline('renew', 12_000, 11_000, defaults)).toBe(0);
    expect(callDeadline('acquire', 4_000, null, defaults)).toBe(10_000);
  });

  test('healthz: unhealthy only when leading without renewal for leaseDuration + tolerance', () => {
    expect(isHealthy(false, 0, 1e9, defaults, 20_000)).toBe(true);
    expect(isHealthy(true, 0, 35_000, defaults, 20_000)).toBe(true);
    expect(isHealthy(true, 0, 35_001, defaults, 20_000)).toBe(false);
  });
});
