import { Registry } from 'prom-client';
import { expect, test } from 'vitest';
import { LeaderElector, MemoryStore } from '../../src/index.js';
import { prometheusMetrics } from '../../src/prometheus/index.js';
import { FakeClock } from '../../src/testing/index.js';

test('prometheus sink: master_status, transitions, renew latency with client-go names', async () => {
  const clock = new FakeClock();
  const registry = new Registry();
  const metrics = prometheusMetrics({ registry });
  const store = new MemoryStore();
  const elector = new LeaderElector({
    backend: store.lease('ctl'),
    name: 'ctl',
    identity: 'a',
    clock,
    metrics,
  });
  void elector.run();
  await clock.advance(4_000);
  let text = await registry.metrics();
  expect(text).toContain('leader_election_master_status{name="ctl"} 1');
  expect(text).toContain('leader_election_transitions_total{name="ctl"} 1');
  expect(text).toContain(
    'leader_election_renew_duration_seconds_count{name="ctl",result="success"} 2',
  );
  expect(text).toContain('leader_election_time_to_acquire_seconds_count{name="ctl"} 1');
  const stopping = elector.stop();
  await clock.advance(0);
  await stopping;
  text = await registry.metrics();
  expect(text).toContain('leader_election_master_status{name="ctl"} 0');
  expect(text).toContain('leader_election_term_ends_total{name="ctl",reason="stopped"} 1');
  // A second sink on the same registry reuses the instruments instead of failing to register.
  expect(() => prometheusMetrics({ registry })).not.toThrow();
});
