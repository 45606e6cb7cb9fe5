// transfer() and resign() on the fake clock, over the memory store (a record store: one
// compare-and-swap names the successor; the successor confirms with an acquisition of its own).
import { noop } from 'cockatiel';
import { afterEach, describe, expect, test } from 'vitest';
import {
  ErrorCode,
  hasErrorCode,
  LeaderElector,
  type LeaderElectorOptions,
  type LeaseBackend,
  MemoryStore,
} from '../../src/index.js';
import { FakeClock } from '../../src/testing/index.js';

const T = { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 };
let clock: FakeClock;
let running: LeaderElector<unknown>[] = [];
let log: string[] = [];

function make(backend: LeaseBackend, identity: string, extra: Partial<LeaderElectorOptions> = {}) {
  const elector = new LeaderElector({
    backend,
    identity,
    clock,
    random: () => 0,
    policy: noop,
    ...T,
    onStartedLeading: (term) => {
      log.push(`${identity} started ${term.token} at ${clock.now()}`);
      return new Promise<void>((resolve) => {
        term.signal.addEventListener('abort', () => {
          log.push(`${identity} aborted ${term.token}`);
          // The work takes 500 ms to wind down.
          clock.setTimer(() => {
            log.push(`${identity} work done ${term.token} at ${clock.now()}`);
            resolve();
          }, 500);
        });
      });
    },
    onStoppedLeading: (term, reason) => {
      log.push(`${identity} stopped ${term.token} ${reason}`);
    },
    ...extra,
  });
  elector.on('error', () => {});
  running.push(elector as LeaderElector<unknown>);
  return elector;
}

afterEach(async () => {
  const stopping = running.map((e) => e.stop());
  await clock.advance(60_000);
  await Promise.all(stopping);
  expect(clock.pendingTimers).toBe(0);
  running = [];
  log = [];
});

async function threeCandidates() {
  clock = new FakeClock();
  const store = new MemoryStore();
  const a = make(store.lease('e'), 'a');
  void a.run();
  await clock.advance(0);
  const b = make(store.lease('e'), 'b');
  const c = make(store.lease('e'), 'c');
  void b.run();
  void c.run();
  await clock.advance(100);
  expect(a.isLeader()).toBe(true);
  return { store, a, b, c };
}

describe('transfer to a named successor', () => {
  test('the work is aborted and awaited first; the successor leads at once with a higher token; nobody else leads', async () => {
    const { store, a, b, c } = await threeCandidates();
    const transfer = a.transfer('c');
    await clock.advance(1_000);
    const result = await transfer;
    expect(result.successor).toBe('c');
    expect(result.token).toBe(2n);
    expect(log).toEqual([
      'a started 0 at 0',
      'a aborted 0',
      'a work done 0 at 600',
      'a stopped 0 transferred',
      'c started 2 at 600',
    ]);
    expect(c.isLeader()).toBe(true);
    expect(a.isLeader()).toBe(false);
    expect(b.isLeader()).toBe(false);
    expect(a.phase).toBe('follower');
    // The record shows c as holder; the hand-over's own transitions value (1) was never a term.
    expect(store.inspect('e')?.data).toMatchObject({ holderIdentity: 'c', leaseTransitions: 2 });
    // Over a whole lease nobody else takes over.
    await clock.advance(T.leaseDuration * 2);
    expect(log.filter((line) => line.includes('started'))).toEqual([
      'a started 0 at 0',
      'c started 2 at 600',
    ]);
  });

  test('a successor that does not confirm: LE_TRANSFER_FAILED after renewDeadline, the lease is free, another candidate leads', async () => {
    const { store, a, b } = await threeCandidates();
    const outcome = a.transfer('ghost').then(
      () => null,
      (error: unknown) => error,
    );
    await clock.advance(600 + T.renewDeadline);
    const error = await outcome;
    expect(hasErrorCode(error, ErrorCode.TransferFailed)).toBe(true);
    expect((error as Error).message).toContain(
      '"ghost" did not confirm the transfer within 10000 ms',
    );
    // Free: the released form, taken at once by a follower.
    await clock.advance(0);
    const record = store.inspect('e')?.data as { holderIdentity?: string } | undefined;
    const holder = record?.holderIdentity;
    expect(['a', 'b', 'c']).toContain(holder);
    expect(a.isLeader() || b.isLeader() || running[2]!.isLeader()).toBe(true);
  });

  test('bad input: ourselves, an empty name, a follower, a concurrent transfer, a stopping elector', async () => {
    const { a, b } = await threeCandidates();
    const code = (promise: Promise<unknown>) =>
      promise.then(
        () => null,
        (error: unknown) => (error as { code?: string }).code,
      );
    expect(await code(a.transfer('a'))).toBe(ErrorCode.InvalidIdentity);
    expect(await code(a.transfer(''))).toBe(ErrorCode.InvalidIdentity);
    expect(await code(a.transfer(42 as unknown as string))).toBe(ErrorCode.InvalidIdentity);
    expect(await code(b.transfer('c'))).toBe(ErrorCode.NotLeader);
    const first = a.transfer('c');
    expect(await code(a.transfer('b'))).toBe(ErrorCode.TransferInProgress);
    await clock.advance(1_000);
    await first;
    const stopping = b.stop();
    expect(await code(b.transfer('a'))).toBe(ErrorCode.Stopped);
    await clock.advance(0);
    await stopping;
  });

  test('a backend that cannot transfer refuses, and the term goes on', async () => {
    clock = new FakeClock();
    const inner = new MemoryStore().lease('e');
    const plain: LeaseBackend = {
      description: 'plain',
      attempt: (request) => inner.attempt(request),
      release: (request) => inner.release(request),
      close: () => inner.close(),
    };
    const a = make(plain, 'a');
    void a.run();
    await clock.advance(0);
    const error = await a.transfer('b').then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasErrorCode(error, ErrorCode.TransferRefused)).toBe(true);
    expect(a.isLeader()).toBe(true);
    expect(log).toEqual(['a started 0 at 0']);
  });
});

describe('resign: the term back to the election', () => {
  test('the work is aborted and awaited (still leading), then released: a follower leads at once, we campaign after retryPeriod', async () => {
    const { store, a, b, c } = await threeCandidates();
    const resigned = a.resign();
    await clock.advance(499);
    // Winding down: still our term (aborted, so no longer valid for the work), nobody else.
    expect(a.phase).toBe('leader');
    expect(a.isLeader()).toBe(false);
    expect(b.isLeader() || c.isLeader()).toBe(false);
    await clock.advance(1);
    expect(await resigned).toBe(true);
    await clock.advance(0);
    const started = log.filter((line) => line.includes('started'));
    expect(log.slice(0, 4)).toEqual([
      'a started 0 at 0',
      'a aborted 0',
      'a work done 0 at 600',
      'a stopped 0 resigned',
    ]);
    // Released, and taken by a waiting follower without a lease's wait, with a higher token.
    expect(started).toHaveLength(2);
    expect(started[1]).toMatch(/^[bc] started 1 at 600$/);
    expect(a.phase).toBe('follower');
    expect(store.inspect('e')?.data).toMatchObject({ leaseTransitions: 1 });
    // Over two leases, only that follower leads: we stay a candidate without taking it back.
    await clock.advance(T.leaseDuration * 2);
    expect(log.filter((line) => line.includes('started'))).toEqual(started);
  });

  test('alone, or with releaseOnCancel: false: released anyway, and we lead again with a new token after retryPeriod', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const a = make(store.lease('e'), 'a', { releaseOnCancel: false });
    void a.run();
    await clock.advance(0);
    const resigned = a.resign();
    await clock.advance(500);
    expect(await resigned).toBe(true);
    expect(store.inspect('e')?.data).toMatchObject({ holderIdentity: '' });
    await clock.advance(T.retryPeriod - 1);
    expect(a.isLeader()).toBe(false);
    await clock.advance(1);
    expect(a.isLeader()).toBe(true);
    expect(a.currentTerm()?.token).toBe(1n);
  });

  test('nothing to resign: a follower, a stale term, a second call, a transfer under way; transfer during a resignation is refused', async () => {
    const { a, b } = await threeCandidates();
    const term = a.currentTerm();
    expect(await b.resign()).toBe(false);
    const first = a.resign(term === null ? {} : { term });
    expect(await a.resign()).toBe(false);
    const transfer = await a.transfer('b').then(
      () => null,
      (error: unknown) => (error as { code?: string }).code,
    );
    expect(transfer).toBe(ErrorCode.TransferInProgress);
    await clock.advance(500);
    expect(await first).toBe(true);
    await clock.advance(T.leaseDuration * 2);
    // The old term object is no longer current: nothing happens to whoever leads now.
    expect(await a.resign(term === null ? {} : { term })).toBe(false);
    expect(log.filter((line) => line.includes('stopped'))).toEqual(['a stopped 0 resigned']);
  });

  test('a one-shot elector stops after resigning', async () => {
    clock = new FakeClock();
    const a = make(new MemoryStore().lease('e'), 'a', { oneShot: true });
    const run = a.run();
    await clock.advance(0);
    const resigned = a.resign();
    await clock.advance(500);
    expect(await resigned).toBe(true);
    await clock.advance(0);
    await run;
    expect(a.phase).toBe('stopped');
  });
});
