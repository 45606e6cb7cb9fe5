import { describe, expect, test } from 'vitest';
import { LeaseObserver, observerIdentity } from '../../src/cli/lease-observer.js';
import {
  LeaderElector,
  type LeaseBackend,
  type LeaseStatus,
  MemoryStore,
} from '../../src/index.js';
import { sleep } from './support.js';

const TIMINGS = { leaseDuration: 600, renewDeadline: 400, retryPeriod: 100 };

async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}

describe('LeaseObserver: follows the leader without campaigning', () => {
  test('every change of holder or token, in order, de-duplicated', async () => {
    const store = new MemoryStore();
    const seen: Array<{ holder: string | null; token: bigint | null }> = [];
    const observer = new LeaseObserver(store.lease('jobs'), {
      pollMs: 50,
      requestTimeoutMs: 1_000,
      onChange: (status) => seen.push({ holder: status.holder, token: status.token }),
    });
    await observer.start();
    const a = new LeaderElector({ backend: store.lease('jobs'), identity: 'a', ...TIMINGS });
    const b = new LeaderElector({ backend: store.lease('jobs'), identity: 'b', ...TIMINGS });
    void a.run();
    await a.waitForLeadership();
    void b.run();
    await sleep(300); // renewals: same holder and token, nothing new to print
    await a.stop(); // releases: b takes over at once
    await b.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    await until(() => seen.at(-1)?.holder === 'b');
    await b.stop();
    await until(() => seen.at(-1)?.holder === null && seen.length > 3);
    observer.close();
    expect(seen).toEqual([
      { holder: null, token: null },
      { holder: 'a', token: 0n },
      { holder: null, token: null },
      { holder: 'b', token: 1n },
      { holder: null, token: null },
    ]);
    expect(store.watchCount).toBe(0);
  });

  test('without a watch it polls; a failed read is reported and polling goes on', async () => {
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
    const seen: LeaseStatus[] = [];
    const errors: unknown[] = [];
    const observer = new LeaseObserver(backend, {
      pollMs: 30,
      requestTimeoutMs: 1_000,
      onChange: (status) => seen.push(status),
      onError: (error) => errors.push(error),
    });
    await observer.start();
    failNext = true;
    const a = new LeaderElector({ backend: store.lease('jobs'), identity: 'a', ...TIMINGS });
    void a.run();
    await until(() => seen.some((status) => status.holder === 'a'));
    expect(errors).toHaveLength(1);
    await a.stop();
    observer.close();
    expect(seen.find((status) => status.holder === 'a')).toMatchObject({
      token: 0n,
      leaseDurationMs: 600,
      remainingMs: null,
    });
  });

  test('the observer identity can never be a CLI candidate', () => {
    const identity = observerIdentity();
    expect(identity).toMatch(/\p{Cc}/u);
    expect(observerIdentity()).not.toBe(identity);
  });
});
