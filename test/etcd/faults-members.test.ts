/**
 * Faults of etcd members, on a private three-member cluster (members are killed here).
 * Every candidate's client knows all three endpoints unless a test says otherwise.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { etcdBackend } from '../../src/etcd/index.js';
import { ErrorCode, hasErrorCode, systemClock } from '../../src/index.js';
import { type EtcdCluster, startEtcdCluster } from '../env/etcd-cluster.mjs';
import { sleep, waitFor } from '../support/wait.js';
import { Electors, type Recorded } from './support/electors.js';
import { CONFORMANCE_TIMINGS, uniqueElection } from './support/etcd-test-env.js';

const { leaseDuration, renewDeadline } = CONFORMANCE_TIMINGS;
let cluster: EtcdCluster;
const electors = new Electors();

beforeAll(async () => {
  cluster = await startEtcdCluster({ binary: inject('etcdBinary'), members: 3, name: 'faults' });
});

afterEach(async () => {
  await electors.stopAll();
  // Every member back up (and healthy) for the next test.
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

async function leaderAndFollower(label: string): Promise<[Recorded, Recorded]> {
  const election = uniqueElection(label);
  const leader = electors.create({ endpoints: cluster.endpoints, election }, 'leader');
  void leader.elector.run();
  await leader.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
  const follower = electors.create({ endpoints: cluster.endpoints, election }, 'follower');
  void follower.elector.run();
  await waitFor(
    () => follower.elector.leader?.identity === 'leader',
    'follower to see leader',
    5000,
  );
  return [leader, follower];
}

describe('etcd member faults', () => {
  test('killing any follower member (whichever our streams use) never costs the leadership', async () => {
    const [leader, follower] = await leaderAndFollower('kill-member');
    const raftLeader = await cluster.leaderMember({ timeoutMs: 5000 });
    for (const member of cluster.members.filter((m) => m !== raftLeader)) {
      await member.kill('SIGKILL');
      expect(await leadershipGaps(leader, leaseDuration * 2)).toBe(0);
      await member.restart();
    }
    expect(leader.stops).toEqual([]);
    expect(follower.terms).toHaveLength(0);
  });

  test('killing the raft leader member causes no false loss', async () => {
    const [leader, follower] = await leaderAndFollower('kill-raft-leader');
    const raftLeader = await cluster.leaderMember({ timeoutMs: 5000 });
    expect(raftLeader).not.toBeNull();
    await raftLeader!.kill('SIGKILL');
    expect(await leadershipGaps(leader, leaseDuration * 2)).toBe(0);
    expect(leader.stops).toEqual([]);
    expect(follower.terms).toHaveLength(0);
    await raftLeader!.restart();
    expect(await leadershipGaps(leader, leaseDuration)).toBe(0);
  });

  test('losing quorum: the leader steps down by its renew deadline; a leader is elected once quorum is back', async () => {
    const [leader, follower] = await leaderAndFollower('quorum');
    let endedAt = 0;
    let validUntil = 0;
    leader.elector.once('stoppedLeading', (term) => {
      endedAt = performance.now();
      validUntil = term.validUntil;
    });
    const [a, b] = cluster.members;
    const lostAt = performance.now();
    await Promise.all([a!.kill('SIGKILL'), b!.kill('SIGKILL')]);
    await waitFor(() => endedAt > 0, 'the leader to step down', renewDeadline + 3000);
    expect(leader.stops[0]?.reason).toBe('renew-deadline');
    // It stepped down at its own deadline (sent time of the last renewal + renewDeadline)...
    expect(endedAt - validUntil).toBeLessThan(100);
    // ...which is renewDeadline after quorum loss at most, plus the raft election timeout during
    // which an isolated etcd leader still answers keepalives.
    expect(endedAt - lostAt).toBeLessThan(renewDeadline + 500 + 300);
    expect(leader.elector.isLeader()).toBe(false);
    expect(follower.elector.isLeader()).toBe(false);

    await Promise.all([a!.restart({ wait: false }), b!.restart({ wait: false })]);
    const back = performance.now();
    await waitFor(
      () => leader.elector.isLeader() || follower.elector.isLeader(),
      'a leader after quorum is back',
      15_000,
    );
    console.log(
      `[faults] quorum back → a leader again in ${(performance.now() - back).toFixed(0)} ms`,
    );
    expect([leader, follower].filter((c) => c.elector.isLeader())).toHaveLength(1);
  });

  test('a follower whose only member loses its raft leader is told so (the watch requires a leader)', async () => {
    const raftLeader = await cluster.leaderMember({ timeoutMs: 5000 });
    const lonely = cluster.members.find((m) => m !== raftLeader)!;
    const election = uniqueElection('require-leader');
    const leader = electors.create({ endpoints: cluster.endpoints, election }, 'leader');
    void leader.elector.run();
    await leader.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
    const follower = electors.create({ endpoints: [lonely.clientUrl], election }, 'follower');
    void follower.elector.run();
    await waitFor(
      () => follower.elector.leader?.identity === 'leader',
      'follower to see leader',
      5000,
    );
    const others = cluster.members.filter((m) => m !== lonely);
    const pausedAt = performance.now();
    await Promise.all(others.map((m) => m.kill('SIGSTOP')));
    const error = await waitFor(
      () => follower.errors.find((e) => e.code === ErrorCode.BackendUnavailable),
      'the follower to report the lost leader',
      8000,
    );
    console.log(
      `[faults] member without raft leader → follower notified in ${(performance.now() - pausedAt).toFixed(0)} ms: ${error.message}`,
    );
    expect(follower.elector.isLeader()).toBe(false);
    // The premise of what follows, checked rather than assumed: the member itself says it has no
    // leader (its /health answers "RAFT NO LEADER" at once when it has none).
    await waitFor(
      async () => {
        const res = await fetch(`${lonely.clientUrl}/health`, {
          signal: AbortSignal.timeout(1000),
        }).catch(() => null);
        const body = res === null ? null : await res.text().catch(() => '');
        return body !== null && /NO LEADER/i.test(body);
      },
      'the lonely member to report that it has no leader',
      10_000,
      50,
    );
    // Requests carry `hasleader` too: the leaderless member refuses at once instead of holding
    // them until etcd's own request timeout (about 5 s).
    const direct = etcdBackend({ endpoints: [lonely.clientUrl], election: `${election}-direct` });
    try {
      const sentAt = performance.now();
      const attempt = direct.attempt({
        mode: 'acquire',
        identity: 'direct',
        leaseDurationMs: leaseDuration,
        clock: systemClock,
        // Longer than etcd's own request timeout (about 5 s), so that a request held by the
        // member until then fails with etcd's timeout, not with ours: only the hasleader check
        // answers "no leader". How fast it answers is logged, not asserted (a timing under load).
        signal: AbortSignal.timeout(6_000),
      });
      await expect(attempt).rejects.toSatisfy(
        (e: unknown) =>
          hasErrorCode(e, ErrorCode.BackendUnavailable) && /no leader/.test(e.message),
      );
      console.log(
        `[faults] a leaderless member refused a request that requires a leader in ${(performance.now() - sentAt).toFixed(0)} ms`,
      );
    } finally {
      await direct.close();
    }
    await Promise.all(others.map((m) => m.kill('SIGCONT')));
  });
});
