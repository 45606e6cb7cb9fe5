/**
 * Faults of candidate processes (SIGKILL, SIGSTOP/SIGCONT) on the shared cluster: no etcd member
 * is touched here, so other files are not disturbed.
 */
import { afterEach, describe, expect, inject, test } from 'vitest';
import { ErrorCode } from '../../src/index.js';
import { sleep, waitFor } from '../support/wait.js';
import { CandidateProcess } from './support/candidate-process.js';
import { Electors } from './support/electors.js';
import {
  CONFORMANCE_TIMINGS,
  ETCD_EXPIRY_SLACK_MS,
  uniqueElection,
} from './support/etcd-test-env.js';

const endpoints = inject('etcdEndpoints');
const TTL_MS = CONFORMANCE_TIMINGS.leaseDuration;

const electors = new Electors();
const children: CandidateProcess[] = [];

function child(election: string, identity: string): CandidateProcess {
  const candidate = new CandidateProcess({ endpoints, election, identity, ...CONFORMANCE_TIMINGS });
  children.push(candidate);
  return candidate;
}

afterEach(async () => {
  await electors.stopAll();
  await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
});

describe('process faults', () => {
  test('SIGKILL of the leader: a follower leads within TTL + 600 ms', async () => {
    const election = uniqueElection('sigkill');
    const leader = child(election, 'victim');
    await leader.waitFor((e) => e.event === 'started-leading', 'leadership');
    const follower = electors.create({ endpoints, election }, 'survivor');
    void follower.elector.run();
    await waitFor(
      () => follower.elector.leader?.identity === 'victim',
      'follower to see victim',
      5000,
    );
    const killedAt = performance.now();
    await leader.kill('SIGKILL');
    const term = await follower.elector.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    const failoverMs = performance.now() - killedAt;
    console.log(
      `[faults] SIGKILL → follower leads: ${failoverMs.toFixed(0)} ms (TTL ${TTL_MS} ms)`,
    );
    expect(failoverMs).toBeLessThan(TTL_MS + 600);
    expect(term.token).toBeGreaterThan(
      BigInt(leader.events.find((e) => e.event === 'started-leading')?.token as string),
    );
  });

  test('SIGSTOP past the TTL, then SIGCONT: not leader before any of its own code runs, fenced write rejected, rejoins as follower', async () => {
    const election = uniqueElection('sigstop');
    const paused = child(election, 'sleeper');
    const won = await paused.waitFor((e) => e.event === 'started-leading', 'leadership');
    const other = electors.create({ endpoints, election }, 'awake');
    void other.elector.run();
    await waitFor(() => other.elector.leader?.identity === 'sleeper', 'awake to see sleeper', 5000);
    const from = paused.events.length;
    paused.signal('SIGSTOP');
    const stoppedAt = performance.now();
    const term = await other.elector.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    const takeoverMs = performance.now() - stoppedAt;
    expect(takeoverMs).toBeGreaterThan(TTL_MS / 2); // not before the paused leader's lease ran out
    // Keep it stopped for longer than the TTL in any case.
    await sleep(Math.max(0, TTL_MS + 200 - (performance.now() - stoppedAt)));
    paused.signal('SIGCONT');
    const resumed = await paused.waitFor((e) => e.event === 'resumed', 'resume', 5000, from);
    expect(resumed.is_leader).toBe(false);
    const write = await paused.waitFor(
      (e) => e.event === 'fenced-write' && e.reason === 'after-resume',
      'fenced write after resume',
      5000,
      from,
    );
    expect(write.ok).toBe(false);
    expect(write.code).toBe(ErrorCode.NotLeader);
    expect(write.token).toBe(won.token);
    // Rejoins as a follower: sees the new leader, never leads meanwhile.
    await paused.waitFor(
      (e) =>
        e.event === 'new-leader' && e.identity === 'awake' && e.token === term.token.toString(),
      'sleeper to observe awake',
      5000,
      from,
    );
    expect(paused.events.slice(from).some((e) => e.event === 'started-leading')).toBe(false);
    expect(other.elector.isLeader()).toBe(true);
    // And the new leader's fenced writes still go through.
    await expect(term.fence.put(`${election}-data`, 'awake')).resolves.toHaveProperty('revision');
    // Expiry slack bound: the takeover happened within TTL + the sweep after the pause.
    expect(takeoverMs).toBeLessThan(TTL_MS + ETCD_EXPIRY_SLACK_MS + 300);
  });

  test('a graceful stop of a child process hands over at once (watch-driven)', async () => {
    const election = uniqueElection('child-stop');
    const first = child(election, 'first');
    await first.waitFor((e) => e.event === 'started-leading', 'leadership');
    const second = electors.create({ endpoints, election }, 'second');
    void second.elector.run();
    await waitFor(() => second.elector.leader?.identity === 'first', 'second to see first', 5000);
    const stopAt = performance.now();
    await first.stop();
    await second.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
    const handoverMs = performance.now() - stopAt;
    expect(handoverMs).toBeLessThan(CONFORMANCE_TIMINGS.retryPeriod);
    expect((await first.exited).code).toBe(0);
  });
});
