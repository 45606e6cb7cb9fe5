/**
 * The shared backend conformance suite against a real kube-apiserver (built from source by the
 * global setup). Timings are whole seconds for the lease (the Lease API's unit).
 */
import { V1MicroTime } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { kubernetesBackend } from '../../src/kubernetes/index.js';
import { describeBackendConformance } from '../../src/testing/conformance/index.js';
import { adminClients, adminKubeConfig, ensureNamespace, readLease } from './support.js';

const namespace = 'le-conformance';
await ensureNamespace(namespace);
const kubeConfig = adminKubeConfig();

describeBackendConformance({
  name: `kubernetes ${inject('kubeVersion')}`,
  timings: { leaseDuration: 2000, renewDeadline: 1500, retryPeriod: 300 },
  // client-go's rule, max(1 s, renewDeadline / 2), would be 1 s; a hung request then still
  // leaves room for a retry within the renew deadline.
  newBackend: (election) =>
    kubernetesBackend({ kubeConfig, namespace, name: election, requestTimeoutMs: 750 }),
  // Garbage: a holder without a lease duration. client-go would read it as "expired at once";
  // we must never treat it as free.
  corrupt: async (election) => {
    await adminClients().coordination.createNamespacedLease({
      namespace,
      body: {
        metadata: { name: election },
        spec: { holderIdentity: 'foreign-writer', leaseTransitions: 3 },
      },
    });
  },
  // What an operator would write to force a new election: client-go's released form, with
  // leaseTransitions kept so tokens stay monotonic.
  evict: async (election) => {
    // Read-modify-write races the leader's renewals (409 Conflict): re-read and retry, bounded.
    for (let attempt = 1; ; attempt++) {
      const lease = await readLease(namespace, election);
      if (lease === null) throw new Error(`no Lease ${election} to evict`);
      // A plain Date would be sent with milliseconds, which the apiserver rejects for MicroTime.
      const now = new V1MicroTime();
      try {
        await adminClients().coordination.replaceNamespacedLease({
          namespace,
          name: election,
          body: {
            ...lease,
            spec: {
              ...lease.spec,
              holderIdentity: '',
              leaseDurationSeconds: 1,
              acquireTime: now,
              renewTime: now,
            },
          },
        });
        return;
      } catch (error) {
        if (attempt >= 20 || (error as { code?: number }).code !== 409) throw error;
      }
    }
  },
});
