/**
 * client-go's tryAcquireOrRenew as pure rules (src/backend/acquire-or-renew.ts), with plain
 * records and clock readings; RecordLeaseBackend (record-lease-backend.test.ts) is the shell that
 * reads, asks these and writes.
 */
import { describe, expect, test } from 'vitest';
import {
  acquisitionOf,
  type Claim,
  decideAttempt,
  handOverTo,
  heldBy,
  isHandedToUs,
  isOurTerm,
  mayTake,
  observationAfterConflict,
  releasedForm,
  renewalOf,
  reportRecordEvent,
} from '../../src/backend/acquire-or-renew.js';
import type { WatchEvent } from '../../src/backend/lease-backend.js';
import type { LeaseRecord } from '../../src/backend/record-store.js';
import { leaderOf } from '../../src/backend/record-watch.js';

const T0 = '2026-01-01T00:00:00.000000Z';
const WALL = '2026-01-01T00:00:05.000000Z';

function record(fields: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    holderIdentity: 'a',
    leaseDurationMs: 15_000,
    acquireTime: T0,
    renewTime: T0,
    leaseTransitions: 3,
    ...fields,
  };
}

const acquire = (identity: string): Claim => ({
  mode: 'acquire',
  identity,
  leaseDurationMs: 10_000,
});
const renew = (identity: string, token: bigint): Claim => ({
  mode: 'renew',
  identity,
  token,
  leaseDurationMs: 10_000,
});

describe('the records we write', () => {
  test('a renewal of our own write: new duration and renewTime, same acquireTime and token, the request consumed', () => {
    expect(renewalOf(record({ transferTo: 'b' }), 10_000, WALL)).toEqual({
      holderIdentity: 'a',
      leaseDurationMs: 10_000,
      acquireTime: T0,
      renewTime: WALL,
      leaseTransitions: 3,
    });
  });

  test('an acquisition takes the next token and stamps both times; coordinated fields are kept', () => {
    expect(
      acquisitionOf(
        record({ strategy: 'OldestEmulationVersion', transferTo: 'c' }),
        'b',
        10_000,
        WALL,
      ),
    ).toEqual({
      holderIdentity: 'b',
      leaseDurationMs: 10_000,
      acquireTime: WALL,
      renewTime: WALL,
      leaseTransitions: 4,
      strategy: 'OldestEmulationVersion',
    });
  });

  test('a hand-over names the successor with the next token and keeps the duration', () => {
    expect(handOverTo(record(), 'b', WALL)).toEqual({
      holderIdentity: 'b',
      leaseDurationMs: 15_000,
      acquireTime: WALL,
      renewTime: WALL,
      leaseTransitions: 4,
    });
  });

  test("client-go's released form: no holder, 1 s, the token kept", () => {
    expect(releasedForm(record({ transferTo: 'b' }), WALL)).toEqual({
      holderIdentity: '',
      leaseDurationMs: 1_000,
      acquireTime: WALL,
      renewTime: WALL,
      leaseTransitions: 3,
    });
  });

  test('our term is the record naming us with its token', () => {
    expect(isOurTerm(record(), 'a', 3n)).toBe(true);
    expect(isOurTerm(record(), 'a', 2n)).toBe(false);
    expect(isOurTerm(record(), 'b', 3n)).toBe(false);
    expect(isOurTerm(record(), 'a', undefined)).toBe(false);
  });

  test('a write proves the term of its token from its send time', () => {
    expect(heldBy(record(), 1_234)).toEqual({
      kind: 'held',
      token: 3n,
      sentAt: 1_234,
      leaseDurationMs: 15_000,
      fence: undefined,
    });
  });
});

describe('may we take an observed record (the direct acquisition)', () => {
  test('released, ours, or expired: yes; another live holder: no', () => {
    expect(mayTake(record({ holderIdentity: '' }), 'b', 99_999, 0)).toBe(true);
    expect(mayTake(record({ holderIdentity: 'b' }), 'b', 99_999, 0)).toBe(true);
    expect(mayTake(record(), 'b', 15_000, 15_000)).toBe(true);
    expect(mayTake(record(), 'b', 15_000, 14_999)).toBe(false);
  });
});

describe('the slow path (get, then decide)', () => {
  const decide = (
    claim: Claim,
    read: { record: LeaseRecord; expiresAt: number } | null,
    highestTransitions: number | null = null,
  ) => decideAttempt({ claim, read, readAt: 1_000, wall: WALL, highestTransitions });

  test('no record: an acquisition creates it at 0, or above every token seen', () => {
    expect(decide(acquire('b'), null)).toEqual({
      write: 'create',
      record: {
        holderIdentity: 'b',
        leaseDurationMs: 10_000,
        acquireTime: WALL,
        renewTime: WALL,
        leaseTransitions: 0,
      },
    });
    expect(decide(acquire('b'), null, 7)).toMatchObject({
      write: 'create',
      record: { leaseTransitions: 8 },
    });
  });

  test('no record: a renewal lost its term (free now)', () => {
    expect(decide(renew('a', 3n), null)).toEqual({
      write: null,
      observation: { kind: 'not-held', holder: null, token: null, expiresAt: 1_000 },
    });
  });

  test('another live holder: an acquisition waits for its expiry', () => {
    expect(decide(acquire('b'), { record: record(), expiresAt: 16_000 })).toEqual({
      write: null,
      observation: { kind: 'not-held', holder: 'a', token: 3n, expiresAt: 16_000 },
    });
  });

  test('another holder, expired: an acquisition takes the next token', () => {
    expect(decide(acquire('b'), { record: record(), expiresAt: 1_000 })).toEqual({
      write: 'update',
      record: {
        holderIdentity: 'b',
        leaseDurationMs: 10_000,
        acquireTime: WALL,
        renewTime: WALL,
        leaseTransitions: 4,
      },
    });
  });

  test('another holder: a renewal has lost, expired or not', () => {
    for (const expiresAt of [500, 16_000]) {
      expect(decide(renew('b', 3n), { record: record(), expiresAt })).toEqual({
        write: null,
        observation: { kind: 'not-held', holder: 'a', token: 3n, expiresAt },
      });
    }
  });

  test("a record naming us with another term's token ends that term (due now)", () => {
    expect(decide(renew('a', 2n), { record: record(), expiresAt: 16_000 })).toEqual({
      write: null,
      observation: { kind: 'not-held', holder: 'a', token: 3n, expiresAt: 1_000 },
    });
  });

  test('a released record: a renewal has lost (expiry unknown), an acquisition takes it', () => {
    const free = record({ holderIdentity: '', leaseDurationMs: 1_000 });
    expect(decide(renew('a', 3n), { record: free, expiresAt: 2_000 })).toEqual({
      write: null,
      observation: { kind: 'not-held', holder: null, token: 3n, expiresAt: null },
    });
    expect(decide(acquire('a'), { record: free, expiresAt: 2_000 })).toMatchObject({
      write: 'update',
      record: { holderIdentity: 'a', leaseTransitions: 4, acquireTime: WALL },
    });
  });

  test('our own term: a renewal keeps acquireTime and token, consumes a transfer request', () => {
    expect(
      decide(renew('a', 3n), { record: record({ transferTo: 'b' }), expiresAt: 16_000 }),
    ).toEqual({
      write: 'update',
      record: {
        holderIdentity: 'a',
        leaseDurationMs: 10_000,
        acquireTime: T0,
        renewTime: WALL,
        leaseTransitions: 3,
      },
    });
  });

  test('a record naming us, acquired again (a write of ours whose answer we lost): a new term', () => {
    expect(decide(acquire('a'), { record: record(), expiresAt: 16_000 })).toMatchObject({
      write: 'update',
      record: { leaseTransitions: 4, acquireTime: WALL },
    });
  });
});

describe('after a lost compare-and-swap', () => {
  test('deleted, released or ours: due now; another holder: its expiry', () => {
    expect(observationAfterConflict(null, 'b', 1_000)).toEqual({
      kind: 'not-held',
      holder: null,
      token: null,
      expiresAt: 1_000,
    });
    expect(
      observationAfterConflict(
        { record: record({ holderIdentity: '' }), expiresAt: 9 },
        'b',
        1_000,
      ),
    ).toEqual({ kind: 'not-held', holder: null, token: 3n, expiresAt: 1_000 });
    expect(
      observationAfterConflict(
        { record: record({ holderIdentity: 'b' }), expiresAt: 9 },
        'b',
        1_000,
      ),
    ).toEqual({ kind: 'not-held', holder: 'b', token: 3n, expiresAt: 1_000 });
    expect(observationAfterConflict({ record: record(), expiresAt: 16_000 }, 'b', 1_000)).toEqual({
      kind: 'not-held',
      holder: 'a',
      token: 3n,
      expiresAt: 16_000,
    });
  });
});

describe('a record pushed by the watch', () => {
  const events = (
    pushed: LeaseRecord,
    view: Partial<{ identity: string; expiresAt: number; handedToUs: boolean }> = {},
  ) => {
    const seen: WatchEvent[] = [];
    reportRecordEvent(
      pushed,
      { identity: 'b', now: 1_000, expiresAt: 16_000, handedToUs: false, ...view },
      (event) => seen.push(event),
    );
    return seen;
  };

  test('another holder: observed with its expiry', () => {
    expect(events(record())).toEqual([
      {
        type: 'observed',
        observation: { kind: 'not-held', holder: 'a', token: 3n, expiresAt: 16_000 },
      },
    ]);
  });

  test('released: free now (no token: nobody leads)', () => {
    expect(events(record({ holderIdentity: '' }))).toEqual([
      {
        type: 'observed',
        observation: { kind: 'not-held', holder: null, token: null, expiresAt: 1_000 },
      },
    ]);
  });

  test('naming us: our own write says nothing; handed to us: attempt now', () => {
    expect(events(record({ holderIdentity: 'b' }))).toEqual([]);
    expect(events(record({ holderIdentity: 'b' }), { handedToUs: true })).toEqual([
      { type: 'changed' },
    ]);
  });

  test('naming us with a transfer request: the request first, then the hand-over', () => {
    expect(events(record({ holderIdentity: 'b', transferTo: 'c' }), { handedToUs: true })).toEqual([
      { type: 'transfer-requested', to: 'c' },
      { type: 'changed' },
    ]);
    expect(events(record({ transferTo: 'c' }))).toMatchObject([{ type: 'observed' }]);
  });

  test('handed to us: newer than our last write, and not our own write in flight', () => {
    const pushed = record({ holderIdentity: 'b', leaseTransitions: 4 });
    expect(isHandedToUs(pushed, null, null)).toBe(true);
    expect(isHandedToUs(pushed, record({ holderIdentity: 'b', leaseTransitions: 3 }), null)).toBe(
      true,
    );
    expect(isHandedToUs(pushed, record({ holderIdentity: 'b', leaseTransitions: 4 }), null)).toBe(
      false,
    );
    expect(isHandedToUs(pushed, null, 4)).toBe(false);
  });

  test("an observer's event: the holder and token, nobody for a released record", () => {
    expect(leaderOf(record())).toEqual({ type: 'leader', holder: 'a', token: 3n });
    expect(leaderOf(record({ holderIdentity: '' }))).toEqual({
      type: 'leader',
      holder: null,
      token: null,
    });
  });
});
