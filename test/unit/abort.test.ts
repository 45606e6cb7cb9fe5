import { describe, expect, test } from 'vitest';
import { onAbort, raceAbort, scopedSignal, whenAborted } from '../../src/abort.js';
import { RefreshableTimer } from '../../src/refreshable-timer.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

describe('scopedSignal', () => {
  test('aborts with the outer reason, and dispose detaches from the outer signal', () => {
    const outer = new AbortController();
    const scope = scopedSignal(outer.signal);
    outer.abort('outer reason');
    expect(scope.signal.reason).toBe('outer reason');
    const later = scopedSignal(outer.signal);
    expect(later.signal.aborted).toBe(true);
    const fresh = new AbortController();
    const disposed = scopedSignal(fresh.signal);
    disposed.dispose();
    fresh.abort('late');
    expect(disposed.signal.aborted).toBe(false);
  });

  test('aborts at the deadline on the given clock, and dispose clears the timer', async () => {
    const clock = new FakeClock();
    const scope = scopedSignal(undefined, { ms: 100, reason: () => 'deadline', clock });
    await clock.advance(99);
    expect(scope.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(scope.signal.reason).toBe('deadline');
    expect(clock.pendingTimers).toBe(0);
    const other = scopedSignal(undefined, { ms: 100, reason: () => 'deadline', clock });
    other.dispose();
    expect(clock.pendingTimers).toBe(0);
  });

  test('abort() aborts once and clears the deadline', () => {
    const clock = new FakeClock();
    const scope = scopedSignal(undefined, { ms: 100, reason: () => 'deadline', clock });
    scope.abort('first');
    scope.abort('second');
    expect(scope.signal.reason).toBe('first');
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('raceAbort, onAbort, whenAborted', () => {
  test('raceAbort settles like the promise, or rejects with the reason first', async () => {
    const controller = new AbortController();
    await expect(raceAbort(Promise.resolve(1), controller.signal)).resolves.toBe(1);
    const never = new Promise<number>(() => undefined);
    const raced = raceAbort(never, controller.signal);
    controller.abort('gone');
    await expect(raced).rejects.toBe('gone');
    await expect(raceAbort(Promise.resolve(1), controller.signal)).rejects.toBe('gone');
  });

  test('onAbort runs once (at once if already aborted); its remover detaches', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const remove = onAbort(controller.signal, () => seen.push('a'));
    onAbort(controller.signal, () => seen.push('b'));
    remove();
    controller.abort();
    onAbort(controller.signal, () => seen.push('c'));
    expect(seen).toEqual(['b', 'c']);
    await whenAborted(controller.signal);
  });
});

describe('RefreshableTimer', () => {
  test('re-arming with the same delay reuses the timer; another delay creates one', async () => {
    const clock = new FakeClock();
    let fired = 0;
    const timer = new RefreshableTimer(clock, () => fired++);
    timer.arm(100);
    await clock.advance(100);
    expect(fired).toBe(1);
    const created = clock.timersCreated;
    for (let i = 0; i < 10; i++) {
      timer.arm(100);
      await clock.advance(100);
    }
    expect(fired).toBe(11);
    expect(clock.timersCreated).toBe(created);
    timer.arm(50);
    expect(clock.timersCreated).toBe(created + 1);
    expect(timer.pending).toBe(true);
    timer.clear();
    expect(timer.pending).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    await clock.advance(100);
    expect(fired).toBe(11);
  });
});
