#!/usr/bin/env node
/**
 * Peer: @codedependant/kubernetes-leader-election's `Elector`, used as its README shows:
 * `new Elector({ lease_name, namespace, identity, lease_duration_sec, renew_interval_ms })`,
 * `start()`, `stop()` (releases the Lease), `leadership_acquired` / `leadership_lost` events.
 * Speaks the harness protocol of ./lib/protocol.mjs.
 *
 *   KUBECONFIG=FILE KUBERNETES_SERVICE_HOST=127.0.0.1 \
 *   node bench/fixtures/codedependant.mjs --namespace NS --name LEASE --identity ID
 *        [--lease-duration-sec 20] [--renew-interval-ms 10000] [--fence-url URL]
 *
 * The library reads its KubeConfig with loadFromDefault() (KUBECONFIG) and elects itself at once
 * when KUBERNETES_SERVICE_HOST is unset, so the harness sets both. It cannot campaign again after
 * stop(): `step-down` is not offered; `exit` releases and exits. It has no fencing token.
 */
import { parseArgs } from 'node:util';
import { emit, exitSoon, onCommands, startFencedWrites } from './lib/protocol.mjs';

const { values: flags } = parseArgs({
  options: {
    namespace: { type: 'string', default: 'default' },
    name: { type: 'string' },
    identity: { type: 'string' },
    'lease-duration-sec': { type: 'string', default: '20' },
    'renew-interval-ms': { type: 'string', default: '10000' },
    'fence-url': { type: 'string' },
    'write-interval-ms': { type: 'string', default: '50' },
  },
});

const { Elector } = await import('@codedependant/kubernetes-leader-election');
emit('started', { pid: process.pid });

const elector = new Elector({
  auto_close: false,
  identity: flags.identity,
  lease_name: flags.name,
  namespace: flags.namespace,
  lease_duration_sec: Number(flags['lease-duration-sec']),
  renew_interval_ms: Number(flags['renew-interval-ms']),
});
let stopWrites = () => {};
elector.on(Elector.EVENTS.LEADERSHIP_ACQUIRED, () => {
  emit('elected');
  stopWrites();
  stopWrites = startFencedWrites({
    url: flags['fence-url'],
    intervalMs: Number(flags['write-interval-ms']),
    identity: flags.identity,
    isLeader: () => elector.current_leader,
    token: () => undefined,
  });
});
elector.on(Elector.EVENTS.LEADERSHIP_LOST, () => {
  stopWrites();
  emit('lost', { reason: 'leadership_lost' });
});
void elector
  .start()
  .catch((error) => emit('error', { op: 'start', error: String(error?.message ?? error) }));
emit('campaigning');

onCommands(async (command) => {
  if (command === 'exit') {
    exitSoon(0, 10_000);
    stopWrites();
    await elector.stop();
    process.exit(0);
  } else {
    emit('error', { op: 'command', error: `unsupported command ${command}` });
  }
});
