/**
 * Crash failover: the leader's process is SIGKILLed (at a random phase of its renewal cycle) →
 * the follower reports that it leads. Two figures per trial:
 *
 * - latency: from the harness sending SIGKILL to the harness reading the follower's "elected";
 * - excess over lease expiry: from the lease's expiry, as an independent observer saw it (etcd:
 *   the server's own countdown, polled; Kubernetes: last renewal seen by a watch + leaseDuration)
 *   to the same "elected" line. Nobody may take over before expiry; what comes after it is the
 *   implementation's (and the server's) reaction time.
 *
 * Physical limit: the lease duration after the last renewal; on etcd plus the server's expiry
 * sweep (every 500 ms) and the revoke's raft commit.
 */
import { sleep } from '../stats.mjs';
import {
  electedOrNull,
  inLanes,
  MAX_CONSECUTIVE_MISSES,
  setupTimeout,
  takeoverTimeout,
} from './common.mjs';

export async function crashScenario(
  ctx,
  impl,
  {
    trials,
    profile,
    election,
    lanes,
    progress,
    random = Math.random,
    maxMisses = MAX_CONSECUTIVE_MISSES,
  },
) {
  const timeoutMs = setupTimeout(impl, profile);
  const samples = [];
  const excess = [];
  const afterDelete = [];
  const excessByRenewTime = [];
  const notes = [];
  let done = 0;
  let missed = 0;
  let method;
  const perLane = Array.from(
    { length: lanes },
    (_, lane) => Math.floor(trials / lanes) + (lane < trials % lanes ? 1 : 0),
  );
  await inLanes(lanes, async (lane) => {
    let round = 0;
    let name;
    let seq = 0;
    const spawn = () =>
      ctx.spawn(impl, { election: name, identity: `${impl.id}-${lane}-${seq++}`, profile });
    let leader;
    let follower;
    const startPair = async () => {
      name = `${election}-${lane}${round > 0 ? `-r${round}` : ''}`;
      round++;
      ctx.track?.(name);
      leader = spawn();
      await leader.waitFor('elected', { timeoutMs });
      follower = spawn();
      await ctx.settled(impl, name, 2, { timeoutMs });
    };
    const killPair = () => Promise.all([leader, follower].filter(Boolean).map((c) => c.kill()));
    let missedInRow = 0;
    try {
      await startPair();
      for (let i = 0; i < perLane[lane] && missedInRow < maxMisses; i++) {
        // Crash at a random phase of the renewal cycle (renewals come at most 1 s apart here).
        await sleep(200 + random() * 1_000);
        const observer = await ctx.expiryObserver(impl, name);
        method = observer.method;
        const mark = follower.mark;
        const t0 = leader.signal('SIGKILL');
        observer.start(t0);
        const elected = await electedOrNull(follower, {
          from: mark,
          timeoutMs: takeoverTimeout(impl, profile),
        });
        if (elected === null) {
          missed++;
          missedInRow++;
          observer.cancel?.();
          await killPair();
          await startPair();
          continue;
        }
        missedInRow = 0;
        const expiry = await observer.result();
        samples.push(elected.t - t0);
        if (expiry.expiry !== null) excess.push(elected.t - expiry.expiry);
        if (expiry.deletedAt) afterDelete.push(elected.t - expiry.deletedAt);
        if (expiry.expiryByRenewTime) excessByRenewTime.push(elected.t - expiry.expiryByRenewTime);
        else notes.push(expiry.why);
        await leader.exited;
        leader = follower;
        follower = spawn();
        await ctx.settled(impl, name, 2, { timeoutMs });
        progress(++done, trials, samples);
      }
    } finally {
      await killPair();
    }
  });
  return {
    samples,
    excess,
    afterDelete,
    excessByRenewTime,
    missed,
    expiryMethod: method,
    ...(notes.length > 0
      ? { excessUnknown: notes.length, excessUnknownWhy: [...new Set(notes)] }
      : {}),
  };
}
