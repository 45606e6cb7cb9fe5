/**
 * Memory-backend scenarios: ours only (no peer runs in-process). They measure the elector's own
 * overhead: the handoff path (release → watch → acquire) and the expiry timer (crash).
 */
import { LeaderElector, MemoryStore } from '../../dist/index.js';
import { sleep } from './stats.mjs';

/** Graceful: leader stops (releases) → the follower's onStartedLeading. */
export async function gracefulTrial(timings, index) {
  const store = new MemoryStore();
  const name = `graceful-${index}`;
  let startedAt = 0;
  const a = new LeaderElector({ backend: store.lease(name), identity: 'a', ...timings });
  const b = new LeaderElector({
    backend: store.lease(name),
    identity: 'b',
    ...timings,
    onStartedLeading: () => {
      startedAt = performance.now();
    },
  });
  void a.run();
  await a.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
  void b.run();
  while (b.leader?.identity !== 'a') await sleep(1);
  await sleep(5);
  const t0 = performance.now();
  const leading = b.waitForLeadership({ signal: AbortSignal.timeout(timings.leaseDuration * 2) });
  await a.stop();
  await leading;
  const latency = startedAt - t0;
  await b.stop();
  return { latencyMs: latency };
}

/**
 * Transfer: leader a hands over to c, queued behind b → c's onStartedLeading; b must not lead.
 */
export async function transferTrial(timings, index) {
  const store = new MemoryStore();
  const name = `transfer-${index}`;
  let startedAt = 0;
  let others = 0;
  const a = new LeaderElector({ backend: store.lease(name), identity: 'a', ...timings });
  const b = new LeaderElector({
    backend: store.lease(name),
    identity: 'b',
    ...timings,
    onStartedLeading: () => {
      others++;
    },
  });
  const c = new LeaderElector({
    backend: store.lease(name),
    identity: 'c',
    ...timings,
    onStartedLeading: () => {
      startedAt = performance.now();
    },
  });
  void a.run();
  await a.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
  void b.run();
  void c.run();
  while (b.leader?.identity !== 'a' || c.leader?.identity !== 'a') await sleep(1);
  await sleep(5);
  const t0 = performance.now();
  await a.transfer('c');
  await c.waitForLeadership({ signal: AbortSignal.timeout(timings.leaseDuration) });
  const latency = startedAt - t0;
  await Promise.all([a.stop(), b.stop(), c.stop()]);
  return { latencyMs: latency, others };
}

/**
 * Crash: the leader stops renewing without releasing → the follower's onStartedLeading. Reports
 * the time after the crash and the excess over lease expiry (send time of the last renewal +
 * leaseDuration: the earliest instant anyone may take over).
 */
export async function crashTrial(timings, index, random = Math.random) {
  const store = new MemoryStore();
  const name = `crash-${index}`;
  let startedAt = 0;
  const a = new LeaderElector({
    backend: store.lease(name),
    identity: 'a',
    ...timings,
    releaseOnCancel: false,
  });
  const b = new LeaderElector({
    backend: store.lease(name),
    identity: 'b',
    ...timings,
    onStartedLeading: () => {
      startedAt = performance.now();
    },
  });
  void a.run();
  const term = await a.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
  void b.run();
  while (b.leader?.identity !== 'a') await sleep(1);
  // Crash at a random phase of the renewal cycle.
  await sleep(timings.retryPeriod * (1 + random()));
  const lastRenewSentAt = term.validUntil - timings.renewDeadline;
  const t0 = performance.now();
  const leading = b.waitForLeadership({ signal: AbortSignal.timeout(timings.leaseDuration * 3) });
  await a.stop();
  await leading;
  const expiry = lastRenewSentAt + timings.leaseDuration;
  const result = { latencyMs: startedAt - t0, excessMs: startedAt - expiry };
  await b.stop();
  return result;
}
