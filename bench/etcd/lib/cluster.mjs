/**
 * The etcd a bench/etcd tool measures: the `--endpoints` it was given, or a private three-member
 * cluster from the test environment (the benchmark's settings), started here and stopped by
 * `stop()`.
 */
import { ensureBinaries } from '../../../test/env/build.mjs';
import { startEtcdCluster } from '../../../test/env/etcd-cluster.mjs';

/**
 * @param {string | undefined} endpointsFlag comma-separated client URLs, or undefined
 * @param {string} name the private cluster's name (its data directory says whose it is)
 * @returns {Promise<{ endpoints: string[], stop: () => Promise<void> }>}
 */
export async function etcdForTool(endpointsFlag, name) {
  if (endpointsFlag !== undefined) {
    return { endpoints: endpointsFlag.split(','), stop: async () => {} };
  }
  const binary = (await ensureBinaries(['etcd'])).etcd;
  const cluster = await startEtcdCluster({ binary, members: 3, name });
  return { endpoints: cluster.endpoints, stop: () => cluster.stop() };
}
