// Testing code that uses the elector, deterministically: a FakeClock instead of real time, a
// MemoryStore instead of a server. Run with `npx vitest`.
import { LeaderElector, MemoryStore } from 'leader-elect';
import { FakeClock } from 'leader-elect/testing';
import { expect, test } from 'vitest';

test('the standby takes over when the leader stops renewing, not before its lease expires', async () => {
  const clock = new FakeClock();
  const store = new MemoryStore();
  const candidate = (/** @type {string} */ identity) =>
    new LeaderElector({
      backend: store.lease('reports'),
      identity,
      clock,
      random: () => 0, // no jitter: timers fire at exact, repeatable times
      releaseOnCancel: false, // stopping does not release: the lease sees a crash
    });
  const a = candidate('a');
  const b = candidate('b');

  void a.run();
  await clock.advance(0);
  expect(a.isLeader()).toBe(true);
  void b.run();
  await clock.advance(0);
  expect(b.leader?.identity).toBe('a');

  await clock.advance(5_000); // a renews every 2 s; b sees each renewal
  const stopping = a.stop();
  await clock.advance(0);
  await stopping;
  expect(a.isLeader()).toBe(false);

  // b counts the 15 s lease from the last renewal it saw (at 4 s), on its own clock.
  await clock.advance(13_999); // now 18.999 s
  expect(b.isLeader()).toBe(false);
  await clock.advance(1);
  expect(b.isLeader()).toBe(true);
  expect(b.currentTerm()?.token).toBe(1n); // the fencing token went up

  const stoppingB = b.stop();
  await clock.advance(0);
  await stoppingB;
  expect(clock.pendingTimers).toBe(0); // nothing left behind
});
