// `leader-elect run` whose supervisor alone is paused (SIGSTOP) past its lease while its child
// keeps running, on the shared three-member etcd cluster: the term watchdog must have stopped the
// child before the next leader's child starts, and the resumed supervisor must follow.
import { afterEach, describe, expect, inject, test } from 'vitest';
import {
  expectExclusive,
  type JobInterval,
  jobIntervals,
  jobStarted,
  runArgs,
  running,
  tempLog,
  uniq,
} from './etcd-support.js';
import { CliProcess } from './support.js';

const endpoints = inject('etcdEndpoints');
const processes: CliProcess[] = [];
/** Pauses per run: each hands the lease over once, in alternating directions. */
const PAUSES = 4;
/** The heartbeat job, stamping CLOCK_MONOTONIC every 20 ms: one clock for both children. */
const JOB_ENV = { ...process.env, JOB_BEAT_MS: '20', JOB_CLOCK: 'monotonic' };

function start(args: readonly string[]): CliProcess {
  const proc = new CliProcess(args, JOB_ENV);
  processes.push(proc);
  return proc;
}

afterEach(async () => {
  for (const proc of processes.splice(0)) {
    proc.kill('SIGCONT');
    proc.kill('SIGKILL');
    await proc.exited;
  }
});

type Event = Record<string, unknown>;
const isStarted = (event: Event) => event.event === 'command-started';

function interval(log: string, token: unknown): JobInterval {
  const found = jobIntervals(log).find((i) => i.token === BigInt(String(token)));
  expect(found, `job ${String(token)} in the log`).toBeDefined();
  return found as JobInterval;
}

describe.skipIf(endpoints === undefined)('leader-elect run: a paused supervisor', () => {
  test(`SIGSTOP of the leading supervisor alone past its lease, ${PAUSES} times: its child is gone before the next child starts; resumed, it follows`, async () => {
    const election = uniq('paused');
    const log = tempLog();
    const a = start(runArgs(endpoints, election, 'a', log));
    let started = await a.waitForEvent(isStarted);
    await jobStarted(log, started.token);
    const b = start(runArgs(endpoints, election, 'b', log));
    await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');

    let leader = { proc: a, identity: 'a' };
    let follower = { proc: b, identity: 'b' };
    const gapsMs: number[] = [];
    for (let pause = 0; pause < PAUSES; pause++) {
      const childPid = started.pid as number;
      const leaderSeen = leader.proc.events().length;
      const followerSeen = follower.proc.events().length;
      // The supervisor alone: its child (own session) and its watchdog (own session) run on.
      leader.proc.kill('SIGSTOP');
      let next: Event;
      try {
        next = await follower.proc.waitForEvent(isStarted, {
          after: followerSeen,
          timeoutMs: 20_000,
        });
        await jobStarted(log, next.token);
        // Still paused: only the watchdog can have ended the old child (a zombie now, unreaped).
        expect(running(childPid), `child ${childPid} of the paused supervisor`).toBe(false);
      } finally {
        leader.proc.kill('SIGCONT');
      }
      const old = interval(log, started.token);
      const fresh = interval(log, next.token);
      expect(
        fresh.start,
        `pause ${pause + 1}: the new child started ${(old.end - fresh.start).toFixed(1)} ms before the paused supervisor's child ended`,
      ).toBeGreaterThan(old.end);
      gapsMs.push(fresh.start - old.end);

      // Resumed: it sees that its term is over, reports what the watchdog did, and follows.
      const after = { after: leaderSeen, timeoutMs: 20_000 };
      const stopped = await leader.proc.waitForEvent((e) => e.event === 'stopped-leading', after);
      expect(['renew-deadline', 'lost']).toContain(stopped.reason);
      const fired = await leader.proc.waitForEvent((e) => e.event === 'watchdog-signal', after);
      expect(fired).toMatchObject({ pid: childPid, signal: 'SIGTERM' });
      await leader.proc.waitForEvent(
        (e) => e.event === 'leader' && e.identity === follower.identity,
        after,
      );
      expect(leader.proc.events().slice(leaderSeen).filter(isStarted)).toEqual([]);

      started = next;
      [leader, follower] = [follower, leader];
    }

    // The follower first, so that it cannot take over the lease the leader releases.
    for (const { proc } of [follower, leader]) {
      proc.kill('SIGTERM');
      expect(await proc.exited).toEqual({ code: 0, signal: null });
    }
    const intervals = jobIntervals(log);
    expect(intervals).toHaveLength(PAUSES + 1);
    expectExclusive(intervals);
    console.info(
      `paused supervisor: gap between the old child's last heartbeat and the new child's start, ms: ${gapsMs.map((g) => g.toFixed(0)).join(', ')}`,
    );
  }, 180_000);
});
