/**
 * TLS with client certificates and etcd authentication, on a private single-member cluster:
 * certificates are generated for this run with openssl; auth is enabled with a root user and
 * users whose roles grant (or not) the election prefix.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import type { EtcdTlsOptions } from '../../src/etcd/index.js';
import { ErrorCode, type LeaderElectError } from '../../src/index.js';
import { type ElectionPeer, startElectionPeer } from '../env/election-peer.mjs';
import { type EtcdCluster, startEtcdCluster } from '../env/etcd-cluster.mjs';
import { makeTestCerts, type TestCerts } from '../env/tls-certs.mjs';
import { sleep, waitFor } from '../support/wait.js';
import { Electors, type Recorded } from './support/electors.js';
import { CONFORMANCE_TIMINGS, uniqueElection } from './support/etcd-test-env.js';

const ALLOWED = 'le-sec/allowed';
let dir: string;
let certs: TestCerts;
let foreign: TestCerts;
let cluster: EtcdCluster;
let tls: EtcdTlsOptions;
const electors = new Electors();
const peers: ElectionPeer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'leader-elect-etcd-tls-'));
  // The client certificate's CN is no etcd user: access comes from username/password only.
  certs = await makeTestCerts(join(dir, 'pki'), { clientCN: 'leader-elect-client' });
  foreign = await makeTestCerts(join(dir, 'foreign'), { clientCN: 'leader-elect-client' });
  cluster = await startEtcdCluster({
    binary: inject('etcdBinary'),
    members: 1,
    name: 'tls',
    tls: { ...certs, clientCertAuth: true },
  });
  tls = {
    ca: await readFile(certs.ca),
    cert: await readFile(certs.clientCert),
    key: await readFile(certs.clientKey),
  };
  const admin = new Etcd3({
    hosts: cluster.endpoints,
    credentials: {
      rootCertificate: tls.ca as Buffer,
      certChain: tls.cert as Buffer,
      privateKey: tls.key as Buffer,
    },
  });
  try {
    await admin.user('root').create('root-pw');
    await admin.user('root').addRole('root');
    const elect = await admin.role('elect').create();
    await elect.grant({ permission: 'Readwrite', range: admin.range({ prefix: `${ALLOWED}/` }) });
    const other = await admin.role('other').create();
    await other.grant({ permission: 'Readwrite', range: admin.range({ prefix: 'le-sec/other/' }) });
    await admin.user('alice').create('alice-pw');
    await admin.user('alice').addRole('elect');
    await admin.user('bob').create('bob-pw');
    await admin.user('bob').addRole('other');
    await admin.auth.authEnable();
  } finally {
    admin.close();
  }
});

afterEach(async () => {
  await electors.stopAll();
  await Promise.all(peers.splice(0).map((p) => p.kill('SIGTERM')));
});

afterAll(async () => {
  await cluster?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Runs a candidate for a while and returns it (it must never lead). */
async function runWithoutLeading(candidate: Recorded, code: string): Promise<LeaderElectError> {
  void candidate.elector.run();
  const error = await waitFor(
    () => candidate.errors.find((e) => e.code === code),
    `an ${code} error`,
    CONFORMANCE_TIMINGS.renewDeadline + 1000,
  ).catch((cause: unknown) => {
    const seen = candidate.errors.map((e) => `${e.code}: ${e.message}`).join('\n');
    throw new Error(`${String(cause)}; errors seen:\n${seen}`);
  });
  await sleep(CONFORMANCE_TIMINGS.leaseDuration);
  expect(candidate.terms).toHaveLength(0);
  expect(candidate.elector.isLeader()).toBe(false);
  return error;
}

describe('etcd security: TLS client certificates and auth', () => {
  test('TLS + client certificate + a user whose role grants the prefix: leads, writes fenced, competes with Go', async () => {
    const election = `${ALLOWED}/${uniqueElection('ok').replaceAll('/', '-')}`;
    const node = electors.create(
      {
        endpoints: cluster.endpoints,
        tls,
        auth: { username: 'alice', password: 'alice-pw' },
        election,
      },
      'node-tls',
    );
    void node.elector.run();
    const term = await node.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
    await expect(term.fence.put(`${ALLOWED}/data`, 'v')).resolves.toHaveProperty('revision');
    const go = startElectionPeer({
      binary: inject('etcdPeerBinary'),
      endpoints: cluster.endpoints,
      election,
      identity: 'go-tls',
      ttl: 2,
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      user: 'alice',
      password: 'alice-pw',
    });
    peers.push(go);
    await go.waitFor((e) => e.event === 'leader' && e.identity === 'node-tls');
    await node.elector.stop();
    await go.waitFor((e) => e.event === 'elected', { timeoutMs: 5000 });
    expect(node.errors).toEqual([]);
  });

  test('a wrong password fails with LE_AUTH_FAILED and never leads', async () => {
    const candidate = electors.create(
      {
        endpoints: cluster.endpoints,
        tls,
        auth: { username: 'alice', password: 'wrong' },
        election: `${ALLOWED}/wrong-password`,
      },
      'intruder',
    );
    const error = await runWithoutLeading(candidate, ErrorCode.AuthenticationFailed);
    expect(error.transient).toBe(false);
  });

  test('no password: etcd takes the client certificate CN as the user, which has no role → LE_PERMISSION_DENIED', async () => {
    const candidate = electors.create(
      { endpoints: cluster.endpoints, tls, election: `${ALLOWED}/anonymous` },
      'anonymous',
    );
    await runWithoutLeading(candidate, ErrorCode.PermissionDenied);
  });

  test('a role without access to the prefix fails with LE_PERMISSION_DENIED naming it', async () => {
    const election = `${ALLOWED}/bob`;
    const candidate = electors.create(
      {
        endpoints: cluster.endpoints,
        tls,
        auth: { username: 'bob', password: 'bob-pw' },
        election,
      },
      'bob',
    );
    const error = await runWithoutLeading(candidate, ErrorCode.PermissionDenied);
    expect(error.details.key).toBe(`${election}/`);
    expect(error.message).toContain(`${election}/`);
  });

  test('a server certificate from an unknown CA fails with LE_TLS_ERROR', async () => {
    const candidate = electors.create(
      {
        endpoints: cluster.endpoints,
        tls: { ...tls, ca: await readFile(foreign.ca) },
        auth: { username: 'alice', password: 'alice-pw' },
        election: `${ALLOWED}/wrong-ca`,
      },
      'wrong-ca',
    );
    await runWithoutLeading(candidate, ErrorCode.TlsError);
  });

  test('a missing client certificate fails with LE_TLS_ERROR', async () => {
    const candidate = electors.create(
      {
        endpoints: cluster.endpoints,
        tls: { ca: tls.ca as Buffer },
        auth: { username: 'alice', password: 'alice-pw' },
        election: `${ALLOWED}/no-client-cert`,
      },
      'no-client-cert',
    );
    await runWithoutLeading(candidate, ErrorCode.TlsError);
  });

  test('a client certificate from another CA fails with LE_TLS_ERROR', async () => {
    const candidate = electors.create(
      {
        endpoints: cluster.endpoints,
        tls: {
          ca: tls.ca as Buffer,
          cert: await readFile(foreign.clientCert),
          key: await readFile(foreign.clientKey),
        },
        auth: { username: 'alice', password: 'alice-pw' },
        election: `${ALLOWED}/foreign-client-cert`,
      },
      'foreign-client-cert',
    );
    await runWithoutLeading(candidate, ErrorCode.TlsError);
  });
});
