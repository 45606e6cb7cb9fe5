#!/usr/bin/env node
/**
 * Where the time of an etcd graceful handoff goes, ours next to Go's concurrency.Election:
 * the leader (a separate process) is told to stop; we time stdin command → release done →
 * follower's watch event → follower's attempt done → follower leads, from each process's
 * high-resolution epoch timestamps.
 *
 *   npm run build && node bench/etcd/handoff-trace.mjs [--trials 20] [--endpoints URL,URL]
 *
 * Without --endpoints it starts a private three-member etcd from the test environment.
 */
import { parseArgs } from 'node:util';
import { ensureBinaries } from '../../test/env/build.mjs';
import { startElectionPeer } from '../../test/env/election-peer.mjs';
import { CandidateProcess } from './lib/candidate.mjs';
import { etcdForTool } from './lib/cluster.mjs';

const { values } = parseArgs({
  options: { trials: { type: 'string', default: '20' }, endpoints: { type: 'string' } },
});
const trials = Number(values.trials);
const bins = await ensureBinaries(['etcd-election-peer']);
const cluster = await etcdForTool(values.endpoints, 'bench-trace');
const { endpoints } = cluster;
const timings = { leaseDuration: 2000, renewDeadline: 1500, retryPeriod: 500 };
const epochMs = () => performance.timeOrigin + performance.now();
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const fmt = (xs) =>
  `p50 ${pct(xs, 50).toFixed(2)}  p90 ${pct(xs, 90).toFixed(2)}  max ${Math.max(...xs).toFixed(2)}`;

async function oursTrial(i) {
  const election = `bench-trace/ours-${Date.now()}-${i}`;
  const spawn = (identity) =>
    new CandidateProcess({ endpoints, election, identity, ...timings, trace: true });
  const leader = spawn('leader');
  let follower = null;
  try {
    await leader.waitFor((e) => e.event === 'started-leading', 'leader');
    follower = spawn('follower');
    await follower.waitFor(
      (e) => e.event === 'new-leader' && e.identity === 'leader',
      'follower ready',
    );
    await new Promise((r) => setTimeout(r, 300));
    const from = follower.events.length;
    const t0 = epochMs();
    leader.send('stop');
    const started = await follower.waitFor(
      (e) => e.event === 'started-leading',
      'takeover',
      5000,
      from,
    );
    const released = await leader.waitFor(
      (e) => e.event === 'trace' && e.op === 'release',
      'release',
      5000,
    );
    const after = follower.events.slice(from);
    const event = after.find((e) => e.event === 'trace' && e.op === 'watch-changed');
    const attempt = after.find(
      (e) => e.event === 'trace' && e.op === 'attempt-acquire' && e.kind === 'held',
    );
    return {
      release: released.at_ms - t0,
      event: (event?.at_ms ?? Number.NaN) - t0,
      attempt: (attempt?.at_ms ?? Number.NaN) - (attempt?.started_ms ?? Number.NaN),
      total: started.at_ms - t0,
    };
  } finally {
    await Promise.all([leader.kill(), follower?.kill()]);
  }
}

async function goTrial(i) {
  const election = `bench-trace/go-${Date.now()}-${i}`;
  const spawn = (identity) =>
    startElectionPeer({ binary: bins.etcdElectionPeer, endpoints, election, identity, ttl: 2 });
  const leader = spawn('leader');
  let follower = null;
  try {
    await leader.waitFor((e) => e.event === 'elected');
    follower = spawn('follower');
    await follower.waitFor((e) => e.event === 'leader' && e.identity === 'leader');
    await new Promise((r) => setTimeout(r, 300));
    const from = follower.events.length;
    const t0 = Date.now();
    leader.send('resign');
    const elected = await follower.waitFor((e) => e.event === 'elected', { from, timeoutMs: 5000 });
    return elected.wall_ms - t0;
  } finally {
    await Promise.all([leader.kill('SIGKILL'), follower?.kill('SIGKILL')]);
  }
}

try {
  // Interleaved, so that load from elsewhere on the machine hits both alike.
  const o = { release: [], event: [], attempt: [], total: [] };
  const g = [];
  for (let i = 0; i < trials; i++) {
    const trial = await oursTrial(i);
    for (const k of Object.keys(o)) o[k].push(trial[k]);
    g.push(await goTrial(i));
  }
  console.log(`etcd graceful handoff, ${trials} trials each (ms from the stop command)`);
  console.log(`ours  release done        ${fmt(o.release)}`);
  console.log(`ours  follower watch event ${fmt(o.event)}`);
  console.log(`ours  follower attempt     ${fmt(o.attempt)} (duration)`);
  console.log(`ours  follower leads       ${fmt(o.total)}`);
  console.log(`Go    follower elected     ${fmt(g)} (whole ms)`);
} finally {
  await cluster.stop();
}
