/**
 * RBAC on a real apiserver: a user granted only get/list/watch/create/update on leases in one
 * namespace can run an election; a missing verb is a typed error that names the verb and the
 * resource; invalid names never reach the network.
 */
import { afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import {
  ErrorCode,
  type LeaderElectError,
  LeaderElector,
  type LeaseRecord,
  parseLeaseRecord,
} from '../../src/index.js';
import { KubernetesLeaseStore, kubernetesBackend } from '../../src/kubernetes/index.js';
import { sleep, waitFor } from '../support/wait.js';
import {
  ensureNamespace,
  grantLeaseVerbs,
  kubeConfigFor,
  restrictedKubeConfig,
  silentServer,
  uniqueName,
} from './support.js';

const timings = { leaseDuration: 2000, renewDeadline: 1500, retryPeriod: 300 };
const user = inject('kubeRestrictedUser');
const full = uniqueName('le-rbac-full');
const noUpdate = uniqueName('le-rbac-noupdate');
const noWatch = uniqueName('le-rbac-nowatch');
const nothing = uniqueName('le-rbac-nothing');
const named = uniqueName('le-rbac-named');
const namedLease = 'the-only-lease';

let electors: LeaderElector[] = [];
let stores: KubernetesLeaseStore[] = [];

beforeAll(async () => {
  for (const ns of [full, noUpdate, noWatch, nothing, named]) await ensureNamespace(ns);
  await grantLeaseVerbs(full, user, ['get', 'list', 'watch', 'create', 'update']);
  await grantLeaseVerbs(noUpdate, user, ['get', 'list', 'watch', 'create']);
  await grantLeaseVerbs(noWatch, user, ['get', 'create', 'update']);
  // Least privilege: everything but create limited to one Lease name (create cannot be).
  await grantLeaseVerbs(named, user, ['create'], 'leases-create');
  await grantLeaseVerbs(named, user, ['get', 'update', 'list', 'watch'], 'leases-named', [
    namedLease,
  ]);
});

afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  await Promise.all(stores.map((s) => s.close()));
  electors = [];
  stores = [];
});

function restricted(namespace: string, name: string, identity: string): LeaderElector {
  const elector = new LeaderElector({
    backend: kubernetesBackend({
      kubeConfig: restrictedKubeConfig(),
      namespace,
      name,
      requestTimeoutMs: 750,
    }),
    identity,
    ...timings,
  });
  electors.push(elector);
  return elector;
}

function restrictedStore(namespace: string): KubernetesLeaseStore {
  const store = new KubernetesLeaseStore({ kubeConfig: restrictedKubeConfig(), namespace });
  stores.push(store);
  return store;
}

const record = (holderIdentity: string): LeaseRecord => ({
  holderIdentity,
  leaseDurationMs: 2000,
  acquireTime: '2026-01-01T00:00:00.000000Z',
  renewTime: '2026-01-01T00:00:00.000000Z',
  leaseTransitions: 0,
});

describe('kubernetes RBAC', () => {
  test('a user with only get/list/watch/create/update on leases in the namespace runs an election', async () => {
    const name = uniqueName('rbac');
    const errors: LeaderElectError[] = [];
    const a = restricted(full, name, 'a');
    const b = restricted(full, name, 'b');
    for (const e of [a, b]) e.on('error', (err) => errors.push(err));
    void a.run();
    await a.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    void b.run();
    await waitFor(() => b.leader?.identity === 'a', 'b to see a', 5_000);
    await sleep(50);
    const next = b.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    const stoppedAt = performance.now();
    await a.stop();
    await next;
    // The watch works for this user: the handoff is faster than any poll.
    expect(performance.now() - stoppedAt).toBeLessThan(timings.retryPeriod);
    expect(errors).toEqual([]);
  });

  test('a Role limited by resourceNames to the one Lease is enough, watch included', async () => {
    const a = restricted(named, namedLease, 'a');
    const b = restricted(named, namedLease, 'b');
    const errors: LeaderElectError[] = [];
    for (const e of [a, b]) e.on('error', (err) => errors.push(err));
    void a.run();
    await a.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    void b.run();
    await waitFor(() => b.leader?.identity === 'a', 'b to see a', 5_000);
    await sleep(50);
    const next = b.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    const stoppedAt = performance.now();
    await a.stop();
    await next;
    expect(performance.now() - stoppedAt).toBeLessThan(timings.retryPeriod); // watch-driven
    expect(errors).toEqual([]);
    // Any other name in that namespace is denied.
    const other = await restrictedStore(named)
      .get('another-lease', AbortSignal.timeout(5_000))
      .catch((e: unknown) => e);
    expect(other).toMatchObject({ code: ErrorCode.PermissionDenied });
  });

  test('the same user in a namespace without a grant: LE_PERMISSION_DENIED naming get on leases', async () => {
    const name = uniqueName('rbac-none');
    const store = restrictedStore(nothing);
    const error = await store.get(name, AbortSignal.timeout(5_000)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.PermissionDenied, transient: false });
    expect((error as Error).message).toContain(
      `cannot get leases.coordination.k8s.io "${name}" in namespace "${nothing}"`,
    );
    expect((error as LeaderElectError).details).toMatchObject({
      verb: 'get',
      resource: 'leases.coordination.k8s.io',
    });

    const elector = restricted(nothing, name, 'x');
    const errors: LeaderElectError[] = [];
    elector.on('error', (err) => errors.push(err));
    void elector.run();
    await waitFor(() => errors.length > 0, 'an error', timings.renewDeadline);
    expect(errors[0]?.code).toBe(ErrorCode.PermissionDenied);
    expect(elector.isLeader()).toBe(false);
  });

  test('without update: create works, the renewal is denied naming update, and the term ends', async () => {
    const name = uniqueName('rbac-noupdate');
    const store = restrictedStore(noUpdate);
    const created = await store.create(name, record('someone'), AbortSignal.timeout(5_000));
    expect(parseLeaseRecord(created.data, 'created').holderIdentity).toBe('someone');
    const error = await store
      .update(name, record('someone'), created.version, AbortSignal.timeout(5_000))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.PermissionDenied });
    expect((error as Error).message).toContain(
      `cannot update leases.coordination.k8s.io "${name}" in namespace "${noUpdate}"`,
    );

    // Through an elector: it may lead once (create), then every renewal is denied.
    const other = uniqueName('rbac-noupdate');
    const elector = restricted(noUpdate, other, 'y');
    const errors: LeaderElectError[] = [];
    const reasons: string[] = [];
    elector.on('error', (err) => errors.push(err));
    elector.on('stoppedLeading', (_term, reason) => reasons.push(reason));
    void elector.run();
    await elector.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    await waitFor(() => reasons.length > 0, 'the term to end', timings.renewDeadline * 2);
    expect(reasons[0]).toBe('renew-deadline');
    const denied = errors.find((e) => e.code === ErrorCode.PermissionDenied);
    expect(denied?.details).toMatchObject({ verb: 'update', namespace: noUpdate, name: other });
  });

  test('without list/watch: the watch reports the denial and followers fall back to polling', async () => {
    const name = uniqueName('rbac-nowatch');
    const a = restricted(noWatch, name, 'a');
    const b = restricted(noWatch, name, 'b');
    const errors: LeaderElectError[] = [];
    b.on('error', (err) => errors.push(err));
    void a.run();
    await a.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    void b.run();
    await waitFor(() => b.leader?.identity === 'a', 'b to see a (by polling)', 5_000);
    const next = b.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    const stoppedAt = performance.now();
    await a.stop();
    await next;
    // A poll, at most retryPeriod plus its jitter after the release.
    expect(performance.now() - stoppedAt).toBeLessThan(timings.retryPeriod * 2.2 + 300);
  });

  test('invalid lease names and namespaces are rejected before any request', async () => {
    const server = await silentServer();
    try {
      const kubeConfig = kubeConfigFor(server.url, 'token');
      for (const name of ['My_Lease', 'UPPER', '-dash', 'dot.', 'a..b', 'x'.repeat(254), '']) {
        expect(() => kubernetesBackend({ kubeConfig, namespace: 'default', name })).toThrow(
          expect.objectContaining({ code: ErrorCode.InvalidName }),
        );
      }
      for (const namespace of ['has.dot', 'UPPER', 'under_score', 'x'.repeat(64), '', '-a']) {
        expect(() => kubernetesBackend({ kubeConfig, namespace, name: 'ok' })).toThrow(
          expect.objectContaining({ code: ErrorCode.InvalidName }),
        );
      }
      const store = new KubernetesLeaseStore({ kubeConfig, namespace: 'default' });
      stores.push(store);
      expect(() => store.lease('Bad Name')).toThrow(
        expect.objectContaining({ code: ErrorCode.InvalidName }),
      );
      await expect(store.get('Bad Name', AbortSignal.timeout(1_000))).rejects.toMatchObject({
        code: ErrorCode.InvalidName,
      });
      // Valid: subdomains may have dots and long parts.
      expect(() =>
        kubernetesBackend({ kubeConfig, namespace: 'kube-system', name: 'a.b-c.d' }),
      ).not.toThrow();
      await sleep(50);
      expect(server.connections()).toBe(0);
    } finally {
      await server.close();
    }
  });
});
