import { noop } from 'cockatiel';
import { afterEach, describe, expect, test } from 'vitest';
import {
  ErrorCode,
  hasErrorCode,
  LeaderElectError,
  LeaderElector,
  type LeaderElectorOptions,
  type LeaderInfo,
  type LeaseBackend,
  MemoryStore,
  RecordLeaseBackend,
  type StopReason,
  type Term,
} from '../../src/index.js';
import { FakeClock } from '../../src/testing/index.js';
import { InstrumentedStore } from '../support/instrumented-store.js';

const T = { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 };

let clock: FakeClock;
let electors: LeaderElector[] = [];

function make(
  store: InstrumentedStore | MemoryStore,
  identity: string,
  extra: Partial<LeaderElectorOptions> = {},
): LeaderElector {
  const backend =
    store instanceof MemoryStore ? store.lease('e') : new RecordLeaseBackend(store, 'e');
  const elector = new LeaderElector({
    backend,
    identity,
    clock,
    random: () => 0,
    policy: noop,
    ...T,
    ...extra,
  });
  electors.push(elector);
  return elector;
}

afterEach(async () => {
  const stopping = electors.map((e) => e.stop());
  await clock.advance(60_000);
  await Promise.all(stopping);
  expect(clock.pendingTimers).toBe(0);
  electors = [];
});

function collect(elector: LeaderElector) {
  const log: string[] = [];
  const terms: Term[] = [];
  const errors: LeaderElectError[] = [];
  elector.on('startedLeading', (t) => {
    terms.push(t);
    log.push(`started ${t.token}`);
  });
  elector.on('stoppedLeading', (t, reason) => log.push(`stopped ${t.token} ${reason}`));
  elector.on('error', (e) => errors.push(e));
  return { log, terms, errors };
}

describe('construction: bad input throws typed errors', () => {
  test('missing backend, empty identity, bad callbacks, bad timings', () => {
    clock = new FakeClock();
    const backend = new MemoryStore().lease('x');
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as LeaderElectError).code;
      }
      return 'no error';
    };
    expect(code(() => new LeaderElector({} as LeaderElectorOptions))).toBe(
      ErrorCode.MissingBackend,
    );
    expect(code(() => new LeaderElector({ backend, identity: '' }))).toBe(
      ErrorCode.InvalidIdentity,
    );
    expect(code(() => new LeaderElector({ backend, identity: '   ' }))).toBe(
      ErrorCode.InvalidIdentity,
    );
    expect(
      code(() => new LeaderElector({ backend, onStartedLeading: 'x' as unknown as () => void })),
    ).toBe(ErrorCode.InvalidOption);
    expect(code(() => new LeaderElector({ backend, leaseDuration: 5_000 }))).toBe(
      ErrorCode.InvalidTiming,
    );
  });

  test('default identity is hostname plus a nonce; describe() reports the margin', () => {
    clock = new FakeClock();
    const a = new LeaderElector({ backend: new MemoryStore().lease('x') });
    const b = new LeaderElector({ backend: new MemoryStore().lease('x') });
    expect(a.identity).not.toBe(b.identity);
    expect(a.identity).toMatch(/^.+_[0-9a-f-]{36}$/);
    expect(a.describe()).toContain('safetyMargin=5000ms');
  });

  test('run twice → LE_ALREADY_RUNNING; run after stop → LE_STOPPED', async () => {
    clock = new FakeClock();
    const e = make(new MemoryStore(), 'a');
    void e.run();
    expect(() => e.run()).toThrow(expect.objectContaining({ code: ErrorCode.AlreadyRunning }));
    await e.stop();
    expect(() => e.run()).toThrow(expect.objectContaining({ code: ErrorCode.Stopped }));
    await expect(e.waitForLeadership()).rejects.toMatchObject({ code: ErrorCode.Stopped });
  });
});

describe('leader and follower rules on a fake clock', () => {
  test('first candidate leads at once with token 0; renews every retryPeriod without reading first', async () => {
    clock = new FakeClock();
    const store = new InstrumentedStore();
    const a = make(store, 'a');
    const { terms } = collect(a);
    void a.run();
    await clock.advance(0);
    expect(terms.map((t) => t.token)).toEqual([0n]);
    expect(store.calls).toEqual(['get', 'create']);
    store.calls.length = 0;
    await clock.advance(T.retryPeriod * 3);
    expect(store.calls).toEqual(['update', 'update', 'update']); // fast path: no get
    expect(a.isLeader()).toBe(true);
    expect(terms[0]!.validUntil).toBe(3 * T.retryPeriod + T.renewDeadline);
  });

  test('a crashed leader is replaced exactly at first-observed time + leaseDuration', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const a = make(store, 'a', { releaseOnCancel: false });
    const b = make(store, 'b');
    const bLog = collect(b);
    void a.run();
    await clock.advance(0);
    void b.run();
    await clock.advance(5_000); // a renewed at 2000 and 4000; b observed each at once (watch)
    await a.stop(); // stops renewing, keeps the record: a crash as the lease sees it
    await clock.advance(4_000 + T.leaseDuration - 5_000 - 1);
    expect(bLog.terms).toHaveLength(0); // 1 ms before expiry
    await clock.advance(1);
    expect(bLog.terms.map((t) => [t.token, t.startedAt])).toEqual([[1n, 4_000 + T.leaseDuration]]);
  });

  test('graceful release hands over at the same instant (watch, no poll)', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const a = make(store, 'a');
    const b = make(store, 'b');
    const bLog = collect(b);
    void a.run();
    await clock.advance(0);
    void b.run();
    await clock.advance(3_000);
    const stopping = a.stop();
    await clock.advance(0);
    await stopping;
    expect(bLog.terms.map((t) => [t.token, t.startedAt])).toEqual([[1n, 3_000]]);
  });

  test('a leader that cannot renew loses exactly at sentAt + renewDeadline, signal first', async () => {
    clock = new FakeClock();
    const store = new InstrumentedStore();
    const a = make(store, 'a');
    const { log, terms } = collect(a);
    let abortedAt: number | undefined;
    void a.run();
    await clock.advance(0);
    terms[0]!.signal.addEventListener('abort', () => {
      abortedAt = clock.now();
    });
    await clock.advance(2_000); // renewal at 2000 succeeds → valid until 12000
    store.failing = () => true;
    await clock.advance(9_999);
    expect(a.isLeader()).toBe(true);
    expect(log).toEqual(['started 0']);
    await clock.advance(1);
    expect(a.isLeader()).toBe(false);
    expect(abortedAt).toBe(12_000);
    expect(log).toEqual(['started 0', 'stopped 0 renew-deadline']);
  });

  test('after a pause, isLeader() is false before any timer runs', async () => {
    clock = new FakeClock();
    const a = make(new MemoryStore(), 'a');
    const { terms } = collect(a);
    void a.run();
    await clock.advance(1_000);
    expect(a.isLeader()).toBe(true);
    clock.jump(T.renewDeadline); // SIGSTOP for 10 s: no timer has fired yet
    expect(a.isLeader()).toBe(false);
    expect(terms[0]!.isValid()).toBe(false);
    expect(terms[0]!.remainingMs()).toBe(0);
    expect(a.currentTerm()).toBeNull();
  });

  test('a renewal answered after the deadline does not revive the term; re-campaign gets a higher token', async () => {
    clock = new FakeClock();
    const store = new InstrumentedStore();
    const a = make(store, 'a');
    const { log } = collect(a);
    void a.run();
    await clock.advance(0);
    clock.jump(T.renewDeadline + 1); // paused right before the renewal timer
    await clock.advance(0); // timers run now, late
    expect(log[1]).toBe('stopped 0 renew-deadline');
    await clock.advance(0);
    expect(log[2]).toBe('started 1');
  });

  test('observing another holder ends the term at once (reason lost), then campaigns again', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const a = make(store, 'a');
    const { log } = collect(a);
    void a.run();
    await clock.advance(0);
    const current = store.inspect('e')!.data as Record<string, unknown>;
    store.putRaw('e', { ...current, holderIdentity: 'intruder', leaseTransitions: 7 });
    await clock.advance(0);
    expect(log).toEqual(['started 0', 'stopped 0 lost']);
    expect(a.leader).toEqual({ identity: 'intruder', token: 7n });
    await clock.advance(T.leaseDuration);
    expect(log).toEqual(['started 0', 'stopped 0 lost', 'started 8']);
  });

  test('without a watch, followers poll every jittered retryPeriod', async () => {
    clock = new FakeClock();
    const store = new InstrumentedStore();
    store.watchable = false;
    const a = make(store, 'a');
    void a.run();
    await clock.advance(0);
    const b = new LeaderElector({
      backend: new RecordLeaseBackend(store, 'e'),
      identity: 'b',
      clock,
      random: () => 0.5,
      policy: noop,
      ...T,
    });
    electors.push(b);
    const before = store.calls.length;
    void b.run();
    await clock.advance(0);
    const reads = () => store.calls.slice(before).filter((c) => c === 'get').length;
    expect(reads()).toBe(1);
    await clock.advance(2_000 * 1.6 - 1);
    expect(reads()).toBe(1);
    await clock.advance(1);
    expect(reads()).toBe(2);
  });
});

describe('callbacks, events and stop', () => {
  test('onNewLeader is ordered and de-duplicated, and includes "no leader"', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const seen: LeaderInfo[] = [];
    const a = make(store, 'a');
    const b = make(store, 'b', { onNewLeader: (l) => seen.push(l) });
    const c = make(store, 'c', { releaseOnCancel: true });
    void a.run();
    await clock.advance(0);
    void b.run();
    await clock.advance(10_000); // many renewals of a: no duplicates
    await a.stop();
    await clock.advance(0);
    void c.run();
    await clock.advance(1_000);
    await b.stop();
    await clock.advance(0);
    expect(seen.slice(0, 4)).toEqual([
      { identity: 'a', token: 0n },
      { identity: null, token: null }, // a released
      { identity: 'b', token: 1n },
      { identity: null, token: null }, // b released
    ]);
    // c's term is reported only if b's watch saw it before b's stop closed the watch.
    expect(seen.slice(4)).toEqual(seen.length > 4 ? [{ identity: 'c', token: 2n }] : []);
  });

  test('stop aborts term.signal, keeps renewing while work winds down, then releases', async () => {
    clock = new FakeClock();
    const store = new InstrumentedStore();
    const order: string[] = [];
    const a = make(store, 'a', {
      onStartedLeading: (term) =>
        new Promise<void>((resolve) => {
          term.signal.addEventListener('abort', () => {
            order.push(`abort ${clock.now()}`);
            clock.setTimer(() => {
              order.push(`work done ${clock.now()}`);
              resolve();
            }, 5_000);
          });
        }),
      onStoppedLeading: (_t, reason) => {
        order.push(`onStoppedLeading ${reason} ${clock.now()}`);
      },
    });
    void a.run();
    await clock.advance(1_000);
    store.calls.length = 0;
    const stopped = a.stop();
    expect(a.isLeader()).toBe(false); // the signal is aborted: no new work
    await clock.advance(6_000);
    await stopped;
    expect(order).toEqual(['abort 1000', 'work done 6000', 'onStoppedLeading stopped 6000']);
    expect(store.calls.filter((c) => c === 'update').length).toBe(3); // renewals at 2000 and 4000, release at 6000
    expect((store.inner.inspect('e')!.data as { holderIdentity: string }).holderIdentity).toBe('');
  });

  test('term.signal first read after the term ended is already aborted, with the reason', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    let kept: Term | null = null;
    const a = make(store, 'a', {
      onStartedLeading: (term) => {
        kept = term; // the signal is not touched while the term runs
      },
    });
    void a.run();
    await clock.advance(0);
    const term = kept as unknown as Term;
    expect(term.isValid()).toBe(true);
    await a.stop();
    expect(term.isValid()).toBe(false);
    expect(term.signal.aborted).toBe(true);
    expect((term.signal.reason as LeaderElectError).code).toBe(ErrorCode.NotLeader);
    expect((term.signal.reason as LeaderElectError).message).toContain('stopped');
  });

  test('work that outlives stopGracePeriod is reported, then the lease is released anyway', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const a = make(store, 'a', {
      stopGracePeriod: 3_000,
      onStartedLeading: () => new Promise<void>(() => {}),
    });
    const { errors } = collect(a);
    void a.run();
    await clock.advance(0);
    const stopped = a.stop();
    await clock.advance(3_000);
    await stopped;
    expect(errors.map((e) => e.code)).toContain(ErrorCode.CallbackFailed);
    expect((store.inspect('e')!.data as { holderIdentity: string }).holderIdentity).toBe('');
  });

  test('a failing onStartedLeading steps down (never a half-leader) and the error reaches the error event', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    let calls = 0;
    const a = make(store, 'a', {
      onStartedLeading: async () => {
        calls++;
        if (calls === 1) throw new Error('boom');
      },
    });
    const b = make(store, 'b');
    const { log, errors } = collect(a);
    const bLog = collect(b);
    void a.run();
    await clock.advance(0);
    void b.run();
    await clock.advance(0);
    expect(log).toEqual(['started 0', 'stopped 0 work-failed']);
    expect(errors[0]).toMatchObject({ code: ErrorCode.CallbackFailed });
    expect(errors[0]!.message).toContain('boom');
    expect(a.isLeader()).toBe(false);
    expect(bLog.terms.map((t) => t.token)).toEqual([1n]); // b took the released lease at once
  });

  test('throwing callbacks and listeners never break the elector', async () => {
    clock = new FakeClock();
    const a = make(new MemoryStore(), 'a', {
      onNewLeader: () => {
        throw new Error('observer bug');
      },
      onStoppedLeading: () => Promise.reject(new Error('cleanup bug')),
    });
    const reasons: StopReason[] = [];
    const { errors } = collect(a);
    a.on('stoppedLeading', (_t, r) => reasons.push(r));
    void a.run();
    await clock.advance(0);
    expect(a.isLeader()).toBe(true);
    await Promise.all([a.stop(), clock.advance(0)]);
    expect(reasons).toEqual(['stopped']);
    // onNewLeader(a), onNewLeader(null) after the release, onStoppedLeading's rejection.
    expect(errors.map((e) => e.code)).toEqual([
      ErrorCode.CallbackFailed,
      ErrorCode.CallbackFailed,
      ErrorCode.CallbackFailed,
    ]);
    expect(errors.map((e) => e.message).join()).toContain('cleanup bug');
  });

  test('waitForLeadership resolves with the term, honours its AbortSignal', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const a = make(store, 'a');
    const b = make(store, 'b');
    void a.run();
    await clock.advance(0);
    void b.run();
    const controller = new AbortController();
    const waiting = b.waitForLeadership({ signal: controller.signal });
    controller.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    const next = b.waitForLeadership();
    await Promise.all([a.stop(), clock.advance(0)]);
    expect((await next).identity).toBe('b');
    expect(await b.waitForLeadership()).toBe(b.currentTerm());
  });

  test('run({ signal }) stops the elector on abort and resolves run()', async () => {
    clock = new FakeClock();
    const a = make(new MemoryStore(), 'a');
    const controller = new AbortController();
    const done = a.run({ signal: controller.signal });
    await clock.advance(0);
    controller.abort();
    await clock.advance(0);
    await done;
    expect(a.phase).toBe('stopped');
    expect(clock.pendingTimers).toBe(0);
  });

  test('oneShot: after the first term ends the elector stops by itself', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    const a = make(store, 'a', { oneShot: true });
    const done = a.run();
    await clock.advance(0);
    const current = store.inspect('e')!.data as Record<string, unknown>;
    store.putRaw('e', { ...current, holderIdentity: 'other' });
    await clock.advance(0);
    await done;
    expect(a.phase).toBe('stopped');
  });

  test('healthz follows the HealthzAdaptor rule', async () => {
    clock = new FakeClock();
    const a = make(new MemoryStore(), 'a');
    expect(a.healthz().ok).toBe(true);
    void a.run();
    await clock.advance(0);
    expect(a.healthz()).toMatchObject({ ok: true, message: 'leading, renewing' });
    clock.jump(T.leaseDuration + 20_001); // wedged: the state still says leader
    expect(a.healthz(20_000).ok).toBe(false);
    expect(a.healthz(20_000).message).toContain('has not renewed');
  });

  test('corrupt records: never free, reported once per version as LE_CORRUPT_RECORD', async () => {
    clock = new FakeClock();
    const store = new MemoryStore();
    store.putRaw('e', { holderIdentity: 'x', leaseDurationMs: -1, leaseTransitions: 0 });
    const a = make(store, 'a');
    const { errors, terms } = collect(a);
    void a.run();
    await clock.advance(T.leaseDuration * 3);
    expect(terms).toHaveLength(0);
    expect(errors).toHaveLength(1);
    expect(hasErrorCode(errors[0], ErrorCode.CorruptRecord)).toBe(true);
    expect(errors[0]!.message).toContain('leaseDurationMs must be a positive integer');
  });
});

test('stop while a lost term’s work is still winding down leaves no grace timer behind', async () => {
  clock = new FakeClock();
  const store = new MemoryStore();
  const a = make(store, 'a', { onStartedLeading: () => new Promise<void>(() => {}) });
  void a.run();
  await clock.advance(0);
  const current = store.inspect('e')!.data as Record<string, unknown>;
  store.putRaw('e', { ...current, holderIdentity: 'intruder' });
  await clock.advance(0); // lost: re-candidacy waits for the (never ending) work
  const stopping = a.stop();
  await clock.advance(0);
  await stopping;
  expect(clock.pendingTimers).toBe(0);
});

test('a throwing event listener is reported as an error event and the elector carries on', async () => {
  clock = new FakeClock();
  const store = new MemoryStore();
  const a = make(store, 'a');
  const { errors, log } = collect(a);
  a.on('stoppedLeading', () => {
    throw new Error('listener bug');
  });
  void a.run();
  await clock.advance(0);
  const current = store.inspect('e')!.data as Record<string, unknown>;
  store.putRaw('e', { ...current, holderIdentity: '' }); // released behind our back: loss, then re-acquire
  await clock.advance(0);
  expect(log).toEqual(['started 0', 'stopped 0 lost', 'started 1']);
  expect(errors.map((e) => e.message).join()).toContain('listener bug');
});

test('a backend can reject timings it cannot honour at construction (configure hook)', () => {
  clock = new FakeClock();
  const backend = new MemoryStore().lease('x');
  const seen: unknown[] = [];
  const picky = Object.assign(Object.create(backend) as typeof backend, {
    configure: (timings: unknown) => {
      seen.push(timings);
      throw new LeaderElectError(ErrorCode.InvalidTiming, 'whole seconds only');
    },
  });
  expect(
    () =>
      new LeaderElector({
        backend: picky,
        leaseDuration: 2_500,
        renewDeadline: 2_000,
        retryPeriod: 500,
      }),
  ).toThrow('whole seconds only');
  expect(seen).toEqual([{ leaseDurationMs: 2_500, renewDeadlineMs: 2_000, retryPeriodMs: 500 }]);
});

describe('renewLocally (a backend that can renew without I/O)', () => {
  /** The memory backend plus a scripted renewLocally, counting what the elector calls. */
  function localBackend(answer: (token: bigint) => 'held' | 'null' | 'throw') {
    const inner = new MemoryStore().lease('e');
    const calls = { local: 0, renewAttempts: 0, acquireAttempts: 0 };
    const backend: LeaseBackend = {
      description: 'memory + renewLocally',
      attempt: (request) => {
        if (request.mode === 'renew') calls.renewAttempts++;
        else calls.acquireAttempts++;
        return inner.attempt(request);
      },
      release: (request) => inner.release(request),
      close: () => inner.close(),
      renewLocally: (request) => {
        calls.local++;
        const what = answer(request.token);
        if (what === 'throw') throw new Error('local renewal broke');
        if (what === 'null') return null;
        return {
          kind: 'held',
          token: request.token,
          sentAt: request.clock.now(),
          leaseDurationMs: request.leaseDurationMs,
          fence: undefined,
        };
      },
    };
    return { backend, calls };
  }

  function run(backend: LeaseBackend) {
    const elector = new LeaderElector({
      backend,
      identity: 'local',
      clock,
      random: () => 0,
      policy: noop,
      ...T,
    });
    electors.push(elector);
    const seen = collect(elector);
    const renewed: number[] = [];
    elector.on('renewed', () => renewed.push(clock.now()));
    void elector.run();
    return { elector, ...seen, renewed };
  }

  test('a local answer renews the term at each retryPeriod without a backend attempt', async () => {
    clock = new FakeClock();
    const { backend, calls } = localBackend(() => 'held');
    const { elector, terms, renewed } = run(backend);
    await clock.advance(0);
    expect(terms).toHaveLength(1);
    const term = terms[0] as Term;
    const firstValidUntil = term.validUntil;
    await clock.advance(T.retryPeriod * 5);
    expect(calls.local).toBe(5);
    expect(calls.renewAttempts).toBe(0);
    expect(calls.acquireAttempts).toBe(1);
    expect(renewed).toEqual([2_000, 4_000, 6_000, 8_000, 10_000]);
    expect(term.validUntil).toBe(firstValidUntil + T.retryPeriod * 5);
    expect(elector.isLeader()).toBe(true);
  });

  test('renewals one retryPeriod apart re-arm one timer instead of creating one each', async () => {
    clock = new FakeClock();
    const { backend, calls } = localBackend(() => 'held');
    const { elector } = run(backend);
    await clock.advance(0);
    const created = clock.timersCreated;
    // 60 renewals over 120 s: the renewal timer and the term timer (which checks the deadline
    // every renewDeadline / 2 while renewals move it) are re-armed in place.
    await clock.advance(T.retryPeriod * 60);
    expect(calls.local).toBe(60);
    expect(clock.timersCreated - created).toBeLessThanOrEqual(2);
    expect(elector.isLeader()).toBe(true);
    await elector.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  test('null falls back to a full renew attempt; a throwing renewLocally is reported and falls back too', async () => {
    clock = new FakeClock();
    let mode: 'null' | 'throw' = 'null';
    const { backend, calls } = localBackend(() => mode);
    const { elector, errors, log } = run(backend);
    await clock.advance(0);
    await clock.advance(T.retryPeriod);
    expect(calls).toEqual({ local: 1, renewAttempts: 1, acquireAttempts: 1 });
    mode = 'throw';
    await clock.advance(T.retryPeriod);
    expect(calls).toEqual({ local: 2, renewAttempts: 2, acquireAttempts: 1 });
    expect(errors.map((e) => e.code)).toEqual([ErrorCode.BackendError]);
    expect(errors[0]?.message).toContain('local renewal broke');
    expect(elector.isLeader()).toBe(true);
    expect(log).toEqual(['started 0']);
  });

  test('a local answer for another token ends the term as lost', async () => {
    clock = new FakeClock();
    const { backend } = localBackend(() => 'held');
    const wrapped: LeaseBackend = {
      ...backend,
      renewLocally: (request) => {
        const held = backend.renewLocally?.(request) ?? null;
        return held === null ? null : { ...held, token: request.token + 1n };
      },
    };
    const { log } = run(wrapped);
    await clock.advance(0);
    await clock.advance(T.retryPeriod);
    expect(log).toContain('stopped 0 lost');
  });
});
