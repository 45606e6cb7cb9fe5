// CommandSupervisor with a real term watchdog process, on the memory backend: what the
// supervisor does when the watchdog acts, dies, or cannot be started.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import {
  CommandSupervisor,
  type CommandSupervisorOptions,
} from '../../src/cli/command-supervisor.js';
import type { Reporter } from '../../src/cli/reporter.js';
import { TermWatchdog } from '../../src/cli/term-watchdog.js';
import {
  type LeaderElectError,
  LeaderElector,
  MemoryStore,
  type StopReason,
  type Term,
} from '../../src/index.js';

const WATCHDOG = fileURLToPath(new URL('../../dist/cli/watchdog-main.js', import.meta.url));
/**
 * Room for a loaded machine: the elector here must keep its term valid (renew in time) while the
 * watchdog, in its own process, acts on the deadlines it was given.
 */
const TIMINGS = { leaseDuration: 4_000, renewDeadline: 3_000, retryPeriod: 200 };
const LOOP = 'trap "exit 0" TERM; while :; do sleep 0.05; done';

interface Recorded {
  readonly event: string;
  readonly fields: Record<string, unknown>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A supervisor with a real watchdog, leading on a memory elector; events recorded in order. */
function setup(
  script: string,
  options: {
    wireRenewals?: boolean;
    supervisor?: Partial<CommandSupervisorOptions>;
    stopGracePeriod?: number;
  } = {},
) {
  const events: Recorded[] = [];
  const waiters: Array<() => void> = [];
  const record = (event: string, fields: Record<string, unknown>) => {
    events.push({ event, fields: { ...fields } });
    for (const wake of waiters.splice(0)) wake();
  };
  const reporter: Reporter = { event: (event, fields) => record(event, fields) };
  const finished: number[] = [];
  const supervisor = new CommandSupervisor({
    command: '/bin/sh',
    args: ['-c', script],
    env: process.env,
    setpriv: null,
    graceMs: 200,
    restart: false,
    reporter,
    onFinished: (code) => finished.push(code),
    startWatchdog: (watchdogOptions) =>
      TermWatchdog.start({ ...watchdogOptions, script: WATCHDOG }),
    ...options.supervisor,
  });
  const elector = new LeaderElector({
    backend: new MemoryStore().lease('jobs'),
    identity: 'node-1',
    ...TIMINGS,
    stopGracePeriod: options.stopGracePeriod ?? 3_000,
    onStartedLeading: (term) => supervisor.lead(term),
  });
  if (options.wireRenewals !== false) elector.on('renewed', (term) => supervisor.renewed(term));
  elector.on('error', (error: LeaderElectError) =>
    record('elector-error', { code: error.code, message: error.message }),
  );
  elector.on('stoppedLeading', (term: Term, reason: StopReason) =>
    record('stopped-leading', { token: term.token, reason }),
  );
  cleanups.push(async () => {
    await elector.stop();
    await supervisor.close();
  });

  /** Resolves with the n-th (1-based) event that matches, as soon as it is recorded. */
  async function nth(match: (e: Recorded) => boolean, n = 1): Promise<Recorded> {
    for (;;) {
      const found = events.filter(match)[n - 1];
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  }
  return { supervisor, elector, events, finished, nth };
}

const named = (name: string) => (e: Recorded) => e.event === name;

describe('CommandSupervisor with a term watchdog', () => {
  test('renewals move the deadline: the command outlives many renew deadlines; stop() is ours, not the watchdog’s', async () => {
    const { supervisor, elector, events, nth } = setup(LOOP);
    await supervisor.prepare();
    const watchdogPid = supervisor.watchdogPid;
    expect(watchdogPid).not.toBeNull();
    void elector.run();
    const term = await elector.waitForLeadership();
    await nth(named('command-started'));
    // Renewals every retry period; wait until the term's first deadline and the watchdog's
    // SIGTERM after it (50 ms) are well past: only the renewals it was given kept the command.
    await new Promise<void>((resolve) => {
      const onRenewed = () => {
        if (performance.now() > term.startedAt + TIMINGS.renewDeadline + 500) {
          elector.off('renewed', onRenewed);
          resolve();
        }
      };
      elector.on('renewed', onRenewed);
    });
    expect(supervisor.running).toBe(true);
    await elector.stop();
    expect(events.map((e) => e.event)).toEqual([
      'command-started',
      'command-stopping',
      'command-signal',
      'command-exited',
      'stopped-leading',
    ]);
    expect(events[3]?.fields).toMatchObject({ by: 'SIGTERM', code: 0 });
    expect(supervisor.watchdogPid).toBe(watchdogPid);
    await supervisor.close();
    expect(supervisor.watchdogPid).toBeNull();
  });

  // After `stopping` the watchdog keeps only its SIGKILL at deadline + grace, never before ours at
  // stop + grace: a stop may outlast the renew deadline without the watchdog stepping in.
  test('a graceful stop longer than the renew deadline is not cut short by the watchdog', async () => {
    const ready = join(mkdtempSync(join(tmpdir(), 'leader-elect-slow-')), 'ready');
    const slowExit = `trap "sleep 3.5; exit 0" TERM; touch ${ready}; while :; do sleep 0.05; done`;
    const { supervisor, elector, events, nth } = setup(slowExit, {
      supervisor: { graceMs: 8_000 },
      stopGracePeriod: 10_000,
    });
    await supervisor.prepare();
    void elector.run();
    await nth(named('command-started'));
    while (!existsSync(ready)) await new Promise((resolve) => setTimeout(resolve, 20));
    const stopAt = performance.now();
    await elector.stop();
    // The command took longer than a renew deadline to exit; the watchdog never stepped in.
    expect(performance.now() - stopAt).toBeGreaterThan(TIMINGS.renewDeadline);
    expect(events.map((e) => e.event)).toEqual([
      'command-started',
      'command-stopping',
      'command-signal',
      'command-exited',
      'stopped-leading',
    ]);
    expect(events[3]?.fields).toMatchObject({ by: 'SIGTERM', code: 0 });
  });

  test('renewals that never reach the watchdog: it stops the command at the term deadline, and the supervisor steps down', async () => {
    const { supervisor, elector, nth } = setup(LOOP, { wireRenewals: false });
    await supervisor.prepare();
    void elector.run();
    const started = await nth(named('command-started'));
    const fired = await nth(named('watchdog-signal'));
    expect(fired.fields).toMatchObject({ pid: started.fields.pid, signal: 'SIGTERM' });
    const exited = await nth(named('command-exited'));
    expect(exited.fields).toMatchObject({ by: 'SIGTERM', code: 0 });
    // The elector had renewed all along: the term was valid, so the supervisor handed it back.
    const error = await nth(named('elector-error'));
    expect(error.fields).toMatchObject({ code: 'LE_CALLBACK_FAILED' });
    expect(String(error.fields.message)).toMatch(
      /watchdog stopped the command at the term deadline/,
    );
    expect((await nth(named('stopped-leading'))).fields).toMatchObject({ reason: 'work-failed' });
  });

  test('the watchdog killed while the command runs: the command is stopped, the term handed back, and the next term has a new watchdog', async () => {
    const { supervisor, elector, nth, events } = setup(LOOP);
    await supervisor.prepare();
    const first = supervisor.watchdogPid as number;
    void elector.run();
    const started = await nth(named('command-started'));
    process.kill(first, 'SIGKILL');
    const stopping = await nth(named('command-stopping'));
    expect(String(stopping.fields.reason)).toMatch(
      new RegExp(`watchdog process ${first} died \\(killed by SIGKILL\\)`),
    );
    expect((await nth(named('command-exited'))).fields).toMatchObject({
      pid: started.fields.pid,
      by: 'SIGTERM',
    });
    const error = await nth(named('elector-error'));
    expect(error.fields).toMatchObject({ code: 'LE_CALLBACK_FAILED' });
    expect(String(error.fields.message)).toMatch(/a new watchdog guards the next term/);
    expect((await nth(named('stopped-leading'))).fields).toMatchObject({ reason: 'work-failed' });
    // Campaigning again, it wins again (the only candidate), under a fresh watchdog.
    const restarted = await nth(named('command-started'), 2);
    expect(restarted.fields.token as bigint).toBeGreaterThan(started.fields.token as bigint);
    const second = supervisor.watchdogPid;
    expect(second).not.toBeNull();
    expect(second).not.toBe(first);
    // Order: the command was gone before the term ended.
    const order = events.map((e) => e.event);
    expect(order.indexOf('command-exited')).toBeLessThan(order.indexOf('stopped-leading'));
  });

  test('a watchdog that does not take the guard (stopped): killed, the term handed back, the next term runs under a new one', async () => {
    const { supervisor, elector, nth, events } = setup(LOOP);
    await supervisor.prepare();
    const stuck = supervisor.watchdogPid as number;
    process.kill(stuck, 'SIGSTOP');
    void elector.run();
    const error = await nth(named('elector-error'));
    expect(String(error.fields.message)).toMatch(
      new RegExp(`watchdog process ${stuck} did not answer .*: the command does not run unguarded`),
    );
    expect((await nth(named('stopped-leading'))).fields).toMatchObject({ reason: 'work-failed' });
    const started = await nth(named('command-started'));
    expect(supervisor.watchdogPid).not.toBe(stuck);
    // Nothing ran before the guard held: the first command-started came after the step-down.
    const order = events.map((e) => e.event);
    expect(order.indexOf('stopped-leading')).toBeLessThan(order.indexOf('command-started'));
    expect(started.fields.token as bigint).toBeGreaterThan(0n);
  });

  test('no watchdog can be started: the command does not run, and the term is handed back with an error', async () => {
    const { elector, nth, events } = setup(LOOP, {
      supervisor: { startWatchdog: () => Promise.reject(new Error('no node binary')) },
    });
    void elector.run();
    const error = await nth(named('elector-error'));
    expect(String(error.fields.message)).toMatch(
      /cannot start the watchdog process \(no node binary\): the command does not run unguarded/,
    );
    expect((await nth(named('stopped-leading'))).fields).toMatchObject({ reason: 'work-failed' });
    expect(events.some(named('command-started'))).toBe(false);
  });

  test('--restart: the supervisor throws nothing; lead() returns what resign returns', async () => {
    const resigned: bigint[] = [];
    const { supervisor, elector, nth, finished, events } = setup('exit 0', {
      supervisor: {
        restart: true,
        resign: async (term) => {
          resigned.push(term.token);
          void elector.stop(); // what an elector-side resign would do: end the term
        },
      },
    });
    await supervisor.prepare();
    const run = elector.run();
    const term = await elector.waitForLeadership();
    await nth(named('restart'));
    await run;
    expect(resigned).toEqual([term.token]);
    expect(finished).toEqual([]);
    // Nothing failed: no error event; the term ended because resign stopped the elector.
    expect(events.some(named('elector-error'))).toBe(false);
    expect((await nth(named('stopped-leading'))).fields).toMatchObject({ reason: 'stopped' });
  });
});
