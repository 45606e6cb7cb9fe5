/**
 * The etcd election backend: etcd's own election recipe (Go `concurrency.Election`, `etcdctl
 * elect`) behind the {@link LeaseBackend} interface, so Node candidates compete with Go ones.
 *
 * Campaign: one transaction — if our key `<election>/<lease hex>` does not exist, put it with our
 * identity under the session lease; either way read every key of the election. The leader is the
 * live key with the lowest create revision; its create revision is the fencing token.
 * A follower watches only the deletion of its predecessor (the newest key older than its own)
 * and the leader key (to observe who leads), then campaigns again, which re-checks that our own
 * key still exists. Renew: the session lease's keepalive, plus a watch on our own key that
 * tells us when it is deleted. Resign: delete our key.
 */
import { ClientClosedError, type Etcd3, type IKeyValue, type ITxnRequest } from 'etcd3';
import type {
  AttemptRequest,
  BackendContext,
  ElectionTimings,
  InspectRequest,
  LeaseBackend,
  LeaseHeld,
  LeaseNotHeld,
  LeaseStatus,
  LocalRenewRequest,
  Observation,
  ReleaseRequest,
  WatchEvent,
  WatchHandle,
  WatchListener,
} from '../backend/lease-backend.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { ClientResources } from './client-resources.js';
import { isLeaseNotFound, toEtcdError } from './etcd-errors.js';
import { type EtcdFence, EtcdTermFence } from './fence.js';
import { raceAbort } from './grpc-call.js';
import { candidateKey, electionPrefix, parseCandidateKey, prefixRangeEnd } from './keys.js';
import { LeaseLostError, type LeaseSession } from './lease-session.js';
import type { WatchSink, WatchSubscription } from './watch-hub.js';

export interface EtcdElectionBackendOptions {
  readonly client: Etcd3;
  readonly ownsClient: boolean;
  readonly endpoints: readonly string[];
  readonly election: string;
  readonly requestTimeout: number;
  readonly maxKeepaliveAge: number | undefined;
  readonly onWarning: (warning: LeaderElectError) => void;
}

/** A live key of the election that follows the layout. */
interface Candidate {
  readonly key: string;
  readonly value: string;
  readonly createRevision: bigint;
  /** The lease the key is attached to. */
  readonly lease: bigint;
  /** The lease its name claims (the recipe names keys after their lease). */
  readonly namedLease: bigint;
}

/** Our candidate key as we last saw it. */
interface CampaignKey {
  readonly key: string;
  readonly leaseId: bigint;
  /** Generation of the session lease it is attached to. */
  readonly generation: number;
  readonly createRevision: bigint;
  readonly fence: EtcdTermFence;
  /** Deleted (resigned by someone, lease expired or revoked). */
  gone: boolean;
}

/** The election as one read (or the campaign transaction) saw it. */
interface CampaignView {
  readonly revision: bigint;
  /** Layout keys, oldest first. */
  readonly candidates: readonly Candidate[];
  readonly ours: Candidate;
}

type Slot = 'own' | 'leader' | 'predecessor';

/** Beyond etcd's 100 ms watcher sync interval: watches this old deliver in revision order. */
const SYNCED_WATCH_AGE_MS = 150;

/**
 * The backend's watch on one key in one slot, and the sink of its subscription: one object per
 * watch (a process may hold thousands), whose callbacks reach the backend through `slotEvents`.
 */
class Watched implements WatchSink {
  subscription: WatchSubscription | null = null;
  /**
   * Our own key's watch may have started after its campaign's revision (see WatchSpec.startNow):
   * a read that found the key, sent while the watch was live, closes that gap.
   */
  verified = false;

  constructor(
    readonly owner: EtcdElectionBackend,
    readonly slot: Slot,
    readonly key: string,
  ) {}

  /** True while the server confirmed the subscription and its stream is up. */
  get active(): boolean {
    return this.subscription?.active === true;
  }

  event(type: 'put' | 'delete', kv: IKeyValue): void {
    slotEvents.event(this, type, kv);
  }

  ready(): void {
    slotEvents.state(this);
  }

  down(error: LeaderElectError): void {
    slotEvents.state(this, error);
  }

  ended(error: LeaderElectError | null): void {
    slotEvents.ended(this, error);
  }
}

/** The backend's handlers for its watches (assigned in its static block: they use its privates). */
let slotEvents: {
  event(watched: Watched, type: 'put' | 'delete', kv: IKeyValue): void;
  state(watched: Watched, error?: LeaderElectError): void;
  ended(watched: Watched, error: LeaderElectError | null): void;
};

/**
 * Renewals come one retryPeriod apart, a little more with timer delays: a keepalive up to this
 * many retryPeriods old is still "the previous renewal's" (client-go's jitter factor).
 */
const RENEWAL_JITTER = 1.2;

/** How long an attempt waits for its new watches to be confirmed before answering anyway. */
const WATCH_READY_WAIT_MS = 250;
/** Campaign rounds when the session lease turns out to be gone mid-campaign. */
const CAMPAIGN_ROUNDS = 3;

export class EtcdElectionBackend implements LeaseBackend<EtcdFence> {
  static {
    slotEvents = {
      event: (watched, type, kv) => watched.owner.#onSlotEvent(watched, type, kv),
      state: (watched, error) => watched.owner.#refreshWatchState(error),
      ended: (watched, error) => watched.owner.#onSlotEnded(watched, error),
    };
  }

  readonly description: string;
  /** The election name (key prefix without the trailing slash). */
  readonly election: string;

  readonly #resources: ClientResources;
  readonly #prefix: string;
  readonly #requestTimeout: number;
  #maxKeepaliveAge: number | undefined;
  readonly #maxKeepaliveAgeFixed: boolean;
  #timings: ElectionTimings | null = null;
  readonly #onWarning: (warning: LeaderElectError) => void;
  // The sets below are created when first needed: a process may hold thousands of backends, and
  // an empty Set costs about 160 bytes.
  /** One per call in flight (see #callSignal); close() aborts them. */
  #calls: Set<AbortController> | null = null;
  /** Calls (and inspections) in flight; close() waits for them. */
  #inFlight: Set<Promise<unknown>> | null = null;
  /** Foreign keys already reported (see #warnOnce). */
  #warned: Set<string> | null = null;
  readonly #watched: Record<Slot, Watched | null> = { own: null, leader: null, predecessor: null };
  #readyWaiters: Set<() => void> | null = null;
  #session: LeaseSession | null = null;
  #stopLostListener: (() => void) | null = null;
  #campaign: CampaignKey | null = null;
  /** Token of the term we last reported held and that was not released or lost since. */
  #heldToken: bigint | null = null;
  /** `performance.now()` when the previous attempt began: renewals reuse keepalives since. */
  #previousAttemptAt: number | null = null;
  /** The leader as last reported, to emit `observed` when its value changes. */
  #leaderSeen: { readonly key: string; readonly value: string } | null = null;
  /**
   * Set while we wait behind exactly one older candidate: when the watch reports its deletion,
   * we are the oldest key and can lead without reading the election again (see #campaignFor).
   */
  #nextInLine: {
    readonly ours: string;
    readonly ahead: string;
    readonly streamGeneration: number;
    /** performance.now() of the read that set it. */
    readonly since: number;
    cleared: boolean;
  } | null = null;
  #listener: WatchListener | null = null;
  /** renewLocally's answer, reused (see there). */
  #localHeld: Mutable<LeaseHeld<EtcdFence>> | null = null;
  #watchUp = false;
  #closePromise: Promise<void> | null = null;

  constructor(options: EtcdElectionBackendOptions) {
    this.election = options.election;
    this.#prefix = electionPrefix(options.election);
    this.#requestTimeout = options.requestTimeout;
    this.#maxKeepaliveAge = options.maxKeepaliveAge;
    this.#maxKeepaliveAgeFixed = options.maxKeepaliveAge !== undefined;
    this.#onWarning = options.onWarning;
    this.#resources = ClientResources.acquire(options.client, {
      owned: options.ownsClient,
      endpoints: options.endpoints,
      requestTimeout: options.requestTimeout,
    });
    this.description = `etcd election "${options.election}"`;
  }

  /**
   * Called by the elector's constructor. Unless `maxKeepaliveAge` was given, a renewal may reuse
   * a shared keepalive at most `min(1.2 × retryPeriod, (renewDeadline − retryPeriod) / 2)` old:
   * the term then always outlives the next renewal, whatever timings the elector validated (even
   * `renewDeadline` just above 1.2 × `retryPeriod`).
   */
  configure(timings: ElectionTimings): void {
    this.#timings = timings;
    if (this.#maxKeepaliveAgeFixed) return;
    this.#maxKeepaliveAge = Math.max(
      0,
      Math.min(
        RENEWAL_JITTER * timings.retryPeriodMs,
        (timings.renewDeadlineMs - timings.retryPeriodMs) / 2,
      ),
    );
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
    const { signal, done } = this.#callSignal(request.signal);
    const run = (
      request.mode === 'renew' ? this.#renew(request, signal) : this.#campaignFor(request, signal)
    ).catch(async (error: unknown) => {
      if (signal.aborted) throw signal.reason;
      throw await raceAbort(this.#resources.refine(error), signal);
    });
    run.then(done, done);
    return this.#track(run);
  }

  async release(request: ReleaseRequest): Promise<void> {
    if (this.#closePromise !== null) return;
    const campaign = this.#campaign;
    if (campaign === null || campaign.createRevision !== request.token) return;
    const { signal, done } = this.#callSignal(request.signal);
    try {
      await this.#track(this.#resign(campaign, signal));
    } finally {
      done();
    }
  }

  /**
   * Read-only look at the election without campaigning: the leader is the live candidate key with
   * the lowest create revision (its revision is the token); the time left is its lease's TTL as
   * the server counts it (etcd reports whole seconds).
   */
  async inspect(request: InspectRequest): Promise<LeaseStatus> {
    if (this.#closePromise !== null) throw this.#closedError();
    const { signal, done } = this.#callSignal(request.signal);
    const run = async (): Promise<LeaseStatus> => {
      const response = await this.#resources.unary(
        (options) => this.#resources.client.kv.range(this.#electionRange(), options),
        signal,
        this.#requestTimeout,
      );
      const leader = this.#candidates(response.kvs)[0];
      if (leader === undefined) {
        return {
          holder: null,
          token: null,
          leaseDurationMs: null,
          remainingMs: null,
          renewTime: null,
        };
      }
      let leaseDurationMs: number | null = null;
      let remainingMs: number | null = null;
      if (leader.lease !== 0n) {
        const ttl = await this.#resources.unary(
          (options) =>
            this.#resources.client.leaseClient.leaseTimeToLive(
              { ID: leader.lease.toString() },
              options,
            ),
          signal,
          this.#requestTimeout,
        );
        const remaining = Number(ttl.TTL);
        if (remaining >= 0) {
          remainingMs = remaining * 1000;
          leaseDurationMs = Number(ttl.grantedTTL) * 1000;
        }
      }
      return {
        holder: leader.value,
        token: leader.createRevision,
        leaseDurationMs,
        remainingMs,
        renewTime: null,
      };
    };
    const inspected = run().catch(async (error: unknown) => {
      if (signal.aborted) throw signal.reason;
      throw await raceAbort(this.#resources.refine(this.#error(error, 'inspect')), signal);
    });
    inspected.then(done, done);
    return this.#track(inspected);
  }

  watch(listener: WatchListener, _context: BackendContext): WatchHandle {
    if (this.#closePromise !== null) throw this.#closedError();
    this.#listener = listener;
    return {
      close: () => {
        if (this.#listener === listener) this.#listener = null;
      },
    };
  }

  close(): Promise<void> {
    if (this.#closePromise === null) {
      const closed = this.#closedError();
      const calls = this.#calls;
      this.#calls = null;
      if (calls !== null) for (const call of calls) call.abort(closed);
      this.#closePromise = this.#shutdown();
    }
    return this.#closePromise;
  }

  // ---------------------------------------------------------------- campaign

  async #campaignFor(
    request: AttemptRequest,
    signal: AbortSignal,
  ): Promise<Observation<EtcdFence>> {
    const startedAt = performance.now();
    this.#previousAttemptAt = startedAt;
    const session = this.#sessionFor(request.leaseDurationMs);
    const abandoned = this.#campaign;
    if (abandoned !== null && !abandoned.gone && this.#heldToken === abandoned.createRevision) {
      // The elector campaigns again after a term of this key ended without a release (renew
      // deadline, pause). A new term needs a higher token, hence a new key: resign the old one.
      await this.#resign(abandoned, signal);
    }
    for (let round = 0; round < CAMPAIGN_ROUNDS; round++) {
      const lease = await session.lease(signal);
      const key = candidateKey(this.election, lease.id);
      const fast = this.#leadWithoutReading(key, lease.generation);
      // Proof that the lease outlives the term: an acknowledged keepalive, whose send time is when
      // the term's lease duration starts to count. The session's latest one serves if it is at
      // most maxKeepaliveAge old, as for a renewal (so a process campaigning in thousands of
      // elections at once shares a few keepalives); otherwise one is sent alongside the read, so
      // winning costs no extra round trip. Leading without a read, it may be older, as long as
      // it leaves the term at least a retryPeriod for its first renewal: right after a handoff
      // the leader applies the old leader's writes before it answers a keepalive, which would
      // double the handoff.
      const reusable =
        fast !== null && this.#timings !== null
          ? Math.max(0, this.#timings.renewDeadlineMs - this.#timings.retryPeriodMs)
          : (this.#maxKeepaliveAge ?? 0);
      const keepalive = session.keepalive(startedAt - reusable, signal);
      keepalive.catch(() => undefined);
      const clockAt = request.clock.now();
      const perfAt = performance.now();
      if (fast !== null) {
        let ack: Awaited<typeof keepalive>;
        try {
          ack = await keepalive;
        } catch (error) {
          if (error instanceof LeaseLostError) continue;
          throw this.#error(error, 'campaign keepalive');
        }
        if (ack.generation === lease.generation && !fast.gone) {
          this.#heldToken = fast.createRevision;
          this.#dropFollowerWatches();
          return this.#held(fast, clockAt - Math.max(0, perfAt - ack.sentAt), ack.ttlSeconds);
        }
      }
      let view: CampaignView | null;
      try {
        // Our key is known to exist: a linearizable read re-checks it and finds the leader, as
        // Go does after waiting; no raft write (and fsync) on the handoff path. Otherwise (or if
        // the read shows it gone) create it: the recipe's create-if-absent transaction.
        view =
          (await this.#readCampaign(key, lease.generation, signal)) ??
          (await this.#createCampaign(key, request.identity, lease.id, signal));
      } catch (error) {
        if (isLeaseNotFound(error)) {
          session.markLost(lease.generation);
          continue;
        }
        throw this.#error(error, 'campaign');
      }
      if (view === null) {
        session.markLost(lease.generation);
        continue;
      }
      const { revision, candidates, ours } = view;
      if (ours.lease !== lease.id) {
        throw new LeaderElectError(
          ErrorCode.CorruptRecord,
          `${this.description}: key ${JSON.stringify(key)} exists but is attached to lease ${ours.lease.toString(16)}, not to our session lease ${lease.id.toString(16)}; delete it`,
          { details: { key } },
        );
      }
      const campaign = this.#remember(key, lease.id, lease.generation, ours.createRevision);
      this.#watchSlot('own', key, revision + 1n);
      if (ours.value !== request.identity) {
        await this.#proclaim(campaign, request.identity, signal);
      }
      const leader = candidates[0] as Candidate;
      if (leader.key === key) {
        let ack: Awaited<typeof keepalive>;
        try {
          ack = await keepalive;
          // The keepalive was chosen when the campaign began. One that queued behind thousands
          // of others (a process starting its elections at once) can take seconds: its proof
          // would then start the term nearly expired. Prove the lease again, as recently as a
          // renewal would.
          const now = performance.now();
          if (now - ack.sentAt > reusable) {
            ack = await session.keepalive(now - (this.#maxKeepaliveAge ?? 0), signal);
          }
        } catch (error) {
          if (error instanceof LeaseLostError) continue;
          throw this.#error(error, 'campaign keepalive');
        }
        if (ack.generation !== lease.generation || campaign.gone) continue;
        this.#heldToken = campaign.createRevision;
        this.#dropFollowerWatches();
        return this.#held(campaign, onClock(request.clock, ack.sentAt), ack.ttlSeconds);
      }
      this.#heldToken = null;
      const older = candidates.filter((c) => c.createRevision < campaign.createRevision);
      const predecessor = older[older.length - 1] as Candidate;
      const line =
        older.length === 1 && leader.lease === leader.namedLease
          ? {
              ours: key,
              ahead: leader.key,
              streamGeneration: -1,
              since: performance.now(),
              cleared: false,
            }
          : null;
      this.#nextInLine = line;
      this.#leaderSeen = { key: leader.key, value: leader.value };
      this.#watchSlot('leader', leader.key, revision + 1n);
      this.#watchSlot(
        'predecessor',
        predecessor.key === leader.key ? null : predecessor.key,
        revision + 1n,
      );
      await this.#watchesReady(signal);
      // The stream the watches now run on: the fast path holds only while it is the same one.
      if (line !== null && this.#nextInLine === line) {
        this.#nextInLine = { ...line, streamGeneration: this.#resources.hub.streamGeneration };
      }
      if (leader.lease !== leader.namedLease) {
        throw new LeaderElectError(
          ErrorCode.CorruptRecord,
          `${this.description}: the oldest candidate key ${JSON.stringify(leader.key)} (value ${JSON.stringify(leader.value)}) is ${leader.lease === 0n ? 'not attached to any lease' : `attached to lease ${leader.lease.toString(16)}`}, not to the lease its name gives; it was not written by the election recipe and may never expire. Nobody can lead until it is deleted`,
          { details: { key: leader.key, value: leader.value } },
        );
      }
      return notHeld(leader);
    }
    throw new LeaderElectError(
      ErrorCode.BackendUnavailable,
      `${this.description}: the session lease kept expiring during the campaign`,
      { transient: true },
    );
  }

  #campaignTxn(key: string, identity: string, leaseId: bigint): ITxnRequest {
    const keyBytes = Buffer.from(key);
    const everyCandidate = { request_range: this.#electionRange() };
    return {
      compare: [{ key: keyBytes, target: 'Create', result: 'Equal', create_revision: '0' }],
      success: [
        {
          request_put: { key: keyBytes, value: Buffer.from(identity), lease: leaseId.toString() },
        },
        everyCandidate,
      ],
      failure: [everyCandidate],
    };
  }

  /**
   * The deletion of the only key older than ours makes us the oldest: keys are only ever created
   * with higher revisions, so none can appear ahead of us. Ours still exists at that revision if
   * its watch reported no deletion before it — which holds while every watch has been synced on
   * one stream since our last read, since such a stream delivers events in revision order. Watches
   * created at a past revision are synced by etcd's sync loop (every 100 ms) and may replay out of
   * order across keys before that, hence the minimum age of the read — unless etcd created every
   * one of them synced (the usual case: nothing was written between our read and their
   * creation), which the created responses tell. The caller still awaits a
   * keepalive, which proves the lease (and so our key) alive. Returns the campaign key to lead
   * with, or null to read the election as usual.
   */
  #leadWithoutReading(key: string, generation: number): CampaignKey | null {
    const line = this.#nextInLine;
    this.#nextInLine = null;
    const campaign = this.#campaign;
    const own = this.#watched.own;
    if (
      line === null ||
      !line.cleared ||
      (performance.now() - line.since < SYNCED_WATCH_AGE_MS && !this.#watchesSynced()) ||
      line.ours !== key ||
      line.streamGeneration !== this.#resources.hub.streamGeneration ||
      campaign === null ||
      campaign.gone ||
      campaign.key !== key ||
      campaign.generation !== generation ||
      !vouches(own, key)
    ) {
      return null;
    }
    return campaign;
  }

  /** Every watch we hold was created synced (see WatchSubscription.synced). */
  #watchesSynced(): boolean {
    for (const watched of Object.values(this.#watched)) {
      if (watched !== null && watched.subscription?.synced !== true) return false;
    }
    return true;
  }

  /** Reads the election if our key is known to exist; null when it does not (any more). */
  async #readCampaign(
    key: string,
    generation: number,
    signal: AbortSignal,
  ): Promise<CampaignView | null> {
    const known = this.#campaign;
    if (known === null || known.gone || known.key !== key || known.generation !== generation) {
      return null;
    }
    const response = await this.#resources.unary(
      (options) => this.#resources.client.kv.range(this.#electionRange(), options),
      signal,
      this.#requestTimeout,
    );
    const candidates = this.#candidates(response.kvs);
    const ours = candidates.find(
      (candidate) => candidate.key === key && candidate.createRevision === known.createRevision,
    );
    if (ours === undefined) {
      known.gone = true;
      return null;
    }
    return { revision: BigInt(response.header.revision), candidates, ours };
  }

  /** The recipe's campaign transaction: create our key if absent, read the election. */
  async #createCampaign(
    key: string,
    identity: string,
    leaseId: bigint,
    signal: AbortSignal,
  ): Promise<CampaignView | null> {
    const response = await this.#resources.unary(
      (options) =>
        this.#resources.client.kv.txn(this.#campaignTxn(key, identity, leaseId), options),
      signal,
      this.#requestTimeout,
    );
    const range = response.responses[response.succeeded ? 1 : 0]?.response_range;
    const candidates = this.#candidates(range?.kvs ?? []);
    const ours = candidates.find((candidate) => candidate.key === key);
    if (ours === undefined) return null; // the lease expired between our put and the read
    return { revision: BigInt(response.header.revision), candidates, ours };
  }

  /** Our key holds another value (an earlier identity on the same lease): write ours. */
  async #proclaim(campaign: CampaignKey, identity: string, signal: AbortSignal): Promise<void> {
    const keyBytes = Buffer.from(campaign.key);
    try {
      await this.#resources.unary(
        (options) =>
          this.#resources.client.kv.txn(
            {
              compare: [
                {
                  key: keyBytes,
                  target: 'Create',
                  result: 'Equal',
                  create_revision: campaign.createRevision.toString(),
                },
              ],
              success: [
                {
                  request_put: {
                    key: keyBytes,
                    value: Buffer.from(identity),
                    lease: campaign.leaseId.toString(),
                  },
                },
              ],
            },
            options,
          ),
        signal,
        this.#requestTimeout,
      );
    } catch (error) {
      throw this.#error(error, 'campaign');
    }
  }

  #remember(key: string, leaseId: bigint, generation: number, createRevision: bigint): CampaignKey {
    const current = this.#campaign;
    if (
      current !== null &&
      current.key === key &&
      current.createRevision === createRevision &&
      current.generation === generation &&
      !current.gone
    ) {
      return current;
    }
    const campaign: CampaignKey = {
      key,
      leaseId,
      generation,
      createRevision,
      gone: false,
      fence: new EtcdTermFence(
        this.#resources.client,
        key,
        createRevision,
        this.#requestTimeout,
        this.#resources.endpoints,
      ),
    };
    this.#campaign = campaign;
    return campaign;
  }

  // ---------------------------------------------------------------- renew

  /**
   * The common renewal, without I/O: a recent enough keepalive of the session and a watch that
   * vouches for our key. Null when anything is missing; a renew attempt then does the full work.
   * This is what a process with thousands of elections runs thousands of times a second, so it
   * allocates nothing it does not return.
   */
  renewLocally(request: LocalRenewRequest): LeaseHeld<EtcdFence> | null {
    if (this.#closePromise !== null) return null;
    const campaign = this.#campaign;
    const session = this.#session;
    if (
      session === null ||
      !this.#stillHeld(campaign, request.token) ||
      !vouches(this.#watched.own, campaign.key)
    ) {
      return null;
    }
    const startedAt = performance.now();
    const ack = session.acknowledgedSince(this.#keepaliveNotBefore(startedAt));
    if (ack === null || ack.generation !== campaign.generation) return null;
    this.#previousAttemptAt = startedAt;
    // Once the acknowledgement is three quarters of the reusable age old, have the next one sent
    // now: the renewals of the other elections due before it arrives still have a quarter of
    // that age (≥ 100s of ms with real timings) to find it, and all of them stay local. (With
    // one election there is nobody to share it with: its next renewal asks when it needs one.)
    const maxAge = this.#maxKeepaliveAge ?? 0;
    if (maxAge > 0 && startedAt - ack.sentAt > 0.75 * maxAge && session.electionCount > 1) {
      session.keepFresh(startedAt - 0.75 * maxAge);
    }
    const sentAt = onClock(request.clock, ack.sentAt);
    // One answer object per term, updated in place (the elector reads it before it asks again).
    let held = this.#localHeld;
    if (held === null || held.token !== campaign.createRevision || held.fence !== campaign.fence) {
      held = { ...this.#held(campaign, sentAt, ack.ttlSeconds) };
      this.#localHeld = held;
    }
    held.sentAt = sentAt;
    held.leaseDurationMs = ack.ttlSeconds * 1_000;
    return held;
  }

  /** `campaign` is the key of the term `token` and, as far as we know, still exists. */
  #stillHeld(campaign: CampaignKey | null, token: bigint | undefined): campaign is CampaignKey {
    return (
      campaign !== null &&
      !campaign.gone &&
      campaign.createRevision === token &&
      this.#heldToken === token
    );
  }

  /**
   * The oldest keepalive a renewal starting now may reuse: sent after the previous attempt began
   * and at most maxKeepaliveAge ago.
   */
  #keepaliveNotBefore(startedAt: number): number {
    const previous = this.#previousAttemptAt ?? startedAt;
    return this.#maxKeepaliveAge === undefined
      ? previous
      : Math.max(previous, startedAt - this.#maxKeepaliveAge);
  }

  async #renew(request: AttemptRequest, signal: AbortSignal): Promise<Observation<EtcdFence>> {
    const startedAt = performance.now();
    const notBefore = this.#keepaliveNotBefore(startedAt);
    this.#previousAttemptAt = startedAt;
    const campaign = this.#campaign;
    const session = this.#session;
    if (session === null || !this.#stillHeld(campaign, request.token)) return this.#lost(signal);
    const clockAt = request.clock.now();
    const perfAt = performance.now();
    let ack: Awaited<ReturnType<LeaseSession['keepalive']>>;
    try {
      ack = await session.keepalive(notBefore, signal);
    } catch (error) {
      if (error instanceof LeaseLostError) return this.#lost(signal);
      throw this.#error(error, 'renew');
    }
    if (campaign.gone || ack.generation !== campaign.generation) return this.#lost(signal);
    const own = this.#watched.own;
    if (!vouches(own, campaign.key)) {
      // The watch on our key cannot vouch for it right now: read it. If the watch was live when
      // the read went out and the read finds the key, the watch vouches from then on.
      const liveAtRead = own !== null && own.key === campaign.key && own.active;
      let exists: boolean;
      try {
        const createRevision = await this.#resources.keys.createRevision(
          Buffer.from(campaign.key),
          signal,
        );
        exists = createRevision === campaign.createRevision;
      } catch (error) {
        throw this.#error(error, 'renew');
      }
      if (!exists) {
        campaign.gone = true;
        return this.#lost(signal);
      }
      if (liveAtRead && this.#watched.own === own) own.verified = true;
    }
    return this.#held(campaign, clockAt - Math.max(0, perfAt - ack.sentAt), ack.ttlSeconds);
  }

  /** Our term is over: report who leads now (best effort). */
  async #lost(signal: AbortSignal): Promise<LeaseNotHeld> {
    this.#heldToken = null;
    try {
      const response = await this.#resources.unary(
        (options) => this.#resources.client.kv.range(this.#electionRange(), options),
        signal,
        this.#requestTimeout,
      );
      const leader = this.#candidates(response.kvs)[0];
      return leader === undefined
        ? { kind: 'not-held', holder: null, token: null, expiresAt: null }
        : notHeld(leader);
    } catch {
      if (signal.aborted) throw signal.reason;
      return { kind: 'not-held', holder: null, token: null, expiresAt: null };
    }
  }

  #held(campaign: CampaignKey, sentAt: number, ttlSeconds: number): LeaseHeld<EtcdFence> {
    return {
      kind: 'held',
      token: campaign.createRevision,
      sentAt,
      leaseDurationMs: ttlSeconds * 1_000,
      fence: campaign.fence,
    };
  }

  // ---------------------------------------------------------------- resign and close

  async #resign(campaign: CampaignKey, signal: AbortSignal): Promise<void> {
    const keyBytes = Buffer.from(campaign.key);
    try {
      await this.#resources.unary(
        (options) =>
          this.#resources.client.kv.txn(
            {
              compare: [
                {
                  key: keyBytes,
                  target: 'Create',
                  result: 'Equal',
                  create_revision: campaign.createRevision.toString(),
                },
              ],
              success: [{ request_delete_range: { key: keyBytes } }],
            },
            options,
          ),
        signal,
        this.#requestTimeout,
        'urgent',
      );
    } catch (error) {
      throw this.#error(error, 'resign');
    }
    campaign.gone = true;
    if (this.#campaign === campaign) this.#campaign = null;
    if (this.#heldToken === campaign.createRevision) this.#heldToken = null;
    this.#dropWatches();
  }

  async #shutdown(): Promise<void> {
    if (this.#inFlight !== null) await Promise.allSettled([...this.#inFlight]);
    this.#dropWatches();
    this.#listener = null;
    this.#resolveReadyWaiters();
    this.#stopLostListener?.();
    this.#stopLostListener = null;
    const session = this.#session;
    this.#session = null;
    try {
      if (session !== null && !session.closed) {
        const last = session.electionCount === 1;
        const lease = session.current;
        // A term still held (releaseOnCancel: false, or stopped past its deadline) runs out on
        // the server like a crash, if nothing else keeps the lease alive.
        const abandon = last && this.#heldToken !== null && this.#campaign?.gone === false;
        if (!last && lease !== null) {
          // Other elections keep the lease alive: our key must go explicitly, held or not.
          await this.#deleteQuietly(candidateKey(this.election, lease.id));
        }
        await session.leave(this.election, !abandon);
      }
    } finally {
      this.#campaign = null;
      this.#heldToken = null;
      this.#resources.release();
    }
  }

  async #deleteQuietly(key: string): Promise<void> {
    try {
      await this.#resources.unary(
        (options) => this.#resources.client.kv.deleteRange({ key: Buffer.from(key) }, options),
        AbortSignal.timeout(this.#requestTimeout),
        this.#requestTimeout,
      );
    } catch {
      // Best effort: the key goes with the lease at the latest.
    }
  }

  // ---------------------------------------------------------------- watches

  #watchSlot(slot: Slot, key: string | null, fromRevision = 0n): void {
    const current = this.#watched[slot];
    if (current !== null && current.key === key) return;
    current?.subscription?.close();
    this.#watched[slot] = null;
    if (key !== null && this.#closePromise === null) {
      // Our own key's watch starts at the current revision (cheap for etcd even when thousands of
      // elections campaign at once) and is verified by a read if it started late; the others
      // decide who leads next and must not miss an event.
      const watched = new Watched(this, slot, key);
      this.#watched[slot] = watched;
      watched.subscription = this.#resources.hub.subscribe(
        {
          key: Buffer.from(key),
          deletesOnly: slot !== 'leader',
          startRevision: fromRevision,
          startNow: slot === 'own',
        },
        watched,
      );
    }
    this.#refreshWatchState();
  }

  /**
   * We lead: the watches on the leader and predecessor keys are no longer needed. Cancelling them
   * writes to the watch stream (about half a millisecond each through gRPC), so it happens after
   * the elector has taken the new term, not on the handoff's critical path. Their events until
   * then can only make the elector confirm its term with a renewal.
   */
  #dropFollowerWatches(): void {
    this.#leaderSeen = null;
    const { leader, predecessor } = this.#watched;
    if (leader === null && predecessor === null) return;
    setImmediate(() => {
      if (this.#closePromise !== null) return;
      if (leader !== null && this.#watched.leader === leader) this.#watchSlot('leader', null);
      if (predecessor !== null && this.#watched.predecessor === predecessor)
        this.#watchSlot('predecessor', null);
    });
  }

  #dropWatches(): void {
    for (const slot of ['own', 'leader', 'predecessor'] as const) {
      this.#watched[slot]?.subscription?.close();
      this.#watched[slot] = null;
    }
    this.#refreshWatchState();
  }

  /** An event of one of our watches (ignored once the slot watches something else). */
  #onSlotEvent(watched: Watched, type: 'put' | 'delete', kv: IKeyValue): void {
    const { slot, key } = watched;
    if (this.#watched[slot] !== watched) return;
    if (slot === 'own') {
      const campaign = this.#campaign;
      if (
        type === 'delete' &&
        campaign !== null &&
        campaign.key === key &&
        !campaign.gone &&
        BigInt(kv.mod_revision) > campaign.createRevision
      ) {
        campaign.gone = true;
        this.#emit({ type: 'changed' });
      }
      return;
    }
    if (type === 'delete') {
      if (slot === 'leader') this.#leaderSeen = null;
      const line = this.#nextInLine;
      if (line !== null && line.ahead === key) line.cleared = true;
      this.#emit({ type: 'changed' });
      return;
    }
    if (slot === 'leader') this.#onLeaderPut(key, kv);
  }

  /** The server ended one of our watches for good. */
  #onSlotEnded(watched: Watched, error: LeaderElectError | null): void {
    if (this.#watched[watched.slot] === watched) this.#watched[watched.slot] = null;
    if (error !== null) {
      this.#refreshWatchState(error);
      return;
    }
    // History compacted under the watch: campaign again, which re-reads and re-watches.
    this.#emit({ type: 'changed' });
  }

  #onLeaderPut(key: string, kv: IKeyValue): void {
    const value = kv.value.toString('utf8');
    const seen = this.#leaderSeen;
    if (seen === null || seen.key !== key || seen.value === value) return;
    this.#leaderSeen = { key, value };
    this.#emit({
      type: 'observed',
      observation: {
        kind: 'not-held',
        holder: value,
        token: BigInt(kv.create_revision),
        expiresAt: null,
      },
    });
  }

  /** Emits `up` once every watch we need is live, `down` (with the cause) when that ends. */
  #refreshWatchState(error?: LeaderElectError): void {
    const { own, leader, predecessor } = this.#watched;
    const up =
      (own !== null || leader !== null || predecessor !== null) &&
      (own === null || own.active) &&
      (leader === null || leader.active) &&
      (predecessor === null || predecessor.active);
    if (up) {
      this.#resolveReadyWaiters();
      if (!this.#watchUp) {
        this.#watchUp = true;
        this.#emit({ type: 'up' });
      }
      return;
    }
    if (error !== undefined && this.#watchUp) {
      this.#watchUp = false;
      this.#emit({ type: 'down', error });
    }
  }

  /** Waits (briefly) until the watches are live, so the elector need not poll meanwhile. */
  async #watchesReady(signal: AbortSignal): Promise<void> {
    const live = Object.values(this.#watched).filter((w): w is Watched => w !== null);
    if (live.every((w) => w.active)) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let resolveReady: (() => void) | undefined;
    const ready = new Promise<void>((resolve) => {
      resolveReady = resolve;
      this.#readyWaiters ??= new Set();
      this.#readyWaiters.add(resolve);
      timer = setTimeout(resolve, WATCH_READY_WAIT_MS);
    });
    try {
      await raceAbort(ready, signal);
    } finally {
      clearTimeout(timer);
      if (resolveReady !== undefined) this.#readyWaiters?.delete(resolveReady);
    }
  }

  #resolveReadyWaiters(): void {
    const waiters = this.#readyWaiters;
    this.#readyWaiters = null;
    if (waiters !== null) for (const resolve of waiters) resolve();
  }

  #emit(event: WatchEvent): void {
    const listener = this.#listener;
    if (listener === null) return;
    try {
      listener(event);
    } catch {
      // The elector's listener does not throw; a foreign one must not break the backend.
    }
  }

  // ---------------------------------------------------------------- helpers

  #sessionFor(leaseDurationMs: number): LeaseSession {
    if (this.#session !== null && !this.#session.closed) return this.#session;
    // etcd leases have whole-second TTLs: round up, so the lease is never shorter than asked.
    const ttlSeconds = Math.max(1, Math.ceil(leaseDurationMs / 1_000));
    const session = this.#resources.sessionFor(this.election, ttlSeconds);
    this.#session = session;
    this.#stopLostListener = session.onLost((generation) => {
      const campaign = this.#campaign;
      if (campaign !== null && campaign.generation === generation && !campaign.gone) {
        campaign.gone = true;
        this.#emit({ type: 'changed' });
      }
    });
    this.#resources.hub.tightenProbe((ttlSeconds * 1_000) / 3);
    return session;
  }

  /** Candidate keys that follow the layout, oldest first; reports the others once. */
  #candidates(kvs: readonly IKeyValue[]): Candidate[] {
    const candidates: Candidate[] = [];
    for (const kv of kvs) {
      const key = kv.key.toString('utf8');
      const namedLease = parseCandidateKey(this.#prefix, key);
      if (namedLease === null) {
        this.#warnOnce(key);
        continue;
      }
      candidates.push({
        key,
        value: kv.value.toString('utf8'),
        createRevision: BigInt(kv.create_revision),
        lease: BigInt(kv.lease),
        namedLease,
      });
    }
    return candidates.sort((a, b) =>
      a.createRevision < b.createRevision ? -1 : a.createRevision > b.createRevision ? 1 : 0,
    );
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

  /**
   * The signal of one call: aborts when `outer` does or when the backend closes. (Cheaper than
   * AbortSignal.any, which a long-lived signal pays for with a weak reference per call.)
   */
  #callSignal(outer: AbortSignal): { readonly signal: AbortSignal; readonly done: () => void } {
    const controller = new AbortController();
    if (outer.aborted) {
      controller.abort(outer.reason);
      return { signal: controller.signal, done: () => undefined };
    }
    const onAbort = () => controller.abort(outer.reason);
    outer.addEventListener('abort', onAbort, { once: true });
    this.#calls ??= new Set();
    this.#calls.add(controller);
    return {
      signal: controller.signal,
      done: () => {
        outer.removeEventListener('abort', onAbort);
        if (this.#calls?.delete(controller) && this.#calls.size === 0) this.#calls = null;
      },
    };
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

  /** The range of every key of the election (built per request: few requests need it). */
  #electionRange(): { readonly key: Buffer; readonly range_end: Buffer } {
    const key = Buffer.from(this.#prefix);
    return { key, range_end: prefixRangeEnd(key) };
  }

  #error(error: unknown, operation: string): LeaderElectError {
    return toEtcdError(error, {
      operation: `${operation} in ${this.description}`,
      key: this.#prefix,
      prefix: true,
      endpoints: this.#resources.endpoints,
    });
  }

  #closedError(): LeaderElectError {
    return new LeaderElectError(ErrorCode.Stopped, `${this.description}: the backend is closed`);
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * A `performance.now()` reading on the elector's clock (both monotonic; the offset is taken now).
 * Never later than the true send time: a keepalive sent after this call maps to now.
 */
function onClock(clock: { now(): number }, perfTime: number): number {
  return clock.now() - Math.max(0, performance.now() - perfTime);
}

/** Whether the watch on our own key reports every deletion of `key` from now on. */
function vouches(own: Watched | null, key: string): boolean {
  return (
    own?.key === key &&
    own.subscription?.active === true &&
    (own.subscription.complete || own.verified)
  );
}

function notHeld(leader: Candidate): LeaseNotHeld {
  return {
    kind: 'not-held',
    holder: leader.value,
    token: leader.createRevision,
    expiresAt: null,
  };
}
