/**
 * The faults, one function each. An election fault acts on one election's candidates; a cluster
 * fault on the servers, hence on every election of its backend at once. Each returns once the
 * fault is healed (recovery is the nemesis's business) and records its phases through `mark`.
 *
 * Timings are drawn from the fault's own PRNG stream; with L = leaseDuration,
 * R = renewDeadline, P = retryPeriod:
 *
 * | fault | what | for how long |
 * |---|---|---|
 * | kill-leader | SIGKILL of the leader (a supervisor's child dies with it), restart | down 200–1000 ms |
 * | pause-leader | SIGSTOP of a library leader, SIGCONT | L + 500–1500 ms |
 * | pause-supervisor | SIGSTOP of a `leader-elect run` leader alone (its child runs on), SIGCONT | L + 500–1500 ms |
 * | graceful-restart | SIGTERM of the leader (it releases), restart | down 100–500 ms |
 * | blackhole-c2s / -s2c / -both | the leader's proxies stop forwarding that way, heal | L + 500–2000 ms |
 * | latency | the leader's proxies delay each direction by 20–250 ms | 2–5 s |
 * | skew-within | a candidate restarted under libfaketime at a rate within the margin (below), made to lead (slow rate) or to follow (fast rate), then the leader is partitioned (both ways) | L + 1000 ms partition |
 * | deaf-next-in-line | etcd: server→client blackhole of the next-in-line follower, 500 ms later a graceful stop of the leader | 6 s partition |
 * | skew-beyond-control | the control: a library leader at rate 0.4 (R / 0.4 > L) partitioned both ways | 5 s partition |
 * | kill-member-of-leader | SIGKILL of the etcd member a leader's client talks to, restart | down 1000–2500 ms |
 * | kill-raft-leader | SIGKILL of the raft leader, restart | down 1000–2500 ms |
 * | quorum-loss | two of three members SIGSTOPped (or SIGKILLed), resumed (restarted) | 2000–4000 ms |
 * | kill-apiserver-etcd | SIGKILL of kube-apiserver's etcd member, restart | down 1000–2500 ms |
 */
import { sleep } from './clock.mjs';

/**
 * Rates within the margin. The margin is L / R (1.33 with 2 s / 1.5 s); these stay within 1.25 of
 * the real rate so that a loaded machine's scheduling delays do not eat the rest of it.
 */
export const SKEW_WITHIN_RATES = [0.8, 0.85, 0.9, 1.1, 1.15, 1.2, 1.25];
/** The control's rate: its renew deadline lasts R / 0.4 = 3.75 s of real time, beyond L = 2 s. */
export const SKEW_BEYOND_RATE = 0.4;

export const ELECTION_FAULTS = {
  'kill-leader': { applies: () => true, run: killLeader },
  'pause-leader': { applies: (e) => e.kind === 'library', run: pauseLeader },
  'pause-supervisor': { applies: (e) => e.kind === 'cli', run: pauseLeader },
  'graceful-restart': { applies: () => true, run: gracefulRestart },
  'blackhole-c2s': { applies: () => true, run: (c) => blackholeLeader(c, 'c2s') },
  'blackhole-s2c': { applies: () => true, run: (c) => blackholeLeader(c, 's2c') },
  'blackhole-both': { applies: () => true, run: (c) => blackholeLeader(c, 'both') },
  latency: { applies: () => true, run: latency },
  'skew-within': { applies: () => true, run: skewWithin },
  'deaf-next-in-line': { applies: (e) => e.backend === 'etcd', run: deafNextInLine },
};

export const CONTROL_FAULT = 'skew-beyond-control';
export const CONTROL = { applies: (e) => e.kind === 'library', run: skewBeyondControl };

export const CLUSTER_FAULTS = {
  'kill-member-of-leader': { backend: 'etcd', run: killMemberOfLeader },
  'kill-raft-leader': { backend: 'etcd', run: killRaftLeader },
  'quorum-loss': { backend: 'etcd', run: quorumLoss },
  'kill-apiserver-etcd': { backend: 'kubernetes', run: killApiserverEtcd },
};

/** Leaderless bound during the fault, for faults that have one (issue 11 part 4): R + TTL + P. */
export function duringFaultBoundMs(fault, timings) {
  if (fault !== 'deaf-next-in-line') return null;
  const ttl = Math.ceil(timings.leaseDuration / 1000) * 1000;
  return timings.renewDeadline + ttl + timings.retryPeriod;
}

// ---------------------------------------------------------------------------
// Election faults. `c` = { election, prng, timings, mark(phase, fields), stableWithin(ms) }

async function killLeader(c) {
  const leader = c.election.leader();
  if (!leader) return c.skip('no leader');
  c.mark('applied', { target: leader.identity });
  await leader.kill();
  await sleep(c.prng.int(200, 1000));
  leader.start();
  c.mark('healed');
}

async function pauseLeader(c) {
  const leader = c.election.leader();
  if (!leader) return c.skip('no leader');
  const ms = c.timings.leaseDuration + c.prng.int(500, 1500);
  c.mark('applied', { target: leader.identity, ms });
  leader.signal('SIGSTOP');
  await sleep(ms);
  leader.signal('SIGCONT');
  c.mark('healed');
}

async function gracefulRestart(c) {
  const leader = c.election.leader();
  if (!leader) return c.skip('no leader');
  c.mark('applied', { target: leader.identity });
  await leader.stop();
  await sleep(c.prng.int(100, 500));
  leader.start();
  c.mark('healed');
}

async function blackholeLeader(c, direction) {
  const leader = c.election.leader();
  if (!leader) return c.skip('no leader');
  const ms = c.timings.leaseDuration + c.prng.int(500, 2000);
  c.mark('applied', { target: leader.identity, direction, ms });
  leader.blackhole(direction);
  await sleep(ms);
  leader.heal();
  c.mark('healed');
}

async function latency(c) {
  const leader = c.election.leader();
  if (!leader) return c.skip('no leader');
  const ms = c.prng.int(20, 250);
  const forMs = c.prng.int(2000, 5000);
  c.mark('applied', { target: leader.identity, latencyMs: ms, ms: forMs });
  leader.latency(ms);
  await sleep(forMs);
  leader.heal();
  c.mark('healed');
}

/**
 * Makes `slot` the leader by graceful restarts of whoever leads instead (etcd: each restart sends
 * the leader to the back of the line), at most `slots` times. True if it leads.
 */
async function makeLeader(c, slot) {
  for (let i = 0; i < c.election.slots.length + 1; i++) {
    if (!(await c.stableWithin(15_000))) return false;
    const leader = c.election.leader();
    if (leader === slot) return true;
    await leader.stop();
    leader.start();
  }
  return (await c.stableWithin(15_000)) && c.election.leader() === slot;
}

/** Partitions `leader` both ways for `ms`, then heals. */
async function partition(c, leader, ms) {
  leader.blackhole('both');
  c.mark('partitioned', { target: leader.identity, ms });
  await sleep(ms);
  leader.heal();
}

async function skewWithin(c) {
  const rate = c.prng.pick(SKEW_WITHIN_RATES);
  const leader = c.election.leader();
  if (!leader) return c.skip('no leader');
  const ms = c.timings.leaseDuration + 1000;
  if (rate < 1) {
    // A slow clock is dangerous on the leader: make it lead, then cut it off.
    const slot = c.prng.pick(c.election.slots);
    c.mark('applied', { target: `${slot.id}.${slot.incarnation + 1}`, rate, role: 'leader' });
    await slot.stop();
    slot.start({ skew: rate });
    if (!(await makeLeader(c, slot))) return c.healWith(slot, 'the skewed candidate did not lead');
    await sleep(c.prng.int(300, 1500));
    await partition(c, slot, ms);
    await c.stableWithin(15_000);
    await slot.stop();
    slot.start();
  } else {
    // A fast clock is dangerous on a follower (client-go's rule: it waits L on its own clock).
    const slot = c.prng.pick(c.election.followers());
    c.mark('applied', { target: `${slot.id}.${slot.incarnation + 1}`, rate, role: 'follower' });
    await slot.stop();
    slot.start({ skew: rate });
    if (!(await c.stableWithin(15_000))) return c.healWith(slot, 'not stable after the restart');
    const current = c.election.leader();
    if (current !== slot) await partition(c, current, ms);
    await c.stableWithin(15_000);
    await slot.stop();
    slot.start();
  }
  c.mark('healed');
}

async function skewBeyondControl(c) {
  const slot = c.prng.pick(c.election.slots);
  c.mark('applied', { target: `${slot.id}.${slot.incarnation + 1}`, rate: SKEW_BEYOND_RATE });
  await slot.stop();
  slot.start({ skew: SKEW_BEYOND_RATE });
  if (!(await makeLeader(c, slot))) return c.healWith(slot, 'the skewed candidate did not lead');
  // A cluster fault at the same time could hide the overlap (an apiserver without its etcd lets
  // nobody take over): the partition waits for the group's cluster loop to stand aside.
  const unhold = await c.holdCluster();
  try {
    // And a quiet moment: a raft leader change just before (a member restarted by the last
    // cluster fault) restarts every lease's TTL, which delays the takeover by up to a TTL and
    // can eat the whole overlap (seen once in 40 controls at load 40).
    await sleep(3_000);
    if (!(await c.stableWithin(15_000)) || c.election.leader() !== slot) {
      return await c.healWith(slot, 'the skewed candidate lost the lead before the partition');
    }
    await partition(c, slot, 5_000);
    await c.stableWithin(15_000);
  } finally {
    unhold();
  }
  await slot.stop();
  slot.start();
  c.mark('healed');
}

async function deafNextInLine(c) {
  const leader = c.election.leader();
  if (!leader) return c.skip('no leader');
  const next = await c.election.nextInLine(c.election.etcd.client).catch(() => null);
  if (!next || next === leader) return c.skip('no next in line');
  c.mark('applied', { target: next.identity, leader: leader.identity, ms: 6000 });
  next.blackhole('s2c');
  await sleep(500);
  await leader.stop();
  await sleep(5_500);
  next.heal();
  leader.start();
  c.mark('healed');
}

// ---------------------------------------------------------------------------
// Cluster faults. `c` = { group (one etcd cluster, or the apiserver), elections (of the group), prng, mark, skip }

async function killMemberOfLeader(c) {
  const withLeader = c.elections.filter((e) => e.leader()?.activeProxyIndex >= 0);
  if (withLeader.length === 0) return c.skip('no leader with a connection');
  const election = c.prng.pick(withLeader);
  const leader = election.leader();
  const member = c.group.etcd.cluster.members[leader.activeProxyIndex];
  const downMs = c.prng.int(1000, 2500);
  c.mark('applied', { member: member.name, via: leader.identity, ms: downMs });
  await member.kill('SIGKILL');
  await sleep(downMs);
  await member.restart({ timeoutMs: 30_000 });
  c.mark('healed');
}

async function killRaftLeader(c) {
  const member = await c.group.etcd.cluster.leaderMember({ timeoutMs: 5_000 });
  if (!member) return c.skip('no raft leader');
  const downMs = c.prng.int(1000, 2500);
  c.mark('applied', { member: member.name, ms: downMs });
  await member.kill('SIGKILL');
  await sleep(downMs);
  await member.restart({ timeoutMs: 30_000 });
  c.mark('healed');
}

async function quorumLoss(c) {
  const members = c.group.etcd.cluster.members;
  const spared = c.prng.int(0, members.length - 1);
  const victims = members.filter((_, i) => i !== spared);
  const how = c.prng.next() < 0.5 ? 'pause' : 'kill';
  const ms = c.prng.int(2000, 4000);
  c.mark('applied', { members: victims.map((m) => m.name), how, ms });
  await Promise.all(victims.map((m) => (how === 'pause' ? m.pause() : m.kill('SIGKILL'))));
  await sleep(ms);
  if (how === 'pause') await Promise.all(victims.map((m) => m.resume()));
  else await Promise.all(victims.map((m) => m.restart({ timeoutMs: 30_000 })));
  c.mark('healed');
}

async function killApiserverEtcd(c) {
  const member = c.group.kube.etcdMember;
  const downMs = c.prng.int(1000, 2500);
  c.mark('applied', { member: member.name, ms: downMs });
  await member.kill('SIGKILL');
  await sleep(downMs);
  await member.restart({ timeoutMs: 30_000 });
  c.mark('healed');
}
