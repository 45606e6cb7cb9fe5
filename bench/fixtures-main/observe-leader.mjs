#!/usr/bin/env node
/**
 * The library's observer in a process of its own: `observeLeader(backend)` on the election that
 * `leader-elect watch` would watch with the same flags (a subset of them), the backend built the
 * way the CLI builds it (src/cli/open-backend.ts). One JSON line per event on stdout:
 *
 *   started   after the imports
 *   push      { up }: the push channel came up or went down (never in --poll-only)
 *   leader    { leader (null: none), token, at }: a change, `at` this process's epoch time in ms
 *             (performance.timeOrigin + performance.now(), as the candidates' `elected` lines)
 *   error     { error }
 *
 *   node bench/fixtures/observe-leader.mjs --backend etcd --endpoints URL[,URL] --election NAME
 *   node bench/fixtures/observe-leader.mjs --backend kubernetes --kubeconfig FILE --namespace NS --lease-name NAME
 *   node bench/fixtures/observe-leader.mjs --backend postgres --connection-string URL --table T --election NAME
 *        [--poll-only] [--poll-interval-ms 2000]
 *
 * --poll-only hides the backend's push channels (`observe`, `watch`) from the observer, which then
 * reads the lease every --poll-interval-ms: how `leader-elect watch` followed etcd before it was
 * built on observeLeader (a read every --poll-interval, default 2 s). The PostgreSQL password
 * comes from $PGPASSWORD, as for the CLI. Runs until SIGTERM or EOF on stdin.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { observeLeader } from '../../dist/index.js';
import { emit } from './lib/protocol.mjs';

const { values: flags } = parseArgs({
  options: {
    backend: { type: 'string' },
    endpoints: { type: 'string' },
    election: { type: 'string' },
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', default: 'default' },
    'lease-name': { type: 'string' },
    'connection-string': { type: 'string' },
    table: { type: 'string' },
    'poll-only': { type: 'boolean', default: false },
    'poll-interval-ms': { type: 'string', default: '2000' },
  },
});

const epochMs = () => performance.timeOrigin + performance.now();

async function openBackend() {
  switch (flags.backend) {
    case 'etcd': {
      const { etcdBackend } = await import('../../dist/etcd/index.js');
      return etcdBackend({
        election: flags.election,
        endpoints: flags.endpoints.split(','),
        steering: true,
      });
    }
    case 'kubernetes': {
      const { KubeConfig } = await import('@kubernetes/client-node');
      const { kubernetesBackend } = await import('../../dist/kubernetes/index.js');
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(flags.kubeconfig);
      return kubernetesBackend({
        kubeConfig,
        namespace: flags.namespace,
        name: flags['lease-name'],
      });
    }
    case 'postgres': {
      const { postgresBackend } = await import('../../dist/postgres/index.js');
      return postgresBackend({
        connectionString: flags['connection-string'],
        name: flags.election,
        ...(flags.table === undefined ? {} : { table: flags.table }),
        ...(process.env.PGPASSWORD === undefined ? {} : { password: process.env.PGPASSWORD }),
      });
    }
    default:
      throw new Error(`--backend etcd, kubernetes or postgres, got ${flags.backend}`);
  }
}

/** The backend with its push channels hidden: the observer can only read. */
function readOnly(backend) {
  return {
    description: backend.description,
    inspect: (options) => backend.inspect(options),
    close: () => backend.close(),
  };
}

const backend = await openBackend();
emit('started', { pid: process.pid });
const observer = observeLeader(flags['poll-only'] ? readOnly(backend) : backend, {
  pollInterval: Number(flags['poll-interval-ms']),
});
observer.on('leader', (change) =>
  emit('leader', {
    leader: change.identity,
    token: change.token === null ? null : String(change.token),
    at: epochMs(),
  }),
);
observer.on('push', (up) => emit('push', { up }));
observer.on('error', (error) => emit('error', { error: String(error?.message ?? error) }));

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 3_000).unref();
  observer.close();
  await backend.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
createInterface({ input: process.stdin }).on('close', stop);
