/**
 * Cold start: several candidates start at the same moment on an election whose previous holder
 * is gone (Kubernetes: a Lease whose holder stopped renewing long ago; etcd deletes such a key
 * itself). Measured from spawning the processes to the first "elected" line, and from that
 * winner's own "started" line (which excludes process start-up where the implementation prints
 * one).
 *
 * Physical limit: connect + one read + one acquire write. client-go, by design, first waits a
 * full lease duration from when it first sees the stale record (it never trusts remote times).
 */
import { takeoverTimeout } from './common.mjs';

export async function coldStartScenario(
  ctx,
  impl,
  { trials, profile, election, candidates, progress },
) {
  const timeoutMs = takeoverTimeout(impl, profile) + 10_000;
  const samples = [];
  const fromStarted = [];
  let missed = 0;
  for (let i = 0; i < trials; i++) {
    const name = `${election}-${i}`;
    await ctx.prepareColdStart(impl, name);
    const procs = [];
    try {
      for (let n = 0; n < candidates; n++) {
        procs.push(ctx.spawn(impl, { election: name, identity: `${impl.id}-${i}-${n}`, profile }));
      }
      const t0 = procs[0].spawnedAt;
      const first = await Promise.any(
        procs.map((p) => p.waitFor('elected', { timeoutMs }).then((e) => ({ e, p }))),
      ).catch(() => null);
      if (first === null) {
        missed++;
        continue;
      }
      samples.push(first.e.t - t0);
      const started = first.p.events.find((e) => e.type === 'started');
      if (started) fromStarted.push(first.e.t - started.t);
      progress(i + 1, trials, samples);
    } finally {
      await Promise.all(procs.map((p) => p.kill()));
    }
  }
  return { samples, fromStarted, missed };
}
