// transfer() on the real etcd cluster: within etcd's recipe, by moving our candidates queued ahead
// of the successor to the back, never a foreign one.
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, describe, expect, inject, test } from 'vitest';
import { encodeMeta, metaKey } from '../../src/etcd/candidate-meta.js';
import { ErrorCode, hasErrorCode } from '../../src/index.js';
import { waitFor } from '../support/wait.js';
import { Electors, type Recorded } from './support/electors.js';
import { CONFORMANCE_TIMINGS, uniqueElection } from './support/etcd-test-env.js';

const endpoints = inject('etcdEndpoints');
const electors = new Electors();
const admin = new Etcd3({ hosts: endpoints });

afterEach(async () => {
  await electors.stopAll();
});
afterAll(() => admin.close());

async function queue(election: string, identities: readonly string[]): Promise<Recorded[]> {
  const made: Recorded[] = [];
  for (const identity of identities) {
    const candidate = electors.create({ endpoints, election, steering: true }, identity);
    void candidate.elector.run();
    if (made.length === 0) {
      await candidate.elector.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    } else {
      await waitFor(
        () => candidate.elector.leader?.identity === identities[0],
        `${identity} follows`,
        10_000,
      );
    }
    made.push(candidate);
  }
  return made;
}

/** A key of the recipe written by a foreign client (as Go or etcdctl would), on its own lease. */
async function foreignCandidate(election: string, value: string, withSideKey = false) {
  const lease = admin.lease(30, { autoKeepAlive: true });
  const id = BigInt(await lease.grant());
  const key = `${election}/${id.toString(16)}`;
  await admin
    .put(key)
    .value(value)
    .lease(await lease.grant())
    .exec();
  if (withSideKey) {
    await admin
      .put(metaKey(election, id))
      .value(encodeMeta({ identity: value, priority: 0, term: null }))
      .lease(await lease.grant())
      .exec();
  }
  return { key, lease };
}

describe('priority on etcd', () => {
  test('the leader hands over to a live candidate of higher priority after the window, past a lower one', async () => {
    const election = uniqueElection('priority');
    const make = (identity: string, priority: number) => {
      const candidate = electors.create({ endpoints, election, steering: true }, identity, {
        priority,
        priorityWindow: 800,
      });
      void candidate.elector.run();
      return candidate;
    };
    const a = make('a', 1);
    await a.elector.waitForLeadership({ signal: AbortSignal.timeout(10_000) });
    const low = make('low', 0);
    const high = make('high', 5);
    await waitFor(() => high.elector.isLeader(), 'high leads', 15_000);
    expect(a.stops.map((s) => s.reason)).toEqual(['transferred']);
    expect(low.terms).toHaveLength(0);
    // It stays: nobody of higher priority.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(high.elector.isLeader()).toBe(true);
    expect(high.stops).toEqual([]);
  });
});

describe('transfer on etcd', () => {
  test('to a candidate behind others: ours ahead of it go to the back, it leads next with a higher token', async () => {
    const election = uniqueElection('transfer');
    const [a, b, c] = await queue(election, ['a', 'b', 'c']);
    const aToken = a!.terms[0]!.token;
    const result = await a!.elector.transfer('c');
    expect(result.successor).toBe('c');
    await waitFor(() => c!.elector.isLeader(), 'c leads', 10_000);
    expect(result.token).toBe(c!.terms[0]!.token);
    expect(c!.terms[0]!.token > aToken).toBe(true);
    expect(a!.stops.map((s) => s.reason)).toEqual(['transferred']);
    // b went to the back; nobody but c led after a.
    await waitFor(() => b!.elector.leader?.identity === 'c', 'b follows c', 10_000);
    expect(b!.terms).toHaveLength(0);
    // a campaigns again, at the back: three candidate keys again, c's the oldest.
    await waitFor(
      async () => (await admin.getAll().prefix(`${election}/`).keys()).length === 3,
      'a back in line',
      10_000,
    );
    expect(c!.elector.isLeader()).toBe(true);
    expect(a!.terms).toHaveLength(1);
  });

  test('a foreign candidate ahead of the successor: refused, naming it; nothing changes', async () => {
    const election = uniqueElection('transfer-foreign');
    const [a] = await queue(election, ['a']);
    const foreign = await foreignCandidate(election, 'go-peer');
    try {
      const c = electors.create({ endpoints, election, steering: true }, 'c');
      void c.elector.run();
      await waitFor(() => c.elector.leader?.identity === 'a', 'c follows', 10_000);
      const error = await a!.elector.transfer('c').then(
        () => null,
        (e: unknown) => e,
      );
      expect(hasErrorCode(error, ErrorCode.TransferRefused)).toBe(true);
      expect((error as Error).message).toContain('"go-peer"');
      expect(a!.elector.isLeader()).toBe(true);
      expect(a!.stops).toEqual([]);
      expect(await admin.get(foreign.key).string()).toBe('go-peer');
    } finally {
      await foreign.lease.revoke();
    }
  });

  test('an unknown successor: refused before anything changes', async () => {
    const election = uniqueElection('transfer-unknown');
    const [a] = await queue(election, ['a', 'b']);
    const error = await a!.elector.transfer('nobody').then(
      () => null,
      (e: unknown) => e,
    );
    expect(hasErrorCode(error, ErrorCode.TransferRefused)).toBe(true);
    expect(a!.elector.isLeader()).toBe(true);
  });

  test('a successor that never confirms: LE_TRANSFER_FAILED within renewDeadline, its key removed, the next candidate leads', async () => {
    const election = uniqueElection('transfer-ghost');
    const [a] = await queue(election, ['a']);
    const ghost = await foreignCandidate(election, 'ghost', true);
    try {
      const b = electors.create({ endpoints, election, steering: true }, 'b');
      void b.elector.run();
      await waitFor(() => b.elector.leader?.identity === 'a', 'b follows', 10_000);
      const began = performance.now();
      const error = await a!.elector.transfer('ghost').then(
        () => null,
        (e: unknown) => e,
      );
      expect(hasErrorCode(error, ErrorCode.TransferFailed)).toBe(true);
      expect(performance.now() - began).toBeLessThan(CONFORMANCE_TIMINGS.renewDeadline + 3_000);
      expect(await admin.get(ghost.key).string()).toBeNull();
      await waitFor(() => b.elector.isLeader(), 'b leads', 10_000);
    } finally {
      await ghost.lease.revoke();
    }
  });
});
