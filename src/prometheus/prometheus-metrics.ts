import { Counter, Gauge, register as globalRegistry, Histogram, type Registry } from 'prom-client';
import type { ElectionMetrics } from '../observability/metrics.js';

export interface PrometheusMetricsOptions {
  /** Registry to register the metrics in. @default prom-client's global registry */
  readonly registry?: Registry;
}

/** Latency buckets in seconds: sub-millisecond handoffs up to a full default lease. */
const BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30,
];

/**
 * An {@link ElectionMetrics} sink over prom-client, with client-go's and component-base's names
 * where they exist:
 * - `leader_election_master_status{name}` 1 while leading, 0 otherwise (component-base);
 * - `leader_election_slowpath_total{name}` renewals that fell back to get + update (component-base);
 * - `leader_election_transitions_total{name}` terms started by this process;
 * - `leader_election_term_ends_total{name,reason}` terms ended, by reason;
 * - `leader_election_renew_duration_seconds{name,result}` renewal latency;
 * - `leader_election_time_to_acquire_seconds{name}` from the start of a campaign to leadership.
 *
 * Metrics are created once per registry; several electors share them through the `name` label.
 *
 * @example
 * const metrics = prometheusMetrics();
 * new LeaderElector({ backend, metrics });
 */
export function prometheusMetrics(options: PrometheusMetricsOptions = {}): ElectionMetrics {
  const registry = options.registry ?? globalRegistry;
  const existing = instruments.get(registry);
  const m = existing ?? createInstruments(registry);
  if (existing === undefined) instruments.set(registry, m);
  return {
    leaderStatus: (name, leading) => m.status.set({ name }, leading ? 1 : 0),
    termStarted: (name) => m.transitions.inc({ name }),
    termEnded: (name, reason) => m.termEnds.inc({ name, reason }),
    renewLatency: (name, latencyMs, ok) =>
      m.renew.observe({ name, result: ok ? 'success' : 'failure' }, latencyMs / 1000),
    timeToAcquire: (name, waitedMs) => m.acquire.observe({ name }, waitedMs / 1000),
    slowPath: (name) => m.slowPath.inc({ name }),
  };
}

type Instruments = ReturnType<typeof createInstruments>;
const instruments = new WeakMap<Registry, Instruments>();

function createInstruments(registry: Registry) {
  const registers = [registry];
  return {
    status: new Gauge({
      name: 'leader_election_master_status',
      help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
      labelNames: ['name'],
      registers,
    }),
    slowPath: new Counter({
      name: 'leader_election_slowpath_total',
      help: 'Total number of slow path exercised in renewing leader leases.',
      labelNames: ['name'],
      registers,
    }),
    transitions: new Counter({
      name: 'leader_election_transitions_total',
      help: 'Terms started by this process (acquisitions of the lease).',
      labelNames: ['name'],
      registers,
    }),
    termEnds: new Counter({
      name: 'leader_election_term_ends_total',
      help: 'Terms ended, by reason (stopped, lost, renew-deadline, work-failed).',
      labelNames: ['name', 'reason'],
      registers,
    }),
    renew: new Histogram({
      name: 'leader_election_renew_duration_seconds',
      help: 'Latency of lease renewals.',
      labelNames: ['name', 'result'],
      buckets: BUCKETS,
      registers,
    }),
    acquire: new Histogram({
      name: 'leader_election_time_to_acquire_seconds',
      help: 'Time from the start of a campaign (or the last loss) to leadership.',
      labelNames: ['name'],
      buckets: BUCKETS,
      registers,
    }),
  };
}
