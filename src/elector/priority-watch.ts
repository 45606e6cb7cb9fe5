/**
 * A leader's lookout for a live candidate of higher priority (the `priority` option). Every
 * check it asks the backend for the advertised candidates and keeps, per candidate, since when it
 * has been live with its priority; the rule (decisions.ts `prioritySuccessor`) says when to hand
 * over. It runs only while we lead, and only with a backend that can list candidates.
 */
import { scopedSignal } from '../abort.js';
import type { CandidateInfo, LeaseBackend, WatchHandle } from '../backend/lease-backend.js';
import type { Clock } from '../clock.js';
import { ErrorCode, LeaderElectError, toLeaderElectError } from '../errors.js';
import { RefreshableTimer } from '../refreshable-timer.js';
import { prioritySuccessor, type SeenCandidate, trackCandidates } from './decisions.js';
import type { Timings } from './options.js';

export interface PriorityWatchOptions {
  readonly clock: Clock;
  readonly self: string;
  readonly priority: number;
  readonly windowMs: number;
  readonly checkMs: number;
  readonly requestTimeoutMs: number;
  readonly candidates: (request: {
    readonly signal: AbortSignal;
  }) => Promise<readonly CandidateInfo[]>;
  /** A candidate qualified: hand over to it. Resolves (or rejects) when the attempt is over. */
  readonly handOver: (identity: string) => Promise<unknown>;
  readonly onError: (error: LeaderElectError) => void;
}

export class PriorityWatch {
  readonly #o: PriorityWatchOptions;
  readonly #timer: RefreshableTimer;
  #seen: SeenCandidate[] = [];
  #running = false;
  #checking = false;

  constructor(options: PriorityWatchOptions) {
    this.#o = options;
    this.#timer = new RefreshableTimer(options.clock, () => void this.#check());
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#seen = [];
    this.#timer.arm(this.#o.checkMs);
  }

  stop(): void {
    this.#running = false;
    this.#timer.dispose();
  }

  async #check(): Promise<void> {
    if (!this.#running || this.#checking) return;
    this.#checking = true;
    const { clock } = this.#o;
    const scope = scopedSignal(undefined, {
      ms: this.#o.requestTimeoutMs,
      clock,
      reason: () =>
        new LeaderElectError(ErrorCode.BackendTimeout, 'listing the candidates timed out'),
    });
    try {
      const live = await this.#o.candidates({ signal: scope.signal });
      if (!this.#running) return;
      const now = clock.now();
      this.#seen = trackCandidates(this.#seen, live, now);
      const successor = prioritySuccessor(
        this.#o.self,
        this.#o.priority,
        this.#seen,
        now,
        this.#o.windowMs,
      );
      if (successor !== null) {
        try {
          await this.#o.handOver(successor);
        } catch (error) {
          // It did not take the lease: let it prove itself for a whole window again.
          this.#seen = this.#seen.filter((s) => s.identity !== successor);
          this.#o.onError(
            toLeaderElectError(
              error,
              ErrorCode.TransferFailed,
              `handing over to "${successor}" (higher priority) failed`,
            ),
          );
        }
      }
    } catch (error) {
      this.#o.onError(
        toLeaderElectError(error, ErrorCode.BackendError, 'listing the candidates failed'),
      );
    } finally {
      scope.dispose();
      this.#checking = false;
      if (this.#running) this.#timer.arm(this.#o.checkMs);
    }
  }
}

/**
 * Advertises a candidate with its priority for as long as the returned handle is open and, when
 * the backend can list candidates, makes the lookout the elector starts on every term (checks
 * every `retryPeriod`, each bounded by `renewDeadline`).
 */
export function advertisePriority(options: {
  readonly backend: LeaseBackend<unknown>;
  readonly clock: Clock;
  readonly identity: string;
  readonly priority: number;
  readonly windowMs: number;
  readonly timings: Timings;
  readonly handOver: (identity: string) => Promise<unknown>;
  readonly onError: (error: LeaderElectError) => void;
}): { readonly advertised: WatchHandle | null; readonly watch: PriorityWatch | null } {
  const { backend, identity, priority } = options;
  let advertised: WatchHandle | null = null;
  try {
    advertised = backend.advertise?.({ identity, priority }) ?? null;
  } catch (error) {
    options.onError(
      toLeaderElectError(error, ErrorCode.BackendError, 'advertising our priority failed'),
    );
  }
  const { candidates } = backend;
  if (candidates === undefined) return { advertised, watch: null };
  const watch = new PriorityWatch({
    clock: options.clock,
    self: identity,
    priority,
    windowMs: options.windowMs,
    checkMs: options.timings.retryPeriod,
    requestTimeoutMs: options.timings.renewDeadline,
    candidates: (request) => candidates.call(backend, request),
    handOver: options.handOver,
    onError: options.onError,
  });
  return { advertised, watch };
}
