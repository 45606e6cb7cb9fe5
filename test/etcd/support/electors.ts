/** In-process etcd candidates for the integration tests, with an event log and cleanup. */

import {
  type EtcdBackendOptions,
  type EtcdBackendTuning,
  type EtcdFence,
  etcdBackend,
} from '../../../src/etcd/index.js';
import {
  type LeaderElectError,
  LeaderElector,
  type LeaderElectorOptions,
  type Term,
} from '../../../src/index.js';
import { CONFORMANCE_TIMINGS } from './etcd-test-env.js';

export type EtcdElector = LeaderElector<EtcdFence>;

export interface Recorded {
  readonly elector: EtcdElector;
  readonly errors: LeaderElectError[];
  readonly warnings: LeaderElectError[];
  readonly terms: Term<EtcdFence>[];
  readonly stops: { readonly token: bigint; readonly reason: string; readonly at: number }[];
  readonly leaders: {
    readonly identity: string | null;
    readonly token: bigint | null;
    readonly at: number;
  }[];
}

export class Electors {
  readonly #all: Recorded[] = [];

  create(
    backend: EtcdBackendOptions & EtcdBackendTuning,
    identity: string,
    extra: Partial<LeaderElectorOptions<EtcdFence>> = {},
  ): Recorded {
    const warnings: LeaderElectError[] = [];
    const elector = new LeaderElector<EtcdFence>({
      backend: etcdBackend({
        ...backend,
        onWarning: (w) => warnings.push(w),
      } as EtcdBackendOptions),
      identity,
      ...CONFORMANCE_TIMINGS,
      ...extra,
    });
    const recorded: Recorded = { elector, errors: [], warnings, terms: [], stops: [], leaders: [] };
    elector.on('error', (error) => recorded.errors.push(error));
    elector.on('startedLeading', (term) => recorded.terms.push(term));
    elector.on('stoppedLeading', (term, reason) =>
      recorded.stops.push({ token: term.token, reason, at: performance.now() }),
    );
    elector.on('newLeader', (leader) =>
      recorded.leaders.push({ ...leader, at: performance.now() }),
    );
    this.#all.push(recorded);
    return recorded;
  }

  async stopAll(): Promise<void> {
    const all = this.#all.splice(0);
    await Promise.all(all.map((r) => r.elector.stop()));
  }
}
