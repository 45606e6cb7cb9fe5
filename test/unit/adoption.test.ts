// What a new user meets when they get something wrong or leave something out: errors that are
// never silent, a readiness signal, timings given in seconds, a one-shot elector that waits for
// its work, and an election name for metrics.
import { noop } from 'cockatiel';
import { afterEach, describe, expect, test } from 'vitest';
import {
  ErrorCode,
  hasErrorCode,
  LeaderElector,
  type LeaderElectorOptions,
  MemoryStore,
  type Readiness,
  RecordLeaseBackend,
} from '../../src/index.js';
import { FakeClock } from '../../src/testing/index.js';
import { InstrumentedStore } from '../support/instrumented-store.js';

const T = { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 };
let clock: FakeClock;
const running: LeaderElector<unknown>[] = [];

function make(
  options: Partial<LeaderElectorOptions<undefined>> & {
    backend: LeaderElectorOptions<undefined>['backend'];
  },
) {
  // No retry policy: cockatiel's backoff runs on real timers, not on the fake clock.
  const elector = new LeaderElector({
    clock,
    random: () => 0,
    identity: 'a',
    policy: noop,
    ...T,
    ...options,
  });
  running.push(elector as LeaderElector<unknown>);
  return elector;
}

afterEach(async () => {
  const stopping = running.splice(0).map((e) => e.stop());
  await clock.advance(60_000);
  await Promise.all(stopping);
});

describe('no silent errors', () => {
  test('without an error listener, each distinct error is one process warning with its code', async () => {
    clock = new FakeClock();
    const warnings: { message: string; code: string | undefined }[] = [];
    const onWarning = (warning: Error & { code?: string }) =>
      warnings.push({ message: warning.message, code: warning.code });
    process.on('warning', onWarning);
    try {
      const store = new InstrumentedStore();
      store.failing = () => true; // unreachable backend
      const a = make({ backend: new RecordLeaseBackend(store, 'e') });
      void a.run();
      await clock.advance(30_000); // many failed attempts
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on next tick
      const ours = warnings.filter((w) => w.code === ErrorCode.BackendUnavailable);
      expect(ours).toHaveLength(1);
      expect(ours[0]?.message).toContain('injected failure');
      expect(ours[0]?.message).toContain("add an 'error' listener");
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('with an error listener, no process warning', async () => {
    clock = new FakeClock();
    const warnings: unknown[] = [];
    const onWarning = (warning: Error & { code?: string }) => {
      if (warning.code?.startsWith('LE_')) warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const errors: unknown[] = [];
      const a = make({
        backend: new MemoryStore().lease('e'),
        onStartedLeading: () => {
          throw new Error('work bug');
        },
      });
      a.on('error', (error) => errors.push(error));
      void a.run();
      await clock.advance(0);
      await new Promise((resolve) => setImmediate(resolve));
      expect(errors.some((e) => hasErrorCode(e, ErrorCode.CallbackFailed))).toBe(true);
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('readiness', () => {
  test('false before the first answer and while the backend fails, with the reason; true when it answers', async () => {
    clock = new FakeClock();
    const store = new InstrumentedStore();
    const a = make({ backend: new RecordLeaseBackend(store, 'e') });
    a.on('error', () => {});
    const seen: Readiness[] = [];
    a.on('readiness', (r) => seen.push(r));
    expect(a.readiness()).toMatchObject({ ready: false, reason: 'not running' });
    store.failing = () => true;
    void a.run();
    expect(a.readiness().ready).toBe(false);
    expect(a.readiness().reason).toMatch(/waiting for the first answer/);
    await clock.advance(0);
    expect(a.readiness()).toMatchObject({ ready: false, code: ErrorCode.BackendUnavailable });
    expect(a.readiness().reason).toContain('injected failure');
    expect(a.healthz().ok).toBe(true); // client-go's liveness rule: a follower is healthy
    store.failing = null;
    await clock.advance(T.retryPeriod * 3);
    expect(a.readiness()).toEqual({ ready: true, reason: 'the backend answers', code: null });
    expect(seen.map((r) => r.ready)).toContain(true);
    await a.stop();
    expect(a.readiness()).toMatchObject({ ready: false, reason: 'stopped' });
  });
});

describe('timings given in seconds', () => {
  test.each([
    [{ leaseDuration: 15, renewDeadline: 10, retryPeriod: 2 }, 'leaseDuration', 15_000],
    [{ leaseDuration: 15_000, renewDeadline: 10, retryPeriod: 2 }, 'renewDeadline', 10_000],
    [{ leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2 }, 'retryPeriod', 2_000],
  ])('%o is refused with a message that says seconds were given', (timings, name, fix) => {
    clock = new FakeClock();
    let error: unknown;
    try {
      new LeaderElector({ backend: new MemoryStore().lease('e'), clock, ...timings });
    } catch (caught) {
      error = caught;
    }
    expect(hasErrorCode(error, ErrorCode.InvalidTiming)).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain(`${name} is`);
    expect(message).toMatch(/almost certainly .* s given as milliseconds/);
    expect(message).toContain(`${name}: ${fix}`);
  });

  test('the smallest plausible values pass', () => {
    clock = new FakeClock();
    expect(
      () =>
        new LeaderElector({
          backend: new MemoryStore().lease('e'),
          clock,
          leaseDuration: 150,
          renewDeadline: 100,
          retryPeriod: 10,
        }),
    ).not.toThrow();
  });
});

describe('oneShot', () => {
  test('after a loss, run() resolves only once the work has finished (bounded by stopGracePeriod)', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    let finishWork: () => void = () => {};
    const order: string[] = [];
    const a = make({
      backend: store.lease('e'),
      oneShot: true,
      onStartedLeading: (term) =>
        new Promise<void>((resolve) => {
          term.signal.addEventListener('abort', () => order.push(`aborted ${clock.now()}`));
          finishWork = () => {
            order.push(`work done ${clock.now()}`);
            resolve();
          };
        }),
      onStoppedLeading: (_t, reason) => {
        order.push(`onStoppedLeading ${reason} ${clock.now()}`);
      },
    });
    let resolved = false;
    const done = a.run().then(() => {
      resolved = true;
      order.push(`run resolved ${clock.now()}`);
    });
    await clock.advance(0);
    const current = store.inspect('e')!.data as Record<string, unknown>;
    store.putRaw('e', { ...current, holderIdentity: 'other', leaseTransitions: 5 });
    await clock.advance(1_500);
    expect(resolved).toBe(false);
    expect(a.isLeader()).toBe(false);
    finishWork();
    await clock.advance(0);
    await done;
    expect(order).toEqual([
      'aborted 0',
      'onStoppedLeading lost 0',
      'work done 1500',
      'run resolved 1500',
    ]);
  });
});

test('the metrics name defaults to the election name, not the description', () => {
  clock = new FakeClock();
  const elector = new LeaderElector({ backend: new MemoryStore().lease('other'), clock });
  expect(elector.name).toBe('other');
  expect(
    new LeaderElector({ backend: new MemoryStore().lease('x'), clock, name: 'mine' }).name,
  ).toBe('mine');
});
