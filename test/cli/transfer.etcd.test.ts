// `leader-elect transfer` handing a running `leader-elect run` over to another one, on etcd.
import { afterEach, describe, expect, inject, test } from 'vitest';
import {
  expectExclusive,
  jobIntervals,
  jobStarted,
  runArgs,
  tempLog,
  uniq,
} from './etcd-support.js';
import { CliProcess, lines, runCli } from './support.js';

const endpoints = inject('etcdEndpoints');
const processes: CliProcess[] = [];

afterEach(async () => {
  for (const proc of processes.splice(0)) {
    proc.kill('SIGKILL');
    await proc.exited;
  }
});

function start(args: readonly string[]): CliProcess {
  const proc = new CliProcess(args);
  processes.push(proc);
  return proc;
}

const isStarted = (event: Record<string, unknown>) => event.event === 'command-started';

describe.skipIf(endpoints === undefined)('leader-elect transfer on etcd', () => {
  test('hands a running leader over to a named candidate: its command stops first, the successor starts with a higher token', async () => {
    const election = uniq('transfer');
    const log = tempLog();
    const a = start(runArgs(endpoints, election, 'a', log));
    const aStarted = await a.waitForEvent(isStarted);
    await jobStarted(log, aStarted.token);
    const b = start(runArgs(endpoints, election, 'b', log));
    const c = start(runArgs(endpoints, election, 'c', log));
    await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');
    await c.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');

    const backend = [
      '--backend',
      'etcd',
      '--endpoints',
      endpoints.join(','),
      '--election',
      election,
    ];
    // c is behind b in etcd's order: b goes to the back, c leads next.
    const result = runCli(['transfer', ...backend, '--to', 'c'], { timeoutMs: 30_000 });
    expect(result.status, result.stderr).toBe(0);
    const out = lines(result.stdout);
    expect(out[0]).toMatch(/ asked a to hand etcd election ".*" at .* to c$/);
    expect(out.at(-1)).toMatch(/ c leads now \(token \d+\)$/);

    const cStarted = await c.waitForEvent(isStarted, { timeoutMs: 10_000 });
    await jobStarted(log, cStarted.token);
    expect(BigInt(String(cStarted.token))).toBeGreaterThan(BigInt(String(aStarted.token)));
    expect(a.events().find((e) => e.event === 'stopped-leading')).toMatchObject({
      reason: 'transferred',
    });
    expect(b.events().some(isStarted)).toBe(false);
    // a's job ended before c's began.
    expectExclusive(jobIntervals(log));

    // Transferring to whoever leads already is a no-op that says so.
    const again = runCli(['transfer', ...backend, '--to', 'c']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/c leads already/);
  });

  test('to a candidate that does not exist: exit 1 after the timeout, and the leader stays', async () => {
    const election = uniq('transfer-none');
    const log = tempLog();
    const a = start(runArgs(endpoints, election, 'a', log));
    await a.waitForEvent(isStarted);
    const backend = [
      '--backend',
      'etcd',
      '--endpoints',
      endpoints.join(','),
      '--election',
      election,
    ];
    const result = runCli(['transfer', ...backend, '--to', 'nobody', '--timeout', '2s']);
    expect(result.status).toBe(1);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/nobody did not lead within 2s \(the leader is a\)/);
    // The leader says why (its output was read while runCli blocked this process: wait for it).
    await a.waitForEvent((e) => e.event === 'error' && e.code === 'LE_TRANSFER_REFUSED');
    expect(a.events().some((e) => e.event === 'stopped-leading')).toBe(false);
  });
});
