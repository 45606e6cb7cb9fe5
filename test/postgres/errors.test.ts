/**
 * Failures as typed errors with stable codes, on the real server: connection refused, wrong
 * password, missing privileges, a missing table, corrupt rows — nothing treated as free — and
 * bad input (names that could be SQL, missing options) rejected before any request.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { ErrorCode, type LeaderElectError, LeaderElector, systemClock } from '../../src/index.js';
import { type PostgresBackend, postgresBackend } from '../../src/postgres/index.js';
import { freePort } from '../env/postgres.mjs';
import { waitFor } from '../support/wait.js';
import { adminQuery, dropLeaseTable, testPool, uniqueTable } from './support.js';

const url = inject('postgresUrl');
const host = `127.0.0.1:${inject('postgresPort')}`;
const table = uniqueTable('errors');
const role = `le_noprivs_${process.pid}`;
const readOnly = `le_readonly_${process.pid}`;
const rolePassword = 'role-secret';
const roleUrl = (user: string, password = rolePassword) =>
  `postgres://${user}:${password}@${host}/postgres`;
const backends: PostgresBackend[] = [];
const timeout = () => AbortSignal.timeout(10_000);

function backend(options: Parameters<typeof postgresBackend>[0]): PostgresBackend {
  const created = postgresBackend(options);
  backends.push(created);
  return created;
}

const attempt = (b: PostgresBackend, identity = 'me') =>
  b.attempt({
    mode: 'acquire',
    identity,
    leaseDurationMs: 1000,
    clock: systemClock,
    signal: timeout(),
  });

async function rejection(promise: Promise<unknown>): Promise<LeaderElectError> {
  try {
    await promise;
  } catch (error) {
    return error as LeaderElectError;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  // The table, created by the superuser; two roles: one without any grant, one read-only.
  const bootstrap = backend({ connectionString: url, table, name: 'bootstrap' });
  await bootstrap.inspect({ signal: timeout() });
  await adminQuery(`DROP ROLE IF EXISTS ${role}; DROP ROLE IF EXISTS ${readOnly}`);
  await adminQuery(`CREATE ROLE ${role} LOGIN PASSWORD '${rolePassword}'`);
  await adminQuery(`CREATE ROLE ${readOnly} LOGIN PASSWORD '${rolePassword}'`);
  await adminQuery(`GRANT SELECT ON ${table} TO ${readOnly}`);
});

afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
  await dropLeaseTable(table);
  await adminQuery(`DROP ROLE IF EXISTS ${role}; DROP ROLE IF EXISTS ${readOnly}`);
});

describe('postgres: unusable servers and credentials are typed errors', () => {
  test('connection refused: transient LE_BACKEND_UNAVAILABLE, and an elector never leads', async () => {
    const port = await freePort();
    const refused = `postgres://nobody@127.0.0.1:${port}/postgres`;
    const error = await rejection(
      backend({ connectionString: refused, name: 'x' }).inspect({ signal: timeout() }),
    );
    expect(error.code).toBe(ErrorCode.BackendUnavailable);
    expect(error.transient).toBe(true);
    expect(error.message).toContain(`127.0.0.1:${port}`);

    const errors: LeaderElectError[] = [];
    const elector = new LeaderElector({
      backend: backend({ connectionString: refused, name: 'x' }),
      leaseDuration: 1000,
      renewDeadline: 700,
      retryPeriod: 200,
    });
    elector.on('error', (e) => errors.push(e));
    void elector.run();
    await waitFor(() => errors.length >= 2, 'two failed attempts', 10_000);
    await elector.stop();
    expect(errors.every((e) => e.code === ErrorCode.BackendUnavailable)).toBe(true);
    expect(elector.isLeader()).toBe(false);
  });

  test('wrong password: LE_AUTH_FAILED, not retried as transient, password not in the message', async () => {
    const error = await rejection(
      backend({ connectionString: roleUrl(role, 'wrong-password'), name: 'x' }).inspect({
        signal: timeout(),
      }),
    );
    expect(error.code).toBe(ErrorCode.AuthenticationFailed);
    expect(error.transient).toBe(false);
    expect(error.message).not.toContain('wrong-password');
  });

  test('a role without rights on the table: LE_PERMISSION_DENIED naming the grants', async () => {
    const error = await rejection(
      backend({ connectionString: roleUrl(role), table, name: 'x' }).inspect({ signal: timeout() }),
    );
    expect(error.code).toBe(ErrorCode.PermissionDenied);
    expect(error.message).toContain(`permission denied for table ${table}`);
    expect(error.message).toContain('grant SELECT');
  });

  test('a read-only role reads but cannot campaign: LE_PERMISSION_DENIED on the write', async () => {
    const b = backend({ connectionString: roleUrl(readOnly), table, name: `ro-${process.pid}` });
    const status = await b.inspect({ signal: timeout() });
    expect(status.holder).toBeNull();
    const error = await rejection(attempt(b));
    expect(error.code).toBe(ErrorCode.PermissionDenied);
    expect(error.message).toMatch(/INSERT|UPDATE/);
  });

  test('a missing table the role may not create: LE_SCHEMA_MISSING pointing at the SQL file', async () => {
    const missing = uniqueTable('missing');
    const error = await rejection(
      backend({ connectionString: roleUrl(role), table: missing, name: 'x' }).inspect({
        signal: timeout(),
      }),
    );
    expect(error.code).toBe(ErrorCode.SchemaMissing);
    expect(error.message).toContain('sql/leader-elect-postgres.sql');
    const exists = await adminQuery('SELECT to_regclass($1) AS t', [missing]);
    expect(exists.rows[0].t).toBeNull();
  });

  test('createTable: false and no table: LE_SCHEMA_MISSING, nothing created', async () => {
    const missing = uniqueTable('nocreate');
    const error = await rejection(
      backend({ connectionString: url, table: missing, createTable: false, name: 'x' }).inspect({
        signal: timeout(),
      }),
    );
    expect(error.code).toBe(ErrorCode.SchemaMissing);
    const exists = await adminQuery('SELECT to_regclass($1) AS t', [missing]);
    expect(exists.rows[0].t).toBeNull();
  });
});

describe('postgres: corrupt rows are never free', () => {
  const rows: [string, string][] = [
    ['a holder without a duration', `'foreign', NULL, 3`],
    ['a zero duration with a holder', `'foreign', 0, 3`],
    ['a NULL holder', 'NULL, 1000, 3'],
    ['negative transitions', `'foreign', 1000, -1`],
    ['transitions beyond 2^53', `'foreign', 1000, 9007199254740993`],
  ];
  for (const [label, values] of rows) {
    test(`${label}: LE_CORRUPT_RECORD, never acquired`, async () => {
      const name = `corrupt-${label.replaceAll(' ', '-')}-${process.pid}`;
      await adminQuery(
        `INSERT INTO ${table} (name, holder_identity, lease_duration_ms, lease_transitions, acquire_time, renew_time) VALUES ($1, ${values}, 'x', 'x')`,
        [name],
      );
      const b = backend({ connectionString: url, table, name });
      const error = await rejection(attempt(b));
      expect(error.code).toBe(ErrorCode.CorruptRecord);
      const after = await adminQuery(`SELECT holder_identity FROM ${table} WHERE name = $1`, [
        name,
      ]);
      expect(after.rows[0].holder_identity ?? null).toBe(
        label === 'a NULL holder' ? null : 'foreign',
      );
    });
  }
});

describe('postgres: bad input is rejected before any request', () => {
  test.each([
    ['leases; DROP TABLE x', 'SQL in the name'],
    ['Leases', 'mixed case'],
    ['"leases"', 'quotes'],
    ['1leases', 'a leading digit'],
    ['', 'empty'],
    ['x'.repeat(49), 'too long'],
  ])('table %j (%s): LE_INVALID_NAME', (bad) => {
    expect(() => postgresBackend({ connectionString: url, table: bad, name: 'x' })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidName }),
    );
  });

  test('schema with SQL in it: LE_INVALID_NAME', () => {
    expect(() =>
      postgresBackend({ connectionString: url, schema: 'public"; DROP', name: 'x' }),
    ).toThrow(expect.objectContaining({ code: ErrorCode.InvalidName }));
  });

  test.each([
    ['', 'empty'],
    ['a\u0000b', 'NUL'],
    ['line\nbreak', 'a control character'],
    ['x'.repeat(257), 'too long'],
  ])('election name %j (%s): LE_INVALID_NAME', (bad) => {
    expect(() => postgresBackend({ connectionString: url, name: bad })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidName }),
    );
  });

  test('an election name that looks like SQL is only data', async () => {
    const name = `x'); DROP TABLE ${table}; --`;
    const b = backend({ connectionString: url, table, name });
    const observation = await attempt(b);
    expect(observation.kind).toBe('held');
    const row = await adminQuery(`SELECT holder_identity FROM ${table} WHERE name = $1`, [name]);
    expect(row.rows[0].holder_identity).toBe('me');
  });

  test('neither pool nor connectionString, both, or not a pool: LE_INVALID_OPTION', () => {
    expect(() => postgresBackend({ name: 'x' })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidOption }),
    );
    const pool = testPool(url, 1);
    try {
      expect(() => postgresBackend({ pool, connectionString: url, name: 'x' })).toThrow(
        expect.objectContaining({ code: ErrorCode.InvalidOption }),
      );
    } finally {
      void pool.end();
    }
    expect(() => postgresBackend({ pool: {} as never, name: 'x' })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidOption }),
    );
    expect(() => postgresBackend({ connectionString: '  ', name: 'x' })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidOption }),
    );
    expect(() => postgresBackend(null as never)).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidOption }),
    );
  });
});
