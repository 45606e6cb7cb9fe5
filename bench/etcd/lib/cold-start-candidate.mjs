#!/usr/bin/env node
/**
 * One cold-start candidate for bench/etcd/cold-start-trace.mjs, timing its own phases with epoch
 * timestamps (`performance.timeOrigin + performance.now()`, comparable across processes):
 *
 *   ours   process start → script runs → `etcd3` imported → leader-elect/etcd imported →
 *          leader-elect imported → elector constructed → each gRPC call (sent → answered) →
 *          onStartedLeading
 *   floor  process start → script runs → `etcd3` imported → one lease grant → one
 *          create-if-absent transaction with that lease (the recipe's campaign, nothing else)
 *
 * The gRPC calls are timed by wrapping the methods of the grpc-js service clients etcd3 creates
 * (etcd3's `Host#getServiceClient`, which our backend also goes through), so every round trip of
 * either mode is seen, whoever makes it. Prints one JSON line and exits.
 *
 *   node bench/etcd/lib/cold-start-candidate.mjs '{"mode":"ours","endpoints":[...],"election":"e","identity":"a"}'
 */
import { createRequire } from 'node:module';

const epochMs = () => performance.timeOrigin + performance.now();
const marks = { processStart: performance.timeOrigin, scriptStart: epochMs() };
const config = JSON.parse(process.argv[2] ?? '{}');
const calls = [];

const { Etcd3 } = await import('etcd3');
marks.etcd3Imported = epochMs();
traceGrpc();

if (config.mode === 'floor') await floor();
else await ours();

function traceGrpc() {
  // etcd3 creates one grpc-js service client per member and service, in Host#getServiceClient;
  // wrap each method of each client's class once, the first time one is created.
  const requireFromEtcd3 = createRequire(createRequire(import.meta.url).resolve('etcd3'));
  const { Host } = requireFromEtcd3('./connection-pool.js');
  const getServiceClient = Host.prototype.getServiceClient;
  const traced = new Set();
  Host.prototype.getServiceClient = function (name) {
    const client = getServiceClient.call(this, name);
    const ServiceClient = client.constructor;
    if (!traced.has(ServiceClient)) {
      traced.add(ServiceClient);
      traceService(ServiceClient);
    }
    return client;
  };
}

/**
 * Wraps each method of a grpc-js service client class to record when it was sent and answered
 * (under both of its names: grpc-js also defines the proto's `originalName`, e.g. `leaseGrant`
 * next to `LeaseGrant`, and etcd3 calls that one).
 */
function traceService(ServiceClient) {
  for (const [name, method] of Object.entries(ServiceClient.service)) {
    for (const alias of new Set([name, method.originalName].filter(Boolean))) {
      const original = ServiceClient.prototype[alias];
      if (typeof original !== 'function') continue;
      ServiceClient.prototype[alias] = function (...args) {
        const call = { method: method.path, sent: epochMs(), answered: null };
        calls.push(call);
        if (!method.requestStream && !method.responseStream) {
          const index = args.findIndex((arg) => typeof arg === 'function');
          const callback = args[index];
          args[index] = (...result) => {
            call.answered = epochMs();
            return callback(...result);
          };
          return original.apply(this, args);
        }
        const stream = original.apply(this, args);
        stream.once('data', () => {
          call.answered = epochMs();
        });
        return stream;
      };
    }
  }
}

function report(fields) {
  process.stdout.write(`${JSON.stringify({ ...marks, ...fields, calls })}\n`);
  process.exit(0);
}

async function floor() {
  const client = new Etcd3({ hosts: config.endpoints });
  const lease = client.lease(Math.ceil((config.leaseDuration ?? 2000) / 1000), {
    autoKeepAlive: false,
  });
  const id = await lease.grant();
  marks.granted = epochMs();
  const key = `${config.election}/${BigInt(id).toString(16)}`;
  const result = await client
    .if(key, 'Create', '==', 0)
    .then(client.put(key).value(config.identity).lease(id))
    .else(client.get(key))
    .commit();
  marks.leading = epochMs();
  report({ mode: 'floor', succeeded: result.succeeded });
}

async function ours() {
  const { etcdBackend } = await import('../../../dist/etcd/index.js');
  marks.backendImported = epochMs();
  const { LeaderElector } = await import('../../../dist/index.js');
  marks.electorImported = epochMs();
  const elector = new LeaderElector({
    backend: etcdBackend({
      endpoints: config.endpoints,
      election: config.election,
      steering: true,
    }),
    identity: config.identity,
    leaseDuration: config.leaseDuration ?? 2000,
    renewDeadline: config.renewDeadline ?? 1500,
    retryPeriod: config.retryPeriod ?? 500,
    onStartedLeading: () => {
      marks.leading = epochMs();
      report({ mode: 'ours', won: true });
    },
  });
  marks.constructed = epochMs();
  elector.on('newLeader', (leader) => {
    if (leader.identity !== null && leader.identity !== config.identity) {
      marks.leading = null;
      marks.lost = epochMs();
      report({ mode: 'ours', won: false });
    }
  });
  void elector.run();
}
