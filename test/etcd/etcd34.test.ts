/**
 * The same conformance suite and a Go interop check against Debian's etcd 3.4 (the second
 * server version of the matrix), on a private cluster. Skipped when Debian's etcd is absent.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { etcdBackend } from '../../src/etcd/index.js';
import { describeBackendConformance } from '../../src/testing/conformance/index.js';
import { etcdVersion } from '../env/debian-etcd.mjs';
import { startElectionPeer } from '../env/election-peer.mjs';
import { type EtcdCluster, startEtcdCluster } from '../env/etcd-cluster.mjs';
import { waitFor } from '../support/wait.js';
import { Electors } from './support/electors.js';
import {
  CONFORMANCE_TIMINGS,
  ETCD_EXPIRY_SLACK_MS,
  uniqueElection,
} from './support/etcd-test-env.js';

const binary = inject('debianEtcdBinary');

if (binary === null) {
  test.skip("Debian's etcd 3.4 is not installed (apt-get install etcd-server)", () => undefined);
} else {
  let cluster: EtcdCluster;
  let admin: Etcd3;
  let version = '3.4';

  beforeAll(async () => {
    version = (await etcdVersion(binary)) ?? version;
    cluster = await startEtcdCluster({ binary, members: 3, name: 'etcd34' });
    admin = new Etcd3({ hosts: cluster.endpoints });
  });

  afterAll(async () => {
    admin?.close();
    await cluster?.stop();
  });

  describeBackendConformance({
    name: "Debian's etcd 3.4",
    timings: CONFORMANCE_TIMINGS,
    newBackend: (election) => etcdBackend({ endpoints: cluster.endpoints, election }),
    corrupt: async (election) => {
      await admin.put(`${election}/deadbeef`).value('written by hand');
    },
    evict: async (election) => {
      const [leader] = await admin
        .getAll()
        .prefix(`${election}/`)
        .sort('Create', 'Ascend')
        .limit(1)
        .keys();
      if (leader !== undefined) await admin.delete().key(leader);
    },
    expirySlackMs: ETCD_EXPIRY_SLACK_MS,
  });

  describe("interop on Debian's etcd 3.4", () => {
    const electors = new Electors();

    test('the Go peer and our candidate hand over both ways', async () => {
      expect(version.startsWith('3.4')).toBe(true);
      const election = uniqueElection('etcd34-go');
      const go = startElectionPeer({
        binary: inject('etcdPeerBinary'),
        endpoints: cluster.endpoints,
        election,
        identity: 'go-34',
        ttl: 2,
      });
      try {
        await go.waitFor((e) => e.event === 'elected');
        const ours = electors.create({ endpoints: cluster.endpoints, election }, 'node-34');
        void ours.elector.run();
        await waitFor(() => ours.elector.leader?.identity === 'go-34', 'us to see Go', 5000);
        go.send('step-down');
        await ours.elector.waitForLeadership({ signal: AbortSignal.timeout(5000) });
        go.send('campaign');
        await go.waitFor((e) => e.event === 'leader' && e.identity === 'node-34');
        const from = go.events.length;
        await ours.elector.stop();
        await go.waitFor((e) => e.event === 'elected', { timeoutMs: 5000, from });
      } finally {
        await electors.stopAll();
        await go.kill('SIGTERM');
      }
    });
  });
}
