import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { exitCodeOf, SupervisedChild } from '../../src/cli/supervised-child.js';
import { sleep } from './support.js';

const SETPRIV = existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : null;
const started: SupervisedChild[] = [];

afterEach(() => {
  for (const child of started.splice(0)) child.kill();
});

async function start(script: string, setpriv: string | null = SETPRIV) {
  const child = await SupervisedChild.start({
    command: '/bin/sh',
    args: ['-c', script],
    env: process.env,
    setpriv,
  });
  started.push(child);
  return child;
}

/** Pids in a process group that are not zombies. */
function groupMembers(pgid: number): number[] {
  return groupProcesses(pgid).map(([pid]) => pid);
}

/** [pid, command name] of the group's processes that are not zombies. */
function groupProcesses(pgid: number): Array<[number, string]> {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,pgid=,stat=,comm='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(
      ([, group, stat]) => Number(group) === pgid && stat !== undefined && !stat.startsWith('Z'),
    )
    .map(([pid, , , comm]) => [Number(pid), comm ?? ''] as [number, string]);
}

async function until(check: () => boolean, timeoutMs = 3_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (check()) return true;
    await sleep(20);
  }
  return check();
}

describe('SupervisedChild', () => {
  test('runs in its own process group, with the environment it was given', async () => {
    const child = await SupervisedChild.start({
      command: '/bin/sh',
      args: ['-c', 'test "$LEADER_ELECT_TOKEN" = 42 && exit 7'],
      env: { ...process.env, LEADER_ELECT_TOKEN: '42' },
      setpriv: SETPRIV,
    });
    expect(await child.exited).toEqual({ code: 7, signal: null });
    expect(exitCodeOf({ code: 7, signal: null })).toBe(7);
    expect(exitCodeOf({ code: null, signal: 'SIGTERM' })).toBe(143);
    expect(exitCodeOf({ code: null, signal: 'SIGKILL' })).toBe(137);
  });

  test('SIGTERM reaches the whole group; a child that exits on it is not killed', async () => {
    const child = await start('trap "exit 3" TERM; sleep 100 & sleep 100 & wait');
    // Both sleeps exec'd: a shell forked for `sleep &` but not yet exec'd may swallow SIGTERM.
    const sleeping = () => groupProcesses(child.pid).filter(([, comm]) => comm === 'sleep').length;
    expect(await until(() => sleeping() === 2, 10_000)).toBe(true);
    expect(groupMembers(child.pid)).toHaveLength(3);
    const signals: string[] = [];
    const result = await child.terminate(2_000, (signal) => signals.push(signal));
    expect(result).toEqual({ exit: { code: 3, signal: null }, killed: false });
    expect(signals).toEqual(['SIGTERM']);
    expect(groupMembers(child.pid)).toEqual([]);
  });

  test('SIGKILL after the grace when the group ignores SIGTERM', async () => {
    const child = await start('trap "" TERM; sleep 100 & while :; do sleep 0.05; done');
    await sleep(100);
    const began = performance.now();
    const signals: string[] = [];
    const result = await child.terminate(300, (signal) => signals.push(signal));
    const took = performance.now() - began;
    expect(result.killed).toBe(true);
    expect(result.exit.signal).toBe('SIGKILL');
    expect(signals).toEqual(['SIGTERM', 'SIGKILL']);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1_500);
    expect(groupMembers(child.pid)).toEqual([]);
  });

  test('what a child leaves behind in its group is ended after it exits', async () => {
    const child = await start('trap "" TERM; (trap "" TERM; sleep 100) & exit 0');
    expect((await child.exited).code).toBe(0);
    await sleep(50);
    expect(groupMembers(child.pid).length).toBeGreaterThan(0);
    const result = await child.terminate(200);
    expect(result.killed).toBe(true);
    expect(groupMembers(child.pid)).toEqual([]);
  });

  test('grace 0: SIGKILL at once', async () => {
    const child = await start('sleep 100');
    const signals: string[] = [];
    await child.terminate(0, (signal) => signals.push(signal));
    expect(signals).toEqual(['SIGKILL']);
  });

  test('a command that cannot be spawned rejects with the spawn error', async () => {
    await expect(
      SupervisedChild.start({
        command: '/no/such/binary',
        args: [],
        env: process.env,
        setpriv: null,
      }),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

const supervisorModule = fileURLToPath(
  new URL('../../dist/cli/supervised-child.js', import.meta.url),
);

/**
 * A node process that supervises `sh -c script` and prints the child's pid. With `exitOnRequest`
 * it exits normally once a line arrives on its stdin (an event, not a timer the test could miss).
 */
async function supervisor(setpriv: string | null, exitOnRequest = false) {
  const code = `
    const { SupervisedChild } = await import(${JSON.stringify(supervisorModule)});
    const child = await SupervisedChild.start({
      command: '/bin/sh',
      args: ['-c', 'sleep 100 & sleep 100 & wait'],
      env: process.env,
      setpriv: ${JSON.stringify(setpriv)},
    });
    console.log(child.pid);
    ${exitOnRequest ? "process.stdin.once('data', () => process.exit(0));" : 'setInterval(() => {}, 1000);'}
  `;
  const proc: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: [exitOnRequest ? 'pipe' : 'ignore', 'pipe', 'inherit'],
  });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    proc.once('exit', () => reject(new Error('supervisor exited early')));
  });
  return { proc, pgid: pid };
}

describe('nothing of the group outlives leader-elect', () => {
  test.skipIf(SETPRIV === null)(
    'SIGKILL of the supervisor kills the whole group (setpriv + watchdog)',
    async () => {
      const { proc, pgid } = await supervisor(SETPRIV);
      expect(await until(() => groupMembers(pgid).length === 3)).toBe(true);
      proc.kill('SIGKILL');
      expect(await until(() => groupMembers(pgid).length === 0)).toBe(true);
    },
  );

  test('without setpriv, an ordinary exit still kills the group (exit hook)', async () => {
    const { proc, pgid } = await supervisor(null, true);
    expect(groupMembers(pgid).length).toBeGreaterThan(0);
    proc.stdin?.end('exit\n');
    expect(await until(() => groupMembers(pgid).length === 0)).toBe(true);
  });
});
