// What the outside sees of `leader-elect run` on etcd: /healthz and /metrics, `status`, `watch`.
import { afterEach, describe, expect, inject, test } from 'vitest';
import { jobStarted, runArgs, tempLog, uniq } from './etcd-support.js';
import { CliProcess, etcdCanInspect, lines, runCli, sleep } from './support.js';

const endpoints = inject('etcdEndpoints');

const canInspect = endpoints !== undefined && (await etcdCanInspect());

const processes: CliProcess[] = [];
function start(args: readonly string[]): CliProcess {
  const proc = new CliProcess(args);
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

async function metric(url: string, line: string): Promise<string | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').find((l) => l.startsWith(line));
}

/**
 * The metric line once it exists: for what happens after the events a test can wait on (the
 * first renewal comes a retry period after `command-started`). Polls /metrics, bounded.
 */
async function metricOnce(url: string, line: string, timeoutMs = 10_000): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = await metric(url, line);
    if (found !== undefined) return found;
    if (performance.now() > deadline) throw new Error(`no ${line} at ${url}/metrics`);
    await sleep(50);
  }
}

describe.skipIf(endpoints === undefined)('observing leader-elect run on etcd', () => {
  test('/healthz and /metrics of a leader and a follower', async () => {
    const election = uniq('health');
    const log = tempLog();
    const health = ['--health-port', '0'];
    const a = start(runArgs(endpoints, election, 'a', log, health));
    const aUrl = String((await a.waitForEvent((e) => e.event === 'health-listening')).url);
    expect(aUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await jobStarted(log, (await a.waitForEvent(isStarted)).token);
    const b = start(runArgs(endpoints, election, 'b', log, health));
    const bUrl = String((await b.waitForEvent((e) => e.event === 'health-listening')).url);
    await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');

    for (const url of [aUrl, bUrl]) {
      const response = await fetch(`${url}/healthz`);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('ok\n');
    }
    const name = `name="${election}"`;
    expect(await metric(aUrl, `leader_election_master_status{${name}}`)).toMatch(/ 1$/);
    expect(await metric(aUrl, `leader_elect_child_running{${name}}`)).toMatch(/ 1$/);
    expect(await metric(aUrl, `leader_election_transitions_total{${name}}`)).toMatch(/ 1$/);
    expect(await metric(bUrl, `leader_election_master_status{${name}}`)).toMatch(/ 0$/);
    expect(await metric(bUrl, `leader_elect_child_running{${name}}`)).toMatch(/ 0$/);
    // The leader's first renewal comes a retry period after its term began: wait for it.
    expect(await metricOnce(aUrl, 'leader_election_renew_duration_seconds_count')).toMatch(
      / [1-9]\d*$/,
    );

    a.kill('SIGTERM');
    await jobStarted(log, (await b.waitForEvent(isStarted, { timeoutMs: 10_000 })).token);
    expect(await metric(bUrl, `leader_election_master_status{${name}}`)).toMatch(/ 1$/);
    expect(await metric(bUrl, `leader_elect_child_running{${name}}`)).toMatch(/ 1$/);
    b.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
  });

  test.skipIf(!canInspect)('status and watch agree with what happened', async () => {
    const election = uniq('observe');
    const log = tempLog();
    const backend = [
      '--backend',
      'etcd',
      '--endpoints',
      endpoints.join(','),
      '--election',
      election,
    ];
    const empty = runCli(['status', ...backend, '--json']);
    expect(empty.status, empty.stderr).toBe(0);
    expect(JSON.parse(empty.stdout)).toMatchObject({ event: 'status', leader: null, token: null });

    // A poll interval far longer than the test: every change below must be pushed by the watch.
    const watch = start(['watch', ...backend, '--json', '--poll-interval', '10m']);
    await watch.waitForEvent((e) => e.event === 'leader' && e.leader === null, {
      stream: 'stdout',
    });

    const a = start(runArgs(endpoints, election, 'a', log));
    const aStarted = await a.waitForEvent(isStarted);
    const b = start(runArgs(endpoints, election, 'b', log));
    await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');

    const status = runCli(['status', ...backend, '--json']);
    expect(status.status, status.stderr).toBe(0);
    const parsed = JSON.parse(status.stdout) as Record<string, unknown>;
    expect(parsed).toMatchObject({ leader: 'a', token: aStarted.token, election });
    expect(Number(parsed.remainingMs)).toBeGreaterThan(0);
    expect(Number(parsed.remainingMs)).toBeLessThanOrEqual(Number(parsed.leaseDurationMs ?? 3_000));
    const human = runCli(['status', ...backend]);
    expect(lines(human.stdout)).toHaveLength(1);
    expect(human.stdout).toMatch(
      new RegExp(
        `leader is a \\(token ${aStarted.token}\\), lease [\\d.]+m?s left \\(server TTL\\)`,
      ),
    );

    a.kill('SIGTERM');
    const bStarted = await b.waitForEvent(isStarted, { timeoutMs: 10_000 });
    await jobStarted(log, bStarted.token);
    // The watch follows etcd's watch on the election: it sees b before b goes away.
    await watch.waitForEvent((e) => e.event === 'leader' && e.leader === 'b', { stream: 'stdout' });
    b.kill('SIGTERM');
    await b.exited;
    await watch.waitForEvent((e) => e.event === 'leader' && e.leader === null, {
      stream: 'stdout',
      after: watch.events('stdout').findIndex((e) => e.leader === 'b'),
    });
    await sleep(200);
    watch.kill('SIGINT');
    expect((await watch.exited).code).toBe(0);
    // Every leader the runs reported, in order, and nothing else (the release between them may
    // be too quick to see: a watch reports changes, not every intermediate state).
    const seen = watch
      .events('stdout')
      .filter((e) => e.leader !== null)
      .map((e) => `${String(e.leader)}:${String(e.token)}`);
    expect(seen).toEqual([`a:${String(aStarted.token)}`, `b:${String(bStarted.token)}`]);
  });
});

describe.skipIf(endpoints === undefined)('a scheme that does not match the server', () => {
  test('https:// to a plain etcd: one line saying the server does not speak TLS (no deprecation noise)', () => {
    const url = endpoints[0]!.replace('http://', 'https://');
    const result = runCli(['status', '--backend', 'etcd', '--endpoints', url, '--election', 'tls']);
    expect(result.status, result.stderr).toBe(3);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain('the server does not speak TLS on that port: use http://');
    expect(result.stderr).toContain('check the scheme in --endpoints');
  });
});
