import { MemoryStore } from '../../src/index.js';
import { describeBackendConformance } from '../../src/testing/conformance/index.js';

const store = new MemoryStore();

describeBackendConformance({
  name: 'memory',
  timings: { leaseDuration: 600, renewDeadline: 400, retryPeriod: 150 },
  newBackend: (election) => store.lease(election),
  corrupt: async (election) => {
    store.putRaw(election, { holderIdentity: 42, note: 'written by something else' });
  },
  evict: async (election) => {
    const current = store.inspect(election);
    const data = current?.data as Record<string, unknown> | undefined;
    store.putRaw(election, { ...data, holderIdentity: '', leaseDurationMs: 1000 });
  },
});
