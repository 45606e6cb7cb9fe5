/**
 * Many elections on one etcd3 client: the parts that make them cheap (batched key checks, watches
 * created at the current revision, admission control) and what they must still guarantee.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, describe, expect, inject, test } from 'vitest';
import { unary } from '../../src/etcd/grpc-call.js';
import { createEtcdClient, type EtcdFence, etcdBackend } from '../../src/etcd/index.js';
import { KeyChecker, MAX_KEYS_PER_TXN } from '../../src/etcd/key-checker.js';
import { WatchHub } from '../../src/etcd/watch-hub.js';
import { LeaderElector, type StopReason } from '../../src/index.js';
import { activeResources, leakedSince, waitFor } from '../support/wait.js';
import { CONFORMANCE_TIMINGS, uniqueElection } from './support/etcd-test-env.js';

const endpoints = inject('etcdEndpoints');
const admin = new Etcd3({ hosts: endpoints });
const closers: (() => unknown)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(() => admin.close());

describe('KeyChecker', () => {
  /** A checker whose transactions are counted; closed after the test. */
  function countingChecker() {
    let transactions = 0;
    const checker = new KeyChecker(
      admin,
      (call, signal, timeoutMs) => {
        transactions++;
        return unary(call, signal, timeoutMs);
      },
      5_000,
    );
    closers.push(() => checker.close());
    return { checker, transactions: () => transactions };
  }

  test('answers many keys in batches of at most MAX_KEYS_PER_TXN: create revisions of existing keys, null for missing ones', async () => {
    const prefix = uniqueElection('checker');
    const count = MAX_KEYS_PER_TXN * 2 + 7;
    const created = new Map<string, bigint>();
    for (let i = 0; i < count; i += 2) {
      const key = `${prefix}/k${i}`;
      const response = await admin.put(key).value('x').exec();
      created.set(key, BigInt(response.header.revision));
    }
    const { checker, transactions } = countingChecker();
    const answers = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        checker.createRevision(Buffer.from(`${prefix}/k${i}`), AbortSignal.timeout(10_000)),
      ),
    );
    expect(transactions()).toBe(Math.ceil(count / MAX_KEYS_PER_TXN));
    answers.forEach((answer, i) => {
      expect(answer).toBe(created.get(`${prefix}/k${i}`) ?? null);
    });
    await admin.delete().prefix(`${prefix}/`).exec();
  });

  test('many batches in flight at once: no MaxListenersExceededWarning from the shared closing signal', async () => {
    const prefix = uniqueElection('checker-many');
    const batches = 12; // Node warns from the 11th listener on one signal
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    closers.push(() => process.off('warning', onWarning));
    const { checker, transactions } = countingChecker();
    const answers = await Promise.all(
      Array.from({ length: MAX_KEYS_PER_TXN * batches }, (_, i) =>
        checker.createRevision(Buffer.from(`${prefix}/k${i}`), AbortSignal.timeout(10_000)),
      ),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(transactions()).toBe(batches);
    expect(answers.every((answer) => answer === null)).toBe(true);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  test("a caller's abort rejects only that caller", async () => {
    const prefix = uniqueElection('checker-abort');
    await admin.put(`${prefix}/a`).value('x').exec();
    const checker = new KeyChecker(admin, unary, 5_000);
    closers.push(() => checker.close());
    const aborted = new AbortController();
    const first = checker.createRevision(Buffer.from(`${prefix}/a`), aborted.signal);
    const second = checker.createRevision(Buffer.from(`${prefix}/a`), AbortSignal.timeout(5_000));
    aborted.abort(new Error('caller gave up'));
    await expect(first).rejects.toThrow('caller gave up');
    await expect(second).resolves.toEqual(expect.any(BigInt));
    await admin.delete().prefix(`${prefix}/`).exec();
  });
});

describe('WatchHub startNow', () => {
  test('a watch that starts now is complete only if the store had not moved past its start revision; the other kind replays, and is synced only if it starts in the future', async () => {
    const prefix = uniqueElection('start-now');
    const first = await admin.put(`${prefix}/a`).value('1').exec();
    const start = BigInt(first.header.revision) + 1n;
    const hub = new WatchHub(admin, endpoints, () => false);
    closers.push(() => hub.close());
    const sink = (events: string[]) => ({
      event: (type: 'put' | 'delete', kv: { value: Buffer }) =>
        events.push(`${type}:${kv.value.toString()}`),
      ready: () => undefined,
      down: () => undefined,
      ended: () => undefined,
    });
    const fresh: string[] = [];
    const current = hub.subscribe(
      { key: Buffer.from(`${prefix}/a`), deletesOnly: false, startRevision: start, startNow: true },
      sink(fresh),
    );
    await waitFor(() => current.active, 'the first watch created', 5_000);
    expect(current.complete).toBe(true);
    expect(current.synced).toBe(true);

    // The store moves past `start`: a startNow watch from `start` may have skipped that write.
    await admin.put(`${prefix}/a`).value('2').exec();
    const late: string[] = [];
    const skipped = hub.subscribe(
      { key: Buffer.from(`${prefix}/a`), deletesOnly: false, startRevision: start, startNow: true },
      sink(late),
    );
    const replayed: string[] = [];
    const replaying = hub.subscribe(
      { key: Buffer.from(`${prefix}/a`), deletesOnly: false, startRevision: start },
      sink(replayed),
    );
    await waitFor(() => skipped.active && replaying.active, 'both watches created', 5_000);
    expect(skipped.complete).toBe(false);
    expect(skipped.synced).toBe(true);
    expect(replaying.complete).toBe(true);
    // Started in the past: etcd's sync loop catches it up, out of step with the others for a while.
    expect(replaying.synced).toBe(false);
    await admin.put(`${prefix}/a`).value('3').exec();
    await waitFor(() => late.length === 1 && replayed.length === 2, 'the events', 5_000);
    expect(fresh).toEqual(['put:2', 'put:3']);
    expect(late).toEqual(['put:3']);
    expect(replayed).toEqual(['put:2', 'put:3']);
    await admin.delete().prefix(`${prefix}/`).exec();
  });
});

describe('many elections on one client', () => {
  test('a campaign that waited seconds for its transaction still starts its term with a fresh lease proof', async () => {
    const client = createEtcdClient({ endpoints });
    // The campaign picks its keepalive when it begins; its transaction then takes 2 s (as when
    // thousands of campaigns queue on one client).
    const txn = client.kv.txn.bind(client.kv);
    client.kv.txn = async (...args: Parameters<typeof txn>) => {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      return txn(...args);
    };
    const timings = { leaseDuration: 4000, renewDeadline: 3000, retryPeriod: 500 };
    let validity = Number.NaN;
    const elector = new LeaderElector<EtcdFence>({
      backend: etcdBackend({ client, election: uniqueElection('slow-campaign') }),
      identity: 'slow',
      ...timings,
      onStartedLeading: (term) => {
        validity = term.validUntil - performance.now();
      },
    });
    closers.push(async () => {
      await elector.stop();
      client.close();
    });
    void elector.run();
    await waitFor(() => elector.isLeader(), 'the slow campaign led', 10_000, 20);
    // A reused keepalive is at most min(1.2 × retryPeriod, (renewDeadline − retryPeriod) / 2) =
    // 600 ms old; the one chosen before the 2 s transaction would leave under 1 s.
    expect(validity).toBeGreaterThan(timings.renewDeadline - 600 - 200);
  });

  test('300 elections campaign at once: all lead on one lease, a deleted key ends exactly its term, stopping leaves nothing behind', async () => {
    const baseline = activeResources();
    const client = createEtcdClient({ endpoints });
    const prefix = uniqueElection('many');
    const count = 300;
    const started: bigint[] = [];
    const stopped = new Map<number, StopReason>();
    const electors = Array.from({ length: count }, (_, i) => {
      const elector = new LeaderElector<EtcdFence>({
        backend: etcdBackend({ client, election: `${prefix}-${i}` }),
        identity: `many-${i}`,
        ...CONFORMANCE_TIMINGS,
        onStartedLeading: (term) => {
          started.push(term.token);
        },
        onStoppedLeading: (_term, reason) => {
          stopped.set(i, reason);
        },
      });
      void elector.run();
      return elector;
    });
    closers.push(async () => {
      await Promise.all(electors.map((e) => e.stop()));
      client.close();
    });
    await waitFor(() => started.length === count, `${count} elections led`, 20_000, 20);

    const keys = await admin.getAll().prefix(prefix).keys();
    expect(keys).toHaveLength(count);
    const leases = new Set(keys.map((key) => key.slice(key.lastIndexOf('/') + 1)));
    expect(leases.size).toBe(1);

    // Someone deletes the candidate keys of three elections: exactly those terms end.
    const victims = [0, 150, 299];
    for (const i of victims) {
      await admin
        .delete()
        .key(keys.find((k) => k.startsWith(`${prefix}-${i}/`)) as string)
        .exec();
    }
    await waitFor(() => stopped.size >= victims.length, 'the three terms ended', 5_000, 20);
    // They campaign again (new keys, higher tokens); nobody else was disturbed.
    await waitFor(
      () => started.length === count + victims.length,
      'the three elections led again',
      5_000,
      20,
    );
    await new Promise((resolve) => setTimeout(resolve, CONFORMANCE_TIMINGS.retryPeriod * 2));
    expect([...stopped.keys()].sort((a, b) => a - b)).toEqual(victims);
    for (const i of victims) expect(stopped.get(i)).toBe('lost');
    expect(electors.filter((e) => e.isLeader())).toHaveLength(count);
    expect(started.length).toBe(count + victims.length);

    await Promise.all(electors.map((e) => e.stop()));
    client.close();
    closers.length = 0;
    expect(await admin.getAll().prefix(prefix).keys()).toEqual([]);
    const leaked = await waitFor(
      () => (Object.keys(leakedSince(baseline)).length === 0 ? {} : undefined),
      'no leftover handles',
      3_000,
      20,
    ).catch(() => leakedSince(baseline));
    expect(leaked).toEqual({});
  });
});
