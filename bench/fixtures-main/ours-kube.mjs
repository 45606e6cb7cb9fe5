#!/usr/bin/env node
/**
 * Ours on Kubernetes: `leader-elect` with `leader-elect/kubernetes` on a coordination.k8s.io/v1
 * Lease, configured with its own `loadKubeconfig` (the README's way; it does not import
 * @kubernetes/client-node). Speaks the harness protocol.
 *
 *   node bench/fixtures/ours-kube.mjs --kubeconfig FILE --namespace NS --name LEASE --identity ID
 *        [--lease-duration-ms 15000 --renew-deadline-ms 10000 --retry-period-ms 2000]
 *        [--scale --elections N] [--fence-url URL --write-interval-ms MS]
 */
import { parseArgs } from 'node:util';
import { runOurCandidate, timingFlagOptions, timingsFromFlags } from './lib/ours.mjs';
import { emit } from './lib/protocol.mjs';

const { values: flags } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', default: 'default' },
    name: { type: 'string' },
    identity: { type: 'string' },
    elections: { type: 'string', default: '1' },
    scale: { type: 'boolean', default: false },
    'fence-url': { type: 'string' },
    'write-interval-ms': { type: 'string', default: '50' },
    ...timingFlagOptions,
  },
});

const { kubernetesBackend, loadKubeconfig } = await import('../../dist/kubernetes/index.js');
emit('started', { pid: process.pid });

const kubeConfig = await loadKubeconfig({ path: flags.kubeconfig });
runOurCandidate({
  makeBackend: (name) => kubernetesBackend({ kubeConfig, namespace: flags.namespace, name }),
  election: flags.name,
  identity: flags.identity,
  timings: timingsFromFlags(flags),
  elections: Number(flags.elections),
  scale: flags.scale,
  fenceUrl: flags['fence-url'],
  writeIntervalMs: Number(flags['write-interval-ms']),
});
