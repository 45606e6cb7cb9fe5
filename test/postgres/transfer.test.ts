/**
 * elector.transfer() on PostgreSQL: the record-lease adapter's hand-over in one compare-and-swap
 * of the lease row; the successor confirms with a higher token, and the old term's fenced
 * transactions are rejected from then on.
 */
import { afterAll, afterEach, expect, inject, test } from 'vitest';
import { ErrorCode, LeaderElector } from '../../src/index.js';
import { type PostgresFence, postgresBackend } from '../../src/postgres/index.js';
import { waitFor } from '../support/wait.js';
import { adminQuery, dropLeaseTable, uniqueTable } from './support.js';

const url = inject('postgresUrl');
const table = uniqueTable('transfer');
const timings = { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 };
const electors: LeaderElector<PostgresFence>[] = [];

afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
});
afterAll(async () => {
  await dropLeaseTable(table);
});

function elector(identity: string) {
  const e = new LeaderElector({
    backend: postgresBackend({ connectionString: url, table, name: 'handover' }),
    identity,
    ...timings,
  });
  electors.push(e);
  return e;
}

test('transfer hands the term to the named candidate; the old fence is rejected', async () => {
  const a = elector('a');
  void a.run();
  const first = await a.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
  const b = elector('b');
  const c = elector('c');
  void b.run();
  void c.run();
  await waitFor(
    () => b.leader?.identity === 'a' && c.leader?.identity === 'a',
    'followers',
    10_000,
  );
  const next = b.waitForLeadership({ signal: AbortSignal.timeout(15_000) });
  const outcome = await a.transfer('b');
  const term = await next;
  expect(outcome.successor).toBe('b');
  expect(term.token).toBeGreaterThan(first.token);
  expect(c.isLeader()).toBe(false);
  const stale = await first.fence
    .transaction((client) => client.query('SELECT 1'))
    .then(
      () => 'committed',
      (error: { code?: string }) => error.code,
    );
  expect(stale).toBe(ErrorCode.NotLeader);
  await term.fence.transaction((client) => client.query('SELECT 1'));
  const row = await adminQuery(`SELECT holder_identity FROM ${table} WHERE name = 'handover'`);
  expect(row.rows[0].holder_identity).toBe('b');
});
