// The term watchdog with real processes: the built watchdog script, real process groups, real
// signals. Deadlines are the thing under test here, so the assertions are orderings and generous
// bounds (a loaded two-core machine), and waits are on exits and pipe messages.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { SupervisedChild } from '../../src/cli/supervised-child.js';
import {
  ARM_TIMEOUT_MS,
  monotonicDeadline,
  nanosOf,
  TermWatchdog,
  toMonotonic,
  type WatchdogFired,
} from '../../src/cli/term-watchdog.js';

/** The built watchdog (`npm run build`): what `leader-elect run` spawns. */
const WATCHDOG = fileURLToPath(new URL('../../dist/cli/watchdog-main.js', import.meta.url));
const MS = 1_000_000n;
/** Upper bound for "soon" on a loaded machine: a timer or a signal this late is a bug. */
const LATE_MS = 2_000;

const watchdogs: TermWatchdog[] = [];
const children: SupervisedChild[] = [];
const strays: number[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) child.kill();
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const watchdog of watchdogs.splice(0)) await watchdog.close();
});

async function watchdog(): Promise<{ watchdog: TermWatchdog; fired: WatchdogFired[] }> {
  const fired: WatchdogFired[] = [];
  const started = await TermWatchdog.start({ script: WATCHDOG, onFired: (f) => fired.push(f) });
  watchdogs.push(started);
  return { watchdog: started, fired };
}

/** `sh -c script`, started only once the watchdog guards it with `deadline` and `graceMs`. */
async function guarded(
  wd: TermWatchdog,
  script: string,
  deadline: (now: bigint) => bigint,
  graceMs: number,
): Promise<{ child: SupervisedChild; deadlineNs: bigint }> {
  let deadlineNs = 0n;
  const child = await SupervisedChild.start({
    command: '/bin/sh',
    args: ['-c', script],
    env: process.env,
    setpriv: null,
    beforeRun: async (pgid) => {
      deadlineNs = deadline(process.hrtime.bigint());
      await wd.arm(pgid, deadlineNs, graceMs);
    },
  });
  children.push(child);
  return { child, deadlineNs };
}

/** True while the process runs (zombies are not running). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Live (non-zombie) members of a process group. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirProc()) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') {
        members.push(Number(entry));
      }
    } catch {
      // gone meanwhile
    }
  }
  return members;
}

function readdirProc(): string[] {
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
}

async function until(check: () => boolean, timeoutMs = 5_000): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

describe('the deadline conversion', () => {
  test('adds the time left on the clock to the monotonic reading, rounding down', () => {
    expect(toMonotonic(1_500, 1_000, 7_000_000_000n)).toBe(7_500_000_000n);
    // Sub-nanosecond remainders are dropped, never rounded up.
    expect(toMonotonic(1_000.0000019, 1_000, 10n)).toBe(11n);
    // A deadline already past maps before the reading, and never below zero.
    expect(toMonotonic(990, 1_000, 20_000_000n)).toBe(10_000_000n);
    expect(toMonotonic(0, 1_000, 5n)).toBe(0n);
    expect(() => toMonotonic(Number.POSITIVE_INFINITY, 0, 0n)).toThrow(RangeError);
    expect(nanosOf(300)).toBe(300n * MS);
    expect(nanosOf(0.0000019)).toBe(1n);
    expect(nanosOf(-5)).toBe(0n);
  });

  test('on a clock with another origin, the deadline is not later than the moment itself', () => {
    const clock = { now: () => performance.now() + 123_456.789 };
    const at = clock.now() + 1_000;
    const before = process.hrtime.bigint();
    const deadline = monotonicDeadline(at, clock);
    const after = process.hrtime.bigint();
    // The moment `at` lies between before + ~1 s and after + 1 s; the conversion errs early.
    expect(deadline).toBeLessThanOrEqual(after + 1_000n * MS);
    expect(deadline).toBeGreaterThan(before + 900n * MS);
  });
});

describe('the watchdog process', () => {
  test('at the deadline: SIGTERM, then SIGKILL after the grace to a group that ignores SIGTERM', async () => {
    const { watchdog: wd, fired } = await watchdog();
    const graceMs = 300;
    const { child, deadlineNs } = await guarded(
      wd,
      'trap "" TERM; while :; do sleep 0.05; done',
      (now) => now + 300n * MS,
      graceMs,
    );
    const exit = await child.exited;
    expect(exit.signal).toBe('SIGKILL');
    await wd.ping(); // every notification written before is read
    expect(fired.map((f) => f.signal)).toEqual(['SIGTERM', 'SIGKILL']);
    const [term, kill] = fired as [WatchdogFired, WatchdogFired];
    // Never early: SIGTERM after the deadline (the supervisor's own stop gets min(grace/4, 50ms)
    // to go first), SIGKILL only once the grace has passed.
    expect(term.atNs).toBeGreaterThanOrEqual(deadlineNs + 50n * MS);
    expect(kill.atNs).toBeGreaterThanOrEqual(deadlineNs + nanosOf(graceMs));
    expect(kill.atNs - deadlineNs).toBeLessThan(nanosOf(graceMs + LATE_MS));
    expect(await wd.disarm(child.pid)).toBe('killed');
  });

  test('a group that exits on SIGTERM is not killed; its state says terminated', async () => {
    const { watchdog: wd, fired } = await watchdog();
    const { child } = await guarded(
      wd,
      'trap "exit 3" TERM; while :; do sleep 0.05; done',
      (now) => now + 100n * MS,
      5_000,
    );
    expect(await child.exited).toEqual({ code: 3, signal: null });
    await wd.ping();
    expect(fired.map((f) => f.signal)).toEqual(['SIGTERM']);
    expect(await wd.disarm(child.pid)).toBe('terminated');
  });

  test('extend moves the deadline forward; an earlier one is ignored', async () => {
    const { watchdog: wd, fired } = await watchdog();
    const { child, deadlineNs } = await guarded(
      wd,
      'while :; do sleep 0.05; done',
      (now) => now + 200n * MS,
      0,
    );
    const extended = deadlineNs + 600n * MS;
    wd.extend(child.pid, extended);
    wd.extend(child.pid, deadlineNs + 100n * MS); // backwards: ignored
    expect((await child.exited).signal).toBe('SIGKILL'); // grace 0: SIGKILL at the deadline
    await wd.ping();
    expect(fired).toHaveLength(1);
    expect(fired[0]?.atNs).toBeGreaterThanOrEqual(extended);
  });

  test('disarm: nothing happens to the group at its deadline', async () => {
    const { watchdog: wd, fired } = await watchdog();
    const at = process.hrtime.bigint() + 200n * MS;
    const spared = await guarded(wd, 'while :; do sleep 0.05; done', () => at, 0);
    expect(await wd.disarm(spared.child.pid)).toBe('armed');
    // A second group with the same deadline shows when the deadline has come and gone.
    const witness = await guarded(wd, 'while :; do sleep 0.05; done', () => at, 0);
    expect((await witness.child.exited).signal).toBe('SIGKILL');
    await wd.ping();
    expect(fired.map((f) => f.pgid)).toEqual([witness.child.pid]);
    expect(running(spared.child.pid)).toBe(true);
  });

  test('EOF on its stdin (the supervisor is gone): every guarded group is SIGKILLed at once', async () => {
    const { watchdog: wd } = await watchdog();
    const far = (now: bigint) => now + 600_000n * MS;
    const first = await guarded(wd, 'trap "" TERM; while :; do sleep 0.05; done', far, 10_000);
    const second = await guarded(wd, 'sleep 600 & sleep 600 & wait', far, 10_000);
    expect(await until(() => groupMembers(second.child.pid).length === 3)).toBe(true);
    const closed = wd.close(); // EOF
    expect((await first.child.exited).signal).toBe('SIGKILL');
    expect((await second.child.exited).signal).toBe('SIGKILL');
    await closed;
    expect(await until(() => groupMembers(second.child.pid).length === 0)).toBe(true);
    expect(wd.alive).toBe(false);
  });

  test('requests it cannot honour get an error reply, and it keeps guarding', async () => {
    const { watchdog: wd } = await watchdog();
    const { child } = await guarded(wd, 'sleep 600', (now) => now + 600_000n * MS, 0);
    await expect(wd.arm(child.pid, 1n, 0)).rejects.toThrow(/already guarded/);
    await expect(wd.arm(1, 1n, 0)).rejects.toThrow(/bad process group/);
    expect(await wd.disarm(424242)).toBe('unknown');
    expect(await wd.disarm(child.pid)).toBe('armed');
  });

  test('a stopped watchdog: arm rejects after its timeout and kills it; disarm does not wait long', async () => {
    const { watchdog: wd } = await watchdog();
    const { watchdog: other } = await watchdog();
    const { child } = await guarded(other, 'sleep 600', (now) => now + 600_000n * MS, 0);
    process.kill(other.pid, 'SIGSTOP');
    // Only a report waits on disarm: `unknown`, and the request is handled once it runs again.
    expect(await other.disarm(child.pid)).toBe('unknown');
    process.kill(other.pid, 'SIGCONT');
    await other.ping();
    expect(await other.disarm(child.pid)).toBe('unknown'); // the first disarm went through
    process.kill(wd.pid, 'SIGSTOP');
    await expect(wd.arm(child.pid, process.hrtime.bigint(), 0)).rejects.toThrow(
      new RegExp(`did not answer within ${ARM_TIMEOUT_MS} ms`),
    );
    expect(await wd.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(running(child.pid)).toBe(true); // it never guarded it: nothing to kill
  });

  test('SIGTERM, SIGINT and SIGHUP do not end it; SIGKILL does, and `exited` says so', async () => {
    const { watchdog: wd } = await watchdog();
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.kill(wd.pid, signal);
    await wd.ping();
    expect(wd.alive).toBe(true);
    process.kill(wd.pid, 'SIGKILL');
    expect(await wd.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await expect(wd.arm(12345, 1n, 0)).rejects.toThrow(/gone/);
  });
});

describe('the gate: the command never runs unguarded', () => {
  test('it runs only after beforeRun resolved, and never if beforeRun rejects', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leader-elect-gate-'));
    const ran = join(dir, 'ran');
    const seen: boolean[] = [];
    const child = await SupervisedChild.start({
      command: '/bin/sh',
      args: ['-c', `touch ${ran}; exit 0`],
      env: process.env,
      setpriv: null,
      beforeRun: async (pgid) => {
        // The group exists (the gate shell waits), but the command has not run.
        expect(await until(() => running(pgid))).toBe(true);
        seen.push(existsSync(ran));
      },
    });
    children.push(child);
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(seen).toEqual([false]);
    expect(existsSync(ran)).toBe(true);

    const never = join(dir, 'never');
    let gatePid = 0;
    await expect(
      SupervisedChild.start({
        command: '/bin/sh',
        args: ['-c', `touch ${never}`],
        env: process.env,
        setpriv: null,
        beforeRun: async (pgid) => {
          gatePid = pgid;
          throw new Error('no guard');
        },
      }),
    ).rejects.toThrow('no guard');
    expect(running(gatePid)).toBe(false);
    expect(existsSync(never)).toBe(false);
  });

  test('a command that cannot be run fails as a failed spawn would (ENOENT), before any gate', async () => {
    let called = false;
    await expect(
      SupervisedChild.start({
        command: '/no/such/binary',
        args: [],
        env: process.env,
        setpriv: null,
        beforeRun: async () => {
          called = true;
        },
      }),
    ).rejects.toMatchObject({ code: 'ENOENT' });
    expect(called).toBe(false);
  });
});

describe('what the watchdog covers', () => {
  test('SIGKILL of the supervisor, without setpriv: the watchdog SIGKILLs the whole group', async () => {
    const { proc, pgid } = await supervisorProcess();
    expect(await until(() => groupMembers(pgid).length === 3)).toBe(true);
    proc.kill('SIGKILL');
    expect(await until(() => groupMembers(pgid).length === 0)).toBe(true);
  });

  test('a process that leaves the group (setsid) is not covered: the group dies, it lives on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leader-elect-setsid-'));
    const pidFile = join(dir, 'escaped');
    const { watchdog: wd } = await watchdog();
    const { child } = await guarded(
      wd,
      `setsid sleep 600 & echo $! > ${pidFile}; trap "" TERM; while :; do sleep 0.05; done`,
      (now) => now + 300n * MS,
      200,
    );
    expect(
      await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').includes('\n')),
    ).toBe(true);
    const escaped = Number(readFileSync(pidFile, 'utf8'));
    strays.push(escaped);
    expect((await child.exited).signal).toBe('SIGKILL');
    expect(await until(() => groupMembers(child.pid).length === 0)).toBe(true);
    expect(running(escaped)).toBe(true);
  });
});

const modules = {
  watchdog: fileURLToPath(new URL('../../dist/cli/term-watchdog.js', import.meta.url)),
  child: fileURLToPath(new URL('../../dist/cli/supervised-child.js', import.meta.url)),
};

/** A node process that guards `sh -c 'sleep & sleep & wait'` (no setpriv) and prints its pgid. */
async function supervisorProcess(): Promise<{ proc: ChildProcess; pgid: number }> {
  const code = `
    const { TermWatchdog } = await import(${JSON.stringify(modules.watchdog)});
    const { SupervisedChild } = await import(${JSON.stringify(modules.child)});
    const watchdog = await TermWatchdog.start();
    const child = await SupervisedChild.start({
      command: '/bin/sh',
      args: ['-c', 'sleep 600 & sleep 600 & wait'],
      env: process.env,
      setpriv: null,
      beforeRun: (pgid) => watchdog.arm(pgid, process.hrtime.bigint() + 600000000000n, 1000),
    });
    console.log(child.pid);
    setInterval(() => {}, 1000);
  `;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const pgid = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    proc.once('exit', () => reject(new Error('supervisor exited early')));
  });
  strays.push(proc.pid as number);
  return { proc, pgid };
}
