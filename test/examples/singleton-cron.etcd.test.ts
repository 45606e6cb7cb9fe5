// examples/singleton-cron.mjs: three replicas on the shared etcd cluster; the job runs on the
// leader only, and no slot runs twice across a crash (SIGKILL) and a graceful handover (SIGTERM).
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, expect, inject, test } from 'vitest';
import { ExampleGroup, type ExampleProcess } from './support.js';

const endpoints = inject('etcdEndpoints');
const admin = new Etcd3({ hosts: endpoints });
afterAll(() => admin.close());

const group = new ExampleGroup();
afterEach(() => group.killAll());

const RUN = /^\[(\S+)\] run slot (\d+) \(token (\d+)\)$/;
const LEADING = /^\[(\S+)\] leading \(token (\d+)\)$/;

test('the job runs on one replica, once per slot, across a crash and a handover', async () => {
  const jobName = `le-examples/cron-${process.pid}-${Date.now().toString(36)}`;
  const env = (identity: string) => ({
    ETCD_ENDPOINTS: endpoints.join(','),
    JOB_NAME: jobName,
    IDENTITY: identity,
    INTERVAL_MS: '250',
    LEASE_DURATION_MS: '2000', // etcd TTLs are whole seconds
    RENEW_DEADLINE_MS: '1500',
    RETRY_PERIOD_MS: '400',
  });
  const replicas = ['a', 'b', 'c'].map((id) => group.start(id, 'singleton-cron.mjs', env(id)));

  const firstLeader = await leaderAmong(replicas);
  await firstLeader.waitForLine(RUN, 10_000, firstLeader.lines.length);
  for (let runs = 0; runs < 3; runs++) await nextRun(firstLeader);
  for (const other of replicas.filter((r) => r !== firstLeader)) {
    expect(other.matching(RUN), other.transcript()).toEqual([]);
    await other.waitForLine(new RegExp(`^\\[${other.name}\\] leader is ${firstLeader.name}$`));
  }

  // A crash: the lease runs out its TTL, then another replica resumes the schedule.
  firstLeader.kill('SIGKILL');
  const survivors = replicas.filter((r) => r !== firstLeader);
  const second = await leaderAmong(survivors, 15_000);
  for (let runs = 0; runs < 2; runs++) await nextRun(second);

  // A graceful handover: SIGTERM releases the lease, the last replica takes over at once.
  second.kill('SIGTERM');
  expect((await second.exit()).code, second.transcript()).toBe(0);
  expect(second.lines).toContain(
    `[${second.name}] stopped leading (token ${tokenOf(second)}): stopped`,
  );
  const third = survivors.find((r) => r !== second)!;
  await third.waitForLine(LEADING, 10_000);
  for (let runs = 0; runs < 2; runs++) await nextRun(third);
  third.kill('SIGTERM');
  expect((await third.exit()).code, third.transcript()).toBe(0);

  // Every slot ran at most once, in order, each under a higher token than the previous leader's.
  const runs = [firstLeader, second, third].flatMap((r) =>
    r.matching(RUN).map((m) => ({ slot: Number(m[2]), token: BigInt(m[3]!) })),
  );
  const slots = runs.map((r) => r.slot);
  expect(new Set(slots).size).toBe(slots.length);
  expect(slots).toEqual([...slots].sort((x, y) => x - y));
  const tokens = [firstLeader, second, third].map(tokenOf);
  expect(tokens[1]).toBeGreaterThan(tokens[0]!);
  expect(tokens[2]).toBeGreaterThan(tokens[1]!);
  // The claim of the last slot is what etcd holds.
  expect(await admin.get(`${jobName}/last-slot`).number()).toBe(slots.at(-1));
});

/** The replica that prints `leading` first; fails if a second one leads meanwhile. */
async function leaderAmong(
  replicas: ExampleProcess[],
  timeoutMs = 10_000,
): Promise<ExampleProcess> {
  const from = replicas.map((r) => r.lines.length);
  const leader = await Promise.any(
    replicas.map((r, i) => r.waitForLine(LEADING, timeoutMs, from[i]).then(() => r)),
  );
  const others = replicas.filter(
    (r, i) => r !== leader && r.lines.slice(from[i]).some((line) => LEADING.test(line)),
  );
  expect(others.map((r) => r.name)).toEqual([]);
  return leader;
}

/** Waits for the leader's next run. */
async function nextRun(leader: ExampleProcess): Promise<void> {
  await leader.waitForLine(RUN, 5_000, leader.lines.length);
}

function tokenOf(replica: ExampleProcess): bigint {
  const match = replica.matching(LEADING).at(-1);
  if (match === undefined) throw new Error(`${replica.name} never led\n${replica.transcript()}`);
  return BigInt(match[2]!);
}
