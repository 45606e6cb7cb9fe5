#!/usr/bin/env node
/**
 * The floor of the scale scenario's start-up burst: what one etcd3 client must do for N
 * elections, with no election code — one session lease, N create-if-absent transactions (the
 * recipe's campaign: put our key if absent, range the election), 64 in flight (our request
 * gate's limit), and a watch on each key. Prints the time and the peak RSS (sampled every 20 ms).
 *
 *   [ENDPOINTS=URL,URL] node bench/etcd/burst-floor.mjs [N=10000] [nowatch]
 *
 * Without ENDPOINTS it starts a private three-member etcd from the test environment. Bounded:
 * N transactions, then it cancels its watches, revokes its lease and stops what it started.
 */
import { Etcd3 } from 'etcd3';
import { etcdForTool } from './lib/cluster.mjs';

const n = Number(process.argv[2] ?? 10000);
const withWatches = process.argv[3] !== 'nowatch';
const etcd = await etcdForTool(process.env.ENDPOINTS, 'burst-floor');
const client = new Etcd3({ hosts: etcd.endpoints });
const lease = client.lease(15, { autoKeepAlive: true });
const id = await lease.grant();
const mb = (x) => Math.round(x / 1048576);
let peak = 0;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 20);
const t0 = performance.now();
let next = 0;
const watchers = [];
async function worker() {
  while (next < n) {
    const i = next++;
    const prefix = `bf-${process.pid}-${i}/`;
    const key = `${prefix}${id}`;
    await client.kv.txn({
      compare: [{ key: Buffer.from(key), target: 'Create', create_revision: 0, result: 'Equal' }],
      success: [
        { request_put: { key: Buffer.from(key), value: Buffer.from('x'), lease: id } },
        {
          request_range: {
            key: Buffer.from(prefix),
            range_end: Buffer.from(`bf-${process.pid}-${i}0`),
          },
        },
      ],
      failure: [
        {
          request_range: {
            key: Buffer.from(prefix),
            range_end: Buffer.from(`bf-${process.pid}-${i}0`),
          },
        },
      ],
    });
    if (withWatches) watchers.push(await client.watch().key(key).create());
  }
}
await Promise.all(Array.from({ length: 64 }, worker));
const ms = performance.now() - t0;
await new Promise((r) => setTimeout(r, 2000));
clearInterval(sampler);
console.log(
  JSON.stringify({
    n,
    withWatches,
    ms: Math.round(ms),
    peakRssMb: mb(peak),
    rssMb: mb(process.memoryUsage().rss),
  }),
);
await Promise.all(watchers.map((w) => w.cancel()));
await lease.revoke();
client.close();
await etcd.stop();
