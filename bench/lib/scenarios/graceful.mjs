/**
 * Graceful handoff: the leader is told to stop (its implementation's own way: our `stop()`, Go's
 * `Resign` + `Session.Close`, etcd3's `resign()`, codedependant's `stop()`, SIGTERM for etcdctl and
 * for client-go with ReleaseOnCancel) → the follower reports that it leads. Measured from the harness writing
 * the command / sending the signal to the harness reading the follower's "elected" line.
 *
 * Physical limit: the release write reaching the server plus the watch event reaching the
 * follower (plus whatever the follower must confirm before it may act).
 */
import { sleep } from '../stats.mjs';
import {
  electedOrNull,
  MAX_CONSECUTIVE_MISSES,
  sendGracefulStop,
  setupTimeout,
  takeoverTimeout,
} from './common.mjs';

export async function gracefulScenario(
  ctx,
  impl,
  { trials, profile, election, progress, maxMisses = MAX_CONSECUTIVE_MISSES },
) {
  let seq = 0;
  let round = 0;
  let name = election;
  const spawn = () => ctx.spawn(impl, { election: name, identity: `${impl.id}-${seq++}`, profile });
  const timeoutMs = setupTimeout(impl, profile);
  const samples = [];
  let missed = 0;
  let missedInRow = 0;
  let leader;
  let follower;
  const startPair = async () => {
    name = round === 0 ? election : `${election}-r${round}`;
    round++;
    leader = spawn();
    await leader.waitFor('elected', { timeoutMs });
    follower = spawn();
    await ctx.settled(impl, name, 2, { timeoutMs });
  };
  const killPair = () => Promise.all([leader, follower].filter(Boolean).map((c) => c.kill()));
  try {
    await startPair();
    for (let i = 0; i < trials && missedInRow < maxMisses; i++) {
      const mark = follower.mark;
      const leaderMark = leader.mark;
      const t0 = sendGracefulStop(impl, leader);
      const elected = await electedOrNull(follower, {
        from: mark,
        timeoutMs: takeoverTimeout(impl, profile),
      });
      if (elected === null) {
        missed++;
        missedInRow++;
        await killPair();
        await startPair();
        continue;
      }
      missedInRow = 0;
      samples.push(elected.t - t0);
      // The old leader comes back as the next follower.
      if (impl.graceful === 'step-down') {
        await leader.waitFor('stepped-down', { from: leaderMark, timeoutMs });
        leader.send('campaign');
      } else {
        // It exits after releasing; a process that hangs is killed (bounded wait).
        await Promise.race([leader.exited, sleep(15_000)]);
        await leader.kill();
        leader = spawn();
      }
      [leader, follower] = [follower, leader];
      await ctx.settled(impl, name, 2, { timeoutMs });
      progress(i + 1, trials, samples);
    }
  } finally {
    await killPair();
  }
  return { samples, missed };
}
