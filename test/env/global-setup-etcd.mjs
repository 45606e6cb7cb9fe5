// vitest globalSetup: builds the Go binaries (cached), starts one shared
// 3-member etcd cluster from the source-built etcd for the whole run, and
// hands the paths/endpoints to tests through provide()/inject():
//
//   etcdEndpoints     string[]       client URLs of the shared cluster
//   etcdBinary        string         source-built etcd (for private clusters)
//   etcdVersion       string         e.g. '3.6.16'
//   etcdPeerBinary    string         Go election peer (cmd/etcd-election-peer)
//   etcdctlBinary     string | null  source-built etcdctl, if it built
//   debianEtcdBinary  string | null  Debian's etcd 3.4, if installed
//
// Tests that kill members or need TLS start their own cluster with
// startEtcdCluster({ binary: inject('etcdBinary') }) instead of disturbing
// the shared one. Types for inject() are in vitest-provided.d.ts.

import { ensureBinaries } from './build.mjs';
import { ensureDebianEtcd, etcdVersion } from './debian-etcd.mjs';
import { startEtcdCluster } from './etcd-cluster.mjs';

/** @param {import('vitest/node').TestProject} project */
export default async function setup({ provide }) {
  const bins = await ensureBinaries();
  const debianEtcdBinary = await ensureDebianEtcd();
  const cluster = await startEtcdCluster({ binary: bins.etcd, members: 3, name: 'shared' });
  process.stderr.write(`[env] shared etcd cluster up: ${cluster.endpoints.join(' ')}\n`);

  provide('etcdEndpoints', cluster.endpoints);
  provide('etcdBinary', bins.etcd);
  provide('etcdVersion', (await etcdVersion(bins.etcd)) ?? 'unknown');
  provide('etcdPeerBinary', bins.etcdElectionPeer);
  provide('etcdctlBinary', bins.etcdctl ?? null);
  provide('debianEtcdBinary', debianEtcdBinary);

  return async () => {
    await cluster.stop();
  };
}
