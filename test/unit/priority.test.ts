// Candidate priority: the rule with plain numbers, and electors on the fake clock (memory store).
import { noop } from 'cockatiel';
import { afterEach, describe, expect, test } from 'vitest';
import { prioritySuccessor, trackCandidates } from '../../src/elector/decisions.js';
import { ErrorCode, hasErrorCode, LeaderElector, MemoryStore } from '../../src/index.js';
import { FakeClock } from '../../src/testing/index.js';

describe('the priority rule', () => {
  const seen = (entries: [string, number, number][]) =>
    entries.map(([identity, priority, since]) => ({ identity, priority, since }));

  test('a higher priority live for the whole window; the highest wins, then the longest seen', () => {
    const view = seen([
      ['b', 5, 0],
      ['c', 7, 9_000],
      ['d', 7, 4_000],
      ['e', 1, 0],
    ]);
    expect(prioritySuccessor('a', 3, view, 10_000, 5_000)).toBe('d');
    expect(prioritySuccessor('a', 3, view, 14_000, 5_000)).toBe('d');
    expect(prioritySuccessor('a', 3, view, 5_000, 5_000)).toBe('b');
    expect(prioritySuccessor('a', 3, view, 4_999, 5_000)).toBeNull();
    expect(prioritySuccessor('a', 9, view, 60_000, 5_000)).toBeNull();
    expect(prioritySuccessor('b', 0, seen([['b', 9, 0]]), 60_000, 5_000)).toBeNull();
  });

  test('a candidate that went away, or changed its priority, starts its window again', () => {
    const first = trackCandidates([], [{ identity: 'b', priority: 5 }], 0);
    const gone = trackCandidates(first, [], 1_000);
    const back = trackCandidates(gone, [{ identity: 'b', priority: 5 }], 2_000);
    expect(back).toEqual([{ identity: 'b', priority: 5, since: 2_000 }]);
    const changed = trackCandidates(back, [{ identity: 'b', priority: 6 }], 3_000);
    expect(changed[0]?.since).toBe(3_000);
    const kept = trackCandidates(changed, [{ identity: 'b', priority: 6 }], 9_000);
    expect(kept[0]?.since).toBe(3_000);
  });
});

const T = { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 };
let clock = new FakeClock();
let running: LeaderElector[] = [];

afterEach(async () => {
  const stopping = running.map((e) => e.stop());
  await clock.advance(60_000);
  await Promise.all(stopping);
  expect(clock.pendingTimers).toBe(0);
  running = [];
});

function make(store: MemoryStore, identity: string, priority: number | undefined) {
  const elector = new LeaderElector({
    backend: store.lease('e'),
    identity,
    clock,
    random: () => 0,
    policy: noop,
    ...T,
    ...(priority === undefined ? {} : { priority }),
  });
  elector.on('error', () => {});
  running.push(elector);
  return elector;
}

describe('priority steering on the fake clock', () => {
  test('the leader hands over to a higher-priority candidate once it has been live for a lease duration', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const a = make(store, 'a', 1);
    void a.run();
    await clock.advance(0);
    const low = make(store, 'low', 0);
    const high = make(store, 'high', 5);
    void low.run();
    void high.run();
    // The leader first sees `high` at its check 2 s in: a window of one lease from then.
    await clock.advance(T.retryPeriod + T.leaseDuration - 100);
    expect(a.isLeader()).toBe(true);
    await clock.advance(T.retryPeriod + 200);
    expect(high.isLeader()).toBe(true);
    expect(a.isLeader()).toBe(false);
    // And it stays there: nobody of higher priority than 5.
    await clock.advance(T.leaseDuration * 3);
    expect(high.isLeader()).toBe(true);
    expect(low.isLeader()).toBe(false);
  });

  test('a higher-priority candidate that keeps restarting never pulls the lease', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const a = make(store, 'a', 1);
    void a.run();
    await clock.advance(0);
    for (let i = 0; i < 4; i++) {
      const flapper = make(store, 'flapper', 9);
      void flapper.run();
      await clock.advance(T.leaseDuration / 2);
      await flapper.stop();
      running = running.filter((e) => e !== flapper);
    }
    expect(a.isLeader()).toBe(true);
  });

  test('without priority nothing is advertised or looked for; a bad priority is refused', () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const a = make(store, 'a', undefined);
    void a.run();
    expect(() => make(store, 'x', Number.NaN)).toThrow(/priority must be a finite number/);
    let error: unknown;
    try {
      new LeaderElector({ backend: store.lease('e'), clock, priority: '1' as unknown as number });
    } catch (caught) {
      error = caught;
    }
    expect(hasErrorCode(error, ErrorCode.InvalidOption)).toBe(true);
  });
});
