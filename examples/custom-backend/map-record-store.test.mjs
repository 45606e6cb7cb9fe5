// The package's backend conformance suite against the example store (run it with `npx vitest`).
import { describeBackendConformance } from 'leader-elect/testing/conformance';
import { MapRecordStore } from './map-record-store.mjs';

const store = new MapRecordStore();

describeBackendConformance({
  name: 'map-record-store (examples/custom-backend)',
  // In-process: short timings keep the suite to a few seconds. A networked store needs timings
  // well above its round trip (and whole seconds if its lease unit is seconds).
  timings: { leaseDuration: 600, renewDeadline: 400, retryPeriod: 150 },
  newBackend: (election) => store.lease(election),
  corrupt: async (election) => store.writeRaw(election, { holderIdentity: 42, note: 'not ours' }),
  evict: async (election) => store.clearHolder(election),
});
