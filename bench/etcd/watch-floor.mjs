#!/usr/bin/env node
/**
 * How fast etcd creates watches on one stream, with no election code and nothing else running:
 * N create requests (one key each, starting at the current revision, as our own-key watches do)
 * written at once on one raw Watch stream of the etcd3 client, timed until every `created`
 * answer is back. The floor under a process that starts N elections on one client: none of
 * their own-key watches can be live sooner.
 *
 *   node bench/etcd/watch-floor.mjs [--watches 100000] [--endpoints URL,URL]
 *
 * Without --endpoints it starts a private three-member etcd from the test environment (the same
 * settings as the benchmark's). Bounded: it gives up 120 s after the last request was written.
 */
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { etcdForTool } from './lib/cluster.mjs';

const { values } = parseArgs({
  options: {
    watches: { type: 'string', default: '100000' },
    endpoints: { type: 'string' },
  },
});
const n = Number(values.watches);
if (!Number.isInteger(n) || n < 1) {
  console.error('usage: node bench/etcd/watch-floor.mjs [--watches N] [--endpoints URLS]');
  process.exit(2);
}

const cluster = await etcdForTool(values.endpoints, 'watch-floor');
const client = new Etcd3({ hosts: cluster.endpoints });
const prefix = `watch-floor/${Date.now().toString(36)}`;
try {
  const stream = await client.watchClient.watch();
  let created = 0;
  const marks = [];
  const t0 = performance.now();
  const done = new Promise((resolve, reject) => {
    stream.on('data', (response) => {
      if (!response.created) return;
      created++;
      if (created % Math.max(1, Math.floor(n / 10)) === 0) {
        marks.push(`${created} after ${Math.round(performance.now() - t0)} ms`);
      }
      if (created === n) resolve();
    });
    stream.on('error', reject);
  });
  for (let i = 0; i < n; i++) {
    stream.write({
      create_request: { key: Buffer.from(`${prefix}/${i}`), start_revision: '0', filters: [0] },
    });
  }
  const timeout = new Promise((_, reject) =>
    setTimeout(
      () => reject(new Error(`only ${created} of ${n} created after 120 s`)),
      120_000,
    ).unref(),
  );
  await Promise.race([done, timeout]);
  const ms = performance.now() - t0;
  console.log(
    `${n} watches created on one stream in ${Math.round(ms)} ms (${Math.round(n / (ms / 1000))} per second)`,
  );
  console.log(marks.join('\n'));
  stream.end();
} finally {
  client.close();
  await cluster.stop();
}
