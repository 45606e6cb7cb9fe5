/**
 * The backend's own contract on the shared cluster (and a private one for the server's minimum
 * TTL): validation, TTL rounding and granting, unreachable servers, foreign keys, abort signals,
 * lease sharing, keepalive coalescing, close semantics and fencing.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, describe, expect, inject, test } from 'vitest';
import { type EtcdBackend, type EtcdFence, etcdBackend } from '../../src/etcd/index.js';
import {
  type AttemptRequest,
  ErrorCode,
  hasErrorCode,
  LeaderElectError,
  type Observation,
  systemClock,
} from '../../src/index.js';
import { startEtcdCluster } from '../env/etcd-cluster.mjs';
import { activeResources, leakedSince, sleep, waitFor } from '../support/wait.js';
import { Electors } from './support/electors.js';
import { CONFORMANCE_TIMINGS, uniqueElection } from './support/etcd-test-env.js';

const endpoints = inject('etcdEndpoints');
const admin = new Etcd3({ hosts: endpoints });
const electors = new Electors();
const backends: EtcdBackend[] = [];
const clients: Etcd3[] = [];

afterEach(async () => {
  await electors.stopAll();
  await Promise.all(backends.splice(0).map((b) => b.close()));
  for (const client of clients.splice(0)) client.close();
});
afterAll(() => admin.close());

function backend(options: Parameters<typeof etcdBackend>[0]): EtcdBackend {
  const created = etcdBackend(options);
  backends.push(created);
  return created;
}

function request(mode: 'acquire' | 'renew', extra: Partial<AttemptRequest> = {}): AttemptRequest {
  return {
    mode,
    identity: 'api',
    leaseDurationMs: CONFORMANCE_TIMINGS.leaseDuration,
    clock: systemClock,
    signal: AbortSignal.timeout(5000),
    ...extra,
  };
}

async function held(observation: Promise<Observation<EtcdFence>>) {
  const result = await observation;
  if (result.kind !== 'held')
    throw new Error(
      `expected held, got ${JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))}`,
    );
  return result;
}

async function keysOf(election: string): Promise<Record<string, string>> {
  return admin.getAll().prefix(`${election}/`).strings();
}

describe('construction', () => {
  test('an empty, blank, non-string or slash-terminated election name is LE_INVALID_NAME', () => {
    for (const election of ['', '   ', 'svc/', undefined, 42]) {
      expect(() => etcdBackend({ endpoints, election: election as string })).toThrowError(
        expect.objectContaining({ code: ErrorCode.InvalidName }),
      );
    }
  });

  test('client and endpoints are exclusive, and one of them is required', () => {
    const client = new Etcd3({ hosts: endpoints });
    clients.push(client);
    const cases: unknown[] = [
      { election: 'x' },
      { election: 'x', client, endpoints },
      { election: 'x', endpoints: [] },
      { election: 'x', endpoints, tls: { cert: 'only a cert' } },
      { election: 'x', endpoints, auth: { username: '', password: 'p' } },
      { election: 'x', endpoints, requestTimeout: 0 },
      { election: 'x', client: {} },
    ];
    for (const options of cases) {
      expect(() => etcdBackend(options as Parameters<typeof etcdBackend>[0])).toThrowError(
        expect.objectContaining({ code: ErrorCode.InvalidOption }),
      );
    }
  });
});

describe('lease TTL', () => {
  test('leaseDuration is rounded up to whole seconds and the granted TTL is reported', async () => {
    const b = backend({ endpoints, election: uniqueElection('ttl-round') });
    const result = await held(b.attempt(request('acquire', { leaseDurationMs: 1200 })));
    expect(result.leaseDurationMs).toBe(2000);
  });

  test('a TTL below the server minimum is raised by etcd; the granted TTL is used and reported', async () => {
    // heartbeat 100 ms, election 2000 ms: etcd's minimum TTL is 1.5 × 2 s = 3 s.
    const slow = await startEtcdCluster({
      binary: inject('etcdBinary'),
      members: 1,
      name: 'min-ttl',
      heartbeatMs: 100,
      electionMs: 2000,
    });
    try {
      const b = etcdBackend({ endpoints: slow.endpoints, election: uniqueElection('ttl-min') });
      try {
        const result = await held(b.attempt(request('acquire', { leaseDurationMs: 2000 })));
        expect(result.leaseDurationMs).toBe(3000);
        const renewed = await held(
          b.attempt(request('renew', { leaseDurationMs: 2000, token: result.token })),
        );
        expect(renewed.leaseDurationMs).toBe(3000);
      } finally {
        await b.close();
      }
    } finally {
      await slow.stop();
    }
  });
});

describe('unreachable etcd', () => {
  async function refusedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  test('refused connections: a transient LE_BACKEND_UNAVAILABLE within the renew deadline, never leadership, nothing left behind', async () => {
    const baseline = activeResources();
    const port = await refusedPort();
    const candidate = electors.create(
      { endpoints: [`http://127.0.0.1:${port}`], election: uniqueElection('refused') },
      'lonely',
    );
    const startedAt = performance.now();
    void candidate.elector.run();
    const error = await waitFor(
      () => candidate.errors[0],
      'an error',
      CONFORMANCE_TIMINGS.renewDeadline,
    );
    expect(performance.now() - startedAt).toBeLessThan(CONFORMANCE_TIMINGS.renewDeadline);
    expect(error.code).toBe(ErrorCode.BackendUnavailable);
    expect(error.transient).toBe(true);
    await sleep(CONFORMANCE_TIMINGS.retryPeriod * 2);
    expect(candidate.terms).toHaveLength(0);
    await electors.stopAll();
    const leaked = await waitFor(
      () => (Object.keys(leakedSince(baseline)).length === 0 ? {} : undefined),
      'no leftover handles',
      2000,
      20,
    ).catch(() => leakedSince(baseline));
    expect(leaked).toEqual({});
  });

  test('a server that accepts but never answers: a typed error by the renew deadline, and abort signals are honoured at once', async () => {
    const sockets = new Set<Socket>();
    const blackHole: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const { port } = blackHole.address() as { port: number };
    try {
      const b = backend({
        endpoints: [`127.0.0.1:${port}`],
        election: uniqueElection('black-hole'),
      });
      // Already aborted: rejects with the reason, without a request.
      const reason = new Error('caller gave up');
      await expect(
        b.attempt(request('acquire', { signal: AbortSignal.abort(reason) })),
      ).rejects.toBe(reason);
      // Aborted while waiting: rejects with the reason right after the abort.
      const controller = new AbortController();
      const pending = b.attempt(request('acquire', { signal: controller.signal }));
      await sleep(100);
      const abortedAt = performance.now();
      controller.abort(reason);
      await expect(pending).rejects.toBe(reason);
      expect(performance.now() - abortedAt).toBeLessThan(50);

      const candidate = electors.create(
        { endpoints: [`127.0.0.1:${port}`], election: uniqueElection('black-hole-elector') },
        'hole',
      );
      void candidate.elector.run();
      const error = await waitFor(
        () => candidate.errors[0],
        'an error',
        CONFORMANCE_TIMINGS.renewDeadline + 300,
      );
      expect([ErrorCode.BackendTimeout, ErrorCode.BackendUnavailable]).toContain(error.code);
      expect(candidate.terms).toHaveLength(0);
    } finally {
      await electors.stopAll();
      await Promise.all(backends.splice(0).map((b) => b.close()));
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => blackHole.close(() => resolve()));
    }
  });
});

describe('keys that do not follow the layout', () => {
  test('are ignored for leadership and reported once each through onWarning', async () => {
    const election = uniqueElection('foreign-keys');
    const foreign = [`${election}/not-hex`, `${election}/ABCDEF`, `${election}/sub/7a`];
    for (const key of foreign) await admin.put(key).value('someone else');
    const a = electors.create({ endpoints, election }, 'a');
    const b = electors.create({ endpoints, election }, 'b');
    void a.elector.run();
    await a.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
    void b.elector.run();
    await waitFor(() => b.elector.leader?.identity === 'a', 'b to see a', 5000);
    // More attempts: a hands over, b leads.
    await a.elector.stop();
    await b.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
    for (const recorded of [a, b]) {
      const reported = recorded.warnings.map((w) => w.details.key);
      expect(reported.sort()).toEqual([...foreign].sort());
      expect(recorded.warnings.every((w) => w.code === ErrorCode.CorruptRecord)).toBe(true);
      expect(recorded.errors).toEqual([]);
    }
    expect(Object.keys(await keysOf(election))).toEqual(expect.arrayContaining(foreign));
  });
});

describe('one session lease per client', () => {
  test('elections on one client share a lease; the same election twice on one client uses two', async () => {
    const client = new Etcd3({ hosts: endpoints });
    clients.push(client);
    const one = uniqueElection('share-1');
    const two = uniqueElection('share-2');
    const b1 = backend({ client, election: one });
    const b2 = backend({ client, election: two });
    const b3 = backend({ client, election: one });
    const h1 = await held(b1.attempt(request('acquire')));
    const h2 = await held(b2.attempt(request('acquire')));
    const o3 = await b3.attempt(request('acquire', { identity: 'second' }));
    expect(o3).toMatchObject({ kind: 'not-held', holder: 'api', token: h1.token });
    const lease = (key: string) => key.slice(key.lastIndexOf('/') + 1);
    expect(lease(h1.fence.key)).toBe(lease(h2.fence.key));
    const second = Object.keys(await keysOf(one)).find((k) => k !== h1.fence.key);
    expect(second).toBeDefined();
    expect(lease(second!)).not.toBe(lease(h1.fence.key));

    // Closing one election leaves the shared lease (and the other election's key) alive.
    await b1.close();
    expect(await keysOf(one)).not.toHaveProperty(h1.fence.key);
    await held(b2.attempt(request('renew', { token: h2.token })));
    expect(await keysOf(two)).toHaveProperty(h2.fence.key);
    // The last election of the lease revokes it on close (after its elector released).
    await b2.release({ ...request('acquire'), token: h2.token });
    await b2.close();
    const ttl = await admin.leaseClient.leaseTimeToLive({
      ID: BigInt(`0x${lease(h2.fence.key)}`).toString(),
    });
    expect(ttl.TTL).toBe('-1');
  });

  test('renewals of many elections share keepalives: about one per retryPeriod in total', async () => {
    const client = new Etcd3({ hosts: endpoints });
    clients.push(client);
    let keepalives = 0;
    const original = client.leaseClient.leaseKeepAlive.bind(client.leaseClient);
    client.leaseClient.leaseKeepAlive = async (options) => {
      const stream = await original(options);
      const write = stream.write.bind(stream);
      stream.write = (item) => {
        keepalives++;
        write(item);
      };
      return stream;
    };
    const count = 200;
    const timings = { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 };
    const all = Array.from({ length: count }, (_, i) =>
      electors.create({ client, election: uniqueElection(`many-${i}`) }, `n-${i}`, timings),
    );
    for (const candidate of all) void candidate.elector.run();
    await waitFor(() => all.every((c) => c.elector.isLeader()), 'every election led', 10_000, 20);
    const before = keepalives;
    const windowMs = 4000;
    const renewals = { count: 0 };
    for (const candidate of all) candidate.elector.on('renewed', () => renewals.count++);
    await sleep(windowMs);
    const rate = ((keepalives - before) * 1000) / windowMs;
    console.log(
      `[api] ${count} elections: ${renewals.count} renewals, ${keepalives - before} keepalives in ${windowMs} ms (${rate.toFixed(2)}/s)`,
    );
    expect(renewals.count).toBeGreaterThan(count * (windowMs / timings.retryPeriod) * 0.8);
    expect(rate).toBeLessThanOrEqual(1000 / timings.retryPeriod + 0.5);
    expect(all.every((c) => c.elector.isLeader() && c.stops.length === 0)).toBe(true);
  });
});

describe('close and release', () => {
  test('a follower closing removes its candidate key at once', async () => {
    const election = uniqueElection('close-follower');
    const leader = backend({ endpoints, election });
    const follower = backend({ endpoints, election });
    await held(leader.attempt(request('acquire')));
    await follower.attempt(request('acquire', { identity: 'f' }));
    expect(Object.keys(await keysOf(election))).toHaveLength(2);
    await follower.close();
    expect(Object.keys(await keysOf(election))).toHaveLength(1);
  });

  test('a leader closing without release (releaseOnCancel: false) leaves its key to expire with the lease', async () => {
    const election = uniqueElection('close-abandon');
    const b = etcdBackend({ endpoints, election });
    const h = await held(b.attempt(request('acquire')));
    await b.close();
    expect(await keysOf(election)).toHaveProperty(h.fence.key);
    await waitFor(
      async () => Object.keys(await keysOf(election)).length === 0,
      'the key to expire with the lease',
      CONFORMANCE_TIMINGS.leaseDuration + 1500,
      50,
    );
  });

  test('release deletes our key only while it is the term we hold', async () => {
    const election = uniqueElection('release');
    const b = backend({ endpoints, election });
    const h = await held(b.attempt(request('acquire')));
    await b.release({ ...request('acquire'), token: h.token + 1n });
    expect(await keysOf(election)).toHaveProperty(h.fence.key);
    await b.release({ ...request('acquire'), token: h.token });
    expect(await keysOf(election)).toEqual({});
    // After release a renewal reports the loss.
    const after = await b.attempt(request('renew', { token: h.token }));
    expect(after.kind).toBe('not-held');
  });

  test('campaigning again after a term ended without release yields a new key and a higher token', async () => {
    const election = uniqueElection('recampaign');
    const b = backend({ endpoints, election });
    const first = await held(b.attempt(request('acquire')));
    // The elector lost the term at its renew deadline (no release) and campaigns again.
    const second = await held(b.attempt(request('acquire')));
    expect(second.token).toBeGreaterThan(first.token);
    expect(Object.keys(await keysOf(election))).toEqual([second.fence.key]);
    await expect(first.fence.put(`${election}-data`, 'stale')).rejects.toSatisfy((e: unknown) =>
      hasErrorCode(e, ErrorCode.NotLeader),
    );
  });

  test('an operation after close is LE_STOPPED', async () => {
    const b = etcdBackend({ endpoints, election: uniqueElection('closed') });
    await b.close();
    await expect(b.attempt(request('acquire'))).rejects.toSatisfy((e: unknown) =>
      hasErrorCode(e, ErrorCode.Stopped),
    );
  });

  test('closing the etcd3 client under a running elector gives typed errors, not crashes, and lets the lease expire', async () => {
    const client = new Etcd3({ hosts: endpoints });
    const election = uniqueElection('client-closed');
    const candidate = electors.create({ client, election }, 'c');
    void candidate.elector.run();
    await candidate.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
    client.close();
    await waitFor(
      () => !candidate.elector.isLeader(),
      'the term to end',
      CONFORMANCE_TIMINGS.renewDeadline + 500,
    );
    expect(candidate.errors.length).toBeGreaterThan(0);
    expect(candidate.errors.every((e) => e instanceof LeaderElectError)).toBe(true);
    expect(candidate.errors.some((e) => /client was closed/.test(e.message))).toBe(true);
    // Streams opened before the close keep working in gRPC: the backend must stop using them,
    // or it would keep a leaderless key alive forever.
    await waitFor(
      async () => Object.keys(await keysOf(election)).length === 0,
      'the lease to expire',
      CONFORMANCE_TIMINGS.leaseDuration + 1500,
      50,
    );
  });
});

describe('the fence', () => {
  test('guarded put/get/delete commit while we lead and reject with LE_NOT_LEADER after', async () => {
    const election = uniqueElection('fence');
    const b = backend({ endpoints, election });
    const h = await held(b.attempt(request('acquire')));
    const { fence } = h;
    expect(fence.revision).toBe(h.token);
    await fence.put(`${election}-data/a`, '1');
    await fence.put(`${election}-data/b`, Buffer.from('2'));
    const read = await fence.txn([{ type: 'get', key: `${election}-data/`, prefix: true }]);
    const first = read.results[0];
    expect(first?.type === 'get' && first.kvs.map((kv) => kv.value.toString())).toEqual(['1', '2']);
    const removed = await fence.txn([{ type: 'delete', key: `${election}-data/`, prefix: true }]);
    expect(removed.results[0]).toEqual({ type: 'delete', deleted: 2 });
    // Our key deleted behind our back (an operator, or our lease expiring): writes are refused.
    await admin.delete().key(fence.key);
    await expect(fence.put(`${election}-data/a`, 'late')).rejects.toSatisfy((e: unknown) =>
      hasErrorCode(e, ErrorCode.NotLeader),
    );
    expect(await admin.get(`${election}-data/a`).string()).toBeNull();
    // The own-key watch told the backend: the next renewal reports the loss.
    await waitFor(
      async () => (await b.attempt(request('renew', { token: h.token }))).kind === 'not-held',
      'renew to report the loss',
      2000,
    );
  });
});
