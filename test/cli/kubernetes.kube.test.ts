// `leader-elect run`, `status` and `watch` on a real kube-apiserver (test/env, admin kubeconfig).
import { afterEach, describe, expect, inject, test } from 'vitest';
import { ensureNamespace } from '../kubernetes/support.js';
import {
  expectExclusive,
  JOB,
  jobIntervals,
  jobStarted,
  running,
  tempLog,
  until,
} from './etcd-support.js';
import { CliProcess, lines, runCli, sleep } from './support.js';

const kubeconfig = inject('kubeAdminKubeconfig');
const namespace = 'le-cli';
const FAST = ['--lease-duration', '2s', '--renew-deadline', '1500ms', '--retry-period', '400ms'];

let counter = 0;
const leaseName = (prefix: string) => `${prefix}-${process.pid}-${counter++}`;

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

function backend(lease: string): string[] {
  return [
    '--backend',
    'kubernetes',
    '--kubeconfig',
    kubeconfig,
    '--namespace',
    namespace,
    '--lease-name',
    lease,
  ];
}

function runArgs(lease: string, identity: string, log: string, extra: readonly string[] = []) {
  return [
    'run',
    ...backend(lease),
    '--identity',
    identity,
    '--json',
    ...FAST,
    ...extra,
    '--',
    process.execPath,
    JOB,
    log,
  ];
}

const isStarted = (event: Record<string, unknown>) => event.event === 'command-started';

describe.skipIf(kubeconfig === undefined)('leader-elect on a Kubernetes Lease', () => {
  test('run: failover after SIGKILL, handover on SIGTERM; status and watch agree', async () => {
    await ensureNamespace(namespace);
    const lease = leaseName('cli');
    const log = tempLog();

    const none = runCli(['status', ...backend(lease), '--json']);
    expect(none.status, none.stderr).toBe(0);
    expect(JSON.parse(none.stdout)).toMatchObject({ event: 'status', leader: null, token: null });

    const watch = start(['watch', ...backend(lease), '--json']);
    await watch.waitForEvent((e) => e.event === 'leader' && e.leader === null, {
      stream: 'stdout',
    });

    const a = start(runArgs(lease, 'a', log));
    const aStarted = await a.waitForEvent(isStarted);
    await jobStarted(log, aStarted.token);
    const b = start(runArgs(lease, 'b', log));
    const c = start(runArgs(lease, 'c', log));
    await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');
    await c.waitForEvent((e) => e.event === 'leader' && e.identity === 'a');

    const status = runCli(['status', ...backend(lease), '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({
      leader: 'a',
      token: aStarted.token,
      leaseDurationMs: 2_000,
      remainingMs: null,
    });
    const human = runCli(['status', ...backend(lease)]);
    expect(lines(human.stdout)).toHaveLength(1);
    expect(human.stdout).toContain(
      `leader is a (token ${String(aStarted.token)}), lease at most 2s left (expiry judged by observers; renewTime `,
    );
    expect(human.stdout).toContain(`in Kubernetes Lease ${namespace}/${lease}`);

    // SIGKILL: the job dies with its supervisor; another candidate takes over after expiry.
    const killedAt = Date.now();
    a.kill('SIGKILL');
    expect(await until(() => !running(aStarted.pid as number), 2_000)).toBe(true);
    const next = await Promise.race(
      [b, c].map((p) => p.waitForEvent(isStarted, { timeoutMs: 10_000 }).then((e) => ({ p, e }))),
    );
    expect(Date.parse(String(next.e.time)) - killedAt).toBeGreaterThan(1_500);
    await jobStarted(log, next.e.token);

    // SIGTERM: released, the last candidate takes over at once.
    const last = next.p === b ? c : b;
    const stopAt = Date.now();
    next.p.kill('SIGTERM');
    const lastStarted = await last.waitForEvent(isStarted, { timeoutMs: 10_000 });
    expect(Date.parse(String(lastStarted.time)) - stopAt).toBeLessThan(1_200);
    expect((await next.p.exited).code).toBe(0);
    await jobStarted(log, lastStarted.token);
    last.kill('SIGTERM');
    expect((await last.exited).code).toBe(0);

    const intervals = jobIntervals(log);
    expect(intervals).toHaveLength(3);
    expectExclusive(intervals);

    await watch.waitForEvent((e) => e.leader === null, {
      stream: 'stdout',
      after: watch.events('stdout').findIndex((e) => e.token === lastStarted.token),
    });
    await sleep(200);
    watch.kill('SIGINT');
    expect((await watch.exited).code).toBe(0);
    const leaders = watch
      .events('stdout')
      .filter((e) => e.leader !== null)
      .map((e) => `${String(e.leader)}:${String(e.token)}`);
    expect(leaders).toEqual(intervals.map((i) => `${i.identity}:${i.token}`));
  });

  test('a lease duration Kubernetes cannot store is a usage error; a bad name too', () => {
    const bad = runCli([
      'run',
      ...backend(leaseName('x')),
      '--lease-duration',
      '2500ms',
      '--renew-deadline',
      '1500ms',
      '--retry-period',
      '400ms',
      '--',
      'true',
    ]);
    expect(bad.status, bad.stderr).toBe(2);
    expect(lines(bad.stderr)).toHaveLength(1);
    expect(bad.stderr).toMatch(
      /^leader-elect run: invalid timings for Kubernetes Lease .*; change --lease-duration, --renew-deadline or --retry-period\n$/,
    );

    const name = runCli([
      'status',
      '--backend',
      'kubernetes',
      '--kubeconfig',
      kubeconfig,
      '--lease-name',
      'Not_A_Name',
    ]);
    expect(name.status).toBe(2);
    expect(lines(name.stderr)).toHaveLength(1);
    expect(name.stderr).toMatch(/invalid Lease name "Not_A_Name"/);
  });

  test('a user without RBAC on leases: exit 3, one line naming the verb to grant', () => {
    const result = runCli([
      'run',
      '--backend',
      'kubernetes',
      '--kubeconfig',
      inject('kubeRestrictedKubeconfig'),
      '--namespace',
      namespace,
      '--lease-name',
      leaseName('rbac'),
      ...FAST,
      '--',
      'true',
    ]);
    expect(result.status, result.stderr).toBe(3);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(
      /^leader-elect run: cannot use Kubernetes Lease le-cli\/rbac-.*\(grant the "(get|list)" verb on "leases" in API group "coordination\.k8s\.io"\).*\n$/,
    );
  });
});
