import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { CommandSupervisor } from '../../src/cli/command-supervisor.js';
import type { Reporter } from '../../src/cli/reporter.js';
import { LeaderElector, MemoryStore } from '../../src/index.js';
import { waitFor } from '../support/wait.js';
import { sleep } from './support.js';

const SETPRIV = existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : null;
const TIMINGS = { leaseDuration: 1_000, renewDeadline: 600, retryPeriod: 100 };

function recorder() {
  const events: Array<{ event: string; fields: Record<string, unknown> }> = [];
  const reporter: Reporter = {
    event: (event, fields) => events.push({ event, fields: { ...fields } }),
  };
  return { events, reporter };
}

function supervised(
  script: string,
  options: {
    restart?: boolean;
    graceMs?: number;
    resign?: (term: import('../../src/index.js').Term<unknown>) => void;
  } = {},
) {
  const { events, reporter } = recorder();
  const finished: number[] = [];
  const running: boolean[] = [];
  const supervisor = new CommandSupervisor({
    command: '/bin/sh',
    args: ['-c', script],
    env: process.env,
    setpriv: SETPRIV,
    graceMs: options.graceMs ?? 300,
    restart: options.restart ?? false,
    reporter,
    onFinished: (code) => finished.push(code),
    onRunning: (value) => running.push(value),
    ...(options.resign === undefined ? {} : { resign: options.resign }),
  });
  return { supervisor, events, finished, running };
}

describe('CommandSupervisor: the command runs exactly while the term is valid', () => {
  test('identity and token in the environment; stop() waits for the command before releasing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leader-elect-supervisor-'));
    const out = join(dir, 'env');
    const { supervisor, events, running } = supervised(
      // The line is written once the TERM handler is installed: the test waits for it.
      `trap 'sleep 0.2; echo done >> ${out}; exit 0' TERM; echo "$LEADER_ELECT_IDENTITY $LEADER_ELECT_TOKEN" > ${out}; while :; do sleep 0.05; done`,
    );
    const store = new MemoryStore();
    const elector = new LeaderElector({
      backend: store.lease('jobs'),
      identity: 'node-1',
      ...TIMINGS,
      stopGracePeriod: 3_000,
      onStartedLeading: (term) => supervisor.lead(term),
    });
    void elector.run();
    await elector.waitForLeadership();
    await waitFor(
      () => running.length > 0 && existsSync(out) && readFileSync(out, 'utf8').endsWith('\n'),
      'the command started and wrote its env line',
      10_000,
      10,
    );
    expect(readFileSync(out, 'utf8')).toBe('node-1 0\n');
    expect(supervisor.running).toBe(true);
    await elector.stop();
    // The TERM handler finished (its 200 ms) before stop() released the lease.
    expect(readFileSync(out, 'utf8')).toBe('node-1 0\ndone\n');
    expect(supervisor.running).toBe(false);
    expect(running).toEqual([true, false]);
    expect(events.map((e) => e.event)).toEqual([
      'command-started',
      'command-stopping',
      'command-signal',
      'command-exited',
    ]);
    expect(events.at(-1)?.fields).toMatchObject({ by: 'SIGTERM', code: 0 });
    expect(store.inspect('jobs')?.data).toMatchObject({ holderIdentity: '' });
  });

  test('a lost term stops the command; SIGKILL after the grace if it ignores SIGTERM', async () => {
    const ready = join(mkdtempSync(join(tmpdir(), 'leader-elect-supervisor-')), 'ready');
    const { supervisor, events } = supervised(
      `trap '' TERM; touch ${ready}; while :; do sleep 0.05; done`,
      { graceMs: 200 },
    );
    const store = new MemoryStore();
    const elector = new LeaderElector({
      backend: store.lease('jobs'),
      identity: 'node-1',
      ...TIMINGS,
      onStartedLeading: (term) => supervisor.lead(term),
    });
    void elector.run();
    await elector.waitForLeadership();
    // The command runs and ignores SIGTERM from here on.
    await waitFor(() => supervisor.running && existsSync(ready), 'the command ready', 10_000, 10);
    // Another writer takes the lease over: the next renewal reveals the loss.
    const current = store.inspect('jobs')?.data as Record<string, unknown>;
    store.putRaw('jobs', {
      ...current,
      holderIdentity: 'intruder',
      leaseTransitions: Number(current.leaseTransitions) + 1,
    });
    const deadline = performance.now() + 3_000;
    while (supervisor.running && performance.now() < deadline) await sleep(20);
    expect(supervisor.running).toBe(false);
    expect(events.find((e) => e.event === 'command-exited')?.fields).toMatchObject({
      by: 'SIGKILL',
      signal: 'SIGKILL',
    });
    await elector.stop();
  });

  test('the command exiting by itself reports its exit code; with --restart the term ends', async () => {
    const plain = supervised('exit 7');
    const store = new MemoryStore();
    const elector = new LeaderElector({
      backend: store.lease('jobs'),
      ...TIMINGS,
      onStartedLeading: (term) => plain.supervisor.lead(term),
    });
    void elector.run();
    const deadline = performance.now() + 3_000;
    while (plain.finished.length === 0 && performance.now() < deadline) await sleep(20);
    expect(plain.finished).toEqual([7]);
    expect(plain.events.find((e) => e.event === 'command-exited')?.fields).toMatchObject({
      by: 'itself',
      code: 7,
    });
    await elector.stop();

    // With --restart the term goes back to the election through the elector's resign(): released
    // at once, stopped-leading "resigned", no error event, and a new term (a new token) later.
    let elector2: LeaderElector<unknown> | null = null;
    const restarting = supervised('exit 0', {
      restart: true,
      resign: (term) => void elector2?.resign({ term }),
    });
    const store2 = new MemoryStore();
    const errors: unknown[] = [];
    const reasons: string[] = [];
    elector2 = new LeaderElector<unknown>({
      backend: store2.lease('jobs'),
      ...TIMINGS,
      onStartedLeading: (t) => restarting.supervisor.lead(t),
    });
    elector2.on('error', (error) => errors.push(error));
    elector2.on('stoppedLeading', (_term, reason) => reasons.push(reason));
    void elector2.run();
    const until = performance.now() + 5_000;
    while (restarting.events.filter((e) => e.event === 'restart').length < 2) {
      if (performance.now() > until) throw new Error('no restart');
      await sleep(20);
    }
    await elector2.stop();
    expect(restarting.finished).toEqual([]);
    expect(errors).toEqual([]);
    expect(reasons.slice(0, 2)).toEqual(['resigned', 'resigned']);
    const tokens = restarting.events
      .filter((e) => e.event === 'command-started')
      .map((e) => e.fields.token as bigint);
    expect(tokens.slice(0, 2)).toEqual([0n, 1n]);
    expect(() => supervised('exit 0', { restart: true })).toThrow(/restart needs resign/);
  });

  test('a command that cannot be spawned ends with exit code 4', async () => {
    const { events, reporter } = recorder();
    const finished: number[] = [];
    const supervisor = new CommandSupervisor({
      command: '/no/such/command',
      args: [],
      env: process.env,
      setpriv: null,
      graceMs: 100,
      restart: false,
      reporter,
      onFinished: (code) => finished.push(code),
    });
    const elector = new LeaderElector({
      backend: new MemoryStore().lease('jobs'),
      ...TIMINGS,
      onStartedLeading: (term) => supervisor.lead(term),
    });
    void elector.run();
    await elector.waitForLeadership();
    await waitFor(() => finished.length > 0, 'the spawn failure', 10_000, 10);
    expect(finished).toEqual([4]);
    expect(events[0]).toMatchObject({ event: 'command-failed', fields: { error: 'ENOENT' } });
    await elector.stop();
  });
});
