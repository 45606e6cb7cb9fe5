// The session lease's keepalive policy on a fake clock, against a scripted lease service: which
// keepalive a renewal reuses, when the session sends its own, and what an unanswered or a
// TTL-0 answer does. The real service is exercised by test/etcd/.
import { describe, expect, test } from 'vitest';
import { ErrorCode } from '../../../src/errors.js';
import { LeaseLostError, LeaseSession } from '../../../src/etcd/lease-session.js';
import { FakeClock, flushMicrotasks } from '../../../src/testing/fake-clock.js';
import { ScriptedEtcd } from '../../support/scripted-etcd.js';

const never = new AbortController().signal;

function setup(ttl = 3, requestTimeout = 5_000) {
  const clock = new FakeClock({ start: 1_000 });
  const etcd = new ScriptedEtcd();
  const forgotten: LeaseSession[] = [];
  const session = new LeaseSession(
    {
      client: etcd.client,
      endpoints: ['http://127.0.0.1:2379'],
      requestTimeout,
      clock,
      clientClosed: () => false,
      forget: (s) => forgotten.push(s),
    },
    ttl,
  );
  session.join('e');
  return { clock, etcd, session, forgotten };
}

/** Keepalive requests written so far on every stream. */
const written = (etcd: ScriptedEtcd) =>
  etcd.keepaliveStreams.reduce((n, stream) => n + stream.written.length, 0);

describe('LeaseSession', () => {
  test('the grant proves the lease from its send time; a renewal after it reuses it', async () => {
    const { clock, etcd, session } = setup();
    const lease = await session.lease(never);
    expect(lease).toMatchObject({ id: 0x1234n, ttlSeconds: 3, generation: 1 });
    await flushMicrotasks();
    const ack = await session.keepalive(1_000, never);
    expect(ack).toEqual({ sentAt: 1_000, ttlSeconds: 3, generation: 1 });
    expect(written(etcd)).toBe(0);
    await clock.advance(100);
    expect(session.acknowledgedSince(1_000)).toEqual(ack);
    expect(session.acknowledgedSince(1_001)).toBeNull();
  });

  test('a keepalive newer than the last one is sent once, and concurrent renewals share it', async () => {
    const { clock, etcd, session } = setup();
    await session.lease(never);
    await clock.advance(400);
    const a = session.keepalive(1_200, never);
    const b = session.keepalive(1_300, never);
    await flushMicrotasks();
    expect(written(etcd)).toBe(1);
    etcd.keepalive.answer({ TTL: '3', header: { revision: '7' } });
    const [first, second] = await Promise.all([a, b]);
    expect(first).toEqual({ sentAt: 1_400, ttlSeconds: 3, generation: 1 });
    expect(second).toBe(first);
    // A later bound than the last send: a new keepalive.
    void session.keepalive(1_401, never).catch(() => undefined);
    await flushMicrotasks();
    expect(written(etcd)).toBe(2);
  });

  test('the session sends a keepalive of its own after TTL/3 without one, not before', async () => {
    const { clock, etcd, session } = setup(3);
    await session.lease(never);
    await clock.advance(999);
    expect(written(etcd)).toBe(0);
    await clock.advance(1);
    expect(written(etcd)).toBe(1);
    etcd.keepalive.answer({ TTL: '3' });
    await flushMicrotasks();
    // A renewal's keepalive at +1500 postpones the next background one to +2500.
    await clock.advance(500);
    const renewal = session.keepalive(clock.now(), never);
    await flushMicrotasks();
    etcd.keepalive.answer({ TTL: '3' });
    await renewal;
    expect(written(etcd)).toBe(2);
    await clock.advance(999);
    expect(written(etcd)).toBe(2);
    await clock.advance(1);
    expect(written(etcd)).toBe(3);
  });

  test('an unanswered keepalive is sent again on a new stream after a third of its budget; the proof is the answered send', async () => {
    // TTL 6 s: budget max(1 s, min(5 s, 3 s)) = 3 s, attempts of 1 s.
    const { clock, etcd, session } = setup(6, 5_000);
    await session.lease(never);
    await flushMicrotasks();
    const pending = session.keepalive(clock.now() + 1, never);
    await flushMicrotasks();
    expect(etcd.keepaliveStreams).toHaveLength(1);
    await clock.advance(999);
    expect(etcd.keepalive.cancelled).toBe(false);
    await clock.advance(1);
    expect(etcd.keepaliveStreams[0]?.cancelled).toBe(true);
    expect(etcd.keepaliveStreams).toHaveLength(2);
    expect(etcd.keepalive.written).toHaveLength(1);
    await clock.advance(10);
    etcd.keepalive.answer({ TTL: '6' });
    expect(await pending).toEqual({ sentAt: 2_000, ttlSeconds: 6, generation: 1 });
  });

  test('no answer within the whole budget: a transient LE_BACKEND_TIMEOUT', async () => {
    const { clock, session } = setup(4, 5_000);
    await session.lease(never);
    await flushMicrotasks();
    const outcome = session.keepalive(clock.now() + 1, never).then(
      () => 'resolved',
      (error: unknown) => error,
    );
    // Budget max(1 s, min(5 s, 2 s)) = 2 s: three attempts, then the error.
    await clock.advance(2_000);
    expect(await outcome).toMatchObject({ code: ErrorCode.BackendTimeout, transient: true });
  });

  test('a session that hears nothing for its renew deadline lets go of the lease and revokes it', async () => {
    const { clock, etcd, session } = setup(3);
    session.join('f', 1_500); // a follower election with renewDeadline 1.5 s
    const lost: number[] = [];
    session.onLost((generation) => lost.push(generation));
    await session.lease(never);
    // The background keepalive goes out at +750 ms (min(TTL/3, 1.5 s / 2)), and is sent again
    // every 500 ms (a third of its 1.5 s budget) on new streams; nothing comes back.
    await clock.advance(1_400);
    expect(lost).toEqual([]);
    expect(written(etcd)).toBe(2);
    // At +1750 ms, 1.75 s after the grant's answer: the session lets go before a third attempt.
    await clock.advance(350);
    expect(lost).toEqual([1]);
    expect(written(etcd)).toBe(2);
    expect(session.current).toBeNull();
    await flushMicrotasks();
    expect(etcd.revokes).toEqual([0x1234n.toString()]);
    // No keepalive for the abandoned lease any more.
    const sent = written(etcd);
    await clock.advance(5_000);
    expect(written(etcd)).toBe(sent);
  });

  test('the shortest renew deadline of the elections still joined decides when it sends: a second election with it keeps it when the first leaves', async () => {
    const { clock, etcd, session } = setup(3);
    session.join('f', 1_500);
    session.join('g', 1_500);
    session.join('h', 2_400);
    void session.leave('f', true);
    await session.lease(never);
    // Still min(TTL/3, 1.5 s / 2) = 750 ms (g has 1.5 s), not 1 s (TTL/3, h's 1.2 s).
    await clock.advance(740);
    expect(written(etcd)).toBe(0);
    await clock.advance(20);
    expect(written(etcd)).toBe(1);
  });

  test('a broken stream is retried once on a new stream', async () => {
    const { clock, etcd, session } = setup();
    await session.lease(never);
    await flushMicrotasks();
    const pending = session.keepalive(clock.now() + 1, never);
    await flushMicrotasks();
    etcd.keepalive.fail('stream removed');
    await flushMicrotasks();
    expect(etcd.keepaliveStreams).toHaveLength(2);
    etcd.keepalive.answer({ TTL: '3' });
    expect((await pending).generation).toBe(1);
  });

  test('TTL 0 means the lease is gone: LeaseLostError, loss listeners, no reuse', async () => {
    const { clock, etcd, session } = setup();
    const lost: number[] = [];
    session.onLost((generation) => lost.push(generation));
    await session.lease(never);
    await flushMicrotasks();
    const pending = session.keepalive(clock.now() + 1, never);
    await flushMicrotasks();
    etcd.keepalive.answer({ TTL: '0' });
    await expect(pending).rejects.toBeInstanceOf(LeaseLostError);
    expect(lost).toEqual([1]);
    expect(session.current).toBeNull();
    expect(session.acknowledgedSince(0)).toBeNull();
    // The next lease is a new grant with a higher generation.
    expect((await session.lease(never)).generation).toBe(2);
  });

  test('keepFresh sends only when nothing was sent since its bound and none is in flight', async () => {
    const { clock, etcd, session } = setup(30);
    await session.lease(never);
    await clock.advance(500);
    session.keepFresh(900); // the grant was sent at 1000: fresh enough
    expect(written(etcd)).toBe(0);
    session.keepFresh(1_200);
    await flushMicrotasks();
    expect(written(etcd)).toBe(1);
    session.keepFresh(1_600); // one in flight: not another
    await flushMicrotasks();
    expect(written(etcd)).toBe(1);
  });

  test('the last election leaving revokes the lease and stops every timer', async () => {
    const { clock, etcd, session, forgotten } = setup();
    await session.lease(never);
    await session.leave('e', true);
    expect(etcd.revokes).toEqual([0x1234n.toString()]);
    expect(forgotten).toEqual([session]);
    expect(clock.pendingTimers).toBe(0);
    await expect(session.keepalive(0, never)).rejects.toMatchObject({ code: ErrorCode.Stopped });
  });
});
