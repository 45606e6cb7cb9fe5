// examples/sharded-worker.mjs: two workers, four shards, one etcd client (so one lease) each;
// the shards of a crashed worker move to the other; a stopped worker leaves no key behind.
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, expect, inject, test } from 'vitest';
import { waitFor } from '../support/wait.js';
import { ExampleGroup } from './support.js';

const endpoints = inject('etcdEndpoints');
const admin = new Etcd3({ hosts: endpoints });
afterAll(() => admin.close());

const group = new ExampleGroup();
afterEach(() => group.killAll());

const SHARDS = 4;
const leading = (identity: string, shard: number) =>
  new RegExp(`^\\[${identity}\\] shard ${shard}: leading \\(token \\d+\\)$`);

test('one election per shard on one client; a crashed worker’s shards move to the other', async () => {
  const workerName = `le-examples/shards-${process.pid}-${Date.now().toString(36)}`;
  const env = (identity: string) => ({
    ETCD_ENDPOINTS: endpoints.join(','),
    WORKER_NAME: workerName,
    SHARDS: String(SHARDS),
    IDENTITY: identity,
    BATCH_MS: '100',
    LEASE_DURATION_MS: '2000', // etcd TTLs are whole seconds
    RENEW_DEADLINE_MS: '1500',
    RETRY_PERIOD_MS: '400',
  });
  const shards = Array.from({ length: SHARDS }, (_, shard) => shard);

  const a = group.start('a', 'sharded-worker.mjs', env('a'));
  for (const shard of shards) await a.waitForLine(leading('a', shard));
  await a.waitForLine(/^\[a\] shard 0: batch 2 done$/);

  const b = group.start('b', 'sharded-worker.mjs', env('b'));
  await b.waitForLine(/^\[b\] campaigning for 4 shards$/);
  // Both workers are candidates on every shard, each with the one lease of its etcd client.
  const keys = await waitFor(
    async () => {
      const all = await admin.getAll().prefix(`${workerName}/`).strings();
      return Object.keys(all).length === 2 * SHARDS ? all : undefined;
    },
    'a key per shard and worker',
    10_000,
    20,
  );
  const leasesOf = (identity: string) =>
    new Set(
      Object.entries(keys)
        .filter(([, value]) => value === identity)
        .map(([key]) => key.split('/').at(-1)),
    );
  expect(leasesOf('a').size).toBe(1);
  expect(leasesOf('b').size).toBe(1);
  expect(Object.values(keys).filter((v) => v === 'a')).toHaveLength(SHARDS);
  expect(b.matching(/ leading /)).toEqual([]);

  // A crash: a's lease runs out, and b takes over every shard.
  a.kill('SIGKILL');
  for (const shard of shards) await b.waitForLine(leading('b', shard), 15_000);
  await b.waitForLine(/^\[b\] shard 3: batch 1 done$/);

  // A graceful stop: b releases every shard and removes its keys; nothing is left.
  b.kill('SIGTERM');
  expect((await b.exit()).code, b.transcript()).toBe(0);
  for (const shard of shards) {
    expect(b.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^\\[b\\] shard ${shard}: stopped \\(token \\d+\\): stopped$`),
      ),
    );
  }
  expect(b.lines.at(-1)).toBe('[b] stopped');
  expect(await admin.getAll().prefix(`${workerName}/`).keys()).toEqual([]);
});
