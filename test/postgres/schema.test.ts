/** The shipped SQL file is the DDL the backend runs, it is idempotent, and a DBA-made table works. */
import { readFileSync } from 'node:fs';
import { afterAll, expect, inject, test } from 'vitest';
import { systemClock } from '../../src/index.js';
import { postgresBackend, schemaSql } from '../../src/postgres/index.js';
import { adminQuery, dropLeaseTable } from './support.js';

const file = new URL('../../sql/leader-elect-postgres.sql', import.meta.url);
const role = `le_app_${process.pid}`;

afterAll(async () => {
  await dropLeaseTable('leader_elect_leases');
  await adminQuery(`DROP ROLE IF EXISTS ${role}`);
});

test('sql/leader-elect-postgres.sql is schemaSql() for the default table', () => {
  expect(readFileSync(file, 'utf8')).toBe(schemaSql());
});

test('run twice by a DBA, then used by a role with only the documented grants', async () => {
  await adminQuery(readFileSync(file, 'utf8'));
  await adminQuery(readFileSync(file, 'utf8'));
  await adminQuery(`DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
  await adminQuery(
    `GRANT SELECT, INSERT, UPDATE ON leader_elect_leases TO ${role}; GRANT USAGE ON SEQUENCE leader_elect_leases_version_seq TO ${role}`,
  );
  const url = `postgres://${role}:pw@127.0.0.1:${inject('postgresPort')}/postgres`;
  const backend = postgresBackend({ connectionString: url, name: 'dba-made', createTable: false });
  try {
    const held = await backend.attempt({
      mode: 'acquire',
      identity: 'app',
      leaseDurationMs: 1000,
      clock: systemClock,
      signal: AbortSignal.timeout(10_000),
    });
    expect(held.kind).toBe('held');
    const status = await backend.inspect({ signal: AbortSignal.timeout(10_000) });
    expect(status.holder).toBe('app');
  } finally {
    await backend.close();
  }
});
