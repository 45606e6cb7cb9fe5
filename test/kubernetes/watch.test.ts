/**
 * The store's watch on one Lease, through a TCP proxy that can cut connections and refuse new
 * ones: every version arrives in order, a broken stream reports `down` and reconnects with
 * bounded backoff, and no version written meanwhile is lost once it is `up` again.
 */
import { afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import type { RecordWatchEvent } from '../../src/index.js';
import { parseLeaseRecord } from '../../src/index.js';
import { KubernetesLeaseStore } from '../../src/kubernetes/index.js';
import { sleep, waitFor } from '../support/wait.js';
import { ensureNamespace, kubeConfigFor, tcpProxy, uniqueName } from './support.js';

const namespace = 'le-watch';
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  await ensureNamespace(namespace);
});

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const adminStore = () => {
  const store = new KubernetesLeaseStore({
    kubeConfig: kubeConfigFor(inject('kubeServer'), inject('kubeAdminToken'), inject('kubeCaFile')),
    namespace,
  });
  cleanups.push(() => store.close());
  return store;
};

const record = (holderIdentity: string, leaseTransitions: number) => ({
  holderIdentity,
  leaseDurationMs: 2000,
  acquireTime: '2026-01-01T00:00:00.000000Z',
  renewTime: '2026-01-01T00:00:00.000000Z',
  leaseTransitions,
});

function holders(events: RecordWatchEvent[]): string[] {
  return events.flatMap((e) =>
    e.type === 'record' && e.record !== null
      ? [parseLeaseRecord(e.record.data, 'watched').holderIdentity]
      : [],
  );
}

describe('kubernetes watch on one Lease', () => {
  test('every version in order; a cut stream goes down, comes back up, and misses nothing', async () => {
    const proxy = await tcpProxy(inject('kubeServer'));
    cleanups.push(() => proxy.close());
    const watched = new KubernetesLeaseStore({
      kubeConfig: kubeConfigFor(proxy.url, inject('kubeAdminToken'), inject('kubeCaFile')),
      namespace,
    });
    cleanups.push(() => watched.close());
    const writer = adminStore();
    const name = uniqueName('watched');
    const signal = () => AbortSignal.timeout(5_000);

    const events: RecordWatchEvent[] = [];
    const handle = watched.watch(name, (e) => events.push(e));
    cleanups.push(() => handle.close());
    await waitFor(() => events.some((e) => e.type === 'up'), 'up', 5_000);
    // The initial list reported "absent".
    expect(events.find((e) => e.type === 'record')).toEqual({ type: 'record', record: null });

    let stored = await writer.create(name, record('a', 0), signal());
    stored = await writer.update(name, record('b', 1), stored.version, signal());
    await waitFor(() => holders(events).length === 2, 'two versions', 5_000);
    expect(holders(events)).toEqual(['a', 'b']);

    // Cut the stream and refuse reconnection for a while; write meanwhile.
    await proxy.refuse(); // cuts every connection too
    await waitFor(() => events.some((e) => e.type === 'down'), 'down', 5_000);
    stored = await writer.update(name, record('c', 2), stored.version, signal());
    await sleep(1_000); // several reconnect attempts against a closed port
    const reconnectedBefore = events.filter((e) => e.type === 'up').length;
    await proxy.accept();
    const acceptedAt = performance.now();
    await waitFor(
      () => events.filter((e) => e.type === 'up').length > reconnectedBefore,
      'up again',
      8_000,
    );
    // Bounded backoff: back within the maximum delay (5 s) plus jitter and a request.
    expect(performance.now() - acceptedAt).toBeLessThan(7_000);
    await waitFor(() => holders(events).includes('c'), 'the version written while down', 5_000);
    stored = await writer.update(name, record('d', 3), stored.version, signal());
    await waitFor(() => holders(events).includes('d'), 'a version after reconnecting', 5_000);
    expect(holders(events)).toEqual(['a', 'b', 'c', 'd']);
    const downs = events.filter((e) => e.type === 'down');
    expect(downs).toHaveLength(1); // one down per outage, not one per failed attempt

    handle.close();
    await sleep(100);
    const after = events.length;
    await writer.update(name, record('e', 4), stored.version, signal());
    await sleep(300);
    expect(events.length).toBe(after); // closed: nothing more
  });
});
