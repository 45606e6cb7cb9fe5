// `leader-elect run --backend etcd --election NAME` and `etcdctl elect NAME` take part in one
// election (etcd's recipe): whoever holds it excludes the other, both ways.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, inject, test } from 'vitest';
import { debianEtcdctl } from '../env/debian-etcd.mjs';
import {
  expectExclusive,
  jobIntervals,
  jobStarted,
  runArgs,
  tempLog,
  uniq,
} from './etcd-support.js';
import { CliProcess, sleep } from './support.js';

const endpoints = inject('etcdEndpoints');
const etcdctls: Array<[string, string | null]> = [
  ['etcdctl 3.6 (built from source)', endpoints === undefined ? null : inject('etcdctlBinary')],
  ["Debian's etcdctl 3.4", debianEtcdctl()],
];

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0)) await step();
});

function startCli(args: readonly string[]): CliProcess {
  const proc = new CliProcess(args);
  cleanup.push(async () => {
    proc.kill('SIGKILL');
    await proc.exited;
  });
  return proc;
}

/** `etcdctl elect NAME PROPOSAL`: campaigns, prints the key and value once elected, holds. */
function elect(binary: string, election: string, proposal: string) {
  const child: ChildProcess = spawn(
    binary,
    ['--endpoints', (endpoints as string[]).join(','), 'elect', election, proposal],
    { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  cleanup.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  return {
    child,
    exited,
    get elected() {
      return stdout.includes(`\n${proposal}\n`);
    },
    get output() {
      return `stdout: ${stdout}\nstderr: ${stderr}`;
    },
    async waitElected(timeoutMs = 10_000) {
      const deadline = performance.now() + timeoutMs;
      while (!stdout.includes(`\n${proposal}\n`)) {
        if (performance.now() > deadline) throw new Error(`etcdctl not elected; ${this.output}`);
        await sleep(20);
      }
      return performance.now();
    },
  };
}

const isStarted = (event: Record<string, unknown>) => event.event === 'command-started';

describe.skipIf(endpoints === undefined)('interop with etcdctl elect', () => {
  for (const [label, binary] of etcdctls) {
    test.skipIf(binary === null)(`${label}: each excludes the other on one election`, async () => {
      const election = uniq('etcdctl');
      const log = tempLog();

      // 1. We lead; etcdctl campaigns and waits.
      const a = startCli(runArgs(endpoints, election, 'ours-a', log));
      const aStarted = await a.waitForEvent(isStarted);
      await jobStarted(log, aStarted.token);
      const ctl = elect(binary as string, election, 'etcdctl-proposal');
      await sleep(1_500);
      expect(ctl.elected, `etcdctl must not be elected while we lead; ${ctl.output}`).toBe(false);

      // 2. We stop (and resign): etcdctl is elected at once.
      const stopAt = performance.now();
      a.kill('SIGTERM');
      const electedAt = await ctl.waitElected();
      expect(electedAt - stopAt).toBeLessThan(2_000);
      expect(await a.exited).toEqual({ code: 0, signal: null });

      // 3. etcdctl leads; our new candidate sees it as the leader and does not run its command.
      const b = startCli(runArgs(endpoints, election, 'ours-b', log));
      await b.waitForEvent((e) => e.event === 'leader' && e.identity === 'etcdctl-proposal');
      await sleep(1_500);
      expect(b.events().some(isStarted), 'our command must not run while etcdctl leads').toBe(
        false,
      );

      // 4. etcdctl resigns (SIGINT): we take over, with a higher token.
      const resignAt = Date.now();
      ctl.child.kill('SIGINT');
      const bStarted = await b.waitForEvent(isStarted, { timeoutMs: 10_000 });
      expect(Date.parse(String(bStarted.time)) - resignAt).toBeLessThan(2_000);
      expect(BigInt(String(bStarted.token))).toBeGreaterThan(BigInt(String(aStarted.token)));
      await jobStarted(log, bStarted.token);
      b.kill('SIGTERM');
      expect((await b.exited).code).toBe(0);
      expectExclusive(jobIntervals(log));
    });
  }
});
