/**
 * Transfer to a named successor: three candidates in line — the leader L, a bystander B, the
 * successor S queued behind B — and L is told `transfer S`. Measured from the harness writing the
 * command to the harness reading S's "elected" line; B must never lead (on etcd it is sent to the
 * back of the queue; on Kubernetes it sees an ordinary holder change and waits). Then S leads, L
 * is at the back, and the next trial hands from S past B to L: every trial passes one candidate.
 *
 * Physical limit: L's work stop (none here), the hand-over write(s) and the watch event reaching
 * S, plus S's own write proving its term (record stores) or its lease keepalive (etcd).
 */
import { MAX_CONSECUTIVE_MISSES, setupTimeout, takeoverTimeout } from './common.mjs';

export async function transferScenario(
  ctx,
  impl,
  { trials, profile, election, progress, maxMisses = MAX_CONSECUTIVE_MISSES },
) {
  // steering: etcd's transfer past a bystander needs the side keys (etcdBackend({ steering })).
  const spawn = (identity) => ctx.spawn(impl, { election, identity, profile, steering: true });
  const timeoutMs = setupTimeout(impl, profile);
  const samples = [];
  let missed = 0;
  let missedInRow = 0;
  let others = 0;
  const names = ['t-a', 't-b', 't-c'];
  const procs = new Map();
  try {
    for (const name of names) {
      const proc = spawn(name);
      procs.set(name, proc);
      if (name === names[0]) await proc.waitFor('elected', { timeoutMs });
      await ctx.settled(impl, election, procs.size, { timeoutMs });
    }
    // Line: leader, bystander, successor.
    let [leader, , successor] = names;
    const bystander = names[1];
    for (let i = 0; i < trials && missedInRow < maxMisses; i++) {
      const l = procs.get(leader);
      const b = procs.get(bystander);
      const s = procs.get(successor);
      const sMark = s.mark;
      const bMark = b.mark;
      const t0 = performance.now();
      l.send(`transfer ${successor}`);
      let elected = null;
      try {
        elected = await s.waitFor('elected', {
          from: sMark,
          timeoutMs: takeoverTimeout(impl, profile),
        });
      } catch {
        elected = null;
      }
      if (elected === null) {
        missed++;
        missedInRow++;
        break;
      }
      missedInRow = 0;
      samples.push(elected.t - t0);
      await l.waitFor('transferred', { timeoutMs });
      if (b.events.slice(bMark).some((e) => e.type === 'elected')) others++;
      // The old leader is a follower again (at the back on etcd): it is the next successor.
      await ctx.settled(impl, election, procs.size, { timeoutMs });
      [leader, successor] = [successor, leader];
      progress(i + 1, trials, samples);
    }
  } finally {
    await Promise.all([...procs.values()].map((p) => p.kill()));
  }
  return { samples, missed, others };
}
