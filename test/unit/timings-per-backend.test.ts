// Timings given in seconds are refused by the elector whatever the backend: the same typed error
// on etcd, Kubernetes and PostgreSQL as on memory (test/unit/adoption.test.ts), before any
// request is sent (the servers named here do not exist; nothing connects).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { etcdBackend } from '../../src/etcd/index.js';
import { ErrorCode, hasErrorCode, LeaderElector, type LeaseBackend } from '../../src/index.js';
import { kubernetesBackend, loadKubeconfig } from '../../src/kubernetes/index.js';
import { postgresBackend } from '../../src/postgres/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'le-timings-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function kube(): Promise<LeaseBackend<unknown>> {
  const file = join(dir, 'kubeconfig.yaml');
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]',
      'users: [{ name: u, user: { token: t } }]',
      'contexts: [{ name: x, context: { cluster: c, user: u } }]',
      'current-context: x',
      '',
    ].join('\n'),
  );
  return kubernetesBackend({
    kubeConfig: await loadKubeconfig({ path: file }),
    namespace: 'default',
    name: 'timings',
  });
}

const backends: [string, () => Promise<LeaseBackend<unknown>>][] = [
  ['etcd', async () => etcdBackend({ endpoints: ['http://127.0.0.1:1'], election: 'timings' })],
  ['kubernetes', kube],
  [
    'postgres',
    async () =>
      postgresBackend({ connectionString: 'postgres://u@127.0.0.1:1/db', name: 'timings' }),
  ],
];

describe.each(backends)('timings given in seconds on %s', (_name, make) => {
  test('15 / 10 / 2 is refused with LE_INVALID_TIMING, naming the value in milliseconds', async () => {
    const backend = await make();
    try {
      let error: unknown;
      try {
        new LeaderElector({ backend, leaseDuration: 15, renewDeadline: 10, retryPeriod: 2 });
      } catch (caught) {
        error = caught;
      }
      expect(hasErrorCode(error, ErrorCode.InvalidTiming)).toBe(true);
      expect((error as Error).message).toMatch(/almost certainly 15 s given as milliseconds/);
      expect((error as Error).message).toContain('leaseDuration: 15000');
    } finally {
      await backend.close();
    }
  });

  test('the same timings in milliseconds are accepted', async () => {
    const backend = await make();
    try {
      expect(
        () =>
          new LeaderElector({
            backend,
            leaseDuration: 15_000,
            renewDeadline: 10_000,
            retryPeriod: 2_000,
          }),
      ).not.toThrow();
    } finally {
      await backend.close();
    }
  });
});
