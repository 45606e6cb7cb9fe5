// `leader-elect run` on the shared three-member etcd cluster: real processes, real failures.
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, inject, test } from 'vitest';
import {
  expectExclusive,
  jobIntervals,
  jobStarted,
  runArgs,
  running,
  tempLog,
  uniq,
  until,
} from './etcd-support.js';
import { CliProcess, sleep } from './support.js';

const endpoints = inject('etcdEndpoints');
const processes: CliProcess[] = [];

function start(args: readonly string[], env: NodeJS.ProcessEnv = process.env): CliProcess {
  const proc = new CliProcess(args, env);
  processes.push(proc);
  return proc;
}

afterEach(async () => {
  for (const proc of processes.splice(0)) {
    proc.kill('SIGKILL');
    await proc.exited;
  }
});

const isStarted = (event: Record<string, unknown>) => event.event === 'command-started';
const startedAt = (event: Record<string, unknown>) => Date.parse(String(event.time));

describe.skipIf(endpoints === undefined)('leader-elect run on etcd', () => {
  test('two candidates: SIGKILL of the leader kills its child; the follower starts after expiry', async () => {
    const election = uniq('failover');
    const log = tempLog();
    const a = start(runArgs(endpoints, election, 'a', log));
    const aStarted = await a.waitForEvent(isStarted);
    await jobStarted(log, aStarted.token);
    const b = start(runArgs(endpoints, election, 'b', log));
    await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');
    await sleep(1_000);
    expect(b.events().some(isStarted), 'a follower never runs the command').toBe(false);

    const childPid = aStarted.pid as number;
    expect(running(childPid)).toBe(true);
    const killedAt = Date.now();
    a.kill('SIGKILL');
    // pdeathsig + watchdog: the orphaned job dies with its supervisor.
    expect(await until(() => !running(childPid), 2_000)).toBe(true);
    const diedAfter = Date.now() - killedAt;

    const bStarted = await b.waitForEvent(isStarted, { timeoutMs: 10_000 });
    // b waited for a's lease to expire (2 s after a's last keepalive, which was at most one
    // retry period before the kill): no release happened.
    expect(startedAt(bStarted) - killedAt).toBeGreaterThan(1_000);
    expect(BigInt(String(bStarted.token))).toBeGreaterThan(BigInt(String(aStarted.token)));
    await jobStarted(log, bStarted.token);

    b.kill('SIGTERM');
    expect(await b.exited).toEqual({ code: 0, signal: null });
    const intervals = jobIntervals(log);
    expect(intervals.map((i) => i.identity)).toEqual(['a', 'b']);
    expect(intervals[0]?.ended).toBe(false); // SIGKILLed: no end line
    expect(intervals[1]?.ended).toBe(true); // SIGTERM: ended cleanly
    expectExclusive(intervals);
    expect(diedAfter).toBeLessThan(2_000);
  });

  test('three candidates: SIGTERM hands over at once, tokens only increase, one job at a time', async () => {
    const election = uniq('handover');
    const log = tempLog();
    const a = start(runArgs(endpoints, election, 'a', log));
    await jobStarted(log, (await a.waitForEvent(isStarted)).token);
    const b = start(runArgs(endpoints, election, 'b', log));
    const c = start(runArgs(endpoints, election, 'c', log));
    await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');
    await c.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');

    const handovers: number[] = [];
    let remaining = [b, c];
    for (const leaving of [a]) {
      const stopAt = Date.now();
      leaving.kill('SIGTERM');
      const next = await Promise.race(
        remaining.map((p) =>
          p.waitForEvent(isStarted, { timeoutMs: 10_000 }).then((e) => ({ p, e })),
        ),
      );
      handovers.push(startedAt(next.e) - stopAt);
      expect(await leaving.exited).toEqual({ code: 0, signal: null });
      await jobStarted(log, next.e.token);
      remaining = remaining.filter((p) => p !== next.p);
      const stopAt2 = Date.now();
      next.p.kill('SIGTERM');
      const last = remaining[0] as CliProcess;
      const lastStarted = await last.waitForEvent(isStarted, { timeoutMs: 10_000 });
      handovers.push(startedAt(lastStarted) - stopAt2);
      await jobStarted(log, lastStarted.token);
      expect(await next.p.exited).toEqual({ code: 0, signal: null });
      last.kill('SIGTERM');
      expect(await last.exited).toEqual({ code: 0, signal: null });
    }
    // Released leases: far quicker than the 2 s lease duration.
    for (const ms of handovers) expect(ms).toBeLessThan(1_200);
    const intervals = jobIntervals(log);
    expect(intervals).toHaveLength(3);
    expect(intervals.every((i) => i.ended)).toBe(true);
    expectExclusive(intervals);
    // The stopping leader released only after its job was gone.
    const aEvents = a.events().map((e) => e.event);
    expect(aEvents.indexOf('command-exited')).toBeLessThan(aEvents.indexOf('exit'));
  });

  test('the child exiting by itself releases the lease and sets the exit code', async () => {
    const election = uniq('exitcode');
    const log = tempLog();
    // a's job exits once b follows (not on a timer b's start-up could miss on a loaded machine).
    const exitNow = `${log}.exit`;
    const a = start(runArgs(endpoints, election, 'a', log), {
      ...process.env,
      JOB_EXIT_WHEN: exitNow,
      JOB_EXIT_CODE: '5',
    });
    await a.waitForEvent(isStarted);
    const b = start(runArgs(endpoints, election, 'b', log));
    await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');
    writeFileSync(exitNow, '');
    expect(await a.exited).toEqual({ code: 5, signal: null });
    const exited = a.events().find((e) => e.event === 'command-exited');
    expect(exited).toMatchObject({ code: 5, by: 'itself' });
    const bStarted = await b.waitForEvent(isStarted, { timeoutMs: 10_000 });
    expect(startedAt(bStarted) - startedAt(exited as Record<string, unknown>)).toBeLessThan(1_200);
    await jobStarted(log, bStarted.token);
    b.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
    expectExclusive(jobIntervals(log));
  });

  test('--restart campaigns again after the child exits; --release-on-cancel=false keeps the lease', async () => {
    const election = uniq('restart');
    const log = tempLog();
    const a = start(runArgs(endpoints, election, 'a', log, ['--restart']), {
      ...process.env,
      JOB_EXIT_AFTER_MS: '200',
    });
    await a.waitForEvent((e) => e.event === 'restart');
    await a.waitForEvent((e) => e.event === 'restart', {
      after: a.events().findIndex((e) => e.event === 'restart') + 1,
    });
    const tokens = a
      .events()
      .filter(isStarted)
      .map((e) => BigInt(String(e.token)));
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    expect([...tokens].sort((x, y) => (x < y ? -1 : 1))).toEqual(tokens);
    expect(new Set(tokens).size).toBe(tokens.length);
    a.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    expectExclusive(jobIntervals(log));

    // Without release on cancel the next candidate waits for the lease to expire.
    const election2 = uniq('norelease');
    const log2 = tempLog();
    const c = start(runArgs(endpoints, election2, 'c', log2, ['--release-on-cancel=false']));
    await jobStarted(log2, (await c.waitForEvent(isStarted)).token);
    const d = start(runArgs(endpoints, election2, 'd', log2));
    await d.waitForEvent((e) => e.event === 'leader' && e.identity === 'c');
    const stopAt = Date.now();
    c.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
    const dStarted = await d.waitForEvent(isStarted, { timeoutMs: 10_000 });
    expect(startedAt(dStarted) - stopAt).toBeGreaterThan(1_000);
    await jobStarted(log2, dStarted.token);
    d.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
    expectExclusive(jobIntervals(log2));
  });

  test('a child that ignores SIGTERM is SIGKILLed within the capped grace when leadership ends', async () => {
    const election = uniq('grace');
    const log = tempLog();
    const a = start(runArgs(endpoints, election, 'a', log, ['--grace', '10s']), {
      ...process.env,
      JOB_IGNORE_TERM: '1',
    });
    const warning = await a.waitForEvent((e) => e.event === 'warning');
    expect(String(warning.message)).toMatch(/^--grace 10s does not fit: .* leaves 300ms/);
    await jobStarted(log, (await a.waitForEvent(isStarted)).token);
    const b = start(runArgs(endpoints, election, 'b', log));
    await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');
    a.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    const gone = a.events().find((e) => e.event === 'command-exited');
    expect(gone).toMatchObject({ by: 'SIGKILL', signal: 'SIGKILL' });
    const signals = a.events().filter((e) => e.event === 'command-signal');
    expect(signals.map((e) => e.signal)).toEqual(['SIGTERM', 'SIGKILL']);
    const kill =
      startedAt(signals[1] as Record<string, unknown>) -
      startedAt(signals[0] as Record<string, unknown>);
    expect(kill).toBeGreaterThanOrEqual(290);
    expect(kill).toBeLessThan(800);
    await jobStarted(log, (await b.waitForEvent(isStarted, { timeoutMs: 10_000 })).token);
    b.kill('SIGTERM');
    await b.exited;
    expectExclusive(jobIntervals(log));
  });
});
