// @ts-check
/**
 * A worker that splits its work into shards and holds one election per shard, all on one etcd
 * client: every replica runs this program and campaigns for every shard; each shard is processed
 * by exactly one replica (its leader), and the shards of a replica that dies move to the others
 * when its lease runs out.
 *
 * One client means one etcd lease and one watch stream for all the shards of the process:
 * renewal traffic does not grow with the number of shards. The first replica to start wins every
 * free shard; this example does not rebalance shards when replicas join.
 *
 *   ETCD_ENDPOINTS=http://127.0.0.1:2379 SHARDS=8 node examples/sharded-worker.mjs
 *
 * Environment: ETCD_ENDPOINTS (comma-separated), WORKER_NAME (default `sharded-worker`), SHARDS
 * (default 4), IDENTITY (default: hostname and pid), BATCH_MS (default 1000), LEASE_DURATION_MS,
 * RENEW_DEADLINE_MS, RETRY_PERIOD_MS (default 15000 / 10000 / 2000).
 */
import { hostname } from 'node:os';
import { Etcd3 } from 'etcd3';
import { LeaderElector } from 'leader-elect';
import { etcdBackend } from 'leader-elect/etcd';

const env = process.env;
const workerName = env.WORKER_NAME ?? 'sharded-worker';
const shards = Number(env.SHARDS ?? 4);
const identity = env.IDENTITY ?? `${hostname()}-${process.pid}`;
const batchMs = Number(env.BATCH_MS ?? 1_000);

const client = new Etcd3({ hosts: (env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',') });

const electors = Array.from({ length: shards }, (_, shard) => {
  const elector = new LeaderElector({
    // Same client for every shard: the backends share its session lease and watch stream.
    backend: etcdBackend({ client, election: `${workerName}/shard-${shard}` }),
    identity,
    name: `shard-${shard}`,
    leaseDuration: Number(env.LEASE_DURATION_MS ?? 15_000),
    renewDeadline: Number(env.RENEW_DEADLINE_MS ?? 10_000),
    retryPeriod: Number(env.RETRY_PERIOD_MS ?? 2_000),
    onStartedLeading: async (term) => {
      log(`shard ${shard}: leading (token ${term.token})`);
      for (let batch = 1; !term.signal.aborted; batch++) {
        await processBatch(shard, batch, term.signal);
      }
    },
    onStoppedLeading: (term, reason) =>
      log(`shard ${shard}: stopped (token ${term.token}): ${reason}`),
  });
  elector.on('error', (error) => log(`shard ${shard}: error ${error.code}: ${error.message}`));
  return elector;
});

/**
 * One unit of the shard's work. Return soon after `signal` aborts: the shard may already have
 * another leader once the term's lease can expire.
 * @param {number} shard
 * @param {number} batch
 * @param {AbortSignal} signal
 */
async function processBatch(shard, batch, signal) {
  await new Promise((resolve) => {
    const timer = setTimeout(done, batchMs);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve(undefined);
    }
  });
  if (!signal.aborted) log(`shard ${shard}: batch ${batch} done`);
}

/** @param {string} message */
function log(message) {
  console.log(`[${identity}] ${message}`);
}

async function shutdown() {
  // Every shard's leader releases at once, so the other replicas take over without waiting.
  await Promise.all(electors.map((elector) => elector.stop()));
  client.close();
  log('stopped');
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

for (const elector of electors) void elector.run();
log(`campaigning for ${shards} shards`);
