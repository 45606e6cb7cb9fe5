/**
 * What goes wrong at the edge, on a real apiserver (or a port where none answers): durations the
 * Lease API cannot hold, Leases we cannot understand, an apiserver that is down or hung, wrong
 * CA, wrong token, missing namespace. Every failure is typed; none yields leadership.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import {
  ErrorCode,
  type LeaderElectError,
  LeaderElector,
  type LeaderElectorOptions,
  type LeaseRecord,
  parseLeaseRecord,
} from '../../src/index.js';
import {
  KubernetesLeaseStore,
  kubernetesBackend,
  toLeaseDurationSeconds,
} from '../../src/kubernetes/index.js';
import { makeTestCerts } from '../env/tls-certs.mjs';
import { sleep, waitFor } from '../support/wait.js';
import {
  adminClients,
  adminKubeConfig,
  closedPort,
  ensureNamespace,
  kubeConfigFor,
  readLease,
  silentServer,
  uniqueName,
} from './support.js';

const namespace = 'le-bad-input';
const timings = { leaseDuration: 2000, renewDeadline: 1500, retryPeriod: 300 };
let electors: LeaderElector[] = [];
let stores: KubernetesLeaseStore[] = [];
let scratch: string;

beforeAll(async () => {
  await ensureNamespace(namespace);
  scratch = await mkdtemp(join(tmpdir(), 'leader-elect-k8s-test-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  await Promise.all(stores.map((s) => s.close()));
  electors = [];
  stores = [];
});

function elector(
  backendOptions: Partial<Parameters<typeof kubernetesBackend>[0]> & { name: string },
  extra: Partial<Omit<LeaderElectorOptions, 'backend'>> = {},
): LeaderElector {
  const e = new LeaderElector({
    backend: kubernetesBackend({
      kubeConfig: adminKubeConfig(),
      namespace,
      requestTimeoutMs: 750,
      ...backendOptions,
    }),
    identity: 'me',
    ...timings,
    ...extra,
  });
  electors.push(e);
  return e;
}

function store(options: Partial<ConstructorParameters<typeof KubernetesLeaseStore>[0]> = {}) {
  const s = new KubernetesLeaseStore({ kubeConfig: adminKubeConfig(), namespace, ...options });
  stores.push(s);
  return s;
}

const record = (leaseDurationMs: number): LeaseRecord => ({
  holderIdentity: 'me',
  leaseDurationMs,
  acquireTime: '2026-01-01T00:00:00.000000Z',
  renewTime: '2026-01-01T00:00:00.000000Z',
  leaseTransitions: 0,
});

function collectErrors(e: LeaderElector): LeaderElectError[] {
  const errors: LeaderElectError[] = [];
  e.on('error', (err) => errors.push(err));
  return errors;
}

describe('kubernetes: bad input and failures at the edge', () => {
  test('a lease duration that is not whole seconds is rejected (LE_INVALID_TIMING), never rounded', async () => {
    expect(toLeaseDurationSeconds(15_000)).toBe(15);
    for (const ms of [2500, 1500, 999, 0, 10.5]) {
      expect(() => toLeaseDurationSeconds(ms)).toThrow(
        expect.objectContaining({ code: ErrorCode.InvalidTiming }),
      );
    }
    expect(() => toLeaseDurationSeconds(2500)).toThrow(/2500 ms/);

    // Before any request: a store pointing at a port that would count connections.
    const server = await silentServer();
    try {
      const s = store({ kubeConfig: kubeConfigFor(server.url, 't') });
      await expect(s.create('x', record(1500), AbortSignal.timeout(1_000))).rejects.toMatchObject({
        code: ErrorCode.InvalidTiming,
      });
      await expect(
        s.update('x', record(2500), '1', AbortSignal.timeout(1_000)),
      ).rejects.toMatchObject({ code: ErrorCode.InvalidTiming });
      expect(server.connections()).toBe(0);
    } finally {
      await server.close();
    }

    // An elector configured with 2.5 s is rejected at construction, before any request.
    const name = uniqueName('half-second');
    expect(() => elector({ name }, { leaseDuration: 2500 })).toThrow(
      expect.objectContaining({
        code: ErrorCode.InvalidTiming,
        message: expect.stringContaining('2500 ms'),
      }),
    );
    expect(await readLease(namespace, name)).toBeNull();
  });

  test('garbage holder fields are never free; an empty or released spec is free, as in client-go', async () => {
    const { coordination } = adminClients();
    // A holder without a duration: corrupt (client-go would read it as expired at once).
    const garbage = uniqueName('garbage');
    await coordination.createNamespacedLease({
      namespace,
      body: { metadata: { name: garbage }, spec: { holderIdentity: 'ghost' } },
    });
    const stored = await store().get(garbage, AbortSignal.timeout(5_000));
    expect(() => parseLeaseRecord(stored?.data, 'lease')).toThrow(
      expect.objectContaining({ code: ErrorCode.CorruptRecord }),
    );
    const e = elector({ name: garbage });
    const errors = collectErrors(e);
    void e.run();
    await sleep(timings.leaseDuration * 2);
    expect(e.isLeader()).toBe(false);
    expect(errors.some((err) => err.code === ErrorCode.CorruptRecord)).toBe(true);
    expect((await readLease(namespace, garbage))?.spec?.holderIdentity).toBe('ghost');

    // No holder at all (an empty spec, or an empty holder without duration): free.
    for (const spec of [{}, { holderIdentity: '' }]) {
      const free = uniqueName('free');
      await coordination.createNamespacedLease({
        namespace,
        body: { metadata: { name: free }, spec },
      });
      const f = elector({ name: free }, { identity: `taker-${free}` });
      void f.run();
      const term = await f.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
      expect(term.token).toBe(1n);
    }
  });

  test('an apiserver that is down at start: a transient typed error within the renew deadline, no leadership', async () => {
    const port = await closedPort();
    const e = elector({
      name: 'down',
      kubeConfig: kubeConfigFor(`https://127.0.0.1:${port}`, 't'),
    });
    const errors = collectErrors(e);
    const startedAt = performance.now();
    void e.run();
    await waitFor(() => errors.length > 0, 'an error', timings.renewDeadline);
    expect(performance.now() - startedAt).toBeLessThan(timings.renewDeadline);
    expect(errors[0]).toMatchObject({ code: ErrorCode.BackendUnavailable, transient: true });
    expect(errors[0]?.message).toContain('ECONNREFUSED');
    await sleep(timings.leaseDuration);
    expect(e.isLeader()).toBe(false);
  });

  test('a hung apiserver: each request ends at requestTimeoutMs, and an abort really closes the connection', async () => {
    const server = await silentServer();
    try {
      const s = store({ kubeConfig: kubeConfigFor(server.url, 't'), requestTimeoutMs: 300 });
      const startedAt = performance.now();
      const error = await s.get('hung', new AbortController().signal).catch((err: unknown) => err);
      const took = performance.now() - startedAt;
      expect(error).toMatchObject({ code: ErrorCode.BackendUnavailable, transient: true });
      expect(took).toBeGreaterThanOrEqual(290);
      expect(took).toBeLessThan(1_000);
      await waitFor(() => server.open() === 0, 'the connection to close', 1_000);

      const controller = new AbortController();
      const reason = new Error('caller gave up');
      const pending = s.get('hung', controller.signal);
      await waitFor(() => server.open() === 1, 'a connection', 1_000);
      controller.abort(reason);
      await expect(pending).rejects.toBe(reason);
      await waitFor(() => server.open() === 0, 'the aborted connection to close', 1_000);
    } finally {
      await server.close();
    }
  });

  test('a wrong CA is LE_TLS_ERROR, a wrong token LE_AUTH_FAILED, a missing namespace a clear error', async () => {
    const server = inject('kubeServer');
    const otherCa = (await makeTestCerts(join(scratch, 'other-ca'))).ca;
    const tls = store({ kubeConfig: kubeConfigFor(server, inject('kubeAdminToken'), otherCa) });
    await expect(tls.get('x', AbortSignal.timeout(5_000))).rejects.toMatchObject({
      code: ErrorCode.TlsError,
      transient: false,
    });

    const auth = store({ kubeConfig: kubeConfigFor(server, 'wrong-token', inject('kubeCaFile')) });
    const authError = await auth.get('x', AbortSignal.timeout(5_000)).catch((e: unknown) => e);
    expect(authError).toMatchObject({ code: ErrorCode.AuthenticationFailed, transient: false });
    expect((authError as Error).message).toContain('401');

    const missing = store({ namespace: 'no-such-namespace' });
    expect(await missing.get('x', AbortSignal.timeout(5_000))).toBeNull();
    const error = await missing
      .create('x', record(2000), AbortSignal.timeout(5_000))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.BackendError, transient: false });
    expect((error as Error).message).toContain('namespace "no-such-namespace" does not exist');
  });
});
