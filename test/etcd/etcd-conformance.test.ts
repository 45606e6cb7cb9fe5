import { Etcd3 } from 'etcd3';
import { afterAll, inject } from 'vitest';
import { etcdBackend } from '../../src/etcd/index.js';
import { describeBackendConformance } from '../../src/testing/conformance/index.js';
import { CONFORMANCE_TIMINGS, ETCD_EXPIRY_SLACK_MS } from './support/etcd-test-env.js';

const endpoints = inject('etcdEndpoints');
const admin = new Etcd3({ hosts: endpoints });
afterAll(() => admin.close());

describeBackendConformance({
  name: `etcd ${inject('etcdVersion')}`,
  timings: CONFORMANCE_TIMINGS,
  // One client per candidate: each elector is a separate process as etcd sees it (own lease).
  newBackend: (election) => etcdBackend({ endpoints, election }),
  // A candidate key in the layout but attached to no lease: written by hand, it never expires.
  corrupt: async (election) => {
    await admin.put(`${election}/deadbeef`).value('written by hand');
  },
  // An operator deleting the leader's key (what `etcdctl del` of the leader key does).
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
