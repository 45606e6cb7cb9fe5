import pg from 'pg';
import { inject } from 'vitest';

/** A superuser pool on the shared server (the caller ends it). */
export function adminPool(url = inject('postgresUrl')): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  return pool;
}

/** A pool for the backend under test, with the error listener node-postgres requires. */
export function testPool(url = inject('postgresUrl'), max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => undefined);
  return pool;
}

/** One query as the superuser on a short-lived connection. */
export async function adminQuery(
  text: string,
  values: unknown[] = [],
  url = inject('postgresUrl'),
): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** A fresh table name per test file run: tests never share rows by accident. */
export function uniqueTable(label: string): string {
  return `le_${label}_${process.pid}_${Date.now().toString(36)}`.slice(0, 48);
}

/** Drops a lease table with its sequence (owned by it) and its NOTIFY trigger function. */
export async function dropLeaseTable(table: string, url = inject('postgresUrl')): Promise<void> {
  await adminQuery(
    `DROP TABLE IF EXISTS ${table}; DROP FUNCTION IF EXISTS ${table}_notify()`,
    [],
    url,
  );
}
