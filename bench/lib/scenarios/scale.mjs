/**
 * Scale: N elections in one process (each won, since the process is their only candidate);
 * after a warm-up, a window measures the process's CPU (from /proc, user + system), its resident
 * memory, and the servers' request counters.
 *
 * Physical limit: with one session lease per process (the Go recipe's design) the keepalive
 * traffic does not grow with N at all; only the N candidate keys are written once.
 */
import { readFile } from 'node:fs/promises';
import { sleep } from '../stats.mjs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

async function procStats(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return { cpuSeconds: ticks / CLOCK_TICKS, rssMb: rssKb / 1024, peakRssMb: hwmKb / 1024 };
}

/**
 * All N electors start at once. If they are not all elected within `readyTimeoutMs` the window is
 * measured anyway, and the row says how many were elected.
 */
export async function scaleScenario(
  ctx,
  impl,
  { profile, election, elections, windowMs, warmupMs, readyTimeoutMs, stopGraceMs },
) {
  const candidate = ctx.spawn(impl, {
    election,
    identity: `${impl.id}-scale`,
    profile,
    scale: true,
    elections,
  });
  try {
    const ready = await candidate.waitFor('ready', { timeoutMs: readyTimeoutMs }).catch((error) => {
      if (!candidate.running) throw error;
      return null;
    });
    await sleep(warmupMs);
    const before = await ctx.trafficSnapshot();
    const s0 = await procStats(candidate.pid);
    const t0 = performance.now();
    await sleep(windowMs);
    const s1 = await procStats(candidate.pid);
    const after = await ctx.trafficSnapshot();
    const seconds = (performance.now() - t0) / 1000;
    if (!candidate.running) throw new Error(`${impl.id}: the candidate exited during the window`);
    let total = 0;
    const byMethod = {};
    for (const [method, value] of Object.entries(after)) {
      const delta = value - (before[method] ?? 0);
      if (delta <= 0) continue;
      byMethod[method] = Math.round((delta / seconds) * 1000) / 1000;
      total += delta;
    }
    const progress = candidate.last('progress');
    return {
      elections,
      campaignMs: ready?.ms ?? null,
      electedAtWindow: ready ? elections : (progress?.elected ?? null),
      cpuPercent: ((s1.cpuSeconds - s0.cpuSeconds) / seconds) * 100,
      rssMb: s1.rssMb,
      peakRssMb: s1.peakRssMb,
      requestsPerSecond: total / seconds,
      keepalivesPerSecond: byMethod[ctx.keepaliveMethod] ?? 0,
      byMethod,
      windowSeconds: seconds,
    };
  } finally {
    await candidate.stop({ command: 'exit', graceMs: stopGraceMs });
  }
}
