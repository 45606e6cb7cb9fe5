/**
 * Liveness under partial faults, on a private three-member cluster (members are paused and
 * killed here): a candidate that cannot hear the election must let its place in line go, one
 * member's death must not cost a term while the others answer, and a fenced write is bounded by
 * its term and moves to a member that answers.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { ErrorCode, hasErrorCode, type LeaderElectError } from '../../src/index.js';
import { type EtcdCluster, startEtcdCluster } from '../env/etcd-cluster.mjs';
import { TcpProxy } from '../env/tcp-proxy.mjs';
import { sleep, waitFor } from '../support/wait.js';
import { Electors, type Recorded } from './support/electors.js';
import { CONFORMANCE_TIMINGS, uniqueElection } from './support/etcd-test-env.js';

const { leaseDuration, renewDeadline, retryPeriod } = CONFORMANCE_TIMINGS;
/** The etcd backend's default request timeout. */
const REQUEST_TIMEOUT_MS = 5_000;
/** etcd TTLs are whole seconds: the session lease's TTL for leaseDuration. */
const TTL_MS = Math.ceil(leaseDuration / 1000) * 1000;

let cluster: EtcdCluster;
const electors = new Electors();
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  cluster = await startEtcdCluster({ binary: inject('etcdBinary'), members: 3, name: 'liveness' });
});

afterEach(async () => {
  await electors.stopAll();
  for (const proxy of proxies.splice(0)) await proxy.close();
  for (const member of cluster.members) {
    if (!member.running) await member.restart({ wait: false });
    else await member.kill('SIGCONT');
  }
  await waitFor(
    async () => (await Promise.all(cluster.members.map((m) => m.healthy()))).every(Boolean),
    'every member healthy',
    20_000,
    100,
  );
});

afterAll(async () => {
  await cluster?.stop();
});

async function proxied(label: string): Promise<TcpProxy[]> {
  const made = await Promise.all(
    cluster.members.map((member) =>
      new TcpProxy({ targetPort: Number(new URL(member.clientUrl).port), label }).listen(),
    ),
  );
  proxies.push(...made);
  return made;
}

async function lead(candidate: Recorded): Promise<void> {
  void candidate.elector.run();
  await candidate.elector.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
}

async function follow(candidate: Recorded, leader: string): Promise<void> {
  void candidate.elector.run();
  await waitFor(() => candidate.elector.leader?.identity === leader, `${leader} seen`, 10_000);
}

/** Samples isLeader() every few ms during `ms`; returns how many samples were false. */
async function leadershipGaps(candidate: Recorded, ms: number): Promise<number> {
  let gaps = 0;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (!candidate.elector.isLeader()) gaps++;
    await sleep(5);
  }
  return gaps;
}

describe('liveness under partial faults', () => {
  test('a follower next in line that cannot hear (server→client blackholed) lets its place go: leaderless ≤ renewDeadline + TTL + retryPeriod', async () => {
    const election = uniqueElection('deaf-next');
    const leader = electors.create({ endpoints: cluster.endpoints, election }, 'leader');
    await lead(leader);
    const deafProxies = await proxied('deaf');
    const deaf = electors.create({ endpoints: deafProxies.map((p) => p.url), election }, 'deaf');
    await follow(deaf, 'leader');
    const third = electors.create({ endpoints: cluster.endpoints, election }, 'third');
    await follow(third, 'leader');

    // The next in line hears nothing from now on; its requests still reach etcd.
    for (const proxy of deafProxies) proxy.blackhole('s2c');
    await sleep(100);
    const stoppedAt = performance.now();
    await leader.elector.stop();
    await waitFor(() => third.elector.isLeader(), 'the third candidate to lead', 15_000, 10);
    const leaderless = performance.now() - stoppedAt;
    console.log(
      `[liveness] deaf next-in-line: leaderless ${leaderless.toFixed(0)} ms (bound ${renewDeadline + TTL_MS + retryPeriod} ms)`,
    );
    expect(leaderless).toBeLessThanOrEqual(renewDeadline + TTL_MS + retryPeriod);
    expect(deaf.terms).toHaveLength(0);

    // Healed, the deaf candidate campaigns again and follows the new leader.
    for (const proxy of deafProxies) proxy.heal();
    await waitFor(() => deaf.elector.leader?.identity === 'third', 'deaf to see third', 15_000);
    expect(deaf.elector.isLeader()).toBe(false);
    expect(third.stops).toEqual([]);
  });

  test('a follower whose streams are cut off while the election is idle still hears the release: its keepalive moves to another member and the watch follows', async () => {
    const election = uniqueElection('cut-watch');
    const leader = electors.create({ endpoints: cluster.endpoints, election }, 'leader');
    await lead(leader);
    const viaProxies = await proxied('cut');
    const follower = electors.create(
      { endpoints: viaProxies.map((p) => p.url), election },
      'follower',
    );
    await follow(follower, 'leader');
    // The member the follower's keepalives (and, sharing it, its watch) go to: the proxy whose
    // client→server traffic grows while the election is idle (background keepalives only).
    const before = viaProxies.map((p) => p.bytesToServer);
    await waitFor(
      () => viaProxies.some((p, i) => p.bytesToServer > (before[i] ?? 0)),
      'a background keepalive of the follower',
      10_000,
      20,
    );
    const streams = viaProxies.reduce((a, b, i) =>
      b.bytesToServer - (before[i] ?? 0) > a.bytesToServer - (before[viaProxies.indexOf(a)] ?? 0)
        ? b
        : a,
    );
    // Cut off: nothing gets through either way, no error either (a silent member for this client).
    streams.blackhole('both');
    // Idle: nothing changes, so no probe would find the dead watch; the keepalive that times out
    // on the silent member does, and the watch moves with it before anything happens.
    await waitFor(
      () => follower.errors.some((e) => /failed another request of this client/.test(e.message)),
      'the watch reset because a keepalive failed on its member',
      10_000,
      10,
    );
    const stoppedAt = performance.now();
    await leader.elector.stop();
    // The watch, re-created on another member, delivers the deletion. (The campaign's reads are
    // unary requests on a member etcd3 picks at random: one that lands on the cut-off member waits
    // out its attempt's deadline, so the time to lead is logged, not bounded, here.)
    await waitFor(() => follower.elector.isLeader(), 'the cut-off follower to lead', 20_000, 10);
    const handoff = performance.now() - stoppedAt;
    console.log(
      `[liveness] follower with its watch stream cut off: led ${handoff.toFixed(0)} ms after the release`,
    );
    expect(follower.terms).toHaveLength(1);
  });

  test('killing any member, the raft leader included, never costs a term while the others answer', async () => {
    // "While the others answer within the renew deadline": after the raft leader's death the
    // others first elect a new one (0.5–1 s here on a quiet machine with a 500 ms election
    // timeout, several seconds on 2 cores at a load average of 20–30, where 1.5 s cost a term once
    // in 5 flake runs). A renew deadline of 4.5 s keeps the premise true under that load; the
    // property checked is the same: no term lost, no sample without a leader.
    const slack = { leaseDuration: 6000, renewDeadline: 4500, retryPeriod: 500 };
    const election = uniqueElection('kill-any');
    const leader = electors.create({ endpoints: cluster.endpoints, election }, 'leader', slack);
    await lead(leader);
    const follower = electors.create({ endpoints: cluster.endpoints, election }, 'follower', slack);
    await follow(follower, 'leader');
    for (let round = 0; round < 6; round++) {
      const raftLeader = await cluster.leaderMember({ timeoutMs: 10_000 });
      // Alternate: the raft leader, then a follower member.
      const victim =
        round % 2 === 0 ? raftLeader : cluster.members.find((m) => m !== raftLeader && m.running);
      expect(victim).toBeDefined();
      await victim!.kill('SIGKILL');
      const gaps = await leadershipGaps(leader, slack.leaseDuration);
      if (gaps > 0)
        console.log(
          '[liveness] gap after killing',
          victim!.name,
          leader.stops,
          leader.errors.map((e) => e.message),
        );
      expect(gaps).toBe(0);
      await victim!.restart();
      await waitFor(
        async () => (await Promise.all(cluster.members.map((m) => m.healthy()))).every(Boolean),
        'every member healthy',
        20_000,
        100,
      );
    }
    expect(leader.stops).toEqual([]);
    expect(follower.terms).toHaveLength(0);
  }, 180_000);

  test('a fenced write whose member is stuck moves to one that answers; with none, a transient timeout within the term', async () => {
    const election = uniqueElection('fence-stuck');
    const leader = electors.create({ endpoints: cluster.endpoints, election }, 'leader');
    await lead(leader);
    const term = leader.elector.currentTerm();
    expect(term).not.toBeNull();
    const raftLeader = await cluster.leaderMember({ timeoutMs: 10_000 });
    const stuck = cluster.members.find((m) => m !== raftLeader)!;
    await stuck.kill('SIGSTOP');
    // Whichever member each write picks first, every one commits while the term lasts (a write
    // that waited for the stuck member until its request timeout would take 5 s).
    for (let i = 0; i < 8; i++) {
      const current = leader.elector.currentTerm();
      expect(current).not.toBeNull();
      const began = performance.now();
      await current!.fence.put(`/liveness/${election}/w${i}`, String(i));
      expect(performance.now() - began).toBeLessThan(REQUEST_TIMEOUT_MS);
    }
    expect(leader.stops).toEqual([]);

    // No member answers: the write fails as a transient timeout whose budget was the term's
    // remaining validity, not the request timeout.
    const current = leader.elector.currentTerm()!;
    const others = cluster.members.filter((m) => m !== stuck);
    await Promise.all(others.map((m) => m.kill('SIGSTOP')));
    const remaining = current.remainingMs();
    const failure = await current.fence.put(`/liveness/${election}/lost`, 'x').then(
      () => null,
      (error: unknown) => error,
    );
    console.log(`[liveness] fenced write with no member answering: ${String(failure)}`);
    if (hasErrorCode(failure, ErrorCode.NotLeader)) {
      // The term ran out before the write was sent: refused without I/O.
      expect(current.isValid()).toBe(false);
    } else {
      expect(hasErrorCode(failure, ErrorCode.BackendTimeout)).toBe(true);
      const timeout = failure as LeaderElectError;
      expect(timeout.transient).toBe(true);
      expect(timeout.details.budgetMs).toBeLessThanOrEqual(remaining);
      expect(timeout.message).toMatch(/may or may not have committed/);
    }
    await Promise.all(cluster.members.map((m) => m.kill('SIGCONT')));
  });
});
