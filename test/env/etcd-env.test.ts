// Smoke tests of the real-etcd test environment itself: the shared cluster,
// the gRPC-gateway HTTP API, the Go election peer, private clusters with
// member faults (source-built 3.6 and Debian 3.4) and TLS client auth.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, test } from 'vitest';
import { startElectionPeer } from './election-peer.mjs';
import { type EtcdCluster, httpJson, startEtcdCluster } from './etcd-cluster.mjs';
import { makeTestCerts } from './tls-certs.mjs';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const uniq = (p: string) => `${p}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

function endpoint(endpoints: string[], i = 0): string {
  const e = endpoints[i];
  if (!e) throw new Error(`no endpoint ${i}`);
  return e;
}

async function put(url: string, key: string, value: string) {
  const res = await httpJson(`${url}/v3/kv/put`, {
    method: 'POST',
    body: { key: b64(key), value: b64(value) },
  });
  expect(res.status).toBe(200);
  return res.json;
}

async function range(url: string, key: string, prefix = false) {
  const body: Record<string, string> = { key: b64(key) };
  // range_end = key with its last byte incremented selects the whole prefix.
  if (prefix) {
    const end = Buffer.from(key, 'utf8');
    end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
    body.range_end = end.toString('base64');
  }
  const res = await httpJson(`${url}/v3/kv/range`, { method: 'POST', body });
  expect(res.status).toBe(200);
  return res.json as {
    kvs?: { key: string; value: string; create_revision: string }[];
    count?: string;
  };
}

describe('shared cluster', () => {
  const endpoints = inject('etcdEndpoints');

  test('has three healthy members', async () => {
    expect(endpoints).toHaveLength(3);
    const res = await httpJson(`${endpoint(endpoints)}/v3/cluster/member/list`, {
      method: 'POST',
      body: {},
    });
    expect(res.status).toBe(200);
    expect(res.json.members).toHaveLength(3);
    for (const url of endpoints) {
      const health = await httpJson(`${url}/health`);
      expect(health.json).toMatchObject({ health: 'true' });
    }
  });

  test('writes on one member and reads on another through the gRPC gateway', async () => {
    const key = uniq('/smoke/kv');
    const written = await put(endpoint(endpoints, 0), key, 'hello');
    const rev = Number(written.header.revision);
    expect(rev).toBeGreaterThan(0);
    const read = await range(endpoint(endpoints, 2), key);
    expect(read.kvs).toHaveLength(1);
    expect(unb64(read.kvs![0]!.value)).toBe('hello');
    expect(Number(read.kvs![0]!.create_revision)).toBe(rev);
  });
});

describe('Go election peer', () => {
  const endpoints = inject('etcdEndpoints');
  const binary = inject('etcdPeerBinary');

  test('elects, observes itself as leader, resigns on command and exits 0', async () => {
    const election = uniq('/smoke/election');
    const peer = startElectionPeer({ binary, endpoints, election, identity: 'go-a', ttl: 3 });
    const elected = await peer.waitFor((e) => e.event === 'elected');
    expect(elected.key).toMatch(new RegExp(`^${election}/[0-9a-f]+$`));
    expect(elected.rev).toBeGreaterThan(0);
    const seen = await peer.waitFor((e) => e.event === 'leader' && e.identity === 'go-a');
    expect(seen.rev).toBe(elected.rev);

    // The candidate key is visible to everyone, with the peer's identity.
    const during = await range(endpoint(endpoints, 1), `${election}/`, true);
    expect(during.kvs?.map((kv) => unb64(kv.value))).toEqual(['go-a']);

    peer.send('resign');
    expect(await peer.exited).toEqual({ code: 0, signal: null });
    const names = peer.events.map((e) => e.event);
    expect(names).toEqual(
      expect.arrayContaining([
        'started',
        'campaigning',
        'elected',
        'leader',
        'resigned',
        'exiting',
      ]),
    );
    expect(names.indexOf('elected')).toBeLessThan(names.indexOf('resigned'));
    expect(names.at(-1)).toBe('exiting');
    for (const e of peer.events) {
      expect(typeof e.t_ms).toBe('number');
      expect(Math.abs(e.wall_ms - Date.now())).toBeLessThan(60_000);
    }
    const after = await range(endpoint(endpoints, 2), `${election}/`, true);
    expect(after.kvs ?? []).toHaveLength(0);
  });

  test('hands over to the next candidate with a higher fencing revision', async () => {
    const election = uniq('/smoke/handover');
    const a = startElectionPeer({ binary, endpoints, election, identity: 'go-a', ttl: 3 });
    const aElected = await a.waitFor((e) => e.event === 'elected');
    const b = startElectionPeer({ binary, endpoints, election, identity: 'go-b', ttl: 3 });
    await b.waitFor((e) => e.event === 'campaigning');
    await b.waitFor((e) => e.event === 'leader' && e.identity === 'go-a');
    expect(b.events.some((e) => e.event === 'elected')).toBe(false);

    a.send('resign');
    const bElected = await b.waitFor((e) => e.event === 'elected');
    expect(bElected.rev).toBeGreaterThan(aElected.rev!);
    expect((await a.exited).code).toBe(0);

    // SIGTERM: resign first, then exit cleanly.
    expect(await b.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(b.events.some((e) => e.event === 'resigned' && e.was_leader === true)).toBe(true);
  });
});

/** Kill the raft leader, see a new one, bring the old one back. */
async function leaderFailover(cluster: EtcdCluster) {
  const leader = await cluster.leaderMember({ timeoutMs: 5_000 });
  expect(leader).not.toBeNull();
  await leader!.kill('SIGKILL');
  expect(leader!.running).toBe(false);
  const next = await cluster.leaderMember({ timeoutMs: 10_000 });
  expect(next).not.toBeNull();
  expect(next!.name).not.toBe(leader!.name);
  await put(next!.clientUrl, '/smoke/after-failover', 'ok');
  await leader!.restart();
  expect(await leader!.healthy()).toBe(true);
  // The restarted member caught up with the write made while it was down.
  const read = await range(leader!.clientUrl, '/smoke/after-failover');
  expect(read.kvs).toHaveLength(1);
}

describe('private clusters', () => {
  test('source-built etcd: leader kill, failover, restart', async () => {
    const cluster = await startEtcdCluster({ binary: inject('etcdBinary'), name: 'failover' });
    try {
      await leaderFailover(cluster);
    } finally {
      await cluster.stop();
    }
  });

  const debian = inject('debianEtcdBinary');
  test.skipIf(!debian)('Debian etcd 3.4: leader kill, failover, restart', async () => {
    const cluster = await startEtcdCluster({ binary: debian!, name: 'debian' });
    try {
      const status = await httpJson(`${endpoint(cluster.endpoints)}/v3/maintenance/status`, {
        method: 'POST',
        body: {},
      });
      expect(status.json.version).toMatch(/^3\.4\./);
      await leaderFailover(cluster);
    } finally {
      await cluster.stop();
    }
  });

  test('TLS with client certificate auth, Go peer over TLS', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'leader-elect-certs-'));
    let cluster: EtcdCluster | undefined;
    try {
      const certs = await makeTestCerts(dir);
      cluster = await startEtcdCluster({
        binary: inject('etcdBinary'),
        members: 1,
        name: 'tls',
        tls: { ...certs, clientCertAuth: true },
      });
      expect(cluster.endpoints[0]).toMatch(/^https:/);
      // Without a client certificate the handshake is refused.
      await expect(
        httpJson(`${endpoint(cluster.endpoints)}/health`, { tls: { ca: certs.ca } }),
      ).rejects.toThrow();
      const peer = startElectionPeer({
        binary: inject('etcdPeerBinary'),
        endpoints: cluster.endpoints,
        election: '/smoke/tls',
        identity: 'go-tls',
        tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      });
      await peer.waitFor((e) => e.event === 'elected');
      peer.send('exit');
      expect((await peer.exited).code).toBe(0);
    } finally {
      await cluster?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
