import { Counter, Gauge, register as globalRegistry, Histogram, type Registry } from 'prom-client';
import { ErrorCode, LeaderElectError } from '../errors.js';
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
  const m = instruments(options.registry ?? globalRegistry);
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

/**
 * The instruments of `registry`, created on first use. Looked up in the registry itself rather
 * than in a module-level cache: a second copy of this module (the CommonJS and the ESM build in
 * one process, or two installed versions) must reuse them, since prom-client refuses to register
 * a name twice.
 */
function instruments(registry: Registry) {
  const find = <T>(name: string, kind: 'gauge' | 'counter' | 'histogram', method: string) => {
    const existing = registry.getSingleMetric(name) as unknown;
    if (existing === undefined) return undefined;
    if (typeof (existing as Record<string, unknown>)[method] !== 'function') {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `the registry already has a metric named ${name} that is not a ${kind}`,
      );
    }
    return existing as T;
  };
  const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
    find<Gauge<L>>(name, 'gauge', 'set') ??
    new Gauge({ name, help, labelNames, registers: [registry] });
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
    find<Counter<L>>(name, 'counter', 'inc') ??
    new Counter({ name, help, labelNames, registers: [registry] });
  const histogram = <L extends string>(name: string, help: string, labelNames: L[]) =>
    find<Histogram<L>>(name, 'histogram', 'observe') ??
    new Histogram({ name, help, labelNames, buckets: BUCKETS, registers: [registry] });
  return {
    status: gauge(
      'leader_election_master_status',
      'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
      ['name'],
    ),
    slowPath: counter(
      'leader_election_slowpath_total',
      'Total number of slow path exercised in renewing leader leases.',
      ['name'],
    ),
    transitions: counter(
      'leader_election_transitions_total',
      'Terms started by this process (acquisitions of the lease).',
      ['name'],
    ),
    termEnds: counter(
      'leader_election_term_ends_total',
      'Terms ended, by reason (stopped, lost, renew-deadline, work-failed).',
      ['name', 'reason'],
    ),
    renew: histogram('leader_election_renew_duration_seconds', 'Latency of lease renewals.', [
      'name',
      'result',
    ]),
    acquire: histogram(
      'leader_election_time_to_acquire_seconds',
      'Time from the start of a campaign (or the last loss) to leadership.',
      ['name'],
    ),
  };
}
