/**
 * Coordinated leader election (KEP-4355), what goes wrong: identities that cannot name a
 * LeaseCandidate, RBAC on leasecandidates named in the errors, and an apiserver that does not
 * serve coordination.k8s.io/v1beta1 (a private one started without the feature): LE_UNSUPPORTED,
 * or the ordinary election when the user asked for that fallback.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import {
  ErrorCode,
  type LeaderElectError,
  LeaderElector,
  type LeaseBackend,
} from '../../src/index.js';
import {
  type CoordinatedLeaseBackend,
  type CoordinatedOptions,
  kubernetesBackend,
} from '../../src/kubernetes/index.js';
import { type KubeEnv, startKubeApiserver } from '../env/kube-apiserver.mjs';
import { waitFor } from '../support/wait.js';
import {
  adminKubeConfig,
  ensureNamespace,
  grantVerbs,
  loadKubeConfig,
  observeLease,
  readLease,
  readLeaseCandidate,
  restrictedKubeConfig,
  uniqueName,
} from './support.js';

const namespace = 'le-coordinated-errors';
const timings = { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 };
const versions: CoordinatedOptions = { binaryVersion: '1.34.0', emulationVersion: '1.33.0' };
const user = inject('kubeRestrictedUser');
const HANDOVER_MS = 30_000;

let electors: LeaderElector[] = [];

beforeAll(async () => {
  await ensureNamespace(namespace);
});

afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  electors = [];
});

function candidate(
  options: { backend: LeaseBackend; identity: string },
  errors: LeaderElectError[] = [],
): LeaderElector {
  const elector = new LeaderElector({ ...options, ...timings });
  elector.on('error', (error) => errors.push(error));
  electors.push(elector);
  return elector;
}

function coordinated(
  lease: string,
  overrides: { kubeConfig?: ReturnType<typeof adminKubeConfig>; namespace?: string } = {},
  options: CoordinatedOptions = versions,
): CoordinatedLeaseBackend {
  return kubernetesBackend({
    kubeConfig: overrides.kubeConfig ?? adminKubeConfig(),
    namespace: overrides.namespace ?? namespace,
    name: lease,
    requestTimeoutMs: 1_000,
    coordinated: options,
  });
}

describe('coordinated candidate: bad identities', () => {
  test('an identity that cannot name a LeaseCandidate: LE_INVALID_IDENTITY, nothing created', async () => {
    const lease = uniqueName('cle-bad-id');
    const errors: LeaderElectError[] = [];
    const elector = candidate({ backend: coordinated(lease), identity: 'pod/with slash' }, errors);
    void elector.run();
    await waitFor(() => errors.length > 0, 'an error', 10_000);
    expect(errors[0]).toMatchObject({ code: ErrorCode.InvalidIdentity });
    expect(errors[0]?.message).toContain('cannot be a coordinated candidate');
    expect(elector.readiness()).toMatchObject({ ready: false, code: ErrorCode.InvalidIdentity });
    expect(elector.isLeader()).toBe(false);
    expect(await readLease(namespace, lease)).toBeNull(); // no candidate, so no election
  });

  test('one identity for two coordinated elections in a namespace: the second says which Lease has it', async () => {
    const first = uniqueName('cle-id-1');
    const second = uniqueName('cle-id-2');
    const a = candidate({ backend: coordinated(first), identity: 'cle-shared' });
    void a.run();
    await a.waitForLeadership({ signal: AbortSignal.timeout(HANDOVER_MS) });
    const errors: LeaderElectError[] = [];
    const b = candidate({ backend: coordinated(second), identity: 'cle-shared' }, errors);
    void b.run();
    await waitFor(() => errors.length > 0, 'an error', 10_000);
    expect(errors[0]).toMatchObject({ code: ErrorCode.InvalidIdentity });
    expect(errors[0]?.message).toContain(`for Lease "${first}"`);
    // The first election's candidate is untouched.
    expect((await readLeaseCandidate(namespace, 'cle-shared'))?.spec?.leaseName).toBe(first);
    expect(a.isLeader()).toBe(true);
  });
});

describe('coordinated candidate: transfer', () => {
  test('transfer is refused (the controller decides) and the term goes on', async () => {
    const lease = uniqueName('cle-transfer');
    const a = candidate({ backend: coordinated(lease), identity: 'cle-transfer-a' });
    const b = candidate({ backend: coordinated(lease), identity: 'cle-transfer-b' });
    void a.run();
    const term = await a.waitForLeadership({ signal: AbortSignal.timeout(HANDOVER_MS) });
    void b.run();
    await waitFor(() => b.leader?.identity === 'cle-transfer-a', 'b to see a', 10_000);
    const refused = await a.transfer('cle-transfer-b').catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: ErrorCode.TransferRefused });
    expect((refused as Error).message).toContain("the apiserver's controller decides who leads");
    expect(a.currentTerm()).toBe(term);
    expect(b.isLeader()).toBe(false);
  });
});

describe('coordinated candidate: RBAC', () => {
  const full = uniqueName('le-cle-rbac');
  const noCreate = uniqueName('le-cle-nocreate');
  const noWatch = uniqueName('le-cle-nowatch');
  const noDelete = uniqueName('le-cle-nodelete');
  const leaseVerbs = ['get', 'list', 'watch', 'update']; // no create: the controller creates it
  const all = ['get', 'list', 'watch', 'create', 'update', 'delete'];

  beforeAll(async () => {
    for (const ns of [full, noCreate, noWatch, noDelete]) {
      await ensureNamespace(ns);
      await grantVerbs(ns, user, 'leases', leaseVerbs);
    }
    await grantVerbs(full, user, 'leasecandidates', all);
    await grantVerbs(
      noCreate,
      user,
      'leasecandidates',
      all.filter((v) => v !== 'create'),
    );
    await grantVerbs(noWatch, user, 'leasecandidates', ['get', 'create', 'update', 'delete']);
    await grantVerbs(
      noDelete,
      user,
      'leasecandidates',
      all.filter((v) => v !== 'delete'),
    );
  });

  const restricted = (ns: string, errors: LeaderElectError[]) =>
    candidate(
      {
        backend: coordinated(uniqueName('cle-rbac'), {
          kubeConfig: restrictedKubeConfig(),
          namespace: ns,
        }),
        identity: uniqueName('rbac'),
      },
      errors,
    );

  test('get/list/watch/update on leases and the six verbs on leasecandidates are enough', async () => {
    const errors: LeaderElectError[] = [];
    const elector = restricted(full, errors);
    void elector.run();
    await elector.waitForLeadership({ signal: AbortSignal.timeout(HANDOVER_MS) });
    await elector.stop();
    expect(await readLeaseCandidate(full, elector.identity)).toBeNull();
    expect(errors).toEqual([]);
  });

  test.each([
    ['create', () => noCreate],
    ['list', () => noWatch], // the watch of our candidate lists it first
  ])('without %s on leasecandidates: LE_PERMISSION_DENIED naming it', async (verb, ns) => {
    const errors: LeaderElectError[] = [];
    const elector = restricted(ns(), errors);
    void elector.run();
    await waitFor(
      () => errors.find((e) => e.code === ErrorCode.PermissionDenied),
      'a permission error',
      10_000,
    ).catch((error: unknown) => {
      const seen = errors.map((e) => `${e.code}: ${e.message}`);
      throw new Error(`${String(error)}; phase ${elector.phase}; errors: ${JSON.stringify(seen)}`);
    });
    const denied = errors.find((e) => e.code === ErrorCode.PermissionDenied)!;
    expect(denied.message).toContain(
      `grant the "${verb}" verb on "leasecandidates" in API group "coordination.k8s.io"`,
    );
    expect(denied.details).toMatchObject({ verb, resource: 'leasecandidates.coordination.k8s.io' });
    expect(elector.isLeader()).toBe(false);
  });

  test('without delete on leasecandidates: stop says so and still releases the Lease', async () => {
    const errors: LeaderElectError[] = [];
    const elector = restricted(noDelete, errors);
    void elector.run();
    await elector.waitForLeadership({ signal: AbortSignal.timeout(HANDOVER_MS) });
    const seen = await observeLease(noDelete, elector.name);
    try {
      await elector.stop();
      const denied = errors.find((e) => e.code === ErrorCode.PermissionDenied);
      expect(denied?.message).toContain('grant the "delete" verb on "leasecandidates"');
      // Released all the same (the controller may name the candidate left behind again).
      await waitFor(() => seen.some((v) => v.holder === ''), 'the release', 5_000);
      expect(await readLeaseCandidate(noDelete, elector.identity)).not.toBeNull();
    } finally {
      seen.stop();
    }
  });
});

describe('coordinated candidate: an apiserver without coordination.k8s.io/v1beta1', () => {
  let env: KubeEnv;
  beforeAll(async () => {
    env = await startKubeApiserver({
      binary: inject('kubeApiserverBinary'),
      etcdBinary: inject('kubeEtcdBinary'),
      coordinated: false,
    });
  }, 120_000);
  afterAll(async () => {
    await env?.stop();
  });

  test("fallback 'error' (the default): LE_UNSUPPORTED naming the group, the gate and the flag", async () => {
    const errors: LeaderElectError[] = [];
    const elector = candidate(
      {
        backend: coordinated('plain', {
          kubeConfig: loadKubeConfig(env.adminKubeconfig),
          namespace: 'default',
        }),
        identity: 'unsupported',
      },
      errors,
    );
    void elector.run();
    await waitFor(() => errors.length > 0, 'an error', 10_000);
    const [error] = errors;
    expect(error).toMatchObject({ code: ErrorCode.Unsupported, transient: false });
    for (const part of [
      'coordination.k8s.io/v1beta1',
      '--runtime-config=coordination.k8s.io/v1beta1=true',
      '--feature-gates=CoordinatedLeaderElection=true',
      "fallback: 'election'",
    ]) {
      expect(error?.message).toContain(part);
    }
    expect(error?.details).toMatchObject({ featureGate: 'CoordinatedLeaderElection' });
    expect(elector.readiness()).toMatchObject({ ready: false, code: ErrorCode.Unsupported });
    expect(elector.isLeader()).toBe(false);
  });

  test("fallback 'election': ordinary election on the same Lease, onFallback told why", async () => {
    const reasons: LeaderElectError[] = [];
    const backend = coordinated(
      'fallback',
      { kubeConfig: loadKubeConfig(env.adminKubeconfig), namespace: 'default' },
      { ...versions, fallback: 'election', onFallback: (reason) => reasons.push(reason) },
    );
    const errors: LeaderElectError[] = [];
    const a = candidate({ backend, identity: 'fallback-a' }, errors);
    void a.run();
    const term = await a.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    expect(backend.mode).toBe('election');
    expect(reasons.map((r) => r.code)).toEqual([ErrorCode.Unsupported]);
    expect(errors).toEqual([]);
    // The ordinary algorithm: we created the Lease ourselves, with token 0.
    expect(term.token).toBe(0n);
    // A second candidate on the same fallback waits, and takes over on release.
    const b = candidate({
      backend: coordinated(
        'fallback',
        { kubeConfig: loadKubeConfig(env.adminKubeconfig), namespace: 'default' },
        { ...versions, fallback: 'election' },
      ),
      identity: 'fallback-b',
    });
    void b.run();
    await waitFor(() => b.leader?.identity === 'fallback-a', 'b to see a', 10_000);
    const next = b.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    await a.stop();
    expect((await next).token).toBe(1n);
  });
});
