import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { IPolicy } from 'cockatiel';
import type { LeaseBackend } from '../backend/lease-backend.js';
import type { Clock } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import type { ElectionMetrics } from '../observability/metrics.js';
import type { LeaderInfo, StopReason } from './events.js';
import type { Term } from './term.js';

/** client-go's jitter factor: follower retries wait `retryPeriod × (1 + rand × 1.2)`. */
export const JITTER_FACTOR = 1.2;

export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;

export interface LeaderElectorOptions<Fence = undefined> {
  /** Where the lease lives: `store.lease(name)`, `etcdBackend(...)`, `kubernetesBackend(...)`. */
  readonly backend: LeaseBackend<Fence>;

  /**
   * This candidate's identity, unique among all candidates of the election.
   * @default `${os.hostname()}_${randomUUID()}`
   */
  readonly identity?: string;

  /**
   * Name used in metrics (the `name` label), health messages and errors.
   * @default the backend's `name` (the election's or lease's name), else its description
   */
  readonly name?: string;

  /**
   * How long followers wait, from when they first observe a holder's latest renewal, before
   * they take the lease over. Must exceed `renewDeadline`.
   * @default 15000
   */
  readonly leaseDuration?: number;

  /**
   * How long a leader keeps leading after the send time of its last successful renewal.
   * `term.signal` aborts then at the latest. Must exceed `1.2 × retryPeriod`.
   * @default 10000
   */
  readonly renewDeadline?: number;

  /**
   * Interval between renewals, and between a follower's polls while its watch is down.
   * @default 2000
   */
  readonly retryPeriod?: number;

  /**
   * Release the lease on `stop()` (after the leader's work finished or the grace elapsed), so
   * the next candidate takes over at once instead of after expiry.
   * @default true
   */
  readonly releaseOnCancel?: boolean;

  /**
   * How long to wait for `onStartedLeading`'s promise after `term.signal` aborted:
   * - on `stop()`, before `onStoppedLeading` and the release (a stopping leader keeps renewing
   *   meanwhile, so nobody else starts while its work winds down);
   * - after a loss, before campaigning again (`onStoppedLeading` is called at once: the term is
   *   over), and with `oneShot`, before `run()` resolves.
   * @default renewDeadline
   */
  readonly stopGracePeriod?: number;

  /**
   * Campaign for one term only: after the first term ends the elector stops by itself. `run()`
   * resolves once that term's work has finished (at most `stopGracePeriod` after the term ended).
   * @default false (campaign again after a loss)
   */
  readonly oneShot?: boolean;

  /**
   * Opt-in: the largest difference between the wall clocks of any two candidates, in
   * milliseconds, that you guarantee (NTP-synchronised machines: typically tens of ms; give a
   * generous bound). With it, a record store (memory, Kubernetes) lets a follower take a lease
   * whose recorded `renewTime` is older than `leaseDuration + maxClockSkew` by its own wall
   * clock without first observing the record for a full `leaseDuration` — a restart after the
   * holder died long ago no longer waits a lease (client-go#448). This is an **assumption** like
   * the clock-rate one: if two wall clocks differ by more than `maxClockSkew` (plus the margin
   * `leaseDuration − renewDeadline`), two candidates can lead at once. etcd ignores it (its lease
   * TTL runs on the server).
   * @default undefined (off: a foreign record expires a full leaseDuration after we first saw it)
   * @example maxClockSkew: 1_000
   */
  readonly maxClockSkew?: number;

  /**
   * This candidate's priority. With it set, a leader that sees a live candidate of higher
   * priority (advertised through the backend: memory, etcd with `steering`) for a whole
   * `priorityWindow` hands over to it with `transfer`. Without it the elector neither advertises
   * a priority nor looks for one (a candidate without it counts as priority 0).
   * @default undefined (no priority steering)
   */
  readonly priority?: number;

  /**
   * How long a higher-priority candidate must have been live before a leader hands over to it:
   * a candidate that keeps restarting does not pull the lease back and forth.
   * @default leaseDuration
   */
  readonly priorityWindow?: number;

  /**
   * Hand over when an operator asks for it (`leader-elect transfer --to ID`, or a backend's
   * `requestTransfer`): the holder calls `transfer(ID)` itself, with its usual guarantees.
   * @default true
   */
  readonly honourTransferRequests?: boolean;

  /** Called when a term starts. Its promise is awaited (up to `stopGracePeriod`) on stop. */
  readonly onStartedLeading?: (term: Term<Fence>) => void | Promise<void>;
  /**
   * Called once per term that actually started, when it ends: on a loss at once (stop acting:
   * `term.signal` aborted at the same moment), on `stop()` after the work finished (or the grace
   * ran out) and before the release.
   */
  readonly onStoppedLeading?: (term: Term<Fence>, reason: StopReason) => void | Promise<void>;
  /** Called in order, de-duplicated, whenever the observed leader changes (`identity: null`: none). */
  readonly onNewLeader?: (leader: LeaderInfo) => void;

  /** Resilience policy wrapped around every backend call. @default retry transient errors twice with a short backoff */
  readonly policy?: IPolicy;
  /** Metrics sink (see `leader-elect/prometheus`). */
  readonly metrics?: ElectionMetrics;
  /** Clock for all lease decisions. @default the monotonic process clock */
  readonly clock?: Clock;
  /** Random source in [0, 1) for jitter. @default Math.random */
  readonly random?: () => number;
}

export interface Timings {
  readonly leaseDuration: number;
  readonly renewDeadline: number;
  readonly retryPeriod: number;
  readonly stopGracePeriod: number;
}

/**
 * Checks what the constructor needs beyond the timings (see `resolveTimings`) and returns the
 * identity to use. Throws a typed error that says what to pass instead.
 */
export function validateElectorOptions<Fence>(options: LeaderElectorOptions<Fence>): string {
  if (typeof options !== 'object' || options === null) {
    throw new LeaderElectError(ErrorCode.InvalidOption, 'LeaderElector needs an options object');
  }
  if (options.backend === undefined || options.backend === null) {
    throw new LeaderElectError(
      ErrorCode.MissingBackend,
      'LeaderElector needs a backend: pass `backend: new MemoryStore().lease(name)` or an etcd/kubernetes backend',
    );
  }
  if (
    typeof options.backend.attempt !== 'function' ||
    typeof options.backend.release !== 'function'
  ) {
    throw new LeaderElectError(
      ErrorCode.MissingBackend,
      'backend does not implement LeaseBackend (attempt, release, close)',
    );
  }
  const identity = options.identity ?? `${hostname()}_${randomUUID()}`;
  if (typeof identity !== 'string' || identity.trim().length === 0) {
    throw new LeaderElectError(
      ErrorCode.InvalidIdentity,
      `identity must be a non-empty string, got ${JSON.stringify(identity)}`,
    );
  }
  for (const [name, value] of [
    ['priority', options.priority],
    ['priorityWindow', options.priorityWindow],
  ] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `${name} must be a finite number, got ${typeof value === 'number' ? value : JSON.stringify(value)}`,
      );
    }
  }
  if (options.priorityWindow !== undefined && options.priorityWindow < 0) {
    throw new LeaderElectError(
      ErrorCode.InvalidOption,
      `priorityWindow must be ≥ 0 ms, got ${options.priorityWindow}`,
    );
  }
  for (const callback of ['onStartedLeading', 'onStoppedLeading', 'onNewLeader'] as const) {
    const value = options[callback];
    if (value !== undefined && typeof value !== 'function') {
      throw new LeaderElectError(ErrorCode.InvalidOption, `${callback} must be a function`);
    }
  }
  return identity;
}
