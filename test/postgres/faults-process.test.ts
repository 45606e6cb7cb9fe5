/**
 * Faults of candidate processes on the shared PostgreSQL server: kill -9 of the leader, and
 * SIGSTOP of the leader past its lease — its fenced transactions are rejected with
 * LE_NOT_LEADER after a successor took over, and the successor's commit.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { type CandidateConfig, CandidateProcess } from './candidate-process.js';
import { adminQuery, dropLeaseTable, uniqueTable } from './support.js';

const url = inject('postgresUrl');
const table = uniqueTable('faults');
const writesTable = `${table}_w`;
const timings = { leaseDuration: 1500, renewDeadline: 1000, retryPeriod: 300 };
const children: CandidateProcess[] = [];
let counter = 0;

beforeAll(async () => {
  await adminQuery(
    `CREATE TABLE ${writesTable} (id serial PRIMARY KEY, election text, identity text, token bigint, reason text)`,
  );
});
afterAll(async () => {
  await adminQuery(`DROP TABLE IF EXISTS ${writesTable}`);
  await dropLeaseTable(table);
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
});

function candidate(election: string, identity: string, extra: Partial<CandidateConfig> = {}) {
  const c = new CandidateProcess({
    url,
    table,
    election,
    identity,
    writesTable,
    ...timings,
    ...extra,
  });
  children.push(c);
  return c;
}

const startedLeading = (e: { event: string }) => e.event === 'started-leading';
const election = (label: string) => `${label}-${process.pid}-${counter++}`;

async function writes(name: string) {
  const result = await adminQuery(
    `SELECT identity, token::text AS token, reason FROM ${writesTable} WHERE election = $1 ORDER BY id`,
    [name],
  );
  return result.rows as { identity: string; token: string; reason: string }[];
}

describe('postgres: candidate processes', () => {
  test('kill -9 of the leader: the follower takes over with a higher token', async () => {
    const name = election('kill');
    const a = candidate(name, 'a');
    const aTerm = await a.waitFor(startedLeading, 'a to lead');
    const b = candidate(name, 'b');
    await b.waitFor((e) => e.event === 'new-leader' && e.identity === 'a', 'b to see a');
    a.signal('SIGKILL');
    await a.exited;
    const bTerm = await b.waitFor(startedLeading, 'b to lead after the kill');
    expect(BigInt(bTerm.token as string)).toBeGreaterThan(BigInt(aTerm.token as string));
    b.send('write');
    const write = await b.waitFor((e) => e.event === 'fenced-write', 'b to write');
    expect(write.ok).toBe(true);
  });

  test('SIGSTOP of the leader past its lease: after SIGCONT its fenced transaction is rejected, the successor’s committed', async () => {
    const name = election('pause');
    const a = candidate(name, 'a');
    const aTerm = await a.waitFor(startedLeading, 'a to lead');
    a.send('write');
    expect((await a.waitFor((e) => e.event === 'fenced-write', 'a to write')).ok).toBe(true);
    const b = candidate(name, 'b');
    await b.waitFor((e) => e.event === 'new-leader' && e.identity === 'a', 'b to see a');
    const resumeMark = a.mark;
    a.signal('SIGSTOP');
    const bTerm = await b.waitFor(startedLeading, 'b to lead while a is paused');
    expect(BigInt(bTerm.token as string)).toBeGreaterThan(BigInt(aTerm.token as string));
    b.send('write');
    expect((await b.waitFor((e) => e.event === 'fenced-write', 'b to write')).ok).toBe(true);

    a.signal('SIGCONT');
    const resumed = await a.waitFor(
      (e) => e.event === 'resumed',
      'a to resume',
      20_000,
      resumeMark,
    );
    // Its own clock already says the term is over before any of its timers ran.
    expect(resumed.is_leader).toBe(false);
    const stale = await a.waitFor(
      (e) => e.event === 'fenced-write' && e.reason === 'after-resume',
      'a’s fenced write after SIGCONT',
      20_000,
      resumeMark,
    );
    expect(stale.ok).toBe(false);
    expect(stale.code).toBe('LE_NOT_LEADER');
    const rows = await writes(name);
    expect(rows.map((r) => `${r.identity}@${r.token}:${r.reason}`)).toEqual([
      `a@${aTerm.token}:command`,
      `b@${bTerm.token}:command`,
    ]);
  });

  test('SIGSTOP inside a fenced transaction: the takeover waits for the server to end it, the paused transaction never commits', async () => {
    const name = election('pause-tx');
    const a = candidate(name, 'a');
    const aTerm = await a.waitFor(startedLeading, 'a to lead');
    const b = candidate(name, 'b');
    await b.waitFor((e) => e.event === 'new-leader' && e.identity === 'a', 'b to see a');
    const mark = a.mark;
    // Inserts, then stays idle in the transaction (holding the lease row's share lock).
    a.send('slow-write 3000');
    await a.waitFor(
      (e) => e.event === 'fenced-write-idle',
      'a inside its transaction',
      20_000,
      mark,
    );
    a.signal('SIGSTOP');
    // The server ends a's idle transaction at its term's remaining validity; then b's takeover
    // (which had to wait for the share lock) goes through.
    const bTerm = await b.waitFor(startedLeading, 'b to lead while a is paused');
    expect(BigInt(bTerm.token as string)).toBeGreaterThan(BigInt(aTerm.token as string));
    b.send('write');
    expect((await b.waitFor((e) => e.event === 'fenced-write', 'b to write')).ok).toBe(true);
    a.signal('SIGCONT');
    const slow = await a.waitFor(
      (e) => e.event === 'fenced-write' && e.reason === 'slow',
      'a’s paused transaction to finish',
      20_000,
      mark,
    );
    expect(slow.ok).toBe(false);
    expect(slow.code).toBe('LE_NOT_LEADER');
    const rows = await writes(name);
    expect(rows.map((r) => `${r.identity}:${r.reason}`)).toEqual(['b:command']);
  });
});
