/**
 * Pause: the leader's process is SIGSTOPped and left stopped until another candidate leads and
 * has worked for a while, then SIGCONTed. Every leader (where the implementation lets a fixture
 * do work) writes to a fenced resource every 50 ms while it believes it leads.
 *
 * Reported per trial:
 * - takeover: SIGSTOP → another candidate reports that it leads (≈ lease expiry + reaction);
 * - stale writes: writes the resumed former leader sent after its successor was elected, and how
 *   many of those the fenced resource accepted (it rejects a token lower than one it has seen;
 *   writes without a token cannot be rejected);
 * - stale claim: from SIGCONT until the resumed process itself reports that it no longer leads
 *   (null when it never does within the observation window).
 */
import { sleep } from '../stats.mjs';
import { electedOrNull, MAX_CONSECUTIVE_MISSES, setupTimeout, takeoverTimeout } from './common.mjs';

const OBSERVE_AFTER_RESUME_MS = 2_000;

export async function pauseScenario(
  ctx,
  impl,
  {
    trials,
    profile,
    election,
    fence,
    progress,
    maxMisses = MAX_CONSECUTIVE_MISSES,
    random = Math.random,
  },
) {
  const timeoutMs = setupTimeout(impl, profile);
  const takeover = [];
  const excess = [];
  const afterDelete = [];
  const excessByRenewTime = [];
  const staleClaims = [];
  let staleWrites = 0;
  let staleAccepted = 0;
  let neverStepped = 0;
  let missed = 0;
  let missedInRow = 0;
  for (let i = 0; i < trials && missedInRow < maxMisses; i++) {
    const name = `${election}-${i}`;
    ctx.track?.(name);
    const fenceUrl = fence.urlFor(name);
    const spawn = (n) =>
      ctx.spawn(impl, { election: name, identity: `${impl.id}-${i}-${n}`, profile, fenceUrl });
    const paused = spawn(0);
    let successor;
    try {
      await paused.waitFor('elected', { timeoutMs });
      successor = spawn(1);
      await ctx.settled(impl, name, 2, { timeoutMs });
      // Pause at a random phase of the renewal cycle (and of etcd's 500 ms expiry sweep).
      await sleep(200 + random() * 1_000);
      const observer = await ctx.expiryObserver(impl, name);
      const mark = successor.mark;
      const t0 = paused.signal('SIGSTOP');
      observer.start(t0);
      const elected = await electedOrNull(successor, {
        from: mark,
        timeoutMs: takeoverTimeout(impl, profile),
      });
      if (elected === null) {
        missed++;
        missedInRow++;
        observer.cancel?.();
        continue;
      }
      missedInRow = 0;
      takeover.push(elected.t - t0);
      const expiry = await observer.result();
      if (expiry.expiry !== null) excess.push(elected.t - expiry.expiry);
      if (expiry.deletedAt) afterDelete.push(elected.t - expiry.deletedAt);
      if (expiry.expiryByRenewTime) excessByRenewTime.push(elected.t - expiry.expiryByRenewTime);
      // Let the successor work (write with its token) before the old leader wakes up.
      await sleep(300);
      const resumeMark = paused.mark;
      const tResume = paused.signal('SIGCONT');
      const stepped = await paused
        .waitFor((e) => e.type === 'lost' || e.type === 'exited', {
          from: resumeMark,
          timeoutMs: OBSERVE_AFTER_RESUME_MS,
        })
        .catch(() => null);
      if (stepped) staleClaims.push(Math.max(0, stepped.t - tResume));
      else neverStepped++;
      await sleep(Math.max(0, tResume + OBSERVE_AFTER_RESUME_MS - performance.now()));
      const pausedIdentity = `${impl.id}-${i}-0`;
      // (A database-backed resource answers asynchronously.)
      for (const w of await fence.writes(name)) {
        if (w.identity !== pausedIdentity || w.t < elected.t) continue;
        staleWrites++;
        if (w.accepted) staleAccepted++;
      }
      progress(i + 1, trials, takeover);
    } finally {
      await Promise.all([paused, successor].filter(Boolean).map((c) => c.kill()));
    }
  }
  return {
    samples: takeover,
    excess,
    afterDelete,
    excessByRenewTime,
    missed,
    staleClaims,
    neverStepped,
    staleWrites: impl.writes ? staleWrites : null,
    staleAccepted: impl.writes ? staleAccepted : null,
  };
}
