// observeLeader on etcd: pushed by a watch on the election's keys, every change in order,
// "no leader" included, never a campaign; and Go-recipe keys of other clients count too.
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, inject, test } from 'vitest';
import { etcdBackend } from '../../src/etcd/index.js';
import { type LeaderChange, observeLeader } from '../../src/index.js';
import { waitFor } from '../support/wait.js';
import { Electors } from './support/electors.js';
import { uniqueElection } from './support/etcd-test-env.js';

const endpoints = inject('etcdEndpoints');
const electors = new Electors();
const admin = new Etcd3({ hosts: endpoints });

afterAll(async () => {
  await electors.stopAll();
  admin.close();
});

describe('observeLeader on etcd', () => {
  test('every leader change, in order, pushed (the poll interval is longer than the test)', async () => {
    const election = uniqueElection('observe');
    const backend = etcdBackend({ endpoints, election });
    const observer = observeLeader(backend, { pollInterval: 600_000 });
    const seen: LeaderChange[] = [];
    observer.on('leader', (change) => seen.push(change));
    try {
      expect(await observer.first()).toEqual({ identity: null, token: null });
      const a = electors.create({ endpoints, election }, 'a');
      void a.elector.run();
      const aTerm = await a.elector.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
      const b = electors.create({ endpoints, election }, 'b');
      void b.elector.run();
      await waitFor(() => seen.at(-1)?.identity === 'a', 'a observed', 5_000, 5);
      // b is in line (its key exists) before a steps down: otherwise "nobody" between the two
      // terms is a true observation, not a lost or invented one.
      await waitFor(
        async () => (await admin.getAll().prefix(`${election}/`).keys()).length === 2,
        'b in line',
        5_000,
        5,
      );
      await a.elector.stop();
      const bTerm = await b.elector.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
      await waitFor(() => seen.at(-1)?.identity === 'b', 'b observed', 5_000, 5);
      await b.elector.stop();
      await waitFor(() => seen.at(-1)?.identity === null && seen.length > 2, 'nobody', 5_000, 5);
      expect(seen).toEqual([
        { identity: null, token: null },
        { identity: 'a', token: aTerm.token },
        { identity: 'b', token: bTerm.token },
        { identity: null, token: null },
      ]);
      // A key written by another client of the recipe (etcdctl elect, Go) is a candidate too.
      const lease = await admin.lease(5, { autoKeepAlive: false }).grant();
      const key = `${election}/${BigInt(lease).toString(16)}`;
      await admin.put(key).value('etcdctl-proposal').lease(lease).exec();
      await waitFor(() => seen.at(-1)?.identity === 'etcdctl-proposal', 'foreign', 5_000, 5);
      await admin.delete().key(key).exec();
      await waitFor(() => seen.at(-1)?.identity === null, 'nobody again', 5_000, 5);
      // Nothing of the observer ever campaigned.
      expect(await admin.getAll().prefix(`${election}/`).keys()).toEqual([]);
    } finally {
      observer.close();
      await backend.close();
    }
  });
});
