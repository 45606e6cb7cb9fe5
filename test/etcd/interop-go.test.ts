/**
 * Interop with etcd's own recipe: the Go `concurrency.Election` peer (cmd/etcd-election-peer)
 * and leader-elect candidates compete in one election on the shared cluster.
 */
import { afterEach, describe, expect, inject, test } from 'vitest';
import { type ElectionPeer, startElectionPeer } from '../env/election-peer.mjs';
import { sleep, waitFor } from '../support/wait.js';
import { CandidateProcess } from './support/candidate-process.js';
import { Electors } from './support/electors.js';
import { CONFORMANCE_TIMINGS, uniqueElection } from './support/etcd-test-env.js';

const endpoints = inject('etcdEndpoints');
const peerBinary = inject('etcdPeerBinary');
const TTL_SECONDS = CONFORMANCE_TIMINGS.leaseDuration / 1000;

const electors = new Electors();
const peers: ElectionPeer[] = [];
const candidates: CandidateProcess[] = [];

function goPeer(election: string, identity: string): ElectionPeer {
  const peer = startElectionPeer({
    binary: peerBinary,
    endpoints,
    election,
    identity,
    ttl: TTL_SECONDS,
  });
  peers.push(peer);
  return peer;
}

afterEach(async () => {
  await electors.stopAll();
  await Promise.all(peers.splice(0).map((p) => p.kill('SIGTERM')));
  await Promise.all(candidates.splice(0).map((c) => c.kill('SIGKILL')));
});

describe('interop with Go concurrency.Election', () => {
  test('Go holds and we wait, reporting Go as leader; Go resigns and we lead within milliseconds', async () => {
    const election = uniqueElection('go-first');
    const go = goPeer(election, 'go-1');
    const elected = await go.waitFor((e) => e.event === 'elected');
    const ours = electors.create({ endpoints, election }, 'node-1');
    void ours.elector.run();
    await waitFor(() => ours.elector.leader?.identity === 'go-1', 'us to observe Go', 5000);
    expect(ours.elector.leader?.token).toBe(BigInt(elected.rev as number));
    await sleep(CONFORMANCE_TIMINGS.leaseDuration); // Go keeps renewing: we must keep waiting
    expect(ours.elector.isLeader()).toBe(false);
    expect(ours.terms).toHaveLength(0);

    const resignAt = performance.now();
    go.send('resign');
    const term = await ours.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
    const handoffMs = performance.now() - resignAt;
    await go.waitFor((e) => e.event === 'resigned');
    expect(term.token).toBeGreaterThan(BigInt(elected.rev as number));
    // The resign command includes the Go peer's own delete round trip.
    expect(handoffMs).toBeLessThan(500);
    console.log(`[interop] Go resign → our onStartedLeading: ${handoffMs.toFixed(1)} ms`);
  });

  test('we hold and Go waits, reporting us as leader; we stop and Go leads', async () => {
    const election = uniqueElection('us-first');
    const ours = electors.create({ endpoints, election }, 'node-1');
    void ours.elector.run();
    const term = await ours.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
    const go = goPeer(election, 'go-1');
    const seen = await go.waitFor((e) => e.event === 'leader' && e.identity === 'node-1');
    expect(BigInt(seen.rev as number)).toBe(term.token);
    await go.waitFor((e) => e.event === 'campaigning');
    await sleep(CONFORMANCE_TIMINGS.leaseDuration * 1.5); // several of our renewals
    expect(go.events.some((e) => e.event === 'elected')).toBe(false);
    expect(ours.elector.isLeader()).toBe(true);

    const stopAt = performance.now();
    const from = go.events.length;
    await ours.elector.stop();
    const elected = await go.waitFor((e) => e.event === 'elected', { timeoutMs: 5000, from });
    console.log(
      `[interop] our stop() → Go elected: ${(performance.now() - stopAt).toFixed(1)} ms (includes the peer's output)`,
    );
    expect(BigInt(elected.rev as number)).toBeGreaterThan(term.token);
    expect(ours.elector.isLeader()).toBe(false);
  });

  test('our process is killed while leading: Go leads only after our lease expires', async () => {
    const election = uniqueElection('killed');
    const candidate = new CandidateProcess({
      endpoints,
      election,
      identity: 'node-proc',
      ...CONFORMANCE_TIMINGS,
    });
    candidates.push(candidate);
    await candidate.waitFor((e) => e.event === 'started-leading', 'leadership');
    const go = goPeer(election, 'go-1');
    await go.waitFor((e) => e.event === 'leader' && e.identity === 'node-proc');
    await sleep(CONFORMANCE_TIMINGS.retryPeriod * 2);
    const from = go.events.length;
    const killedAt = Date.now();
    await candidate.kill('SIGKILL');
    const elected = await go.waitFor((e) => e.event === 'elected', { timeoutMs: 10_000, from });
    const afterKillMs = (elected.wall_ms as number) - killedAt;
    console.log(
      `[interop] SIGKILL of our leader → Go elected: ${afterKillMs} ms (TTL ${TTL_SECONDS} s)`,
    );
    // The lease outlives the last keepalive by the TTL; keepalives go out at least every TTL/3.
    expect(afterKillMs).toBeGreaterThanOrEqual((TTL_SECONDS * 1000 * 2) / 3 - 50);
    expect(afterKillMs).toBeLessThan(TTL_SECONDS * 1000 + 1000);
    // Go reports itself as the leader now.
    await go.waitFor((e) => e.event === 'leader' && e.identity === 'go-1', { from });
  });

  test('Go is killed while leading: we lead after its lease expires, not before', async () => {
    const election = uniqueElection('go-killed');
    const go = goPeer(election, 'go-1');
    await go.waitFor((e) => e.event === 'elected');
    const ours = electors.create({ endpoints, election }, 'node-1');
    void ours.elector.run();
    await waitFor(() => ours.elector.leader?.identity === 'go-1', 'us to observe Go', 5000);
    const killedAt = performance.now();
    await go.kill('SIGKILL');
    await ours.elector.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    const afterKillMs = performance.now() - killedAt;
    console.log(
      `[interop] SIGKILL of Go leader → our onStartedLeading: ${afterKillMs.toFixed(0)} ms`,
    );
    expect(afterKillMs).toBeGreaterThanOrEqual((TTL_SECONDS * 1000 * 2) / 3 - 50);
    expect(afterKillMs).toBeLessThan(TTL_SECONDS * 1000 + 1000);
  });

  test('three-way: Go, an in-process and a child-process candidate agree on one leader at a time', async () => {
    const election = uniqueElection('mixed');
    const ours = electors.create({ endpoints, election }, 'node-1');
    void ours.elector.run();
    await ours.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
    const go = goPeer(election, 'go-1');
    const child = new CandidateProcess({
      endpoints,
      election,
      identity: 'node-2',
      ...CONFORMANCE_TIMINGS,
    });
    candidates.push(child);
    await child.waitFor(
      (e) => e.event === 'new-leader' && e.identity === 'node-1',
      'child to see node-1',
    );
    await go.waitFor((e) => e.event === 'campaigning');
    // Queue order is creation order: node-1, then whoever campaigned next.
    await ours.elector.stop();
    const next = await waitFor(
      () =>
        go.events.find((e) => e.event === 'elected') ??
        child.events.find((e) => e.event === 'started-leading'),
      'the next leader',
      5000,
    );
    const goLeads = next.event === 'elected';
    if (goLeads) {
      await child.waitFor(
        (e) => e.event === 'new-leader' && e.identity === 'go-1',
        'child to see Go',
      );
      go.send('resign');
      await child.waitFor((e) => e.event === 'started-leading', 'child to lead after Go');
    } else {
      await go.waitFor((e) => e.event === 'leader' && e.identity === 'node-2');
      await child.stop();
      await go.waitFor((e) => e.event === 'elected');
    }
  });
});
