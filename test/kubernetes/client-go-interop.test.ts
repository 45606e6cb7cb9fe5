/**
 * Interoperability with client-go's tools/leaderelection (LeaseLock), the reference: both sides
 * campaign for the same Lease on a real kube-apiserver, each reports the other as leader with
 * the right identity, and handoffs in both directions work, including a rolling migration from
 * three client-go candidates to three of ours checked by an independent watch.
 */
import { type KubeConfig, type V1Lease, Watch } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { LeaderElector } from '../../src/index.js';
import { kubernetesBackend } from '../../src/kubernetes/index.js';
import { sleep, waitFor } from '../support/wait.js';
import {
  adminKubeConfig,
  ClientGoCandidate,
  ensureNamespace,
  readLease,
  uniqueName,
} from './support.js';

const namespace = 'le-interop';
const timings = { leaseDuration: 2000, renewDeadline: 1500, retryPeriod: 300 };
const goTimings = {
  leaseDurationMs: timings.leaseDuration,
  renewDeadlineMs: timings.renewDeadline,
  retryPeriodMs: timings.retryPeriod,
};
/** client-go polls every retryPeriod plus up to 1.2 × retryPeriod of jitter. */
const goMaxPollMs = timings.retryPeriod * 2.2;

let kubeConfig: KubeConfig;
let electors: LeaderElector[] = [];
let candidates: ClientGoCandidate[] = [];

beforeAll(async () => {
  await ensureNamespace(namespace);
  kubeConfig = adminKubeConfig();
});

afterEach(async () => {
  await Promise.all([...electors.map((e) => e.stop()), ...candidates.map((c) => c.kill())]);
  electors = [];
  candidates = [];
});

afterAll(async () => {
  await Promise.all(candidates.map((c) => c.kill()));
});

function ours(name: string, identity: string): LeaderElector {
  const elector = new LeaderElector({
    backend: kubernetesBackend({ kubeConfig, namespace, name, requestTimeoutMs: 750 }),
    identity,
    ...timings,
  });
  electors.push(elector);
  return elector;
}

function clientGo(name: string, identity: string): ClientGoCandidate {
  const candidate = new ClientGoCandidate({ identity, namespace, name, ...goTimings });
  candidates.push(candidate);
  return candidate;
}

describe('interop with client-go leaderelection (LeaseLock)', () => {
  test('client-go holds, we wait and report it; it releases on cancel, we lead at once', async () => {
    const name = uniqueName('go-first');
    const go = clientGo(name, 'go-a');
    await go.waitFor((e) => e.event === 'started_leading', 'lead', 10_000);

    const node = ours(name, 'node-b');
    void node.run();
    await waitFor(() => node.leader?.identity === 'go-a', 'us to report go-a', 5_000);
    // client-go keeps renewing, so we never take over, however long we wait.
    await sleep(timings.leaseDuration * 1.5);
    expect(node.isLeader()).toBe(false);
    const before = await readLease(namespace, name);
    expect(before?.spec?.holderIdentity).toBe('go-a');

    const next = node.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    const stoppedAt = performance.now();
    await go.stop(); // SIGTERM: ReleaseOnCancel writes the released form
    const term = await next;
    // Driven by the release seen through the watch, not by expiry.
    expect(performance.now() - stoppedAt).toBeLessThan(timings.leaseDuration);
    expect(go.events.map((e) => e.event)).toContain('stopped_leading');

    const after = await readLease(namespace, name);
    expect(after?.spec?.holderIdentity).toBe('node-b');
    expect(after?.spec?.leaseDurationSeconds).toBe(2);
    expect(BigInt(after?.spec?.leaseTransitions ?? -1)).toBe(term.token);
    expect(term.token).toBeGreaterThan(BigInt(before?.spec?.leaseTransitions ?? 0));
  });

  test('we hold, client-go waits and reports us; we release, client-go leads and we report it', async () => {
    const name = uniqueName('ours-first');
    const leader = ours(name, 'node-a');
    void leader.run();
    const first = await leader.waitForLeadership({ signal: AbortSignal.timeout(5_000) });

    const go = clientGo(name, 'go-b');
    await go.waitFor(
      (e) => e.event === 'new_leader' && e.identity === 'node-a',
      'client-go to report node-a',
      5_000,
    );
    const watcher = ours(name, 'node-c'); // a follower of ours, to see who leads next
    void watcher.run();
    await waitFor(() => watcher.leader?.identity === 'node-a', 'node-c to see node-a', 5_000);
    await sleep(timings.leaseDuration * 1.5);
    expect(go.leading).toBe(false);
    expect(leader.isLeader()).toBe(true);

    // Only client-go may win the released lease: stop our follower from racing for it.
    await watcher.stop();
    const observer = ours(name, 'node-d');
    const stoppedAt = performance.now();
    await leader.stop(); // releases
    await go.waitFor((e) => e.event === 'started_leading', 'client-go to lead', 5_000);
    expect(performance.now() - stoppedAt).toBeLessThan(goMaxPollMs + 1_000);

    void observer.run();
    await waitFor(() => observer.leader?.identity === 'go-b', 'us to report go-b', 5_000);
    const lease = await readLease(namespace, name);
    expect(lease?.spec?.holderIdentity).toBe('go-b');
    // client-go adds one on a holder change; the fencing order stays strictly increasing.
    expect(BigInt(lease?.spec?.leaseTransitions ?? -1)).toBeGreaterThan(first.token);
  });

  test('client-go crashes (no release): we take over after its lease expires, not before', async () => {
    const name = uniqueName('go-crash');
    const go = clientGo(name, 'go-crash');
    await go.waitFor((e) => e.event === 'started_leading', 'lead', 10_000);
    const node = ours(name, 'node-e');
    void node.run();
    await waitFor(() => node.leader?.identity === 'go-crash', 'us to report it', 5_000);
    const next = node.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    const killedAt = performance.now();
    await go.kill();
    await next;
    const after = performance.now() - killedAt;
    // Its last renewal was at most one retryPeriod before the kill.
    expect(after).toBeGreaterThanOrEqual(timings.leaseDuration - timings.retryPeriod - 50);
    expect(after).toBeLessThan(timings.leaseDuration + timings.retryPeriod + 500);
  });

  test('transfer to one of ours: a client-go follower sees an ordinary holder change and never takes the lease', async () => {
    const name = uniqueName('transfer');
    const seen = await observeLease(name);
    try {
      const a = ours(name, 'node-a');
      void a.run();
      const first = await a.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
      const go = clientGo(name, 'go-b');
      await go.waitFor(
        (e) => e.event === 'new_leader' && e.identity === 'node-a',
        'go follows',
        5_000,
      );
      const c = ours(name, 'node-c');
      void c.run();
      await waitFor(() => c.leader?.identity === 'node-a', 'node-c follows', 5_000);
      const result = await a.transfer('node-c');
      await waitFor(() => c.isLeader(), 'node-c leads', 5_000);
      expect(result.token).toBe(c.currentTerm()?.token);
      expect(result.token! > first.token).toBe(true);
      // A lease duration and more: client-go never leads, c keeps the lease.
      await sleep(timings.leaseDuration * 1.5);
      expect(go.events.some((e) => e.event === 'started_leading')).toBe(false);
      await go.waitFor(
        (e) => e.event === 'new_leader' && e.identity === 'node-c',
        'go sees c',
        5_000,
      );
      expect(c.isLeader()).toBe(true);
      // The Lease went a → c directly (no empty holder, no third holder in between).
      const holders = seen.map((v) => v.holder).filter((h, i, all) => i === 0 || h !== all[i - 1]);
      expect(holders).toEqual(['node-a', 'node-c']);
    } finally {
      seen.stop();
    }
  });

  test('transfer to a client-go candidate: it takes over with its next poll, and we follow it', async () => {
    const name = uniqueName('transfer-go');
    const a = ours(name, 'node-a');
    void a.run();
    await a.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    const go = clientGo(name, 'go-b');
    await go.waitFor(
      (e) => e.event === 'new_leader' && e.identity === 'node-a',
      'go follows',
      5_000,
    );
    await a.transfer('go-b');
    await go.waitFor((e) => e.event === 'started_leading', 'go leads', 5_000);
    await waitFor(() => a.leader?.identity === 'go-b', 'a follows go-b', 5_000);
    expect(a.isLeader()).toBe(false);
  });

  test('rolling migration: 3 client-go candidates replaced one by one by 3 of ours, never two leaders', async () => {
    const name = uniqueName('migration');
    const seen = await observeLease(name);
    try {
      const goes = [0, 1, 2].map((i) => clientGo(name, `go-${i}`));
      await waitFor(() => goes.some((g) => g.leading), 'a client-go leader', 10_000);

      /** Leadership as each process reports it, on the wall clock (ms). */
      const intervals: { identity: string; from: number; to: number }[] = [];
      const nodes: LeaderElector[] = [];
      const goStoppedAt = new Map<string, number>();
      const remaining = [...goes];
      for (let i = 0; i < 3; i++) {
        const node = ours(name, `node-${i}`);
        let from = 0;
        node.on('startedLeading', () => {
          from = Date.now();
        });
        node.on('stoppedLeading', (term) => {
          intervals.push({ identity: term.identity, from, to: Date.now() });
        });
        nodes.push(node);
        void node.run();
        await waitFor(() => node.leader?.identity != null, `node-${i} to see a leader`, 5_000);

        await sleep(timings.retryPeriod * 2); // a few renewals under the mixed crowd
        // Replace the client-go leader while there is one, so every step is a real handoff.
        const go = remaining.find((g) => g.leading) ?? remaining[0]!;
        remaining.splice(remaining.indexOf(go), 1);
        goStoppedAt.set(go.identity, Date.now()); // its leadership ends when it is told to stop
        await go.stop();
        await waitFor(
          () => {
            const holder = seen.at(-1)?.holder;
            return holder !== undefined && holder !== '' && !goStoppedAt.has(holder);
          },
          'a live holder after the replacement',
          timings.leaseDuration * 3,
        );
      }
      const leader = nodes.find((n) => n.isLeader());
      expect(leader).toBeDefined();
      // The new fleet hands over among itself too.
      await leader!.stop();
      await waitFor(() => nodes.some((n) => n.isLeader()), 'the next of ours', 5_000);
      for (const go of goes) {
        const started = go.events.find((e) => e.event === 'started_leading');
        if (started === undefined) continue;
        const stopped = go.events.find((e) => e.event === 'stopped_leading');
        const to = Math.min(stopped?.t ?? Number.POSITIVE_INFINITY, goStoppedAt.get(go.identity)!);
        intervals.push({ identity: go.identity, from: started.t, to });
      }
      await Promise.all(nodes.map((n) => n.stop()));
      await sleep(200); // the release reaches the observer

      // Self-reported terms never overlap.
      intervals.sort((a, b) => a.from - b.from);
      for (let i = 1; i < intervals.length; i++) {
        expect(intervals[i]!.from, JSON.stringify(intervals)).toBeGreaterThanOrEqual(
          intervals[i - 1]!.to,
        );
      }
      // Every Lease version, as an independent watch saw them: transitions never go back, and
      // the holder changes only through a release, or after the old holder's lease expired.
      const changes = seen.filter((v, i) => i > 0 && v.holder !== seen[i - 1]!.holder);
      expect(changes.length, JSON.stringify(seen)).toBeGreaterThanOrEqual(4); // go → '' → node → '' → node ...
      for (let i = 1; i < seen.length; i++) {
        const prev = seen[i - 1]!;
        const cur = seen[i]!;
        expect(cur.transitions).toBeGreaterThanOrEqual(prev.transitions);
        if (prev.holder !== '' && cur.holder !== '' && cur.holder !== prev.holder) {
          const lastOfPrev = seen.filter((v) => v.holder === prev.holder).at(-1)!;
          expect(cur.at - lastOfPrev.at).toBeGreaterThanOrEqual(timings.leaseDuration - 100);
        }
      }
      const holders = new Set(seen.map((v) => v.holder).filter((h) => h !== ''));
      expect([...holders].some((h) => h.startsWith('go-'))).toBe(true);
      expect([...holders].some((h) => h.startsWith('node-'))).toBe(true);
      expect(seen.at(-1)?.holder).toBe('');
    } finally {
      seen.stop();
    }
  });
});

interface SeenVersion {
  readonly resourceVersion: string;
  readonly holder: string;
  readonly transitions: number;
  readonly at: number;
}

/** Records every version of the Lease through client-node's own Watch (not our code). */
async function observeLease(name: string): Promise<SeenVersion[] & { stop(): void }> {
  const seen: SeenVersion[] = [];
  const watch = new Watch(adminKubeConfig());
  const controller = await watch.watch(
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    { fieldSelector: `metadata.name=${name}` },
    (type: string, lease: V1Lease) => {
      if (type !== 'ADDED' && type !== 'MODIFIED') return;
      seen.push({
        resourceVersion: lease.metadata?.resourceVersion ?? '',
        holder: lease.spec?.holderIdentity ?? '',
        transitions: lease.spec?.leaseTransitions ?? 0,
        at: performance.now(),
      });
    },
    () => undefined,
  );
  return Object.assign(seen, { stop: () => controller.abort() });
}
