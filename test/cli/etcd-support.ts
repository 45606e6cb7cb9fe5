import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { sleep } from './support.js';

export const JOB = fileURLToPath(new URL('./fixtures/job.mjs', import.meta.url));

/** Short timings keep the suite quick: grace cap 300 ms, etcd TTL 2 s. */
export const FAST = [
  '--lease-duration',
  '2s',
  '--renew-deadline',
  '1500ms',
  '--retry-period',
  '400ms',
];

export function uniq(prefix: string): string {
  return `cli-${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

export function tempLog(): string {
  return join(mkdtempSync(join(tmpdir(), 'leader-elect-cli-')), 'jobs.log');
}

export function runArgs(
  endpoints: readonly string[],
  election: string,
  identity: string,
  log: string,
  extra: readonly string[] = [],
): string[] {
  return [
    'run',
    '--backend',
    'etcd',
    '--endpoints',
    endpoints.join(','),
    '--election',
    election,
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

export interface JobInterval {
  readonly token: bigint;
  readonly identity: string;
  readonly start: number;
  /** The `end` line, or the last heartbeat of a job that was SIGKILLed. */
  readonly end: number;
  readonly ended: boolean;
}

/** The jobs' lifetimes, from the lines they appended, in order of start. */
export function jobIntervals(log: string): JobInterval[] {
  const byToken = new Map<
    string,
    { identity: string; start: number; last: number; ended: boolean }
  >();
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const [token, what, time, identity] = line.split(' ');
    if (token === undefined || what === undefined || time === undefined) continue;
    const at = Number(time);
    const entry = byToken.get(token);
    if (what === 'start') {
      expect(entry, `token ${token} started twice`).toBeUndefined();
      byToken.set(token, { identity: identity ?? '', start: at, last: at, ended: false });
    } else if (entry !== undefined) {
      entry.last = Math.max(entry.last, at);
      if (what === 'end') entry.ended = true;
    }
  }
  return [...byToken]
    .map(([token, e]) => ({
      token: BigInt(token),
      identity: e.identity,
      start: e.start,
      end: e.last,
      ended: e.ended,
    }))
    .sort((a, b) => a.start - b.start);
}

/** Never two jobs at once, and every term's token above the previous one. */
export function expectExclusive(intervals: readonly JobInterval[]): void {
  for (let i = 1; i < intervals.length; i++) {
    const previous = intervals[i - 1] as JobInterval;
    const next = intervals[i] as JobInterval;
    expect(next.token, `tokens increase: ${previous.token} then ${next.token}`).toBeGreaterThan(
      previous.token,
    );
    expect(
      next.start,
      `job ${next.token} started ${(previous.end - next.start).toFixed(1)} ms before job ${previous.token} ended`,
    ).toBeGreaterThan(previous.end);
  }
}

/** True while the process runs (zombies and dead processes are not running). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (check()) return true;
    await sleep(20);
  }
  return check();
}

/** Waits until the job of `token` has written its start line (it needs a moment to boot). */
export async function jobStarted(log: string, token: unknown, timeoutMs = 5_000): Promise<void> {
  const ok = await until(() => {
    try {
      return jobIntervals(log).some((i) => i.token === BigInt(String(token)));
    } catch {
      return false;
    }
  }, timeoutMs);
  expect(ok, `job ${String(token)} wrote its start line`).toBe(true);
}
