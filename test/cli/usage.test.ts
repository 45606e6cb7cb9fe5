import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { closedPort, etcdCanInspect, lines, runCli } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'leader-elect-usage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A command that leaves a mark if it ever runs. */
const marker = join(dir, 'ran');
const mark = ['--', 'touch', marker];
const etcd = ['--backend', 'etcd', '--election', 'usage'];

/** Bad input: exactly one line on stderr, nothing on stdout, the documented exit code. */
function expectOneLine(args: readonly string[], code: number, message: RegExp | string) {
  const result = runCli(args, { env: { ...process.env, LEADER_ELECT_ETCD_PASSWORD: '' } });
  expect(result.status, result.stderr).toBe(code);
  expect(result.stdout).toBe('');
  expect(lines(result.stderr)).toHaveLength(1);
  const line = lines(result.stderr)[0] as string;
  if (typeof message === 'string') expect(line).toBe(message);
  else expect(line).toMatch(message);
  expect(existsSync(marker)).toBe(false);
  return line;
}

describe('usage errors exit 2 with one line that says what to change', () => {
  test.each([
    [['run', ...etcd], /^leader-elect run: missing command: put it after --, e\.g\. /],
    [['run', ...etcd, '--'], /^leader-elect run: missing command after --/],
    [
      ['run', ...etcd, 'touch', marker],
      /^leader-elect run: unexpected argument "touch": the command goes after --/,
    ],
    [
      ['run', ...etcd, '--frobnicate', ...mark],
      'leader-elect run: unknown flag --frobnicate; run "leader-elect run --help"',
    ],
    [['run', ...etcd, '--lease-durration', '1s', ...mark], /did you mean --lease-duration\?/],
    [
      ['run', ...etcd, '--lease-duration', '15', ...mark],
      /invalid duration "15" for --lease-duration: missing unit .*write it like 15s, 500ms or 1m30s$/,
    ],
    [
      ['run', ...etcd, '--lease-duration', '1h-', ...mark],
      /invalid duration "1h-" for --lease-duration/,
    ],
    [
      ['run', ...etcd, '--retry-period=-2s', ...mark],
      /invalid duration "-2s" for --retry-period: negative/,
    ],
    [['run', ...etcd, '--grace', '', ...mark], /invalid duration "" for --grace: empty duration/],
    [
      ['run', ...etcd, '--lease-duration', '1s', '--renew-deadline', '2s', ...mark],
      /^leader-elect run: invalid timings: leaseDuration must be greater than renewDeadline \(got leaseDuration=1000 ms, renewDeadline=2000 ms\).*; change --lease-duration, --renew-deadline or --retry-period$/,
    ],
    [
      ['run', ...etcd, '--renew-deadline', '2s', '--retry-period', '2s', ...mark],
      /invalid timings: renewDeadline must be greater than 1\.2 × retryPeriod/,
    ],
    [
      ['run', ...etcd, '--lease-duration', '0', ...mark],
      /invalid timings: leaseDuration must be a finite number of milliseconds ≥ 1, got 0/,
    ],
    [
      ['run', '--backend', 'memory', ...mark],
      /--backend memory cannot be used with "run": an in-process store cannot coordinate separate processes/,
    ],
    [['run', '--election', 'x', ...mark], /--backend is required: etcd, kubernetes or postgres/],
    [['run', '--backend', 'zookeeper', ...mark], /unknown backend "zookeeper"/],
    [['run', '--backend', 'etcd', ...mark], /--election is required with --backend etcd/],
    [
      ['run', ...etcd, '--lease-name', 'x', ...mark],
      'leader-elect run: --lease-name belongs to --backend kubernetes, not --backend etcd',
    ],
    [
      ['run', '--backend', 'kubernetes', '--lease-name', 'x', '--election', 'y', ...mark],
      /--election belongs to --backend etcd or postgres, not --backend kubernetes/,
    ],
    [
      ['run', ...etcd, '--table', 't', ...mark],
      'leader-elect run: --table belongs to --backend postgres, not --backend etcd',
    ],
    [
      ['run', '--backend', 'postgres', '--election', 'x', ...mark],
      /--connection-string or --connection-string-env is required with --backend postgres/,
    ],
    [
      ['run', '--backend', 'postgres', '--connection-string', 'postgres://u@h/db', ...mark],
      /--election is required with --backend postgres/,
    ],
    [
      [
        'run',
        '--backend',
        'postgres',
        '--connection-string',
        'postgres://app:hunter2@db:5432/app',
        '--election',
        'x',
        ...mark,
      ],
      /--connection-string must not hold a password \(other users can read it in the process list\): put it in \$PGPASSWORD/,
    ],
    [
      [
        'run',
        '--backend',
        'postgres',
        '--connection-string',
        'postgres://app@db/app?password=hunter2',
        '--election',
        'x',
        ...mark,
      ],
      /must not hold a password/,
    ],
    [
      [
        'run',
        '--backend',
        'postgres',
        '--connection-string-env',
        'NOPE_NOT_SET',
        '--election',
        'x',
        ...mark,
      ],
      /the environment variable NOPE_NOT_SET is not set/,
    ],
    [
      [
        'run',
        '--backend',
        'postgres',
        '--connection-string',
        'db:5432',
        '--election',
        'x',
        ...mark,
      ],
      /must be a postgres:\/\/ or postgresql:\/\/ URL/,
    ],
    [
      [
        'run',
        '--backend',
        'postgres',
        '--connection-string',
        'postgres://u@127.0.0.1:1/db',
        '--election',
        'x',
        '--table',
        'x; DROP TABLE y',
        ...mark,
      ],
      /invalid table "x; DROP TABLE y"/,
    ],
    [
      ['run', '--backend', 'kubernetes', ...mark],
      /--lease-name is required with --backend kubernetes/,
    ],
    [['run', ...etcd, '--cert', 'c.pem', ...mark], /--cert and --key go together/],
    [['run', ...etcd, '--user', 'root:secret', ...mark], /never on the command line/],
    [
      ['run', ...etcd, '--user', 'root', '--password-env', 'NOPE_NOT_SET', ...mark],
      /--user root needs the password in the environment variable NOPE_NOT_SET/,
    ],
    [
      ['run', ...etcd, '--identity', 'a\u0007b', ...mark],
      /--identity must be non-empty text without control characters/,
    ],
    [
      ['run', ...etcd, '--healthz-tolerance', '5s', ...mark],
      /--healthz-tolerance needs --health-port/,
    ],
    [['run', ...etcd, '--health-port', '70000', ...mark], /must be a port number/],
    [
      ['run', ...etcd, '--endpoints', 'ftp://x:1', ...mark],
      /must be an http:\/\/ or https:\/\/ URL/,
    ],
    [['status', '--backend', 'etcd'], /--election is required/],
    [['status', ...etcd, 'extra'], /unexpected argument "extra"/],
    [
      ['watch', ...etcd, '--', 'cmd'],
      /takes no command after --; did you mean "leader-elect run"\?/,
    ],
    [['watch', ...etcd, '--poll-interval', '1ms'], /--poll-interval must be at least 10ms/],
    [
      ['status', '--backend', 'memory', '--election', 'x'],
      /--backend memory cannot be used with "status"/,
    ],
    [['demo', 'extra'], /"leader-elect demo" takes no arguments/],
    [['frobnicate'], 'leader-elect: unknown command "frobnicate"; run "leader-elect --help"'],
  ])('%j', (args, message) => {
    expectOneLine(args, 2, message);
  });

  test('with --json the one line is a JSON object', () => {
    const result = runCli(['run', ...etcd, '--json', '--lease-duration', '15', ...mark]);
    expect(result.status).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(JSON.parse(result.stderr)).toMatchObject({
      event: 'failed',
      exitCode: 2,
      message: expect.stringMatching(/^invalid duration "15" for --lease-duration/),
    });
  });

  test('no arguments: the usage on stderr, exit 2', () => {
    const result = runCli([]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Usage:');
  });
});

describe('a command that cannot be started exits 4, before anything is campaigned for', () => {
  test.each([
    [
      ['no-such-command-xyz'],
      /^leader-elect run: cannot run "no-such-command-xyz": not found on PATH; check the command after --$/,
    ],
    [['./no/such/file'], /cannot run "\.\/no\/such\/file": not found/],
    [[dir], /is a directory/],
  ])('%j', (command, message) => {
    expectOneLine(['run', ...etcd, '--', ...command], 4, message);
  });

  test('not executable', () => {
    const file = join(dir, 'plain.txt');
    writeFileSync(file, 'echo hi\n');
    expectOneLine(['run', ...etcd, '--', file], 4, /not executable \(chmod \+x\?\)/);
  });
});

describe('a backend that cannot be used exits 3 with one line, and the command never runs', () => {
  test('etcd endpoint with nobody listening', async () => {
    const port = await closedPort();
    const started = performance.now();
    const line = expectOneLine(
      [
        'run',
        ...etcd,
        '--endpoints',
        `http://127.0.0.1:${port}`,
        '--connect-timeout',
        '1s',
        ...mark,
      ],
      3,
      new RegExp(
        `^leader-elect run: cannot use etcd election "usage" at http://127\\.0\\.0\\.1:${port}: .*; check --endpoints and that the cluster is up$`,
      ),
    );
    expect(line).not.toContain('\n');
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  test('etcd status against nobody', async () => {
    const port = await closedPort();
    expectOneLine(
      ['status', ...etcd, '--endpoints', `127.0.0.1:${port}`, '--connect-timeout', '1s'],
      3,
      (await etcdCanInspect())
        ? /^leader-elect status: cannot use etcd election "usage" at http:\/\/127\.0\.0\.1:\d+: /
        : /^leader-elect status: etcd election "usage" at .* cannot be inspected: this backend has no inspect\(\)$/,
    );
  });

  test('unreadable TLS file', () => {
    expectOneLine(
      ['run', ...etcd, '--cacert', join(dir, 'missing-ca.pem'), ...mark],
      3,
      /^leader-elect run: cannot read --cacert .*missing-ca\.pem: ENOENT; check the path$/,
    );
  });

  test('kubernetes with a kubeconfig that does not exist', () => {
    expectOneLine(
      [
        'run',
        '--backend',
        'kubernetes',
        '--lease-name',
        'x',
        '--kubeconfig',
        join(dir, 'nope'),
        ...mark,
      ],
      3,
      /^leader-elect run: /,
    );
  });
});

describe('--help: every subcommand, with examples and exit codes, exit 0 on stdout', () => {
  test.each([['run'], ['status'], ['watch']])('%s --help', (command) => {
    const result = runCli([command, '--help']);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`leader-elect ${command} `);
    expect(result.stdout).toContain('Usage:');
    expect(result.stdout).toContain('Examples:');
    expect(result.stdout).toContain('Exit codes:');
    expect(result.stdout).toContain('--backend etcd|kubernetes');
    expect(result.stdout).toContain('--json');
  });

  test('run --help documents the child contract', () => {
    const { stdout } = runCli(['run', '-h']);
    for (const text of [
      'LEADER_ELECT_IDENTITY',
      'LEADER_ELECT_TOKEN',
      '--lease-duration DURATION',
      '--renew-deadline DURATION',
      '--retry-period DURATION',
      '--grace DURATION',
      '--release-on-cancel',
      '--restart',
      '--health-port PORT',
      '--healthz-tolerance DURATION',
      '  4  run: the command could not be started',
      '  3  backend unreachable',
    ]) {
      expect(stdout).toContain(text);
    }
  });

  test('help anywhere before --, and help COMMAND', () => {
    expect(runCli(['run', '--backend', 'etcd', '--bogus', '--help']).status).toBe(0);
    const result = runCli(['help', 'watch']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('leader-elect watch');
  });

  test('demo --help and the top-level help', () => {
    expect(runCli(['demo', '--help']).stdout).toContain('memory backend');
    const top = runCli(['--help']);
    expect(top.status).toBe(0);
    for (const command of ['run', 'status', 'watch', 'demo']) {
      expect(top.stdout).toContain(`leader-elect ${command}`);
    }
    expect(top.stdout).toContain('Exit codes:');
  });
});
