/**
 * Coordinated leader election (KEP-4355) on a real kube-apiserver 1.37 running the coordinated
 * leader election controller: our candidate keeps its LeaseCandidate, leads only when the
 * controller names it (proved by its own write), yields when the controller prefers another
 * candidate, and follows the controller in a mixed fleet with client-go's coordinated candidates
 * (leaderelection.NewCandidate + Coordinated: true). An independent watch checks that no two
 * candidates ever hold the Lease at once.
 *
 * The controller's own pace sets the timescale: it re-checks Leases every 5 s and waits up to
 * 5 s for pinged candidates, so handovers take seconds whatever our timings.
 */
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { LeaderElector, type StopReason } from '../../src/index.js';
import { kubernetesBackend } from '../../src/kubernetes/index.js';
import { sleep, waitFor } from '../support/wait.js';
import {
  adminClients,
  adminKubeConfig,
  adminRequest,
  auditEvents,
  ClientGoCandidate,
  ensureNamespace,
  expectSingleHolder,
  microTime,
  observeLease,
  readLease,
  readLeaseCandidate,
  type SeenLease,
  uniqueName,
} from './support.js';

const namespace = 'le-coordinated';
const timings = { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 };
const goTimings = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500 };
/** A handover through the controller: expiry + its 5 s re-check + a 5 s ping round + slack. */
const HANDOVER_MS = 30_000;

let electors: LeaderElector[] = [];
let candidates: ClientGoCandidate[] = [];
let observers: { stop(): void }[] = [];

beforeAll(async () => {
  await ensureNamespace(namespace);
});

afterEach(async () => {
  await Promise.all([...electors.map((e) => e.stop()), ...candidates.map((c) => c.kill())]);
  for (const observer of observers) observer.stop();
  electors = [];
  candidates = [];
  observers = [];
  errors = [];
});

interface Interval {
  identity: string;
  from: number;
  to: number;
  reason?: StopReason;
}

/** Self-reported terms (wall clock, ms), ours and client-go's. */
const intervals: Interval[] = [];
/** Every error event of our electors. */
let errors: { identity: string; code: string; message: string }[] = [];

function ours(
  lease: string,
  identity: string,
  versions: { binaryVersion: string; emulationVersion: string },
  electorTimings: typeof timings = timings,
): LeaderElector {
  const elector = new LeaderElector({
    backend: kubernetesBackend({
      kubeConfig: adminKubeConfig(),
      namespace,
      name: lease,
      requestTimeoutMs: 1_000,
      coordinated: versions,
    }),
    identity,
    ...electorTimings,
  });
  let from = 0;
  elector.on('startedLeading', () => {
    from = Date.now();
  });
  elector.on('stoppedLeading', (term, reason) => {
    intervals.push({ identity: term.identity, from, to: Date.now(), reason });
  });
  elector.on('error', (error) => {
    errors.push({ identity, code: error.code, message: error.message });
  });
  electors.push(elector);
  return elector;
}

function clientGo(
  lease: string,
  identity: string,
  versions: { binaryVersion: string; emulationVersion: string },
): ClientGoCandidate {
  const candidate = new ClientGoCandidate({
    identity,
    namespace,
    name: lease,
    ...goTimings,
    coordinated: versions,
  });
  candidates.push(candidate);
  return candidate;
}

async function observe(lease: string): Promise<SeenLease[]> {
  const seen = await observeLease(namespace, lease);
  observers.push(seen);
  return seen;
}

/** client-go's self-reported terms (it stops leading at most once: then it exits). */
function clientGoIntervals(candidate: ClientGoCandidate): Interval[] {
  const started = candidate.events.find((e) => e.event === 'started_leading');
  if (started === undefined) return [];
  const stopped = candidate.events.find((e) => e.event === 'stopped_leading');
  return [{ identity: candidate.identity, from: started.t, to: stopped?.t ?? Date.now() }];
}

function expectNoOverlap(list: Interval[]): void {
  const sorted = [...list].sort((a, b) => a.from - b.from);
  for (let i = 1; i < sorted.length; i++) {
    expect(sorted[i]!.from, JSON.stringify(sorted)).toBeGreaterThanOrEqual(sorted[i - 1]!.to);
  }
}

describe('coordinated candidate (KEP-4355)', () => {
  test('keeps a LeaseCandidate, leads when named by its own write, answers pings, cleans up on stop', async () => {
    const lease = uniqueName('cle-life');
    const a = ours(lease, 'cle-a', { binaryVersion: '1.34.0', emulationVersion: '1.33.0' });
    void a.run();
    const term = await a.waitForLeadership({ signal: AbortSignal.timeout(HANDOVER_MS) });

    const candidate = await readLeaseCandidate(namespace, 'cle-a');
    expect(candidate?.spec).toMatchObject({
      leaseName: lease,
      binaryVersion: '1.34.0',
      emulationVersion: '1.33.0',
      strategy: 'OldestEmulationVersion',
    });
    const record = await readLease(namespace, lease);
    expect(record?.spec).toMatchObject({
      holderIdentity: 'cle-a',
      strategy: 'OldestEmulationVersion',
      leaseDurationSeconds: 3, // ours, written by our claim (the controller writes 5)
    });
    expect(record?.spec?.acquireTime).toBeDefined(); // the controller writes none
    expect(BigInt(record?.spec?.leaseTransitions ?? -1)).toBe(term.token);
    // The Lease was created by the controller, never by us; we only update it.
    const ourRequests = await auditEvents(
      (e) => e.name === lease && e.user === 'admin' && e.stage === 'ResponseComplete',
    );
    expect(ourRequests.some((e) => e.verb === 'update')).toBe(true);
    expect(ourRequests.filter((e) => e.verb === 'create')).toEqual([]);

    // A ping as the controller writes it (pingTime later than renewTime) is answered by a
    // renewal (renewTime at or after pingTime).
    const path = `/apis/coordination.k8s.io/v1beta1/namespaces/${namespace}/leasecandidates/cle-a`;
    const current = (await adminRequest('GET', path)).json;
    const pingTime = microTime(new Date(Date.now() + 1000));
    const pinged = await adminRequest('PUT', path, {
      ...current,
      spec: { ...current.spec, pingTime },
    });
    expect(pinged.status).toBe(200);
    await waitFor(
      async () => {
        const spec = (await adminRequest('GET', path)).json?.spec;
        return typeof spec?.renewTime === 'string' && spec.renewTime >= pingTime;
      },
      'the ping to be answered',
      10_000,
      50,
    );

    await a.stop();
    expect(await readLeaseCandidate(namespace, 'cle-a')).toBeNull();
    expect((await readLease(namespace, lease))?.spec?.holderIdentity ?? '').toBe('');
    expect(errors).toEqual([]);
  });

  test('a LeaseCandidate deleted under a running candidate is re-created; a stale one is brought up to date', async () => {
    const lease = uniqueName('cle-repair');
    const { candidates: api } = adminClients();
    // Left behind by a crashed process with the same identity and an older binary.
    await createCandidate('cle-r', lease, {
      binaryVersion: '1.30.0',
      emulationVersion: '1.30.0',
      renewTime: new Date(Date.now() - 60_000),
    });
    const r = ours(lease, 'cle-r', { binaryVersion: '1.34.0', emulationVersion: '1.33.0' });
    void r.run();
    await r.waitForLeadership({ signal: AbortSignal.timeout(HANDOVER_MS) });
    expect((await readLeaseCandidate(namespace, 'cle-r'))?.spec).toMatchObject({
      binaryVersion: '1.34.0',
      emulationVersion: '1.33.0',
    });

    await api.deleteNamespacedLeaseCandidate({ namespace, name: 'cle-r' });
    const recreated = await waitFor(
      () => readLeaseCandidate(namespace, 'cle-r'),
      'the candidate to be re-created',
      10_000,
      50,
    );
    expect(recreated.spec?.leaseName).toBe(lease);
    expect(r.isLeader()).toBe(true);
    expect(errors).toEqual([]);
  });

  test('never acquires: a Lease the controller leaves without a holder stays free', async () => {
    const lease = uniqueName('cle-free');
    // A third-party strategy: the built-in controller creates the Lease and elects nobody.
    const elector = new LeaderElector({
      backend: kubernetesBackend({
        kubeConfig: adminKubeConfig(),
        namespace,
        name: lease,
        coordinated: { binaryVersion: '1.34.0', strategy: 'example.com/nobody' },
      }),
      identity: 'cle-free',
      ...timings,
    });
    electors.push(elector);
    void elector.run();
    const created = await waitFor(
      () => readLease(namespace, lease),
      'the controller to create the Lease',
      HANDOVER_MS,
      100,
    );
    expect(created.spec?.holderIdentity ?? '').toBe('');
    expect(created.spec?.strategy).toBe('example.com/nobody');
    // An ordinary candidate would take a free Lease at once; a coordinated one waits.
    await sleep(timings.leaseDuration * 2);
    expect(elector.isLeader()).toBe(false);
    expect((await readLease(namespace, lease))?.spec?.holderIdentity ?? '').toBe('');
    const writes = await auditEvents(
      (e) =>
        e.name === lease &&
        e.user === 'admin' &&
        e.stage === 'ResponseComplete' &&
        (e.verb === 'update' || e.verb === 'create'),
    );
    expect(writes).toEqual([]);
  });

  test('mixed fleet with client-go: both follow the controller; upgrades and rollbacks move leadership by OldestEmulationVersion; never two holders', {
    timeout: 240_000,
  }, async () => {
    const lease = uniqueName('cle-fleet');
    const seen = await observe(lease);
    intervals.length = 0;

    // Emulation versions decide: 1.31 (client-go) < 1.32 (ours) < 1.33 (client-go).
    const go131 = clientGo(lease, 'go-131', {
      binaryVersion: '1.32.0',
      emulationVersion: '1.31.0',
    });
    const go133 = clientGo(lease, 'go-133', {
      binaryVersion: '1.33.0',
      emulationVersion: '1.33.0',
    });
    const node132 = ours(lease, 'node-132', {
      binaryVersion: '1.32.0',
      emulationVersion: '1.32.0',
    });
    void node132.run();
    await go131.waitFor((e) => e.event === 'started_leading', 'go-131 to lead', HANDOVER_MS);
    await waitFor(() => node132.leader?.identity === 'go-131', 'node-132 to report go-131', 10_000);
    await go133.waitFor(
      (e) => e.event === 'new_leader' && e.identity === 'go-131',
      'go-133 to report go-131',
      10_000,
    );

    // A candidate of ours with an older emulation version joins: the controller prefers it,
    // client-go's holder stops renewing, and ours takes over once the Lease has expired.
    const node130 = ours(lease, 'node-130', {
      binaryVersion: '1.32.0',
      emulationVersion: '1.30.0',
    });
    void node130.run();
    await node130.waitForLeadership({ signal: AbortSignal.timeout(HANDOVER_MS * 2) });
    expect(seen.some((v) => v.holder === 'go-131' && v.preferredHolder === 'node-130')).toBe(true);
    await go131.waitFor((e) => e.event === 'stopped_leading', 'go-131 to stop leading', 10_000);
    await go133.waitFor(
      (e) => e.event === 'new_leader' && e.identity === 'node-130',
      'go-133 to report node-130',
      10_000,
    );
    await waitFor(
      () => node132.leader?.identity === 'node-130',
      'node-132 to report node-130',
      10_000,
    );

    // Upgrade node-130 (a restart with a newer binary that emulates 1.33): it gives up the
    // Lease on stop, and the controller picks the oldest emulation left, node-132 (ours).
    await node130.stop();
    const upgraded = ours(lease, 'node-130', {
      binaryVersion: '1.34.0',
      emulationVersion: '1.33.0',
    });
    void upgraded.run();
    await node132.waitForLeadership({ signal: AbortSignal.timeout(HANDOVER_MS * 2) });
    await go133.waitFor(
      (e) => e.event === 'new_leader' && e.identity === 'node-132',
      'go-133 to report node-132',
      10_000,
    );
    await waitFor(
      () => upgraded.leader?.identity === 'node-132',
      'the upgraded node to report node-132',
      10_000,
    );

    // Roll back one client-go replica to a binary emulating 1.29 (a new process, a new
    // identity, as kube components restart): node-132 yields at its own renew deadline.
    const go129 = clientGo(lease, 'go-129', {
      binaryVersion: '1.31.0',
      emulationVersion: '1.29.0',
    });
    await go129.waitFor((e) => e.event === 'started_leading', 'go-129 to lead', HANDOVER_MS * 2);
    await waitFor(() => node132.leader?.identity === 'go-129', 'node-132 to report go-129', 10_000);
    await waitFor(
      () => upgraded.leader?.identity === 'go-129',
      'node-130 to report go-129',
      10_000,
    );
    expect(intervals.find((i) => i.identity === 'node-132')?.reason).toBe('renew-deadline');
    expect(seen.some((v) => v.holder === 'node-132' && v.preferredHolder === 'go-129')).toBe(true);

    // Never two holders: by the Lease's versions, and by what each process reported.
    const changes = expectSingleHolder(seen, expect);
    expect(changes.map((c) => c.to)).toEqual(
      expect.arrayContaining(['go-131', 'node-130', 'node-132', 'go-129']),
    );
    for (const v of seen.filter((x) => x.holder !== '')) {
      expect(v.strategy).toBe('OldestEmulationVersion');
    }
    expectNoOverlap([...intervals, ...[go131, go133, go129].flatMap(clientGoIntervals)]);
    expect(errors).toEqual([]);
  });

  test('a preferred holder deleted while we yield: our term goes on, the preference is cleared (kubernetes/kubernetes#138066)', {
    timeout: 120_000,
  }, async () => {
    const lease = uniqueName('cle-stale');
    const seen = await observe(lease);
    // A long renew deadline: the yielding term has seconds left when the preferred one goes.
    const long = { leaseDuration: 8000, renewDeadline: 6000, retryPeriod: 500 };
    const a = ours(lease, 'stale-a', { binaryVersion: '1.34.0', emulationVersion: '1.33.0' }, long);
    void a.run();
    const term = await a.waitForLeadership({ signal: AbortSignal.timeout(HANDOVER_MS) });
    const b = ours(lease, 'stale-b', { binaryVersion: '1.34.0', emulationVersion: '1.31.0' }, long);
    void b.run();
    await waitFor(
      () => seen.some((v) => v.preferredHolder === 'stale-b'),
      'the controller to prefer stale-b',
      HANDOVER_MS,
    );
    await b.stop(); // deletes its LeaseCandidate before the controller could name it

    // stale-a sees the preferred candidate gone, clears the preference and renews on.
    await waitFor(
      () => seen.at(-1)?.holder === 'stale-a' && seen.at(-1)?.preferredHolder === '',
      'the preference to be cleared',
      long.renewDeadline,
    );
    expect(a.currentTerm()).toBe(term);
    expect(intervals.filter((i) => i.identity === 'stale-a')).toEqual([]);
    expect(seen.some((v) => v.holder === 'stale-b')).toBe(false);
    expectSingleHolder(seen, expect);
    expect(errors).toEqual([]);
  });

  test('a preferred holder that stopped answering pings (crashed, its LeaseCandidate left behind) does not stall us', {
    timeout: 120_000,
  }, async () => {
    const lease = uniqueName('cle-crash');
    const seen = await observe(lease);
    const a = ours(lease, 'crash-a', { binaryVersion: '1.34.0', emulationVersion: '1.33.0' });
    void a.run();
    await a.waitForLeadership({ signal: AbortSignal.timeout(HANDOVER_MS) });
    // A better candidate that renewed a moment ago (so the controller counts it without a
    // ping and prefers it) and that will never answer a ping: a process that died.
    await createCandidate('crash-ghost', lease, {
      binaryVersion: '1.34.0',
      emulationVersion: '1.31.0',
      renewTime: new Date(Date.now() - 1_000),
    });
    await waitFor(
      () => seen.some((v) => v.preferredHolder === 'crash-ghost'),
      'the controller to prefer crash-ghost',
      HANDOVER_MS,
    );
    // crash-a yields and, its term over, hands the Lease back: the controller elects afresh and
    // names crash-a once the ghost is out (it names the ghost first if it still counts it, which
    // then never renews). Without the hand-back, an expired Lease still naming crash-a with a
    // stale preference is where the 1.37 controller stalls (kubernetes/kubernetes#138066).
    await waitFor(
      () => {
        const last = seen.at(-1);
        return a.isLeader() && last?.holder === 'crash-a' && last.preferredHolder === '';
      },
      'crash-a to lead again with no preferred holder',
      HANDOVER_MS * 2,
    );
    expectSingleHolder(seen, expect);
    expect(errors).toEqual([]);
  });
});

/** A LeaseCandidate written by hand, as a process that is gone would have left it. */
async function createCandidate(
  name: string,
  lease: string,
  spec: { binaryVersion: string; emulationVersion: string; renewTime: Date },
): Promise<void> {
  const created = await adminRequest(
    'POST',
    `/apis/coordination.k8s.io/v1beta1/namespaces/${namespace}/leasecandidates`,
    {
      apiVersion: 'coordination.k8s.io/v1beta1',
      kind: 'LeaseCandidate',
      metadata: { name },
      spec: {
        leaseName: lease,
        binaryVersion: spec.binaryVersion,
        emulationVersion: spec.emulationVersion,
        strategy: 'OldestEmulationVersion',
        renewTime: microTime(spec.renewTime),
      },
    },
  );
  expect(created.status).toBe(201);
}
