import { describe, expect, test } from 'vitest';
import {
  ErrorCode,
  formatMicroTime,
  type LeaseRecord,
  parseLeaseRecord,
  RecordLeaseBackend,
} from '../../src/index.js';
import { FakeClock } from '../../src/testing/index.js';
import { InstrumentedStore } from '../support/instrumented-store.js';

const signal = new AbortController().signal;
const LEASE = 15_000;

function setup() {
  const clock = new FakeClock();
  const store = new InstrumentedStore();
  const backend = (identity: string) => {
    const b = new RecordLeaseBackend(store, 'lease');
    return {
      backend: b,
      acquire: () =>
        b.attempt({ mode: 'acquire', identity, leaseDurationMs: LEASE, clock, signal }),
      renew: (token: bigint) =>
        b.attempt({ mode: 'renew', token, identity, leaseDurationMs: LEASE, clock, signal }),
      release: (token: bigint) => b.release({ identity, token, clock, signal }),
    };
  };
  const record = () => store.inner.inspect('lease')?.data as LeaseRecord;
  return { clock, store, backend, record };
}

describe('RecordLeaseBackend (client-go algorithm)', () => {
  test('create with transitions 0; renew keeps acquireTime and token; client-go record fields', async () => {
    const { clock, backend, record } = setup();
    const a = backend('a');
    const held = await a.acquire();
    expect(held).toMatchObject({ kind: 'held', token: 0n, sentAt: 0, leaseDurationMs: LEASE });
    const acquired = record();
    expect(acquired).toEqual({
      holderIdentity: 'a',
      leaseDurationMs: LEASE,
      acquireTime: formatMicroTime(clock.wallNow()),
      renewTime: formatMicroTime(clock.wallNow()),
      leaseTransitions: 0,
    });
    expect(acquired.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await clock.advance(2_000);
    expect(await a.renew(0n)).toMatchObject({ kind: 'held', token: 0n, sentAt: 2_000 });
    expect(record().acquireTime).toBe(acquired.acquireTime);
    expect(record().renewTime).not.toBe(acquired.renewTime);
  });

  test('a follower sees the holder with expiry at first observation + leaseDuration', async () => {
    const { clock, backend } = setup();
    await backend('a').acquire();
    await clock.advance(1_000);
    const b = backend('b');
    expect(await b.acquire()).toEqual({
      kind: 'not-held',
      holder: 'a',
      token: 0n,
      expiresAt: 16_000,
    });
    await clock.advance(5_000);
    // Same version: the first observation time stands.
    expect(await b.acquire()).toEqual({
      kind: 'not-held',
      holder: 'a',
      token: 0n,
      expiresAt: 16_000,
    });
  });

  test('a new version restarts the expiry from its own first observation', async () => {
    const { clock, backend } = setup();
    const a = backend('a');
    await a.acquire();
    const b = backend('b');
    await b.acquire();
    await clock.advance(10_000);
    await a.renew(0n);
    await clock.advance(1);
    expect(await b.acquire()).toMatchObject({ expiresAt: 10_001 + LEASE });
  });

  test('every acquisition increments transitions, even by the same identity', async () => {
    const { clock, backend, record } = setup();
    const a = backend('a');
    await a.acquire();
    const again = await backend('a').acquire(); // e.g. our term lapsed, the record still names us
    expect(again).toMatchObject({ kind: 'held', token: 1n });
    await clock.advance(LEASE + 1);
    const b = backend('b');
    await b.acquire(); // first observation now
    await clock.advance(LEASE);
    expect(await b.acquire()).toMatchObject({ kind: 'held', token: 2n });
    expect(record().holderIdentity).toBe('b');
  });

  test('release writes the client-go released form; the next candidate takes it with a new token', async () => {
    const { clock, backend, record, store } = setup();
    const a = backend('a');
    await a.acquire();
    const b = backend('b');
    await b.acquire();
    await clock.advance(500);
    await a.release(0n);
    expect(record()).toMatchObject({
      holderIdentity: '',
      leaseDurationMs: 1_000,
      leaseTransitions: 0,
    });
    expect(record().acquireTime).toBe(record().renewTime);
    // b observes the release (normally via its watch), then acquires on that version directly.
    expect(await b.acquire()).toMatchObject({ kind: 'held', token: 1n });
    store.calls.length = 0;
    await backend('c').acquire();
    expect(store.calls).toEqual(['get']); // c reads, sees b, writes nothing
  });

  test('release is a no-op when the lease is no longer ours', async () => {
    const { clock, backend, record } = setup();
    const a = backend('a');
    await a.acquire();
    const b = backend('b');
    await b.acquire();
    await clock.advance(LEASE);
    await b.acquire(); // b takes over the expired lease
    await a.release(0n);
    expect(record().holderIdentity).toBe('b');
  });

  test('a renewal that finds another holder reports not-held (loss)', async () => {
    const { clock, backend } = setup();
    const a = backend('a');
    await a.acquire();
    const b = backend('b');
    await b.acquire();
    await clock.advance(LEASE);
    await b.acquire();
    expect(await a.renew(0n)).toMatchObject({ kind: 'not-held', holder: 'b', token: 1n });
  });

  test('two racers on one version: exactly one wins, the other learns who', async () => {
    const { backend } = setup();
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((id) => backend(id).acquire()));
    const winners = results.filter((r) => r.kind === 'held');
    expect(winners).toHaveLength(1);
    const losers = results.filter((r) => r.kind === 'not-held');
    const winner = ['a', 'b', 'c', 'd'][results.findIndex((r) => r.kind === 'held')];
    for (const l of losers) expect(l).toMatchObject({ holder: winner, token: 0n });
  });

  test('corrupt data is LE_CORRUPT_RECORD and never overwritten', async () => {
    const { store, backend } = setup();
    store.inner.putRaw('lease', 'not a record');
    await expect(backend('a').acquire()).rejects.toMatchObject({ code: ErrorCode.CorruptRecord });
    expect(store.inner.inspect('lease')?.data).toBe('not a record');
  });

  test.each([
    [null, 'expected an object'],
    [{ holderIdentity: 1 }, 'holderIdentity must be a string'],
    [
      { holderIdentity: 'x', leaseDurationMs: 0, leaseTransitions: 0 },
      'leaseDurationMs must be a positive integer',
    ],
    [{ holderIdentity: 'x', leaseDurationMs: 5, leaseTransitions: -1 }, 'leaseTransitions'],
    [{ holderIdentity: 'x', leaseDurationMs: 5, leaseTransitions: 1.5 }, 'leaseTransitions'],
    [
      {
        holderIdentity: 'x',
        leaseDurationMs: 5,
        leaseTransitions: 1,
        acquireTime: 3,
        renewTime: '',
      },
      'acquireTime',
    ],
  ])('parseLeaseRecord rejects %j', (data, rule) => {
    expect(() => parseLeaseRecord(data, 'test')).toThrow(rule);
  });

  test('strategy and preferredHolder are kept as found', async () => {
    const { store, backend, record } = setup();
    store.inner.putRaw('lease', {
      holderIdentity: '',
      leaseDurationMs: 1000,
      acquireTime: '',
      renewTime: '',
      leaseTransitions: 4,
      strategy: 'OldestEmulationVersion',
      preferredHolder: 'a',
    });
    expect(await backend('a').acquire()).toMatchObject({ kind: 'held', token: 5n });
    expect(record()).toMatchObject({ strategy: 'OldestEmulationVersion', preferredHolder: 'a' });
  });

  test('aborted calls reject with the signal reason; a closed backend refuses work', async () => {
    const { clock, backend } = setup();
    const controller = new AbortController();
    controller.abort(new Error('deadline'));
    const a = backend('a');
    await expect(
      a.backend.attempt({
        mode: 'acquire',
        identity: 'a',
        leaseDurationMs: LEASE,
        clock,
        signal: controller.signal,
      }),
    ).rejects.toThrow('deadline');
    await a.backend.close();
    await expect(a.acquire()).rejects.toMatchObject({ code: ErrorCode.Stopped });
  });
});

test('inspect shows holder, token and recorded renewal without campaigning', async () => {
  const clock = new FakeClock();
  const store = new InstrumentedStore();
  const observer = new RecordLeaseBackend(store, 'lease');
  expect(await observer.inspect({ signal })).toEqual({
    holder: null,
    token: null,
    leaseDurationMs: null,
    remainingMs: null,
    renewTime: null,
  });
  await new RecordLeaseBackend(store, 'lease').attempt({
    mode: 'acquire',
    identity: 'a',
    leaseDurationMs: LEASE,
    clock,
    signal,
  });
  store.calls.length = 0;
  expect(await observer.inspect({ signal })).toEqual({
    holder: 'a',
    token: 0n,
    leaseDurationMs: LEASE,
    remainingMs: null,
    renewTime: formatMicroTime(clock.wallNow()),
  });
  expect(store.calls).toEqual(['get']);
});

test('a record deleted under a leader ends its term; the recreated record keeps tokens rising', async () => {
  const clock = new FakeClock();
  const store = new InstrumentedStore();
  const a = new RecordLeaseBackend(store, 'lease');
  const attempt = (mode: 'acquire' | 'renew', token?: bigint) =>
    a.attempt({
      mode,
      ...(token === undefined ? {} : { token }),
      identity: 'a',
      leaseDurationMs: LEASE,
      clock,
      signal,
    });
  await attempt('acquire');
  await attempt('acquire'); // token 1
  store.inner.delete('lease');
  expect(await attempt('renew', 1n)).toMatchObject({ kind: 'not-held', holder: null });
  expect(await attempt('acquire')).toMatchObject({ kind: 'held', token: 2n });
});

test('a store without a watch: the backend offers none, followers poll, no error event', async () => {
  const { LeaderElector } = await import('../../src/index.js');
  const clock = new FakeClock();
  const store = new InstrumentedStore();
  store.watchable = false;
  const errors: unknown[] = [];
  const a = new LeaderElector({
    backend: new RecordLeaseBackend(store, 'lease'),
    identity: 'a',
    clock,
    random: () => 0,
  });
  const b = new LeaderElector({
    backend: new RecordLeaseBackend(store, 'lease'),
    identity: 'b',
    clock,
    random: () => 0,
  });
  expect(new RecordLeaseBackend(store, 'lease').watch).toBeUndefined();
  for (const elector of [a, b]) elector.on('error', (error) => errors.push(error));
  void a.run();
  await clock.advance(0);
  void b.run();
  await clock.advance(0);
  const reads = store.calls.length;
  // b polls every jittered retryPeriod (random 0: exactly 2 s) while a leads.
  await clock.advance(2_000);
  expect(store.calls.length).toBeGreaterThan(reads);
  expect(b.leader?.identity).toBe('a');
  await a.stop();
  // Nobody pushes the release to b: its next poll finds the lease free and takes it.
  await clock.advance(2_000);
  expect(b.isLeader()).toBe(true);
  await b.stop();
  expect(errors).toEqual([]);
});
