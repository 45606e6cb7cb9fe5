import { describe, expect, test } from 'vitest';
import {
  ErrorCode,
  hasErrorCode,
  type LeaderChange,
  LeaderElector,
  type LeaseBackend,
  MemoryStore,
  observeLeader,
} from '../../src/index.js';
import { observerIdentity } from '../../src/observer/leader-observer.js';
import { sleep } from '../cli/support.js';

const TIMINGS = { leaseDuration: 600, renewDeadline: 400, retryPeriod: 100 };

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}

describe('observeLeader: follows the leader without campaigning', () => {
  test('every change of holder or token, in order, de-duplicated, pushed (no poll)', async () => {
    const store = new MemoryStore();
    const seen: LeaderChange[] = [];
    // A poll interval longer than the test: every change below is pushed.
    const observer = observeLeader(store.lease('jobs'), { pollInterval: 60_000 });
    observer.on('leader', (change) => seen.push(change));
    expect(await observer.first()).toEqual({ identity: null, token: null });
    const a = new LeaderElector({ backend: store.lease('jobs'), identity: 'a', ...TIMINGS });
    const b = new LeaderElector({ backend: store.lease('jobs'), identity: 'b', ...TIMINGS });
    void a.run();
    await a.waitForLeadership();
    void b.run();
    await sleep(300); // renewals: same holder and token, nothing new
    await a.stop(); // releases: b takes over at once
    await b.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    await until(() => seen.at(-1)?.identity === 'b');
    await b.stop();
    await until(() => seen.at(-1)?.identity === null && seen.length > 3);
    observer.close();
    expect(seen).toEqual([
      { identity: null, token: null },
      { identity: 'a', token: 0n },
      { identity: null, token: null },
      { identity: 'b', token: 1n },
      { identity: null, token: null },
    ]);
    expect(store.watchCount).toBe(0);
  });

  test('an async iterable that ends when the signal aborts; it never campaigns', async () => {
    const store = new MemoryStore();
    const controller = new AbortController();
    const observer = observeLeader(store.lease('jobs'), { signal: controller.signal });
    const collected: (string | null)[] = [];
    const iterating = (async () => {
      for await (const change of observer) collected.push(change.identity);
    })();
    await observer.first();
    const a = new LeaderElector({ backend: store.lease('jobs'), identity: 'a', ...TIMINGS });
    void a.run();
    await until(() => collected.includes('a'));
    controller.abort();
    await iterating;
    await a.stop();
    expect(collected).toEqual([null, 'a']);
    expect(observer.closed).toBe(true);
    // Only `a` ever held the lease.
    expect(store.inspect('jobs')?.data).toMatchObject({ holderIdentity: '', leaseTransitions: 0 });
  });

  test('without a push channel it polls; a failed read is reported and polling goes on', async () => {
    const store = new MemoryStore();
    const inner = store.lease('jobs');
    let failNext = false;
    const backend: LeaseBackend = {
      description: 'polled',
      attempt: (request) => inner.attempt(request),
      release: (request) => inner.release(request),
      inspect: async (request) => {
        if (failNext) {
          failNext = false;
          throw new Error('boom');
        }
        return (inner.inspect as NonNullable<LeaseBackend['inspect']>)(request);
      },
      close: () => inner.close(),
    };
    const seen: LeaderChange[] = [];
    const errors: unknown[] = [];
    const observer = observeLeader(backend, { pollInterval: 30 });
    observer.on('leader', (change) => seen.push(change));
    observer.on('error', (error) => errors.push(error));
    await observer.first();
    failNext = true;
    const a = new LeaderElector({ backend: store.lease('jobs'), identity: 'a', ...TIMINGS });
    void a.run();
    await until(() => seen.some((change) => change.identity === 'a'));
    expect(errors).toHaveLength(1);
    expect(hasErrorCode(errors[0], ErrorCode.BackendUnavailable)).toBe(true);
    await a.stop();
    observer.close();
    expect(seen.find((change) => change.identity === 'a')).toEqual({ identity: 'a', token: 0n });
  });

  test('bad input: a backend that cannot be read, a bad poll interval', () => {
    const noInspect = { description: 'x', attempt: async () => ({}), release: async () => {} };
    expect(() => observeLeader(noInspect as unknown as LeaseBackend)).toThrow(/cannot be observed/);
    const store = new MemoryStore();
    expect(() => observeLeader(store.lease('j'), { pollInterval: 0 })).toThrow(/pollInterval/);
  });

  test('the observer identity can never be a CLI candidate', () => {
    const identity = observerIdentity();
    expect(identity).toMatch(/\p{Cc}/u);
    expect(observerIdentity()).not.toBe(identity);
  });
});
