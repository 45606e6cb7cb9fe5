/**
 * Observing the leader: how late an observer that does not campaign reports a change of leader.
 * Two candidates of ours hold one election; every observer (bench/lib/observers.mjs: `leader-elect
 * watch`, `observeLeader()` in a process, its poll-only baseline, the backend's peers) follows it
 * from its own process. Each trial causes one change:
 *
 * - graceful: the leader is told `step-down` (it releases; on etcd it deletes its key), the
 *   follower takes over, and the old leader campaigns again behind it;
 * - crash: the leader is SIGKILLed (at a random phase of its renewal cycle); the change becomes
 *   visible when the lease expires (etcd: the server deletes the key; Kubernetes and PostgreSQL:
 *   the follower takes the expired record); a new candidate then takes the follower's place.
 *
 * Per change and observer: from the new leader's own "elected" line (its `at`: performance.
 * timeOrigin + performance.now() in that process, taken in onStartedLeading) to the harness
 * reading the observer's line naming the new leader (the same pipe hop for every observer; for
 * observers that stamp their own lines, the in-process difference too). Negative values are
 * possible: an etcd observer infers the leader from the key order as soon as the old key is
 * deleted, while the new leader may still be confirming its own term. Graceful changes also give
 * the time from the harness writing the stop command (as the graceful scenario measures the new
 * leader's "elected" line from it).
 *
 * Physical limit: the change's write (release, expiry deletion or acquire) reaching the
 * observer's watch — one watch event after the commit; a poller adds on average half its
 * interval.
 */
import { sleep } from '../stats.mjs';
import { electedOrNull, setupTimeout, takeoverTimeout } from './common.mjs';

/** Beyond its poll interval, how long an observer may take to report a change before it is missed. */
const OBSERVE_GRACE_MS = 10_000;

/** Resolves with the event, or null on timeout; rethrows other failures (the observer exited). */
async function eventOrNull(proc, match, { from, timeoutMs }) {
  try {
    return await proc.waitFor(match, { from, timeoutMs });
  } catch (error) {
    if (/no awaited event within/.test(String(error?.message))) return null;
    throw error;
  }
}

/**
 * @param {object} ctx       the backend context (spawn, settled)
 * @param {object} impl      our candidate implementation
 * @param {object} o
 * @param {object[]} o.observers
 * @param {{graceful: number, crash: number}} o.trials  changes per kind (0: not measured)
 * @returns {Promise<Record<'graceful' | 'crash', {missedTakeovers: number, handoffs: number[],
 *          byObserver: Record<string, {samples: number[], inProcess: number[], fromStop: number[],
 *          missed: number}>}>>}
 */
export async function observeScenario(
  ctx,
  impl,
  { observers, trials, profile, election, progress, maxMisses, random = Math.random },
) {
  const results = {};
  for (const kind of ['graceful', 'crash']) {
    if (trials[kind] > 0) {
      results[kind] = await observeChanges(ctx, impl, {
        kind,
        trials: trials[kind],
        observers,
        profile,
        election: `${election}-${kind}`,
        progress: (done, values) => progress(kind, done, trials[kind], values),
        maxMisses,
        random,
      });
    }
  }
  return results;
}

async function observeChanges(
  ctx,
  impl,
  { kind, trials, observers, profile, election, progress, maxMisses, random },
) {
  const timeoutMs = setupTimeout(impl, profile);
  const identities = new Map();
  let seq = 0;
  const spawn = () => {
    const identity = `obs-${kind}-${seq++}`;
    const proc = ctx.spawn(impl, { election, identity, profile });
    identities.set(proc, identity);
    return proc;
  };
  const byObserver = Object.fromEntries(
    observers.map((o) => [
      o.id,
      { samples: [], inProcess: [], fromStop: [], missed: 0, missedInRow: 0 },
    ]),
  );
  /** Graceful: the stop command → the new leader's "elected" line (the graceful scenario's figure). */
  const handoffs = [];
  let missedTakeovers = 0;
  let leader;
  let follower;
  const watching = [];
  try {
    leader = spawn();
    await leader.waitFor('elected', { timeoutMs });
    follower = spawn();
    await ctx.settled(impl, election, 2, { timeoutMs });
    // Observers start on an election that has a leader, as they usually do; each must have
    // reported it (and its push channel up, if it says so) before the first change.
    for (const observer of observers) watching.push({ observer, proc: observer.spawn(election) });
    const first = identities.get(leader);
    await Promise.all(
      watching.map(async ({ observer, proc }) => {
        await proc.waitFor((e) => e.type === 'leader' && e.leader === first, { timeoutMs });
        if (observer.announcesPush)
          await proc.waitFor((e) => e.type === 'push' && e.up, { timeoutMs });
      }),
    );
    const ourPushSamples = byObserver[observers[0].id].samples;

    // Each trial waits for every observer, so trials would start at one phase of a poller's cycle
    // (right after the read that saw the last change): a wait uniform over a whole cycle makes the
    // phase of each change random, for the pollers as for the renewal cycle of a crash.
    const cycleMs = Math.max(1_000, ...observers.map((o) => o.pollMs ?? 0));
    for (let i = 0; i < trials; i++) {
      await sleep((kind === 'crash' ? 200 : 0) + random() * cycleMs);
      const marks = watching.map(({ proc }) => proc.mark);
      const followerMark = follower.mark;
      const leaderMark = leader.mark;
      const triggered = kind === 'graceful' ? leader.send('step-down') : leader.signal('SIGKILL');
      const elected = await electedOrNull(follower, {
        from: followerMark,
        timeoutMs: takeoverTimeout(impl, profile),
      });
      if (elected === null) {
        // Rare (each costs a timeout): the observers' figures need a change to measure.
        missedTakeovers++;
        break;
      }
      const next = identities.get(follower);
      if (kind === 'graceful') handoffs.push(elected.t - triggered);
      // The new leader's own clock, as a harness reading (both are epoch-based).
      const t0 = elected.at - performance.timeOrigin;
      const seen = await Promise.all(
        watching.map(({ observer, proc }, j) =>
          byObserver[observer.id].missedInRow >= maxMisses
            ? null
            : eventOrNull(proc, (e) => e.type === 'leader' && e.leader === next, {
                from: marks[j],
                timeoutMs: (observer.pollMs ?? 0) + OBSERVE_GRACE_MS,
              }),
        ),
      );
      seen.forEach((event, j) => {
        const entry = byObserver[watching[j].observer.id];
        if (event === null) {
          entry.missed++;
          entry.missedInRow++;
          return;
        }
        entry.missedInRow = 0;
        entry.samples.push(event.t - t0);
        if (kind === 'graceful') entry.fromStop.push(event.t - triggered);
        if (typeof event.at === 'number') entry.inProcess.push(event.at - elected.at);
      });
      // The next trial starts from a leader and a settled follower again.
      if (kind === 'graceful') {
        await leader.waitFor('stepped-down', { from: leaderMark, timeoutMs });
        leader.send('campaign');
        [leader, follower] = [follower, leader];
      } else {
        await leader.exited;
        leader = follower;
        follower = spawn();
      }
      await ctx.settled(impl, election, 2, { timeoutMs });
      progress(i + 1, ourPushSamples);
    }
  } finally {
    await Promise.all(
      [leader, follower, ...watching.map((w) => w.proc)].filter(Boolean).map((p) => p.kill()),
    );
  }
  for (const entry of Object.values(byObserver)) delete entry.missedInRow;
  return { missedTakeovers, handoffs, byObserver };
}
