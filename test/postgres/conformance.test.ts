/**
 * The shared backend conformance suite against a real PostgreSQL (started by the global setup
 * from the Debian binaries). Lease durations are milliseconds: any value is accepted.
 */
import { afterAll, inject } from 'vitest';
import { postgresBackend } from '../../src/postgres/index.js';
import { describeBackendConformance } from '../../src/testing/conformance/index.js';
import { adminQuery, dropLeaseTable, uniqueTable } from './support.js';

const table = uniqueTable('conformance');
const url = inject('postgresUrl');

afterAll(async () => {
  await dropLeaseTable(table);
});

describeBackendConformance({
  name: `postgres ${inject('postgresVersion')}`,
  // The suite's bounds are in retry periods; on a loaded two-core machine a handoff (two commits
  // and a notification across three processes) and a candidate's first request (a new
  // connection: TCP, SCRAM) need the room.
  timings: { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 800 },
  // A pool of its own per backend (from the connection string), as the CLI does.
  newBackend: (election) => postgresBackend({ connectionString: url, table, name: election }),
  // A holder without a duration, as a foreign writer might leave it: never free.
  corrupt: async (election) => {
    // The table exists once any backend read it (created on first use).
    const bootstrap = postgresBackend({ connectionString: url, table, name: 'schema-bootstrap' });
    await bootstrap.inspect({ signal: AbortSignal.timeout(10_000) });
    await bootstrap.close();
    await adminQuery(
      `INSERT INTO ${table} (name, holder_identity, lease_transitions) VALUES ($1, 'foreign-writer', 3)`,
      [election],
    );
  },
  // What an operator would run to force a new election: the released form, tokens kept.
  evict: async (election) => {
    const result = await adminQuery(
      `UPDATE ${table} SET holder_identity = '', lease_duration_ms = 1000, version = DEFAULT WHERE name = $1`,
      [election],
    );
    if (result.rowCount !== 1) throw new Error(`no lease row ${election} to evict`);
  },
});
