#!/usr/bin/env node
/**
 * Heap allocated per renewal in steady state: N elections in this process, all leading on one
 * etcd3 client, and V8's sampling heap profiler (counting objects already collected too) over a
 * window. With thousands of elections the renewal path runs thousands of times a second, and
 * what it allocates decides how soon V8 shrinks the heap again.
 *
 *   npm run build && node bench/etcd/renew-alloc.mjs [--elections 2000] [--window-ms 10000]
 *                                                     [--endpoints URL,URL]
 *
 * Without --endpoints it starts a private three-member etcd from the test environment.
 */
import { Session } from 'node:inspector';
import { parseArgs } from 'node:util';
import { createEtcdClient, etcdBackend } from '../../dist/etcd/index.js';
import { LeaderElector } from '../../dist/index.js';
import { etcdForTool } from './lib/cluster.mjs';

const { values } = parseArgs({
  options: {
    elections: { type: 'string', default: '2000' },
    'window-ms': { type: 'string', default: '10000' },
    endpoints: { type: 'string' },
  },
});
const count = Number(values.elections);
const windowMs = Number(values['window-ms']);
if (!Number.isInteger(count) || count < 1 || !Number.isFinite(windowMs) || windowMs < 1000) {
  console.error('usage: node bench/etcd/renew-alloc.mjs [--elections N] [--window-ms MS ≥ 1000]');
  process.exit(2);
}
const timings = { leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2_000 };

const cluster = await etcdForTool(values.endpoints, 'bench-alloc');
const client = createEtcdClient({ endpoints: cluster.endpoints });
const run = Date.now().toString(36);
const electors = [];
let leading = 0;
let renewals = 0;
const session = new Session();
const post = (method, params) =>
  new Promise((resolve, reject) =>
    session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
  );

try {
  let allLeading;
  const ready = new Promise((resolve) => {
    allLeading = resolve;
  });
  for (let i = 0; i < count; i++) {
    const elector = new LeaderElector({
      backend: etcdBackend({ client, election: `bench-alloc/${run}-${i}` }),
      identity: 'alloc',
      ...timings,
      onStartedLeading: () => {
        if (++leading === count) allLeading();
      },
    });
    elector.on('error', () => {});
    void elector.run();
    electors.push(elector);
  }
  const timeout = setTimeout(() => allLeading(), 120_000);
  await ready;
  clearTimeout(timeout);
  if (leading < count) throw new Error(`only ${leading} of ${count} elections led within 120 s`);
  // Let the campaign burst settle (watch creation, first renewals), then count renewals.
  await new Promise((resolve) => setTimeout(resolve, 2 * timings.retryPeriod + 1_000));
  for (const elector of electors) elector.on('renewed', () => renewals++);

  session.connect();
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const before = renewals;
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const { profile } = await post('HeapProfiler.stopSampling');
  const counted = renewals - before;
  let bytes = 0;
  const stack = [profile.head];
  while (stack.length > 0) {
    const node = stack.pop();
    bytes += node.selfSize;
    stack.push(...node.children);
  }
  console.log(
    `${count} elections, ${counted} renewals in ${windowMs / 1000} s: ${(bytes / 1e6).toFixed(1)} MB allocated, ${Math.round(bytes / Math.max(1, counted))} bytes per renewal (sampled every 1 KB; the 'renewed' listeners add a little)`,
  );
} finally {
  session.disconnect();
  await Promise.all(electors.map((elector) => elector.stop()));
  client.close();
  await cluster.stop();
}
