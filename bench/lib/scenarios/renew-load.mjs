/**
 * Renew load: one election with a leader and one follower in steady state; the servers' own
 * request counters are read before and after a window. Reported: client requests (messages)
 * per second for the election, by method, and keepalives (etcd) per second.
 *
 * Physical limit: the leader must prove it is alive at least once per lease duration; followers
 * that watch need no requests at all.
 */
import { sleep } from '../stats.mjs';
import { setupTimeout } from './common.mjs';

/** At least three renewal intervals of the implementation, so the rate is not a window artifact. */
export function renewLoadWindow(impl, profile, minimumMs) {
  return Math.max(minimumMs, 3 * impl.renewalIntervalMs(profile));
}

export async function renewLoadScenario(ctx, impl, { profile, election, windowMs }) {
  const timeoutMs = setupTimeout(impl, profile);
  const spawn = (n) => ctx.spawn(impl, { election, identity: `${impl.id}-${n}`, profile });
  const leader = spawn(0);
  let follower;
  try {
    await leader.waitFor('elected', { timeoutMs });
    follower = spawn(1);
    await ctx.settled(impl, election, 2, { timeoutMs });
    // Past the start-up requests and the first renewal.
    await sleep(Math.max(1_000, impl.renewalIntervalMs(profile)));
    const before = await ctx.trafficSnapshot();
    const t0 = performance.now();
    await sleep(windowMs);
    const after = await ctx.trafficSnapshot();
    const seconds = (performance.now() - t0) / 1000;
    const byMethod = {};
    let total = 0;
    for (const [method, value] of Object.entries(after)) {
      const delta = value - (before[method] ?? 0);
      if (delta <= 0) continue;
      byMethod[method] = Math.round((delta / seconds) * 1000) / 1000;
      total += delta;
    }
    if (!leader.running || !follower.running)
      throw new Error(`${impl.id}: a candidate exited during the window`);
    return {
      requestsPerSecond: total / seconds,
      keepalivesPerSecond: ctx.keepaliveMethod ? (byMethod[ctx.keepaliveMethod] ?? 0) : null,
      byMethod,
      windowSeconds: seconds,
    };
  } finally {
    await Promise.all([leader, follower].filter(Boolean).map((c) => c.kill()));
  }
}
