#!/usr/bin/env node
/**
 * Ours on etcd: `leader-elect` with `leader-elect/etcd`, one etcd3 client (hence one session
 * lease) shared by every election of the process. Speaks the harness protocol.
 *
 *   node bench/fixtures/ours-etcd.mjs --endpoints URL[,URL] --election NAME --identity ID
 *        [--lease-duration-ms 15000 --renew-deadline-ms 10000 --retry-period-ms 2000]
 *        [--scale --elections N] [--fence-url URL --write-interval-ms MS] [--steering]
 */
import { parseArgs } from 'node:util';
import { runOurCandidate, timingFlagOptions, timingsFromFlags } from './lib/ours.mjs';
import { emit } from './lib/protocol.mjs';

const { values: flags } = parseArgs({
  options: {
    endpoints: { type: 'string' },
    election: { type: 'string' },
    identity: { type: 'string' },
    elections: { type: 'string', default: '1' },
    scale: { type: 'boolean', default: false },
    steering: { type: 'boolean', default: false },
    'fence-url': { type: 'string' },
    'write-interval-ms': { type: 'string', default: '50' },
    ...timingFlagOptions,
  },
});

const { createEtcdClient, etcdBackend } = await import('../../dist/etcd/index.js');
emit('started', { pid: process.pid });

const client = createEtcdClient({ endpoints: flags.endpoints.split(',') });
runOurCandidate({
  // Steering (side keys, transfer requests) only where a scenario needs it — the transfer scenario
  // hands over past a candidate queued ahead of the successor; every other row measures the
  // backend as etcdBackend() comes by default, as the peers run theirs.
  makeBackend: (election) => etcdBackend({ client, election, steering: flags.steering }),
  election: flags.election,
  identity: flags.identity,
  timings: timingsFromFlags(flags),
  elections: Number(flags.elections),
  scale: flags.scale,
  fenceUrl: flags['fence-url'],
  writeIntervalMs: Number(flags['write-interval-ms']),
  close: async () => client.close(),
});
