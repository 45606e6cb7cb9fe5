/**
 * The elector's calls to its backend:
 * - at most one attempt (acquire or renew) in flight, bounded by its deadline and run through the
 *   resilience policy; an attempt asked for meanwhile runs once the current one settles;
 * - an acquisition waits for the backend's admission first, when the backend has one
 *   (`LeaseBackend.admit`), and its deadline starts only once it is admitted;
 * - calls the elector stopped waiting for (their term ended) are still awaited by `drain()`, so
 *   that nothing outlives a stopped elector;
 * - an acquisition the backend committed after we had aborted it is remembered (`orphanToken`),
 *   so that `stop()` gives it back;
 * - local renewals (`renewLocally`) and releases, with their errors reported.
 */
import type { IPolicy } from 'cockatiel';
import { type ScopedSignal, scopedSignal } from '../abort.js';
import type { LeaseBackend, LeaseHeld, Observation } from '../backend/lease-backend.js';
import type { Clock } from '../clock.js';
import { ErrorCode, LeaderElectError, toLeaderElectError } from '../errors.js';
import type { ElectorReporter } from './elector-reporter.js';
import type { HeldTerm } from './elector-state.js';
import type { Timings } from './options.js';
import type { Term } from './term.js';

export type Mode = 'acquire' | 'renew';

/** How the current attempt ended: with an answer, or failed (`reason`: the abort reason if the
 * call was aborted at its deadline, else the error). */
export type AttemptOutcome<Fence> =
  | { readonly ok: true; readonly observation: Observation<Fence> }
  | { readonly ok: false; readonly reason: unknown };

export interface BackendCallsOptions<Fence> {
  readonly backend: LeaseBackend<Fence>;
  readonly clock: Clock;
  readonly policy: IPolicy;
  readonly identity: string;
  readonly name: string;
  readonly timings: Timings;
  readonly reporter: ElectorReporter<Fence>;
  readonly onSlowPath: () => void;
}

interface InFlight {
  /** Aborts the attempt (stop, end of term), whether it waits for admission or runs. */
  readonly scope: ScopedSignal;
  done: Promise<void>;
}

export class BackendCalls<Fence> {
  readonly #o: BackendCallsOptions<Fence>;
  #inFlight: InFlight | null = null;
  #queued = false;
  /** Calls we stopped waiting for. Created on first use (most electors never abandon one). */
  #abandoned: Set<Promise<void>> | null = null;
  /** Token of an acquisition that succeeded after we had stopped waiting for it. */
  #orphanToken: bigint | null = null;

  constructor(options: BackendCallsOptions<Fence>) {
    this.#o = options;
  }

  /** True while an attempt is in flight. */
  get busy(): boolean {
    return this.#inFlight !== null;
  }

  /** Asks for one more attempt once the one in flight settles. */
  queue(): void {
    this.#queued = true;
  }

  /** Whether an attempt was asked for while the last one was in flight (and forgets it). */
  takeQueued(): boolean {
    const queued = this.#queued;
    this.#queued = false;
    return queued;
  }

  /**
   * One attempt through the policy, aborted after `deadlineMs` on the elector's clock.
   * `onOutcome` runs when it settles while it is still the current attempt (in the same turn as
   * the settlement, so that no other attempt can start in between); an abandoned or aborted
   * attempt's answer is stale and is not reported.
   */
  attempt(
    term: Term<Fence> | null,
    mode: Mode,
    deadlineMs: number,
    onOutcome: (outcome: AttemptOutcome<Fence>) => void,
  ): void {
    const { backend } = this.#o;
    // One signal per attempt, aborted by stop, by the end of its term or at its deadline.
    const scope = scopedSignal();
    const inFlight: InFlight = { scope, done: Promise.resolve() };
    this.#inFlight = inFlight;
    if (mode === 'acquire' && backend.admit !== undefined) {
      // Waiting for a slot is not the backend being slow: the deadline starts once admitted.
      inFlight.done = backend.admit({ signal: scope.signal }).then(
        (release) => {
          if (this.#inFlight !== inFlight) {
            release(); // stopped or abandoned while it waited
            return;
          }
          return this.#run(inFlight, term, mode, deadlineMs, release, onOutcome);
        },
        (error: unknown) => {
          if (this.#settle(inFlight)) onOutcome({ ok: false, reason: error });
        },
      );
      return;
    }
    inFlight.done = this.#run(inFlight, term, mode, deadlineMs, null, onOutcome);
  }

  /**
   * Runs the attempt of `inFlight` through the policy, aborted `deadlineMs` from now (for an
   * admitted acquisition: from its admission), and reports its outcome; `release` frees the
   * admission first. The deadline is a timer on the attempt's one signal, not a second signal
   * linked to it: abort signals are the largest part of what an attempt allocates (measured in
   * the 10,000-election burst, issue 15).
   */
  #run(
    inFlight: InFlight,
    term: Term<Fence> | null,
    mode: Mode,
    deadlineMs: number,
    release: (() => void) | null,
    onOutcome: (outcome: AttemptOutcome<Fence>) => void,
  ): Promise<void> {
    const { backend, clock, name, policy } = this.#o;
    const { scope } = inFlight;
    const timer = clock.setTimer(
      () =>
        scope.abort(
          new LeaderElectError(
            ErrorCode.BackendTimeout,
            `${mode} of "${name}" did not finish within ${Math.round(deadlineMs)} ms`,
          ),
        ),
      deadlineMs,
    );
    const call = policy.execute(
      ({ signal }) =>
        backend.attempt({
          mode,
          ...(term === null ? {} : { token: term.token }),
          identity: this.#o.identity,
          leaseDurationMs: this.#o.timings.leaseDuration,
          clock,
          signal,
          onSlowPath: this.#o.onSlowPath,
        }),
      scope.signal,
    );
    return call.then(
      (observation) => {
        clock.clearTimer(timer);
        release?.();
        if (this.#settle(inFlight)) {
          onOutcome({ ok: true, observation });
        } else if (observation.kind === 'held' && mode === 'acquire') {
          // Aborted by stop, yet the backend committed the acquisition: remember to release.
          this.#orphanToken = observation.token;
        }
      },
      (error: unknown) => {
        clock.clearTimer(timer);
        release?.();
        const reason = scope.signal.aborted ? scope.signal.reason : error;
        if (this.#settle(inFlight)) onOutcome({ ok: false, reason });
      },
    );
  }

  /**
   * A renewal the backend answers without I/O (see `LeaseBackend.renewLocally`), or null when it
   * cannot (or has no such path, or threw: then the error is reported).
   */
  renewLocally(held: HeldTerm<Fence>): LeaseHeld<Fence> | null {
    const { backend } = this.#o;
    if (backend.renewLocally === undefined) return null;
    // One request object per term: renewals of thousands of elections should allocate little.
    held.localRequest ??= {
      token: held.term.token,
      identity: this.#o.identity,
      leaseDurationMs: this.#o.timings.leaseDuration,
      clock: this.#o.clock,
    };
    try {
      return backend.renewLocally(held.localRequest);
    } catch (error) {
      this.#o.reporter.error(toLeaderElectError(error, ErrorCode.BackendError, 'renewLocally'));
      return null;
    }
  }

  /** Releases the term `token`, bounded by renewDeadline; true if the backend confirmed. */
  async release(token: bigint): Promise<boolean> {
    const { backend, clock, name, timings } = this.#o;
    const scope = scopedSignal(undefined, {
      ms: timings.renewDeadline,
      clock,
      reason: () =>
        new LeaderElectError(ErrorCode.BackendTimeout, `release of "${name}" timed out`),
    });
    try {
      await backend.release({ identity: this.#o.identity, token, clock, signal: scope.signal });
      return true;
    } catch (error) {
      this.#o.reporter.error(
        toLeaderElectError(error, ErrorCode.BackendError, `release of "${name}" failed`),
      );
      return false;
    } finally {
      scope.dispose();
    }
  }

  /** Stops waiting for the attempt in flight (its term ended); `drain()` still awaits it. */
  abandon(reason: unknown): void {
    const call = this.#inFlight;
    if (call === null) return;
    this.#inFlight = null;
    this.#queued = false;
    call.scope.abort(reason);
    this.#abandoned ??= new Set();
    const abandoned = this.#abandoned;
    abandoned.add(call.done);
    void call.done.then(() => abandoned.delete(call.done));
  }

  /** Aborts the attempt in flight and waits for it to settle. */
  async abort(reason: unknown): Promise<void> {
    const call = this.#inFlight;
    this.#queued = false;
    if (call === null) return;
    this.#inFlight = null;
    call.scope.abort(reason);
    await call.done;
  }

  /** Waits for every abandoned call; returns the token of an orphaned acquisition, if any. */
  async drain(): Promise<bigint | null> {
    if (this.#abandoned !== null) await Promise.all(this.#abandoned);
    const orphan = this.#orphanToken;
    this.#orphanToken = null;
    return orphan;
  }

  /** True if `call` is still the current attempt (its answer counts). */
  #settle(call: InFlight): boolean {
    call.scope.dispose();
    if (this.#inFlight !== call) return false; // stop() or the end of its term took it over
    this.#inFlight = null;
    return true;
  }
}
