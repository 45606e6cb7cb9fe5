import { Counter, Registry } from 'prom-client';
import { expect, test, vi } from 'vitest';
import { ErrorCode, LeaderElector, MemoryStore } from '../../src/index.js';
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

test('a second copy of the module (the CommonJS and ESM builds in one process) shares the metrics', async () => {
  const registry = new Registry();
  const first = prometheusMetrics({ registry });
  vi.resetModules();
  const copy = await import('../../src/prometheus/prometheus-metrics.js');
  expect(copy.prometheusMetrics).not.toBe(prometheusMetrics);
  const second = copy.prometheusMetrics({ registry });
  first.leaderStatus?.('from-first', true);
  second.leaderStatus?.('from-second', true);
  const text = await registry.getSingleMetricAsString('leader_election_master_status');
  expect(text).toContain('leader_election_master_status{name="from-first"} 1');
  expect(text).toContain('leader_election_master_status{name="from-second"} 1');
});

test('a metric of another kind under one of our names is a typed error, not a crash later', () => {
  const registry = new Registry();
  new Counter({ name: 'leader_election_master_status', help: 'not ours', registers: [registry] });
  expect(() => prometheusMetrics({ registry })).toThrow(
    expect.objectContaining({
      code: ErrorCode.InvalidOption,
      message:
        'the registry already has a metric named leader_election_master_status that is not a gauge',
    }),
  );
});
