/**
 * The servers of a chaos run, private to it: three-member etcd 3.6 clusters (test/env, built
 * from source; more than one so that cluster-wide faults — which hit every election of their
 * cluster at once — can be applied often enough while leaving each cluster quiet half of the
 * time) and a kube-apiserver on its own one-member etcd. Both are started here and
 * stopped by `stop()` (their launchers also kill them on exit and give them a parent-death
 * signal).
 */
import { ensureBinaries } from '../../../test/env/build.mjs';
import { startEtcdCluster } from '../../../test/env/etcd-cluster.mjs';
import { ensureKubeBinaries } from '../../../test/env/kube/build.mjs';
import { startKubeApiserver } from '../../../test/env/kube-apiserver.mjs';

const portOf = (url) => Number(new URL(url).port);

/**
 * @param {{backends: string[], etcdClusters?: number, log: (msg: string) => void}} o
 */
export async function startServers({ backends, etcdClusters = 1, log }) {
  const stops = [];
  const servers = { etcd: null, kube: null };
  try {
    const { etcd: etcdBinary } = await ensureBinaries(['etcd']);
    if (backends.includes('etcd')) {
      servers.etcd = [];
      for (let i = 0; i < etcdClusters; i++) {
        log(`starting 3-member etcd cluster ${i}`);
        const cluster = await startEtcdCluster({
          binary: etcdBinary,
          members: 3,
          name: `chaos${i}`,
        });
        stops.push(() => cluster.stop());
        servers.etcd.push({
          index: i,
          name: `etcd-${i}`,
          cluster,
          endpoints: cluster.endpoints,
          memberPorts: cluster.endpoints.map(portOf),
        });
      }
    }
    if (backends.includes('kubernetes')) {
      log('starting kube-apiserver');
      const { kubeApiserver } = await ensureKubeBinaries(['kube-apiserver']);
      const env = await startKubeApiserver({ binary: kubeApiserver, etcdBinary });
      stops.push(() => env.stop());
      servers.kube = {
        env,
        port: portOf(env.server),
        caFile: env.caFile,
        token: env.adminToken,
        etcdMember: env.etcd.members[0],
      };
    }
  } catch (error) {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    throw error;
  }
  servers.stop = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  return servers;
}
