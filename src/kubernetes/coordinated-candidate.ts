/**
 * The life of our LeaseCandidate (KEP-4355), as client-go's `leaderelection.LeaseCandidate`
 * keeps its own, plus the clean-up client-go leaves to the garbage collector:
 *
 * - created (or brought up to date: a restart with another binary version says so) by the first
 *   campaign, named after the elector's identity, for the election's Lease;
 * - renewed whenever the controller pings it (`pingTime` later than our `renewTime`), seen on a
 *   watch of that one object, and every {@link CANDIDATE_RENEW_INTERVAL_MS} besides (client-go's
 *   requeue), so that the apiserver never collects it while we run;
 * - re-created if someone deletes it while we campaign;
 * - deleted when the elector stops or steps down (`withdraw`), and on `close`.
 *
 * Writes to the object are serialized: a ping answer never races a deletion. Background failures
 * are kept and reported through `onTrouble` (the backend then asks the elector to attempt, and
 * the attempt's `ensure` reports the error).
 */
import { raceAbort, scopedSignal } from '../abort.js';
import type { BackendContext, WatchHandle } from '../backend/lease-backend.js';
import type { Clock, TimerHandle } from '../clock.js';
import { ErrorCode, hasErrorCode, LeaderElectError, toLeaderElectError } from '../errors.js';
import {
  awaitsAnswer,
  type CandidateSettings,
  candidateNameProblem,
  describesUs,
  type LeaseCandidateObject,
  newLeaseCandidate,
  renewedLeaseCandidate,
} from './lease-candidate.js';
import type { CandidateWatchEvent, LeaseCandidateClient } from './lease-candidate-client.js';

/** client-go re-renews its LeaseCandidate this often (`requeueInterval`); the GC takes 30 min. */
export const CANDIDATE_RENEW_INTERVAL_MS = 5 * 60_000;

/** Conflicts retried in one renewal (each after a fresh read). */
const MAX_WRITE_ROUNDS = 3;

/** A failed background renewal is retried after 1 s, doubling up to the renew interval. */
const RETRY_INITIAL_MS = 1_000;

export interface LeaseCandidacyOptions {
  readonly client: LeaseCandidateClient;
  readonly settings: CandidateSettings;
  /** The bound on one background request, read when it starts. */
  readonly requestTimeoutMs: () => number;
  /** A background renewal or re-creation failed: attempt soon, `ensure` will say why. */
  readonly onTrouble: () => void;
}

type CandidacyState =
  /** Not created by us yet (or withdrawn): the next `ensure` creates it. */
  | 'absent'
  | 'present'
  /** Deleted under us while we campaign: being re-created. */
  | 'lost'
  | 'closed';

export class LeaseCandidacy {
  readonly #o: LeaseCandidacyOptions;
  #state: CandidacyState = 'absent';
  #identity: string | null = null;
  #clock: Clock | null = null;
  /** The newest version of our object we have seen (for updates without a read). */
  #object: LeaseCandidateObject | null = null;
  #watch: WatchHandle | null = null;
  #renewTimer: TimerHandle | null = null;
  /** The tail of the serialized writes. */
  #writes: Promise<unknown> = Promise.resolve();
  #answering = false;
  #answerAgain = false;
  /** Why the last background write failed, until a write succeeds. */
  #problem: LeaderElectError | null = null;
  /** Background renewals failed in a row (for the retry backoff). */
  #failures = 0;
  /**
   * Why the watch of our candidate cannot work (e.g. no `list`/`watch` on leasecandidates):
   * then pings go unanswered, so campaigns report it. Transient watch failures are not kept.
   */
  #watchProblem: LeaderElectError | null = null;
  /** Settles when the watch first came up or failed: campaigns wait for it (see ensure). */
  #watchSettled: Promise<void> = Promise.resolve();
  #settleWatch: (() => void) | null = null;
  /** Aborted on close: background requests stop. */
  readonly #closing = new AbortController();

  constructor(options: LeaseCandidacyOptions) {
    this.#o = options;
  }

  /**
   * Makes sure our LeaseCandidate exists and describes us; a no-op when it does. Throws typed
   * errors: `LE_UNSUPPORTED` (not served), `LE_PERMISSION_DENIED` (naming the verb on
   * `leasecandidates`), `LE_INVALID_IDENTITY` (the identity cannot name a LeaseCandidate, or it
   * already names one for another Lease).
   */
  async ensure(context: BackendContext, signal: AbortSignal): Promise<void> {
    this.#assertOpen();
    this.#adopt(context);
    if (this.#state !== 'present' || this.#problem !== null) {
      try {
        await this.#serialize(() => this.#createOrRepair(signal));
      } catch (error) {
        // Not served: the watch of our candidate would retry a 404 forever; the next campaign
        // opens it again.
        if (hasErrorCode(error, ErrorCode.Unsupported)) this.#closeWatch();
        throw error;
      }
    }
    // Before the first claim: a watch that cannot work (pings would go unanswered) must be
    // reported, not raced by the controller naming us a few milliseconds later.
    await raceAbort(this.#watchSettled, signal);
    if (this.#watchProblem !== null) throw this.#watchProblem;
  }

  /**
   * Whether `name` is a candidate for our Lease: its LeaseCandidate exists and is for this Lease.
   * A `preferredHolder` that is not (deleted while we led) must not end our term for nothing
   * (kubernetes/kubernetes#138066 is the controller's side of it).
   */
  async isCandidate(name: string, signal: AbortSignal): Promise<boolean> {
    this.#assertOpen();
    const candidate = await this.#o.client.get(name, signal);
    return candidate !== null && candidate.spec?.leaseName === this.#o.settings.leaseName;
  }

  /**
   * Deletes our LeaseCandidate: we stop campaigning (stop, or a step-down). The controller then
   * no longer considers us; a later `ensure` creates it again.
   */
  async withdraw(signal: AbortSignal): Promise<void> {
    if (this.#state === 'closed' || this.#identity === null) return;
    this.#state = 'absent';
    this.#stopRenewing();
    const name = this.#identity;
    await this.#serialize(async () => {
      if (this.#state !== 'absent') return; // ensured again meanwhile
      await this.#o.client.delete(name, signal);
      this.#object = null;
    });
  }

  /** Deletes our LeaseCandidate (bounded by the request timeout) and stops everything. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const created = this.#identity !== null && this.#state !== 'absent';
    const name = this.#identity;
    this.#state = 'closed';
    this.#stopRenewing();
    this.#closeWatch();
    this.#closing.abort(new LeaderElectError(ErrorCode.Aborted, 'candidate closed'));
    await this.#writes.catch(() => undefined);
    if (!created || name === null) return;
    const bound = scopedSignal(undefined, {
      ms: this.#o.requestTimeoutMs(),
      ...(this.#clock === null ? {} : { clock: this.#clock }),
      reason: () =>
        new LeaderElectError(ErrorCode.BackendTimeout, 'deleting the LeaseCandidate timed out'),
    });
    try {
      await this.#o.client.delete(name, bound.signal);
    } finally {
      bound.dispose();
    }
  }

  // ---------------------------------------------------------------- writes

  async #createOrRepair(signal: AbortSignal): Promise<void> {
    const name = this.#identity ?? '';
    const { settings } = this.#o;
    const clock = this.#requireClock();
    for (let round = 0; round < MAX_WRITE_ROUNDS; round++) {
      this.#assertOpen();
      let current = this.#object;
      if (current === null) {
        try {
          this.#accept(
            await this.#o.client.create(
              newLeaseCandidate(name, this.#o.client.namespace, settings, clock.wallNow()),
              signal,
            ),
          );
          return;
        } catch (error) {
          if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
        }
        current = await this.#o.client.get(name, signal);
        if (current === null) continue; // deleted between our create and our read
      }
      if (current.spec?.leaseName !== settings.leaseName) {
        throw new LeaderElectError(
          ErrorCode.InvalidIdentity,
          `identity "${name}" already names a LeaseCandidate for Lease "${current.spec?.leaseName ?? ''}" ` +
            `in namespace "${this.#o.client.namespace}": a LeaseCandidate is named after the identity, so ` +
            'each coordinated election in a namespace needs an identity of its own',
          {
            details: {
              identity: name,
              leaseName: current.spec?.leaseName,
              wanted: settings.leaseName,
            },
          },
        );
      }
      try {
        const updated = await this.#o.client.update(
          renewedLeaseCandidate(current, settings, clock.wallNow()),
          signal,
        );
        if (updated !== null) {
          this.#accept(updated);
          return;
        }
        this.#object = null; // deleted meanwhile: create it
      } catch (error) {
        if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
        this.#object = await this.#o.client.get(name, signal);
      }
    }
    throw new LeaderElectError(
      ErrorCode.Conflict,
      `LeaseCandidate "${name}" in namespace "${this.#o.client.namespace}" kept changing under us (${MAX_WRITE_ROUNDS} tries)`,
    );
  }

  /** A write succeeded: the object exists as `candidate`, and we renew it periodically. */
  #accept(candidate: LeaseCandidateObject): void {
    this.#object = candidate;
    this.#problem = null;
    this.#failures = 0;
    if (this.#state === 'closed') return;
    this.#state = 'present';
    this.#armRenewTimer(CANDIDATE_RENEW_INTERVAL_MS);
  }

  /** Renews in the background (a ping, the periodic renewal, a deletion under us). */
  #renewInBackground(): void {
    if (this.#state !== 'present' && this.#state !== 'lost') return;
    if (this.#answering) {
      this.#answerAgain = true;
      return;
    }
    this.#answering = true;
    void this.#serialize(async () => {
      do {
        this.#answerAgain = false;
        if (this.#state !== 'present' && this.#state !== 'lost') return;
        const bound = scopedSignal(this.#closing.signal, {
          ms: this.#o.requestTimeoutMs(),
          ...(this.#clock === null ? {} : { clock: this.#clock }),
          reason: () =>
            new LeaderElectError(ErrorCode.BackendTimeout, 'renewing the LeaseCandidate timed out'),
        });
        try {
          await this.#createOrRepair(bound.signal);
        } catch (error) {
          if (this.#closing.signal.aborted) return;
          this.#problem = toLeaderElectError(
            error,
            ErrorCode.BackendError,
            'renewing the LeaseCandidate failed',
          );
          this.#failures += 1;
          this.#armRenewTimer(
            Math.min(CANDIDATE_RENEW_INTERVAL_MS, RETRY_INITIAL_MS * 2 ** (this.#failures - 1)),
          );
          this.#o.onTrouble();
          return;
        } finally {
          bound.dispose();
        }
      } while (this.#answerAgain);
    }).finally(() => {
      this.#answering = false;
    });
  }

  #serialize<T>(write: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(write, write);
    this.#writes = run.catch(() => undefined);
    return run;
  }

  // ---------------------------------------------------------------- watch and timer

  #adopt(context: BackendContext): void {
    if (this.#identity === null) {
      const problem = candidateNameProblem(context.identity);
      if (problem !== null) {
        throw new LeaderElectError(
          ErrorCode.InvalidIdentity,
          `identity ${JSON.stringify(context.identity)} cannot be a coordinated candidate: it ${problem}`,
          {
            details: { identity: context.identity, rule: 'LeaseCandidate name (a ConfigMap key)' },
          },
        );
      }
      this.#identity = context.identity;
      this.#clock = context.clock;
    }
    if (this.#watch === null) {
      this.#watchSettled = new Promise((resolve) => {
        this.#settleWatch = resolve;
      });
      this.#watch = this.#o.client.watch(this.#identity, (event) => this.#onWatch(event));
    }
  }

  #onWatch(event: CandidateWatchEvent): void {
    if (this.#state === 'closed') return;
    if (event.type === 'up') {
      this.#watchProblem = null;
      this.#settleWatch?.();
      return;
    }
    if (event.type === 'down') {
      this.#settleWatch?.();
      if (event.error === undefined) return;
      const error = toLeaderElectError(
        event.error,
        ErrorCode.BackendUnavailable,
        'the watch of our LeaseCandidate failed',
      );
      if (!error.transient) {
        this.#watchProblem = error;
        this.#o.onTrouble();
      }
      return;
    }
    const { candidate } = event;
    if (candidate === null) {
      if (this.#state !== 'present') return;
      // Deleted by someone else (a person, the garbage collector) while we campaign.
      this.#object = null;
      this.#state = 'lost';
      this.#renewInBackground();
      return;
    }
    this.#object = candidate;
    if (this.#state !== 'present') return;
    if (awaitsAnswer(candidate) || !describesUs(candidate, this.#o.settings)) {
      this.#renewInBackground();
    }
  }

  #closeWatch(): void {
    this.#watch?.close();
    this.#watch = null;
    this.#watchProblem = null;
    this.#settleWatch?.();
  }

  /** (Re-)arms the one renewal timer: the periodic renewal, or a retry after a failure. */
  #armRenewTimer(delayMs: number): void {
    const clock = this.#clock;
    if (clock === null || this.#state === 'closed') return;
    this.#stopRenewing();
    this.#renewTimer = clock.setTimer(() => {
      this.#renewTimer = null;
      this.#renewInBackground();
    }, delayMs);
    // Housekeeping: the elector's own timers and sockets keep the process alive while it runs.
    clock.unrefTimer?.(this.#renewTimer);
  }

  #stopRenewing(): void {
    if (this.#renewTimer !== null) this.#clock?.clearTimer(this.#renewTimer);
    this.#renewTimer = null;
  }

  #requireClock(): Clock {
    if (this.#clock === null) {
      throw new LeaderElectError(ErrorCode.BackendError, 'LeaseCandidate used before ensure()');
    }
    return this.#clock;
  }

  #assertOpen(): void {
    if (this.#state === 'closed') {
      throw new LeaderElectError(ErrorCode.Stopped, 'the LeaseCandidate was closed');
    }
  }
}
