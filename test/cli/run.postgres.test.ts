// `leader-elect run|status|watch --backend postgres` on the shared PostgreSQL server: real
// processes; the password comes from the environment and never reaches the command.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { adminQuery, dropLeaseTable, uniqueTable } from '../postgres/support.js';
import { CliProcess, lines, runCli, sleep } from './support.js';

const port = inject('postgresPort');
const table = uniqueTable('cli');
const role = `le_cli_${process.pid}`;
const password = 'cli-secret';
const plainUrl = `postgres://${role}@127.0.0.1:${port}/postgres`;
const dir = mkdtempSync(join(tmpdir(), 'leader-elect-cli-pg-'));
const processes: CliProcess[] = [];
let counter = 0;

beforeAll(async () => {
  await adminQuery(`DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  // The role may create the table (first use), as a service owning its schema would.
  await adminQuery(`GRANT CREATE ON SCHEMA public TO ${role}`);
});
afterAll(async () => {
  await dropLeaseTable(table);
  await adminQuery(
    `REVOKE CREATE ON SCHEMA public FROM ${role}; DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`,
  );
});
afterEach(async () => {
  for (const proc of processes.splice(0)) {
    proc.kill('SIGKILL');
    await proc.exited;
  }
});

const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  PGPASSWORD: password,
  ...extra,
});
const backendArgs = (election: string) => [
  '--backend',
  'postgres',
  '--connection-string',
  plainUrl,
  '--table',
  table,
  '--election',
  election,
];
const timing = ['--lease-duration', '1500ms', '--renew-deadline', '1s', '--retry-period', '300ms'];

/** A command that records its environment (written whole, then renamed), then runs until SIGTERM. */
function job(file: string): string[] {
  return [
    process.execPath,
    '-e',
    `const fs = require('fs'); fs.writeFileSync(${JSON.stringify(`${file}.tmp`)}, JSON.stringify({ token: process.env.LEADER_ELECT_TOKEN, pgpassword: process.env.PGPASSWORD ?? null, url: process.env.DB_URL ?? null })); fs.renameSync(${JSON.stringify(`${file}.tmp`)}, ${JSON.stringify(file)}); setInterval(() => {}, 1000);`,
  ];
}

/** What the job recorded, once it has (bounded wait). */
async function recorded(file: string): Promise<unknown> {
  const deadline = performance.now() + 15_000;
  for (;;) {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await sleep(20);
    }
  }
}

function start(args: readonly string[], environment: NodeJS.ProcessEnv = env()): CliProcess {
  const proc = new CliProcess(args, environment);
  processes.push(proc);
  return proc;
}

describe('leader-elect on PostgreSQL', () => {
  test('run: the leader runs the command without the password; SIGTERM hands over to the follower', async () => {
    const election = `handoff-${counter++}`;
    const aFile = join(dir, `${election}-a.json`);
    const bFile = join(dir, `${election}-b.json`);
    const a = start([
      'run',
      ...backendArgs(election),
      '--identity',
      'a',
      ...timing,
      '--json',
      '--',
      ...job(aFile),
    ]);
    const aStarted = await a.waitForEvent((e) => e.event === 'command-started');
    const b = start([
      'run',
      ...backendArgs(election),
      '--identity',
      'b',
      ...timing,
      '--json',
      '--',
      ...job(bFile),
    ]);
    await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');

    const status = runCli(['status', ...backendArgs(election), '--json'], { env: env() });
    expect(status.status).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      event: 'status',
      leader: 'a',
      token: String(aStarted.token),
      leaseDurationMs: 1500,
      remainingMs: null,
    });

    a.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    const bStarted = await b.waitForEvent((e) => e.event === 'command-started');
    expect(BigInt(String(bStarted.token))).toBeGreaterThan(BigInt(String(aStarted.token)));
    for (const [file, token] of [
      [aFile, aStarted.token],
      [bFile, bStarted.token],
    ] as const) {
      expect(await recorded(file)).toEqual({ token: String(token), pgpassword: null, url: null });
    }
  });

  test('--connection-string-env: the string (with its password) is read from the variable and removed from the command’s environment', async () => {
    const election = `env-${counter++}`;
    const file = join(dir, `${election}.json`);
    const withPassword = `postgres://${role}:${password}@127.0.0.1:${port}/postgres`;
    const a = start(
      [
        'run',
        '--backend',
        'postgres',
        '--connection-string-env',
        'DB_URL',
        '--table',
        table,
        '--election',
        election,
        ...timing,
        '--json',
        '--',
        ...job(file),
      ],
      { ...process.env, DB_URL: withPassword },
    );
    const started = await a.waitForEvent((e) => e.event === 'command-started');
    expect(await recorded(file)).toEqual({
      token: String(started.token),
      pgpassword: null,
      url: null,
    });
    expect(a.stderr).not.toContain(password);
  });

  test('watch: prints the leader, then every change', async () => {
    const election = `watch-${counter++}`;
    const watcher = start(['watch', ...backendArgs(election), '--json']);
    await watcher.waitForEvent((e) => e.event === 'leader' && e.leader === null, {
      stream: 'stdout',
    });
    const a = start([
      'run',
      ...backendArgs(election),
      '--identity',
      'a',
      ...timing,
      '--',
      'sleep',
      '30',
    ]);
    await watcher.waitForEvent((e) => e.event === 'leader' && e.leader === 'a', {
      stream: 'stdout',
    });
    a.kill('SIGTERM');
    await a.exited;
    await watcher.waitForEvent((e) => e.event === 'leader' && e.leader === null, {
      stream: 'stdout',
      after: 1,
    });
    watcher.kill('SIGTERM');
    expect((await watcher.exited).code).toBe(0);
  });

  test('wrong password: exit 3, one line naming what to check, the command never runs', () => {
    const result = runCli(['run', ...backendArgs('x'), '--', 'true'], {
      env: env({ PGPASSWORD: 'wrong' }),
    });
    expect(result.status).toBe(3);
    const [line, ...rest] = lines(result.stderr);
    expect(rest).toEqual([]);
    expect(line).toMatch(/^leader-elect run: cannot use PostgreSQL election "x"/);
    expect(line).toContain('password authentication failed');
    expect(line).toContain('$PGPASSWORD');
  });

  test('a missing table the role may not create: exit 3 pointing at the SQL file', async () => {
    const other = `le_cli_nocreate_${process.pid}`;
    await adminQuery(`DROP ROLE IF EXISTS ${other}; CREATE ROLE ${other} LOGIN PASSWORD 'pw'`);
    try {
      const result = runCli(
        [
          'status',
          '--backend',
          'postgres',
          '--connection-string',
          `postgres://${other}@127.0.0.1:${port}/postgres`,
          '--election',
          'x',
          '--table',
          uniqueTable('absent'),
        ],
        { env: { ...process.env, PGPASSWORD: 'pw' } },
      );
      expect(result.status).toBe(3);
      expect(lines(result.stderr)).toHaveLength(1);
      expect(result.stderr).toContain('sql/leader-elect-postgres.sql');
    } finally {
      await adminQuery(`DROP ROLE IF EXISTS ${other}`);
    }
  });
});
