/**
 * The Lease as we write it, read back by the admin through client-node: client-go's field
 * mapping, metadata and foreign fields kept, and, from the apiserver's own audit log, the
 * leader's renewals are PUTs with no GET before them.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { afterEach, beforeAll, describe, expect, inject, test } from 'vitest';
import { LeaderElector } from '../../src/index.js';
import { kubernetesBackend } from '../../src/kubernetes/index.js';
import { sleep, waitFor } from '../support/wait.js';
import {
  adminClients,
  adminKubeConfig,
  auditEvents,
  ensureNamespace,
  readLease,
  uniqueName,
} from './support.js';

const namespace = 'le-mapping';
const timings = { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 300 };
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
let electors: LeaderElector[] = [];

beforeAll(async () => {
  await ensureNamespace(namespace);
});

afterEach(async () => {
  await Promise.all(electors.map((e) => e.stop()));
  electors = [];
});

function ours(name: string, identity: string): LeaderElector {
  const e = new LeaderElector({
    backend: kubernetesBackend({ kubeConfig: adminKubeConfig(), namespace, name }),
    identity,
    ...timings,
  });
  electors.push(e);
  return e;
}

describe('kubernetes Lease mapping', () => {
  test('fields as client-go writes them: seconds, MicroTime, transitions = token', async () => {
    const name = uniqueName('fields');
    const e = ours(name, 'mapper');
    void e.run();
    const term = await e.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    const first = await rawLease(name);
    await sleep(timings.retryPeriod * 2);
    const lease = await readLease(namespace, name);
    expect(lease?.spec?.holderIdentity).toBe('mapper');
    expect(lease?.spec?.leaseDurationSeconds).toBe(3);
    expect(lease?.spec?.leaseTransitions).toBe(Number(term.token));
    // Raw JSON, not client-node's Date conversion: read the wire format.
    const raw = await rawLease(name);
    expect(raw.spec.acquireTime).toMatch(MICRO_TIME);
    expect(raw.spec.renewTime).toMatch(MICRO_TIME);
    // A renewal keeps acquireTime and moves renewTime.
    expect(raw.spec.acquireTime).toBe(first.spec.acquireTime);
    expect(raw.spec.renewTime).not.toBe(first.spec.renewTime);

    await e.stop();
    const released = await readLease(namespace, name);
    expect(released?.spec?.holderIdentity).toBe('');
    expect(released?.spec?.leaseDurationSeconds).toBe(1);
    expect(released?.spec?.leaseTransitions).toBe(Number(term.token));
  });

  test('labels, annotations, strategy and preferredHolder survive our writes', async () => {
    const name = uniqueName('keep');
    await adminClients().coordination.createNamespacedLease({
      namespace,
      body: {
        metadata: {
          name,
          labels: { team: 'platform' },
          annotations: { 'example.com/note': 'keep me' },
        },
        spec: { strategy: 'OldestEmulationVersion', preferredHolder: 'someone-else' },
      },
    });
    const e = ours(name, 'keeper');
    void e.run();
    await e.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    await sleep(timings.retryPeriod * 3); // a few renewals
    await e.stop();
    const lease = await readLease(namespace, name);
    expect(lease?.metadata?.labels).toEqual({ team: 'platform' });
    expect(lease?.metadata?.annotations).toEqual({ 'example.com/note': 'keep me' });
    expect(lease?.spec?.strategy).toBe('OldestEmulationVersion');
    expect(lease?.spec?.preferredHolder).toBe('someone-else');
  });

  test("the leader's renewals are PUTs from the cached object, with no GET (apiserver audit log)", async () => {
    const name = uniqueName('no-get');
    const e = ours(name, 'renewer');
    let renewals = 0;
    e.on('renewed', () => renewals++);
    void e.run();
    await e.waitForLeadership({ signal: AbortSignal.timeout(5_000) });
    const from = Date.now();
    await waitFor(() => renewals >= 5, 'five renewals', timings.renewDeadline * 5);
    const to = Date.now();
    await sleep(100);
    const events = await auditEvents(
      (ev) => ev.name === name && ev.namespace === namespace && ev.at >= from && ev.at <= to,
    );
    const verbs = events.map((ev) => ev.verb);
    expect(verbs.filter((v) => v === 'update').length).toBeGreaterThanOrEqual(4);
    expect(verbs.filter((v) => v === 'get')).toEqual([]);
  });
});

/** The Lease's JSON as served (client-node would turn MicroTime into a Date). */
function rawLease(name: string): Promise<{ spec: Record<string, unknown> }> {
  const url = `${inject('kubeServer')}/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`;
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      {
        ca: readFileSync(inject('kubeCaFile')),
        headers: { authorization: `Bearer ${inject('kubeAdminToken')}` },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve(JSON.parse(body)));
      },
    );
    req.on('error', reject);
  });
}
