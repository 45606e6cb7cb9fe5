#!/usr/bin/env node
/**
 * Where the time of an etcd graceful handoff goes, ours next to Go's concurrency.Election:
 * the leader (a separate process) is told to stop; from each process's high-resolution epoch
 * timestamps we time the phases: stdin command → the leader reads it → its term ends
 * (stoppedLeading: signal aborted, work waited for) → the release (delete) is sent → the
 * follower's watch event → its attempt (decision and acquire) → its "started-leading" line.
 * The delete → watch event phase is what `floor.mjs` measures with no election code.
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
    const command = leader.events.find((e) => e.event === 'trace' && e.op === 'command');
    const ended = leader.events.find((e) => e.event === 'stopped-leading');
    const at = (e) => e?.at_ms ?? Number.NaN;
    return {
      // Phase by phase (each from the previous one's end).
      stdin: at(command) - t0,
      termEnds: at(ended) - at(command),
      toRelease: released.started_ms - at(ended),
      deleteToEvent: at(event) - released.started_ms,
      decision: (attempt?.started_ms ?? Number.NaN) - at(event),
      acquire: at(attempt) - (attempt?.started_ms ?? Number.NaN),
      announce: started.at_ms - at(attempt),
      // And the release's own round trip, and the total.
      releaseDone: released.at_ms - released.started_ms,
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
  const o = {
    stdin: [],
    termEnds: [],
    toRelease: [],
    deleteToEvent: [],
    decision: [],
    acquire: [],
    announce: [],
    releaseDone: [],
    total: [],
  };
  const g = [];
  for (let i = 0; i < trials; i++) {
    const trial = await oursTrial(i);
    for (const k of Object.keys(o)) o[k].push(trial[k]);
    g.push(await goTrial(i));
  }
  console.log(`etcd graceful handoff, ${trials} trials each (ms from the stop command)`);
  console.log(`ours  command → leader reads it     ${fmt(o.stdin)}`);
  console.log(`ours  → term ended (abort, work)   ${fmt(o.termEnds)}`);
  console.log(`ours  → release (delete) sent      ${fmt(o.toRelease)}`);
  console.log(`ours  → follower's watch event     ${fmt(o.deleteToEvent)} (the floor's phase)`);
  console.log(`ours  → follower's attempt starts  ${fmt(o.decision)}`);
  console.log(`ours  → attempt answered (held)    ${fmt(o.acquire)}`);
  console.log(`ours  → "started-leading" printed  ${fmt(o.announce)}`);
  console.log(`ours  total                        ${fmt(o.total)}`);
  console.log(`ours  (release round trip          ${fmt(o.releaseDone)})`);
  console.log(`Go    follower elected     ${fmt(g)} (whole ms)`);
} finally {
  await cluster.stop();
}
