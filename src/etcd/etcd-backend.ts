/**
 * The etcd election backend: etcd's own election recipe (Go `concurrency.Election`, `etcdctl
 * elect`) behind the {@link LeaseBackend} interface, so Node candidates compete with Go ones.
 *
 * This file is the façade: it checks that the backend is open, gives every call a signal that
 * `close()` aborts, keeps track of calls in flight, and types errors at the edge. What it does
 * for each call is elsewhere:
 *
 * - candidacy.ts: the recipe's steps for our candidate key (campaign, renew, resign);
 * - candidate-steering.ts: transfers, operators' transfer requests, the side key;
 * - election-recipe.ts: the recipe's transactions;
 * - election-watches.ts: the watches on our key, the leader and our predecessor;
 * - keepalive-rules.ts: how old a keepalive may be to prove a term (pure);
 * - lease-session.ts, watch-hub.ts, client-resources.ts: what all elections of one client share.
 */
import { ClientClosedError, type Etcd3 } from 'etcd3';
import { raceAbort, scopedSignal } from '../abort.js';
import type {
  AttemptRequest,
  BackendContext,
  CandidateInfo,
  ElectionTimings,
  InspectRequest,
  LeaseBackend,
  LeaseHeld,
  LeaseStatus,
  LocalRenewRequest,
  Observation,
  ObserveListener,
  PrepareTransferRequest,
  ReleaseRequest,
  TransferOutcome,
  TransferRequest,
  TransferRequestByOperator,
  WatchHandle,
  WatchListener,
} from '../backend/lease-backend.js';
import { type Clock, systemClock } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { Candidacy } from './candidacy.js';
import { encodeAsk, transferRequestKey } from './candidate-meta.js';
import { ClientResources } from './client-resources.js';
import { ElectionObserver } from './election-observer.js';
import { ElectionRecipe } from './election-recipe.js';
import { toEtcdError } from './etcd-errors.js';
import type { EtcdFence } from './fence.js';
import { steerableCandidates } from './transfer.js';

export interface EtcdElectionBackendOptions {
  readonly client: Etcd3;
  readonly ownsClient: boolean;
  readonly endpoints: readonly string[];
  readonly election: string;
  readonly requestTimeout: number;
  readonly maxKeepaliveAge: number | undefined;
  readonly onWarning: (warning: LeaderElectError) => void;
  /** Publish the side key leaders steer with (see candidate-meta.ts). */
  readonly steering?: boolean;
  /**
   * The clock of the client's session and watches (the first backend of a client sets it).
   * @default the process clock, which is also the elector's default
   */
  readonly clock?: Clock;
}

export class EtcdElectionBackend implements LeaseBackend<EtcdFence> {
  readonly description: string;
  /** The election name (key prefix without the trailing slash). */
  readonly election: string;
  /** The election name, the default `name` of its elector. */
  readonly name: string;

  readonly #resources: ClientResources;
  readonly #recipe: ElectionRecipe;
  readonly #candidacy: Candidacy;
  readonly #requestTimeout: number;
  readonly #onWarning: (warning: LeaderElectError) => void;
  /** Signals of the calls in flight (close() aborts them). Created on first use. */
  #calls: Set<(reason: unknown) => void> | null = null;
  /** Calls (and inspections) in flight; close() waits for them. Created on first use. */
  #inFlight: Set<Promise<unknown>> | null = null;
  /** Foreign keys already reported (see #warnOnce). Created on first use. */
  #warned: Set<string> | null = null;
  #closePromise: Promise<void> | null = null;
  /** Observers opened with observe(); close() ends them. Created on first use. */
  #observers: Set<ElectionObserver> | null = null;

  constructor(options: EtcdElectionBackendOptions) {
    this.election = options.election;
    this.name = options.election;
    this.description = `etcd election "${options.election}"`;
    this.#requestTimeout = options.requestTimeout;
    this.#onWarning = options.onWarning;
    this.#resources = ClientResources.acquire(options.client, {
      owned: options.ownsClient,
      endpoints: options.endpoints,
      requestTimeout: options.requestTimeout,
      clock: options.clock ?? systemClock,
    });
    this.#recipe = new ElectionRecipe(
      this.#resources,
      options.election,
      options.requestTimeout,
      (key) => this.#warnOnce(key),
    );
    this.#candidacy = new Candidacy({
      resources: this.#resources,
      recipe: this.#recipe,
      requestTimeout: options.requestTimeout,
      maxKeepaliveAge: options.maxKeepaliveAge,
      steering: options.steering === true,
      onWarning: options.onWarning,
    });
  }

  /**
   * Called by the elector's constructor. Unless `maxKeepaliveAge` was given, a renewal may reuse
   * a shared keepalive as old as keepalive-rules.ts `renewalProofAge` allows: the term then
   * always outlives the next renewal, whatever timings the elector validated. (`maxClockSkew`
   * does not apply: the lease's TTL runs on the etcd server.)
   */
  configure(timings: ElectionTimings): void {
    this.#candidacy.configure(timings);
  }

  /** Campaigns of one client run at most CAMPAIGNS_IN_FLIGHT at once (see client-resources.ts). */
  admit(request: { readonly signal: AbortSignal }): Promise<() => void> {
    return this.#resources.admission.enter(request.signal);
  }

  attempt(request: AttemptRequest): Promise<Observation<EtcdFence>> {
    if (this.#closePromise !== null) return Promise.reject(this.#closedError());
    if (this.#resources.clientClosed()) {
      return Promise.reject(
        toEtcdError(new ClientClosedError('etcd'), {
          operation: `${request.mode === 'renew' ? 'renew' : 'campaign'} in ${this.description}`,
        }),
      );
    }
    return this.#call(request.signal, (signal) =>
      request.mode === 'renew'
        ? this.#candidacy.renew(request, signal)
        : this.#candidacy.campaign(request, signal),
    );
  }

  /** See LeaseBackend.renewLocally: a recent shared keepalive and a watch that vouches for our key. */
  renewLocally(request: LocalRenewRequest): LeaseHeld<EtcdFence> | null {
    if (this.#closePromise !== null) return null;
    return this.#candidacy.renewLocally(request);
  }

  /** Our priority in the side key (needs `steering`; see LeaseBackend.advertise). */
  advertise(candidate: CandidateInfo): WatchHandle {
    this.#candidacy.advertise(candidate.identity, candidate.priority);
    return { close: () => undefined };
  }

  /** The live leader-elect candidates and their priorities (needs `steering`). */
  candidates(request: { readonly signal: AbortSignal }): Promise<readonly CandidateInfo[]> {
    if (this.#closePromise !== null) return Promise.reject(this.#closedError());
    return this.#call(request.signal, (signal) =>
      steerableCandidates(this.#resources, this.#recipe, this.#requestTimeout, signal),
    );
  }

  /** See LeaseBackend.prepareTransfer and transfer.ts. */
  prepareTransfer(request: PrepareTransferRequest): Promise<void> {
    if (this.#closePromise !== null) return Promise.reject(this.#closedError());
    return this.#call(
      request.signal,
      (signal) => this.#candidacy.prepareTransfer(request.token, request.successor, signal),
      { refine: false },
    );
  }

  /** See LeaseBackend.transfer and transfer.ts. */
  transfer(request: TransferRequest): Promise<TransferOutcome> {
    if (this.#closePromise !== null) return Promise.reject(this.#closedError());
    return this.#call(
      request.signal,
      async (signal) => ({
        successorToken: await this.#candidacy.transfer(
          request.token,
          request.successor,
          request.confirmWithinMs,
          signal,
        ),
      }),
      { refine: false },
    );
  }

  /**
   * An operator's request (`leader-elect transfer`): a key beside the election that the leader
   * of the current term watches (it needs `steering: true`) and consumes.
   */
  requestTransfer(request: TransferRequestByOperator): Promise<void> {
    if (this.#closePromise !== null) return Promise.reject(this.#closedError());
    return this.#call(request.signal, async (signal) => {
      const leader = (await this.#recipe.read(signal)).candidates[0];
      if (leader === undefined) {
        throw new LeaderElectError(
          ErrorCode.TransferRefused,
          `${this.description}: nobody leads; there is nothing to transfer`,
        );
      }
      await this.#recipe.put(
        transferRequestKey(this.election),
        encodeAsk({ to: request.to, token: leader.createRevision }),
        signal,
      );
    });
  }

  async release(request: ReleaseRequest): Promise<void> {
    if (this.#closePromise !== null) return;
    await this.#call(request.signal, (signal) => this.#candidacy.release(request.token, signal), {
      refine: false,
    });
  }

  /**
   * Read-only look at the election without campaigning: the leader is the live candidate key with
   * the lowest create revision (its revision is the token); the time left is its lease's TTL as
   * the server counts it (etcd reports whole seconds).
   */
  inspect(request: InspectRequest): Promise<LeaseStatus> {
    if (this.#closePromise !== null) return Promise.reject(this.#closedError());
    return this.#call(request.signal, async (signal): Promise<LeaseStatus> => {
      let leader: Awaited<ReturnType<ElectionRecipe['read']>>['candidates'][number] | undefined;
      let ttl: { readonly remainingMs: number; readonly grantedMs: number } | null = null;
      try {
        leader = (await this.#recipe.read(signal)).candidates[0];
        if (leader !== undefined && leader.lease !== 0n) {
          ttl = await this.#recipe.leaseTtl(leader.lease, signal);
        }
      } catch (error) {
        throw this.#recipe.error(error, 'inspect');
      }
      return {
        holder: leader?.value ?? null,
        token: leader?.createRevision ?? null,
        leaseDurationMs: ttl?.grantedMs ?? null,
        remainingMs: ttl?.remainingMs ?? null,
        renewTime: null,
      };
    });
  }

  /** Who leads, pushed as it changes, without campaigning (see election-observer.ts). */
  observe(listener: ObserveListener): WatchHandle {
    if (this.#closePromise !== null) throw this.#closedError();
    const observer = new ElectionObserver(
      this.#resources,
      this.#recipe,
      this.#requestTimeout,
      listener,
    );
    this.#observers ??= new Set();
    const observers = this.#observers;
    observers.add(observer);
    return {
      close: () => {
        observer.close();
        observers.delete(observer);
      },
    };
  }

  watch(listener: WatchListener, _context: BackendContext): WatchHandle {
    if (this.#closePromise !== null) throw this.#closedError();
    this.#candidacy.listen(listener);
    return {
      close: () => {
        if (this.#candidacy.listener === listener) this.#candidacy.listen(null);
      },
    };
  }

  close(): Promise<void> {
    if (this.#closePromise === null) {
      const closed = this.#closedError();
      const calls = this.#calls;
      this.#calls = null;
      if (calls !== null) for (const abort of calls) abort(closed);
      this.#closePromise = this.#shutdown();
    }
    return this.#closePromise;
  }

  async #shutdown(): Promise<void> {
    if (this.#observers !== null) for (const observer of this.#observers) observer.close();
    this.#observers = null;
    if (this.#inFlight !== null) await Promise.allSettled([...this.#inFlight]);
    const scope = scopedSignal(undefined, {
      ms: this.#requestTimeout,
      clock: this.#resources.clock,
      reason: () =>
        new LeaderElectError(ErrorCode.BackendTimeout, `${this.description}: close timed out`),
    });
    try {
      await this.#candidacy.close(scope.signal);
    } finally {
      scope.dispose();
      this.#resources.release();
    }
  }

  /**
   * Runs one call with a signal of its own (aborted by `outer` or by close()), tracked until it
   * settles; its failure is typed (and, unless told otherwise, a TLS diagnosis may refine it).
   */
  #call<T>(
    outer: AbortSignal,
    run: (signal: AbortSignal) => Promise<T>,
    options: { readonly refine?: boolean } = {},
  ): Promise<T> {
    const scope = scopedSignal(outer);
    this.#calls ??= new Set();
    const calls = this.#calls;
    calls.add(scope.abort);
    const done = () => {
      scope.dispose();
      if (calls.delete(scope.abort) && calls.size === 0 && this.#calls === calls)
        this.#calls = null;
    };
    const { signal } = scope;
    const running = run(signal).catch(async (error: unknown) => {
      if (signal.aborted) throw signal.reason;
      if (options.refine === false) throw error;
      throw await raceAbort(this.#resources.refine(error), signal);
    });
    running.then(done, done);
    return this.#track(running);
  }

  #track<T>(run: Promise<T>): Promise<T> {
    this.#inFlight ??= new Set();
    const inFlight = this.#inFlight;
    inFlight.add(run);
    const forget = () => {
      if (inFlight.delete(run) && inFlight.size === 0 && this.#inFlight === inFlight) {
        this.#inFlight = null;
      }
    };
    run.then(forget, forget);
    return run;
  }

  #warnOnce(key: string): void {
    this.#warned ??= new Set();
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    const warning = new LeaderElectError(
      ErrorCode.CorruptRecord,
      `${this.description}: key ${JSON.stringify(key)} under the election prefix does not follow the "<election>/<lease ID in hex>" layout; it is ignored for leadership (reported once)`,
      { details: { key, election: this.election } },
    );
    try {
      this.#onWarning(warning);
    } catch {
      // a throwing warning handler must not break the election
    }
  }

  #closedError(): LeaderElectError {
    return new LeaderElectError(ErrorCode.Stopped, `${this.description}: the backend is closed`);
  }
}
