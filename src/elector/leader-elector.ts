import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { IPolicy } from 'cockatiel';
import { EventEmitter } from 'eventemitter3';
import type {
  LeaseBackend,
  LeaseHeld,
  LeaseNotHeld,
  LocalRenewRequest,
  Observation,
  WatchEvent,
  WatchHandle,
} from '../backend/lease-backend.js';
import { sharedDefaultPolicy } from '../backend/resilience.js';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { ErrorCode, isLeaderElectError, LeaderElectError, toLeaderElectError } from '../errors.js';
import type { ElectionMetrics } from '../observability/metrics.js';
import {
  callDeadline,
  isHealthy,
  isTermValid,
  nextRenewAt,
  planFollower,
  resolveTimings,
  safetyMargin,
  termValidUntil,
  toleratedRateSkew,
} from './decisions.js';
import type { ElectorEvents, ElectorPhase, LeaderInfo, StopReason } from './events.js';
import type { LeaderElectorOptions, Timings } from './options.js';
import { Term } from './term.js';

/** After this many back-to-back immediate retries a follower falls back to its jittered poll. */
const MAX_IMMEDIATE_RETRIES = 5;

/** Default tolerance of {@link LeaderElector.healthz}, as Kubernetes components configure it. */
export const DEFAULT_HEALTH_TOLERANCE_MS = 20_000;

interface InFlight {
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

export interface HealthStatus {
  readonly ok: boolean;
  readonly message: string;
}

/**
 * Campaigns for one election and leads while it holds the lease.
 *
 * Safety: a term is valid until the send time of its last successful renewal plus
 * `renewDeadline`; followers take over only `leaseDuration` after they first observed that
 * renewal. While clocks run at the same rate within `leaseDuration / renewDeadline − 1`, a leader
 * that stops when `term.signal` aborts has stopped before anyone else starts. Fencing tokens
 * (`term.token`) protect downstream writes when that assumption fails (pauses, skew).
 *
 * @example
 * const elector = new LeaderElector({
 *   backend: new MemoryStore().lease('reports'),
 *   onStartedLeading: async (term) => { await runUntilAborted(term.signal, term.token); },
 * });
 * elector.run();
 */
export class LeaderElector<Fence = undefined> extends EventEmitter<ElectorEvents<Fence>> {
  /** This candidate's identity. */
  readonly identity: string;
  /** The election's name in metrics and messages. */
  readonly name: string;
  /** Validated timings in milliseconds. */
  readonly timings: Timings;

  readonly #options: LeaderElectorOptions<Fence>;
  readonly #backend: LeaseBackend<Fence>;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #policy: IPolicy;
  readonly #metrics: ElectionMetrics | undefined;

  #phase: ElectorPhase = 'idle';
  #term: Term<Fence> | null = null;
  /** Ends the term at its deadline if no renewal extended it (see #armTermTimer). */
  #termTimer: TimerHandle | null = null;
  /** The term timer object, kept after it fired (see #spareTimer), and its delay. */
  #spareTermTimer: TimerHandle | null = null;
  #spareTermTimerDelay = -1;
  /** Next attempt (follower) or renewal (leader). */
  #timer: TimerHandle | null = null;
  /**
   * The timer object #timer last used, kept after it fired (never after a clear) together with
   * its delay: a leader renewing every retryPeriod re-arms it (Clock.refreshTimer) instead of
   * creating a timer per renewal.
   */
  #spareTimer: TimerHandle | null = null;
  #spareTimerDelay = -1;
  /** Bumped to cancel an attempt queued as a microtask (the zero-delay form of #timer). */
  #immediateGeneration = 0;
  /** Timer that ends a campaign pause (after a loss, while the old work winds down). */
  #pauseTimer: TimerHandle | null = null;
  #inFlight: InFlight | null = null;
  /**
   * Pending waits for the leader's work; teardown ends them so no grace timer outlives stop().
   * Created when first needed, as is #abandoned: most electors never need either.
   */
  #graceWaits: Set<(settled: boolean) => void> | null = null;
  /** Calls we stopped waiting for; stop() awaits them so nothing outlives the elector. */
  #abandoned: Set<Promise<void>> | null = null;
  /** Token of an acquisition that succeeded after we had stopped waiting for it. */
  #orphanToken: bigint | null = null;
  #attemptQueued = false;
  #campaignBlocked = false;
  #immediateRetries = 0;
  #watch: WatchHandle | null = null;
  #watchUp = false;
  #lastLeader: LeaderInfo | undefined;
  #lastRenewAt: number | null = null;
  #campaignStartedAt = 0;
  #work: Promise<void> | null = null;
  #lastErrorKey: string | null = null;
  #stopPromise: Promise<void> | null = null;
  #resolveRun: (() => void) | null = null;
  #detachRunSignal: (() => void) | null = null;

  constructor(options: LeaderElectorOptions<Fence>) {
    super();
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
    for (const callback of ['onStartedLeading', 'onStoppedLeading', 'onNewLeader'] as const) {
      const value = options[callback];
      if (value !== undefined && typeof value !== 'function') {
        throw new LeaderElectError(ErrorCode.InvalidOption, `${callback} must be a function`);
      }
    }
    this.timings = resolveTimings(options);
    // The backend may reject timings it cannot honour (e.g. Kubernetes: whole seconds).
    options.backend.configure?.({
      leaseDurationMs: this.timings.leaseDuration,
      renewDeadlineMs: this.timings.renewDeadline,
      retryPeriodMs: this.timings.retryPeriod,
    });
    this.identity = identity;
    this.name = options.name ?? options.backend.description;
    this.#options = options;
    this.#backend = options.backend;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#policy = options.policy ?? sharedDefaultPolicy();
    this.#metrics = options.metrics;
  }

  /** Current phase: `idle`, `follower`, `leader`, `stopping` or `stopped`. */
  get phase(): ElectorPhase {
    return this.#phase;
  }

  /** True while we hold a valid term, computed from the clock on every call. */
  isLeader(): boolean {
    return this.#term?.isValid() ?? false;
  }

  /** The current term while it is valid, else `null`. */
  currentTerm(): Term<Fence> | null {
    const term = this.#term;
    return term?.isValid() ? term : null;
  }

  /** The leader as last observed (`undefined` before the first observation). */
  get leader(): LeaderInfo | undefined {
    return this.#lastLeader;
  }

  /** One line with the identity, the timings and the safety margin they give. */
  describe(): string {
    const t = this.timings;
    const skew = Math.round(toleratedRateSkew(t) * 100);
    return (
      `LeaderElector "${this.name}" identity=${this.identity} leaseDuration=${t.leaseDuration}ms ` +
      `renewDeadline=${t.renewDeadline}ms retryPeriod=${t.retryPeriod}ms ` +
      `safetyMargin=${safetyMargin(t)}ms (tolerates clock-rate differences up to ${skew}%)`
    );
  }

  /**
   * client-go's HealthzAdaptor rule: unhealthy only when we believe we lead but have not renewed
   * for longer than `leaseDuration + toleranceMs`.
   */
  healthz(toleranceMs = DEFAULT_HEALTH_TOLERANCE_MS): HealthStatus {
    const leading = this.#term !== null;
    const now = this.#clock.now();
    if (isHealthy(leading, this.#lastRenewAt, now, this.timings, toleranceMs)) {
      return { ok: true, message: leading ? 'leading, renewing' : `${this.#phase}` };
    }
    const since = Math.round(now - (this.#lastRenewAt ?? now));
    return {
      ok: false,
      message: `leader "${this.name}" has not renewed for ${since} ms (> leaseDuration ${this.timings.leaseDuration} ms + tolerance ${toleranceMs} ms)`,
    };
  }

  /**
   * Starts campaigning. Returns a promise that settles when the elector has stopped (after
   * `stop()`, the signal's abort, or the end of a one-shot term). Errors never reject it: they
   * are emitted as `error` events.
   * @throws `LE_ALREADY_RUNNING` when called twice, `LE_STOPPED` after a stop.
   */
  run(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    if (this.#phase === 'stopped' || this.#phase === 'stopping') {
      throw new LeaderElectError(
        ErrorCode.Stopped,
        `elector "${this.name}" was stopped; create a new LeaderElector to campaign again`,
      );
    }
    if (this.#phase !== 'idle') {
      throw new LeaderElectError(
        ErrorCode.AlreadyRunning,
        `elector "${this.name}" is already running (phase ${this.#phase}); run() may be called once`,
      );
    }
    const done = new Promise<void>((resolve) => {
      this.#resolveRun = resolve;
    });
    const { signal } = options;
    if (signal !== undefined) {
      const onAbort = () => void this.stop();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#detachRunSignal = () => signal.removeEventListener('abort', onAbort);
    }
    this.#setPhase('follower');
    this.#metric((m) => m.leaderStatus?.(this.name, false));
    this.#campaignStartedAt = this.#clock.now();
    if (typeof this.#backend.watch === 'function') {
      try {
        this.#watch = this.#backend.watch((event) => this.#onWatch(event), {
          clock: this.#clock,
          identity: this.identity,
        });
      } catch (error) {
        this.#reportError(toLeaderElectError(error, ErrorCode.BackendError, 'watch failed'));
      }
    }
    if (signal?.aborted) {
      void this.stop();
    } else {
      this.#attempt();
    }
    return done;
  }

  /**
   * Resolves with the term as soon as we lead (at once if we do).
   * Rejects with `signal.reason` on abort, or `LE_STOPPED` if the elector stops first.
   */
  waitForLeadership(options: { readonly signal?: AbortSignal } = {}): Promise<Term<Fence>> {
    const current = this.currentTerm();
    if (current !== null) return Promise.resolve(current);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#phase === 'stopped' || this.#phase === 'stopping') {
      return Promise.reject(
        new LeaderElectError(ErrorCode.Stopped, `elector "${this.name}" is stopped`),
      );
    }
    return new Promise<Term<Fence>>((resolve, reject) => {
      const cleanup = () => {
        this.off('startedLeading', onStarted);
        this.off('stopped', onStopped);
        signal?.removeEventListener('abort', onAbort);
      };
      const onStarted = (term: Term<Fence>) => {
        cleanup();
        resolve(term);
      };
      const onStopped = () => {
        cleanup();
        reject(new LeaderElectError(ErrorCode.Stopped, `elector "${this.name}" stopped`));
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason);
      };
      this.on('startedLeading', onStarted);
      this.on('stopped', onStopped);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Stops campaigning. A leader aborts `term.signal`, keeps renewing while it waits up to
   * `stopGracePeriod` for `onStartedLeading`'s promise, calls `onStoppedLeading`, then releases
   * the lease (unless `releaseOnCancel: false`). Resolves when nothing of the elector is left:
   * no timers, no watch, no backend call in flight. Idempotent.
   */
  stop(): Promise<void> {
    if (this.#stopPromise === null) {
      this.#stopPromise = this.#doStop();
    }
    return this.#stopPromise;
  }

  async #doStop(): Promise<void> {
    const wasIdle = this.#phase === 'idle';
    this.#setPhase('stopping');
    this.#detachRunSignal?.();
    this.#detachRunSignal = null;
    this.#clearPauseTimer();
    const term = this.#term;
    if (term === null) {
      this.#clearTimer();
      await this.#abortInFlight();
    } else {
      term.abort(new LeaderElectError(ErrorCode.NotLeader, `term ${term.token} ended: stopped`));
      // Keep renewing during the grace so that nobody else starts while our work winds down.
      const finished = await this.#awaitWork(this.#work);
      if (!finished) {
        this.#reportError(
          new LeaderElectError(
            ErrorCode.CallbackFailed,
            `onStartedLeading of "${this.name}" did not finish within stopGracePeriod (${this.timings.stopGracePeriod} ms) after term.signal aborted; releasing anyway`,
          ),
        );
      }
      if (this.#term === term) {
        const stillValid = isTermValid(term.validUntil, this.#clock.now());
        this.#endTerm('stopped');
        await this.#abortInFlight();
        if (this.#options.releaseOnCancel !== false && stillValid) {
          await this.#release(term.token);
        }
      }
    }
    await this.#abortInFlight();
    if (this.#abandoned !== null) await Promise.all(this.#abandoned);
    if (this.#orphanToken !== null) {
      // An acquisition we had aborted still went through: give it back.
      const token = this.#orphanToken;
      this.#orphanToken = null;
      await this.#release(token);
    }
    this.#teardown();
    if (!wasIdle) await this.#closeBackend();
    this.#setPhase('stopped');
    this.#emitSafe('stopped');
    this.#resolveRun?.();
    this.#resolveRun = null;
  }

  // ---------------------------------------------------------------- attempts

  #attempt(): void {
    const phase = this.#phase;
    if (phase === 'idle' || phase === 'stopped') return;
    if (this.#term === null && (phase === 'stopping' || this.#campaignBlocked)) return;
    if (this.#inFlight !== null) {
      this.#attemptQueued = true;
      return;
    }
    this.#clearTimer();
    if (this.#expireTermIfDue()) return;
    const term = this.#term;
    const mode = term === null ? 'acquire' : 'renew';
    const startedAt = this.#clock.now();
    if (term !== null && this.#renewLocally(term, startedAt)) return;
    this.#attemptRemote(term, mode, startedAt);
  }

  /**
   * The backend call of an attempt, with its deadline and policy. (Apart from #attempt so that
   * the closures here cost nothing on the local renewal path: V8 allocates a function's closure
   * context on entry.)
   */
  #attemptRemote(term: Term<Fence> | null, mode: 'acquire' | 'renew', startedAt: number): void {
    const deadline = callDeadline(mode, startedAt, term?.validUntil ?? null, this.timings);
    const controller = new AbortController();
    const deadlineTimer = this.#clock.setTimer(() => {
      controller.abort(
        new LeaderElectError(
          ErrorCode.BackendTimeout,
          `${mode} of "${this.name}" did not finish within ${Math.round(deadline)} ms`,
        ),
      );
    }, deadline);
    const call = this.#policy.execute(
      ({ signal }) =>
        this.#backend.attempt({
          mode,
          ...(term === null ? {} : { token: term.token }),
          identity: this.identity,
          leaseDurationMs: this.timings.leaseDuration,
          clock: this.#clock,
          signal,
          onSlowPath: this.#onSlowPath,
        }),
      controller.signal,
    );
    const inFlight: InFlight = {
      controller,
      done: call.then(
        (observation) =>
          this.#settleAttempt(
            inFlight,
            deadlineTimer,
            () => this.#onObservation(mode, term, startedAt, observation),
            () => {
              // Aborted by stop, yet the backend committed the acquisition: remember to release.
              if (observation.kind === 'held' && mode === 'acquire')
                this.#orphanToken = observation.token;
            },
          ),
        (error: unknown) =>
          this.#settleAttempt(
            inFlight,
            deadlineTimer,
            () => this.#onAttemptError(mode, term, startedAt, controller.signal, error),
            () => undefined,
          ),
      ),
    };
    this.#inFlight = inFlight;
  }

  /** A renewal the backend answers without I/O (see LeaseBackend.renewLocally); false if none. */
  #localRenewRequest: LocalRenewRequest | null = null;

  #renewLocally(term: Term<Fence>, startedAt: number): boolean {
    if (this.#backend.renewLocally === undefined) return false;
    // One request object per term: renewals of thousands of elections should allocate little.
    let request = this.#localRenewRequest;
    if (request === null || request.token !== term.token) {
      request = {
        token: term.token,
        identity: this.identity,
        leaseDurationMs: this.timings.leaseDuration,
        clock: this.#clock,
      };
      this.#localRenewRequest = request;
    }
    let observation: LeaseHeld<Fence> | null;
    try {
      observation = this.#backend.renewLocally(request);
    } catch (error) {
      this.#reportError(toLeaderElectError(error, ErrorCode.BackendError, 'renewLocally'));
      return false;
    }
    if (observation === null) return false;
    this.#onObservation('renew', term, startedAt, observation);
    return true;
  }

  #settleAttempt(
    inFlight: InFlight,
    deadlineTimer: TimerHandle,
    onCurrent: () => void,
    onSuperseded: () => void,
  ): void {
    this.#clock.clearTimer(deadlineTimer);
    if (this.#inFlight !== inFlight) {
      onSuperseded(); // stop() or the end of the term it renewed took it over
      return;
    }
    this.#inFlight = null;
    try {
      onCurrent();
    } catch (error) {
      this.#reportError(toLeaderElectError(error, ErrorCode.BackendError, 'internal error'));
    }
    if (this.#attemptQueued) {
      this.#attemptQueued = false;
      this.#attempt();
    }
  }

  #onObservation(
    mode: 'acquire' | 'renew',
    termAtStart: Term<Fence> | null,
    startedAt: number,
    observation: Observation<Fence>,
  ): void {
    const now = this.#clock.now();
    if (this.#phase === 'stopped') return;
    if (observation.kind === 'held') {
      this.#lastErrorKey = null;
      if (mode === 'acquire') {
        this.#onAcquired(observation, now);
      } else if (termAtStart !== null && termAtStart === this.#term) {
        this.#onRenewed(termAtStart, observation, startedAt, now);
      }
      return;
    }
    if (mode === 'renew' && termAtStart !== null && termAtStart === this.#term) {
      this.#renewLatency(now - startedAt, false);
      this.#endTerm('lost');
    }
    this.#onNotHeld(observation, now);
  }

  #onAcquired(observation: LeaseHeld<Fence>, now: number): void {
    const validUntil = termValidUntil(observation.sentAt, this.timings);
    if (this.#phase !== 'follower' || this.#campaignBlocked) {
      // Won while stopping (the abort came too late for the backend): give it back.
      void this.#release(observation.token);
      return;
    }
    if (!isTermValid(validUntil, now)) {
      // The answer came after the term would already have ended (slow backend or a pause).
      // Campaign again at once: the next acquisition gets a new, higher token.
      this.#scheduleAttempt(0);
      return;
    }
    this.#startTerm(observation, validUntil, now);
  }

  #onRenewed(
    term: Term<Fence>,
    observation: LeaseHeld<Fence>,
    startedAt: number,
    now: number,
  ): void {
    if (observation.token !== term.token) {
      this.#endTerm('lost');
      this.#scheduleAttempt(0);
      return;
    }
    if (!isTermValid(term.validUntil, now)) {
      // The term lapsed while the renewal was in flight; a term never comes back to life.
      this.#endTerm('renew-deadline');
      return;
    }
    term.extend(termValidUntil(observation.sentAt, this.timings));
    this.#lastRenewAt = now;
    // A pending term timer fires at the old validUntil at the latest and re-arms itself in place
    // for the new one (validity only grows): renewals never touch it.
    if (this.#termTimer === null) this.#armTermTimer(now);
    if (this.#metrics !== undefined) this.#renewLatency(now - startedAt, true);
    if (this.listenerCount('renewed') > 0) this.#emitSafe('renewed', term, now - startedAt);
    this.#scheduleAt(nextRenewAt(startedAt, term.validUntil, this.timings), now);
  }

  #onNotHeld(observation: LeaseNotHeld, now: number): void {
    if (this.#term !== null) return;
    // A record still naming us (a lapsed term of ours) is not a leader worth announcing.
    if (observation.holder !== this.identity) {
      this.#observeLeader({ identity: observation.holder, token: observation.token });
    }
    if (this.#phase !== 'follower') return;
    const plan = planFollower(observation, now, this.#watchUp, this.timings, this.#random());
    switch (plan.action) {
      case 'attempt-now':
        if (this.#immediateRetries++ < MAX_IMMEDIATE_RETRIES) {
          this.#scheduleAttempt(0);
        } else {
          this.#immediateRetries = 0;
          this.#schedulePoll();
        }
        return;
      case 'attempt-at':
        this.#immediateRetries = 0;
        this.#scheduleAt(plan.at, now);
        return;
      case 'wait-for-watch':
        this.#immediateRetries = 0;
        this.#clearTimer();
        return;
    }
  }

  #onAttemptError(
    mode: 'acquire' | 'renew',
    termAtStart: Term<Fence> | null,
    startedAt: number,
    signal: AbortSignal,
    error: unknown,
  ): void {
    if (this.#phase === 'stopped') return;
    const now = this.#clock.now();
    const reason = signal.aborted ? signal.reason : error;
    const typed = toLeaderElectError(
      reason,
      ErrorCode.BackendError,
      `${mode} of "${this.name}" failed`,
    );
    this.#reportError(typed);
    if (mode === 'renew' && termAtStart !== null && termAtStart === this.#term) {
      this.#renewLatency(now - startedAt, false);
      if (this.#expireTermIfDue()) return;
      this.#scheduleAt(nextRenewAt(now, termAtStart.validUntil, this.timings), now);
      return;
    }
    if (this.#term === null && this.#phase === 'follower') this.#schedulePoll();
  }

  // ---------------------------------------------------------------- terms

  #startTerm(observation: LeaseHeld<Fence>, validUntil: number, now: number): void {
    const term = new Term<Fence>(
      this.identity,
      observation.token,
      now,
      validUntil,
      observation.fence,
      this.#clock,
    );
    this.#term = term;
    this.#lastRenewAt = now;
    this.#immediateRetries = 0;
    this.#setPhase('leader');
    this.#armTermTimer(now);
    this.#metric((m) => m.leaderStatus?.(this.name, true));
    this.#metric((m) => m.termStarted?.(this.name, term.token));
    this.#metric((m) => m.timeToAcquire?.(this.name, now - this.#campaignStartedAt));
    this.#observeLeader({ identity: this.identity, token: term.token });
    this.#scheduleAt(nextRenewAt(observation.sentAt, validUntil, this.timings), now);

    let work: Promise<unknown>;
    try {
      work = Promise.resolve(this.#options.onStartedLeading?.(term));
    } catch (error) {
      work = Promise.reject(error);
    }
    this.#work = work.then(
      () => undefined,
      (error: unknown) => {
        if (term.signal.aborted && error === term.signal.reason) return;
        this.#reportError(
          toLeaderElectError(
            error,
            ErrorCode.CallbackFailed,
            `onStartedLeading of "${this.name}" failed`,
          ),
        );
        if (this.#term === term && this.#phase === 'leader') this.#stepDown(term);
      },
    );
    this.#emitSafe('startedLeading', term);
  }

  /** Ends the current term: aborts its signal, stops renewing, calls onStoppedLeading. */
  #endTerm(reason: StopReason): void {
    const term = this.#term;
    if (term === null) return;
    this.#term = null;
    term.abort(
      new LeaderElectError(
        ErrorCode.NotLeader,
        `term ${term.token} of "${this.name}" ended: ${reason}`,
      ),
    );
    term.end();
    this.#clearTermTimer();
    this.#clearTimer();
    const renewal = this.#inFlight;
    if (renewal !== null) {
      this.#inFlight = null;
      this.#attemptQueued = false;
      renewal.controller.abort(new LeaderElectError(ErrorCode.NotLeader, 'term ended'));
      this.#abandoned ??= new Set();
      const abandoned = this.#abandoned;
      abandoned.add(renewal.done);
      void renewal.done.then(() => abandoned.delete(renewal.done));
    }
    this.#lastRenewAt = null;
    this.#metric((m) => m.leaderStatus?.(this.name, false));
    this.#metric((m) => m.termEnded?.(this.name, reason));
    if (this.#phase === 'leader') this.#setPhase('follower');
    this.#callback('onStoppedLeading', () => this.#options.onStoppedLeading?.(term, reason));
    this.#emitSafe('stoppedLeading', term, reason);
    if (reason !== 'stopped' && this.#phase === 'follower') this.#recampaign(reason);
  }

  /** onStartedLeading failed while we lead: give the lease to someone else. */
  #stepDown(term: Term<Fence>): void {
    this.#endTerm('work-failed');
    void this.#release(term.token);
  }

  /** After a loss: wait for the old work to wind down (bounded), then campaign again. */
  #recampaign(reason: StopReason): void {
    if (this.#options.oneShot === true) {
      void this.stop();
      return;
    }
    this.#campaignStartedAt = this.#clock.now();
    this.#campaignBlocked = true;
    // After a failed work, let another candidate win the released lease first.
    const minPause = reason === 'work-failed' ? this.timings.retryPeriod : 0;
    let workDone = this.#work === null;
    let pauseDone = minPause === 0;
    const resume = () => {
      if (!workDone || !pauseDone || !this.#campaignBlocked) return;
      this.#campaignBlocked = false;
      this.#clearPauseTimer();
      this.#attempt();
    };
    if (!pauseDone) {
      this.#pauseTimer = this.#clock.setTimer(() => {
        this.#pauseTimer = null;
        pauseDone = true;
        resume();
      }, minPause);
    }
    if (!workDone) {
      void this.#awaitWork(this.#work).then(() => {
        workDone = true;
        resume();
      });
    }
    resume();
  }

  #expireTermIfDue(): boolean {
    const term = this.#term;
    if (term === null || isTermValid(term.validUntil, this.#clock.now())) return false;
    this.#endTerm('renew-deadline');
    return true;
  }

  /**
   * Arms the term timer for the current term's deadline, or for half a renewDeadline if that
   * comes first: a leader's renewals keep moving the deadline, and a timer of that fixed delay
   * (never later than the deadline) is re-armed in place each time it fires early, so thousands
   * of leading elections create no timer per renewal or per term check.
   */
  #armTermTimer(now: number): void {
    const term = this.#term;
    if (term === null) return;
    const check = Math.max(1, Math.floor(this.timings.renewDeadline / 2));
    const delay = Math.min(check, Math.max(0, Math.ceil(term.validUntil - now)));
    if (this.#refreshed(this.#spareTermTimer, this.#spareTermTimerDelay, delay)) {
      this.#termTimer = this.#spareTermTimer;
      return;
    }
    this.#clearTermTimer();
    this.#termTimer = this.#clock.setTimer(this.#onTermTimer, delay);
    this.#spareTermTimer = this.#termTimer;
    this.#spareTermTimerDelay = delay;
  }

  /** Re-arms `spare` in place if it was armed with `delay` and the clock can (refreshTimer). */
  #refreshed(spare: TimerHandle | null, spareDelay: number, delay: number): boolean {
    if (spare === null || delay !== spareDelay || this.#clock.refreshTimer === undefined) {
      return false;
    }
    this.#clock.refreshTimer(spare);
    return true;
  }

  readonly #onTermTimer = (): void => {
    this.#termTimer = null;
    if (this.#term !== null && !this.#expireTermIfDue()) this.#armTermTimer(this.#clock.now());
  };

  // ---------------------------------------------------------------- watch

  #onWatch(event: WatchEvent): void {
    if (this.#phase === 'idle' || this.#phase === 'stopped') return;
    if (this.#expireTermIfDue()) return;
    switch (event.type) {
      case 'up':
        this.#watchUp = true;
        return;
      case 'down':
        this.#watchUp = false;
        if (event.error !== undefined) {
          this.#reportError(
            toLeaderElectError(event.error, ErrorCode.BackendUnavailable, 'watch failed'),
          );
        }
        if (this.#term === null && this.#timer === null && this.#inFlight === null)
          this.#schedulePoll();
        return;
      case 'changed':
        this.#attempt();
        return;
      case 'observed': {
        const { observation } = event;
        if (this.#term !== null) {
          // Another holder (or a released record) while we lead: confirm with a renewal, which
          // reveals the loss through its compare-and-swap. A stale watch event cannot end a term.
          if (observation.holder !== this.identity) this.#attempt();
          return;
        }
        if (this.#inFlight !== null) {
          this.#attemptQueued ||= observation.holder === null;
          this.#observeLeader({ identity: observation.holder, token: observation.token });
          return;
        }
        this.#onNotHeld(observation, this.#clock.now());
        return;
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  #observeLeader(leader: LeaderInfo): void {
    const last = this.#lastLeader;
    if (last !== undefined && last.identity === leader.identity && last.token === leader.token)
      return;
    this.#lastLeader = leader;
    this.#callback('onNewLeader', () => this.#options.onNewLeader?.(leader));
    this.#emitSafe('newLeader', leader);
  }

  #scheduleAttempt(delayMs: number): void {
    this.#scheduleAt(this.#clock.now() + delayMs, this.#clock.now());
  }

  #schedulePoll(): void {
    const delay = this.timings.retryPeriod * (1 + this.#random() * 1.2);
    this.#scheduleAttempt(delay);
  }

  #scheduleAt(at: number, now: number): void {
    if (at <= now) {
      this.#clearTimer();
      // Due now: run after the current call stack, without a timer's ≥ 1 ms rounding.
      const generation = this.#immediateGeneration;
      queueMicrotask(() => {
        if (generation === this.#immediateGeneration) this.#attempt();
      });
      return;
    }
    // Whole milliseconds (Node's timer resolution, rounded up: never early), so that a leader's
    // renewals, one retryPeriod apart, re-arm one timer.
    const delay = Math.ceil(at - now);
    if (this.#refreshed(this.#spareTimer, this.#spareTimerDelay, delay)) {
      this.#immediateGeneration++;
      this.#timer = this.#spareTimer;
      return;
    }
    this.#clearTimer();
    this.#timer = this.#clock.setTimer(this.#onTimer, delay);
    this.#spareTimer = this.#timer;
    this.#spareTimerDelay = delay;
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#attempt();
  };

  #clearTimer(): void {
    this.#immediateGeneration++;
    if (this.#timer !== null) {
      this.#clock.clearTimer(this.#timer);
      this.#timer = null;
      this.#spareTimer = null;
    }
  }

  #clearTermTimer(): void {
    if (this.#termTimer !== null) {
      this.#clock.clearTimer(this.#termTimer);
      this.#termTimer = null;
      this.#spareTermTimer = null;
    }
  }

  #clearPauseTimer(): void {
    if (this.#pauseTimer !== null) {
      this.#clock.clearTimer(this.#pauseTimer);
      this.#pauseTimer = null;
    }
  }

  /** Resolves true if `work` settled within stopGracePeriod, false otherwise (or on teardown). */
  #awaitWork(work: Promise<void> | null): Promise<boolean> {
    if (work === null) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const finish = (settled: boolean) => {
        if (this.#graceWaits?.delete(finish) !== true) return;
        this.#clock.clearTimer(timer);
        resolve(settled);
      };
      const timer = this.#clock.setTimer(() => finish(false), this.timings.stopGracePeriod);
      this.#graceWaits ??= new Set();
      this.#graceWaits.add(finish);
      void work.then(() => finish(true));
    });
  }

  async #abortInFlight(): Promise<void> {
    const inFlight = this.#inFlight;
    this.#attemptQueued = false;
    if (inFlight === null) return;
    this.#inFlight = null;
    inFlight.controller.abort(
      new LeaderElectError(ErrorCode.Aborted, `elector "${this.name}" is stopping`),
    );
    await inFlight.done;
  }

  async #release(token: bigint): Promise<void> {
    const controller = new AbortController();
    const timer = this.#clock.setTimer(
      () =>
        controller.abort(
          new LeaderElectError(ErrorCode.BackendTimeout, `release of "${this.name}" timed out`),
        ),
      this.timings.renewDeadline,
    );
    try {
      await this.#backend.release({
        identity: this.identity,
        token,
        clock: this.#clock,
        signal: controller.signal,
      });
      this.#observeLeader({ identity: null, token: null });
    } catch (error) {
      this.#reportError(
        toLeaderElectError(error, ErrorCode.BackendError, `release of "${this.name}" failed`),
      );
    } finally {
      this.#clock.clearTimer(timer);
    }
  }

  #teardown(): void {
    this.#spareTimer = null;
    this.#spareTermTimer = null;
    if (this.#graceWaits !== null) for (const finish of [...this.#graceWaits]) finish(false);
    this.#clearTimer();
    this.#clearTermTimer();
    this.#clearPauseTimer();
    this.#watch?.close();
    this.#watch = null;
    this.#watchUp = false;
  }

  async #closeBackend(): Promise<void> {
    try {
      await this.#backend.close();
    } catch (error) {
      this.#reportError(
        toLeaderElectError(error, ErrorCode.BackendError, 'closing the backend failed'),
      );
    }
  }

  /**
   * Records a renewal's latency. (A method of its own: a closure in the renewal path would make
   * V8 allocate a context on every renewal, whether or not metrics are recorded.)
   */
  #renewLatency(ms: number, ok: boolean): void {
    this.#metric((m) => m.renewLatency?.(this.name, ms, ok));
  }

  /** Calls the metrics sink; a failing sink never affects the election. */
  #metric(record: (metrics: ElectionMetrics) => void): void {
    if (this.#metrics === undefined) return;
    try {
      record(this.#metrics);
    } catch {
      // Metrics are best effort.
    }
  }

  readonly #onSlowPath = (): void => {
    this.#metric((m) => m.slowPath?.(this.name));
  };

  #setPhase(phase: ElectorPhase): void {
    if (this.#phase === phase) return;
    this.#phase = phase;
    this.#emitSafe('phase', phase);
  }

  #callback(name: string, invoke: () => unknown): void {
    try {
      const result = invoke();
      if (result instanceof Promise) {
        result.catch((error: unknown) =>
          this.#reportError(
            toLeaderElectError(error, ErrorCode.CallbackFailed, `${name} of "${this.name}" failed`),
          ),
        );
      }
    } catch (error) {
      this.#reportError(
        toLeaderElectError(error, ErrorCode.CallbackFailed, `${name} of "${this.name}" failed`),
      );
    }
  }

  /** Emits to user listeners; a throwing listener is reported, never propagated into the elector. */
  #emitSafe<E extends Exclude<keyof ElectorEvents<Fence>, 'error'>>(
    event: E,
    ...args: EventEmitter.ArgumentMap<ElectorEvents<Fence>>[Extract<E, keyof ElectorEvents<Fence>>]
  ): void {
    try {
      this.emit(event, ...args);
    } catch (error) {
      this.#reportError(
        toLeaderElectError(
          error,
          ErrorCode.CallbackFailed,
          `a "${String(event)}" listener of "${this.name}" threw`,
        ),
      );
    }
  }

  #reportError(error: LeaderElectError): void {
    const key = `${error.code}:${error.message}`;
    if (key === this.#lastErrorKey) return;
    this.#lastErrorKey = key;
    if (isLeaderElectError(error) && this.listenerCount('error') > 0) {
      try {
        this.emit('error', error);
      } catch {
        // A throwing error listener must not break the elector.
      }
    }
  }
}
