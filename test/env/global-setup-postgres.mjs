// vitest globalSetup for the PostgreSQL tests: starts one PostgreSQL server (Debian's binaries,
// initdb in a temporary directory, a random loopback port; see postgres.mjs) for the whole run
// and hands its coordinates to the tests through provide()/inject():
//
//   postgresUrl        string   superuser connection string (password included)
//   postgresHost       string   127.0.0.1
//   postgresPort       number
//   postgresAdminUser  string
//   postgresPassword   string   the superuser's password (random per run)
//   postgresVersion    string   e.g. "15.18"
//
// Tests that stop or restart the server start their own with startPostgres(). Types for
// inject() are in test/postgres/vitest-provided-postgres.d.ts.

import { startPostgres } from './postgres.mjs';

/** @param {import('vitest/node').TestProject} project */
export default async function setup({ provide }) {
  const server = await startPostgres({
    log: (line) => process.stderr.write(`[env] ${line}\n`),
  });
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  const version = (await client.query('SHOW server_version')).rows[0].server_version;
  await client.end();

  provide('postgresUrl', server.url);
  provide('postgresHost', server.host);
  provide('postgresPort', server.port);
  provide('postgresAdminUser', server.user);
  provide('postgresPassword', server.password);
  provide('postgresVersion', String(version).split(' ')[0]);

  return async () => {
    await server.stop();
  };
}
