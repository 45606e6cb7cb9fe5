/**
 * One election's candidacy on etcd: our candidate key, and the recipe's steps around it.
 *
 * - Campaign: create our key `<election>/<lease hex>` under the session lease if it does not
 *   exist, read the election; the live key with the lowest create revision leads, and its create
 *   revision is the term's fencing token. A follower then watches its predecessor's deletion and
 *   the leader key, and campaigns again when either changes, which re-checks that our own key
 *   still exists (etcd#19597 is the bug of not doing so).
 * - Renew: an acknowledged keepalive of the session lease, plus the knowledge that our key still
 *   exists (a watch on it that vouches for it, or a read).
 * - Resign: delete our key (guarded by its create revision).
 *
 * Every proof of the lease is a keepalive's send time; how old it may be is decided by the rules
 * in keepalive-rules.ts, with this candidacy's inputs kept in candidate-proofs.ts. The steering
 * side (transfers, operators' transfer requests, the side key) is in candidate-steering.ts.
 */

import type {
  AttemptRequest,
  ElectionTimings,
  LeaseHeld,
  LeaseNotHeld,
  LocalRenewRequest,
  Observation,
  WatchEvent,
  WatchListener,
} from '../backend/lease-backend.js';
import type { Clock } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import {
  type CampaignKey,
  foreignLeaseError,
  held,
  heldInPlace,
  type LocalHeld,
  nobody,
  notHeld,
  rememberKey,
  strayLeaderError,
} from './candidate-key.js';
import { CandidateProofs, sessionTtl } from './candidate-proofs.js';
import { CandidateSteering, type SteeringOwner } from './candidate-steering.js';
import type { ClientResources } from './client-resources.js';
import type { Candidate, ElectionRecipe, ElectionView } from './election-recipe.js';
import { ElectionWatches, type WatchesOwner } from './election-watches.js';
import { isLeaseNotFound } from './etcd-errors.js';
import type { EtcdFence } from './fence.js';
import { keepFreshSince, mayLeadWithoutReading, onClock, proofTooOld } from './keepalive-rules.js';
import { candidateKey } from './keys.js';
import {
  type KeepaliveAck,
  LeaseLostError,
  type LeaseSession,
  type SessionLease,
} from './lease-session.js';

/** Campaign rounds when the session lease turns out to be gone mid-campaign. */
const CAMPAIGN_ROUNDS = 3;

/** A round that found the session lease gone: try again with a new one. */
const NEW_LEASE = Symbol('new lease');

export interface CandidacyOptions {
  readonly resources: ClientResources;
  readonly recipe: ElectionRecipe;
  readonly requestTimeout: number;
  /** Fixed by the user (`maxKeepaliveAge`), else derived from the elector's timings. */
  readonly maxKeepaliveAge: number | undefined;
  /** Publish our side key (see candidate-meta.ts) so that leaders can steer. */
  readonly steering: boolean;
  /** A side key could not be written (permission): steering stays off for this candidate. */
  readonly onWarning: (warning: LeaderElectError) => void;
}

export class Candidacy implements WatchesOwner, SteeringOwner {
  readonly #resources: ClientResources;
  readonly #recipe: ElectionRecipe;
  readonly #clock: Clock;
  readonly #requestTimeout: number;
  readonly #watches: ElectionWatches;
  /** Which keepalives prove our terms (candidate-proofs.ts). */
  readonly #proofs: CandidateProofs;
  #session: LeaseSession | null = null;
  #stopLostListener: (() => void) | null = null;
  #campaign: CampaignKey | null = null;
  /** Token of the term we last reported held and that was not released or lost since. */
  #heldToken: bigint | null = null;
  #listener: WatchListener | null = null;
  /** Transfers, transfer requests, the side key (candidate-steering.ts). */
  readonly #steering: CandidateSteering;
  /** renewLocally's answer, one per term, updated in place (see LeaseBackend.renewLocally). */
  #localHeld: LocalHeld | null = null;

  constructor(options: CandidacyOptions) {
    this.#resources = options.resources;
    this.#recipe = options.recipe;
    this.#clock = options.resources.clock;
    this.#requestTimeout = options.requestTimeout;
    this.#proofs = new CandidateProofs(options.maxKeepaliveAge);
    this.#steering = new CandidateSteering(options, this);
    this.#watches = new ElectionWatches(options.resources.hub, this.#clock, this);
  }

  /** The elector's timings (see candidate-proofs.ts). */
  configure(timings: ElectionTimings): void {
    this.#proofs.configure(timings);
  }

  /** Where watch events go (the elector's listener), or nowhere. */
  listen(listener: WatchListener | null): void {
    this.#listener = listener;
  }

  get listener(): WatchListener | null {
    return this.#listener;
  }

  // ---------------------------------------------------------------- campaign

  async campaign(request: AttemptRequest, signal: AbortSignal): Promise<Observation<EtcdFence>> {
    const startedAt = this.#clock.now();
    this.#proofs.attemptStarted(startedAt);
    const session = this.#sessionFor(request.leaseDurationMs);
    const abandoned = this.#campaign;
    if (abandoned !== null && !abandoned.gone && this.#heldToken === abandoned.createRevision) {
      // The elector campaigns again after a term of this key ended without a release (renew
      // deadline, pause). A new term needs a higher token, hence a new key: resign the old one.
      await this.#resign(abandoned, signal);
    }
    for (let round = 0; round < CAMPAIGN_ROUNDS; round++) {
      const lease = await session.lease(signal);
      const outcome = await this.#campaignRound(session, lease, request, startedAt, signal);
      if (outcome !== NEW_LEASE) return outcome;
    }
    throw new LeaderElectError(
      ErrorCode.BackendUnavailable,
      `etcd election "${this.#recipe.election}": the session lease kept expiring during the campaign`,
      { transient: true },
    );
  }

  /** One round of the campaign on one session lease. */
  async #campaignRound(
    session: LeaseSession,
    lease: SessionLease,
    request: AttemptRequest,
    startedAt: number,
    signal: AbortSignal,
  ): Promise<Observation<EtcdFence> | typeof NEW_LEASE> {
    const key = candidateKey(this.#recipe.election, lease.id);
    const shortcut = this.#shortcut(key, lease.generation);
    // Proof that the lease outlives the term: an acknowledged keepalive, whose send time is when
    // the term's lease duration starts to count. The session's latest one serves if it is recent
    // enough (so that thousands of elections campaigning at once share a few keepalives);
    // otherwise one is sent alongside the read, so that winning costs no extra round trip.
    const proofAge = this.#proofs.campaignAge(shortcut !== null);
    const proof = session.keepalive(startedAt - proofAge, signal);
    proof.catch(() => undefined);

    if (shortcut !== null) {
      const ack = await this.#awaitProof(proof);
      if (ack === null) return NEW_LEASE;
      if (ack.generation === lease.generation && !shortcut.gone) {
        return this.#lead(shortcut, ack, request);
      }
    }

    let view: ElectionView | null;
    try {
      // Our key is known to exist: a linearizable read re-checks it and finds the leader, as Go
      // does after waiting; no raft write (and fsync) on the handoff path. Otherwise (or if the
      // read shows it gone) create it: the recipe's create-if-absent transaction.
      view =
        (await this.#readIfKnown(key, lease.generation, signal)) ??
        (await this.#recipe.campaign(key, request.identity, lease.id, signal));
    } catch (error) {
      if (!isLeaseNotFound(error)) throw this.#recipe.error(error, 'campaign');
      session.markLost(lease.generation);
      return NEW_LEASE;
    }
    const ours = view.candidates.find((candidate) => candidate.key === key);
    if (ours === undefined) {
      // The lease expired between our put and the read.
      session.markLost(lease.generation);
      return NEW_LEASE;
    }
    if (ours.lease !== lease.id) {
      throw foreignLeaseError(this.#recipe.election, key, ours.lease, lease.id);
    }
    const campaign = rememberKey(
      this.#campaign,
      key,
      lease,
      ours.createRevision,
      this.#resources,
      this.#requestTimeout,
    );
    this.#campaign = campaign;
    if (view.created === true) this.#steering.publish(campaign, request.identity, null);
    this.#watches.watch('own', key, view.revision + 1n);
    if (ours.value !== request.identity) {
      await this.#recipe.proclaim(key, ours.createRevision, lease.id, request.identity, signal);
    }
    const leader = view.candidates[0] as Candidate;
    if (leader.key === key) {
      let ack = await this.#awaitProof(proof);
      // A proof chosen when the campaign began may be too old by now (queued campaigns).
      if (ack !== null && proofTooOld(this.#clock.now(), ack.sentAt, proofAge)) {
        ack = await this.#awaitProof(
          session.keepalive(this.#clock.now() - this.#proofs.maxAge, signal),
        );
      }
      if (ack === null || ack.generation !== lease.generation || campaign.gone) return NEW_LEASE;
      return this.#lead(campaign, ack, request);
    }
    return this.#follow(campaign, view, leader, signal);
  }

  /** We lead with `campaign`'s key, proved by `ack`. */
  #lead(campaign: CampaignKey, ack: KeepaliveAck, request: AttemptRequest): LeaseHeld<EtcdFence> {
    this.#heldToken = campaign.createRevision;
    this.#watches.dropFollowerWatches();
    this.#proofs.proved(campaign, ack);
    // Our side key says which term we lead: the confirmation a transfer to us waits for.
    this.#steering.publish(campaign, request.identity, campaign.createRevision);
    this.#steering.listenForAsks();
    return held(campaign, onClock(request.clock, this.#clock, ack.sentAt), ack.ttlSeconds);
  }

  /** Someone older leads: watch it and our predecessor, and report it. */
  async #follow(
    campaign: CampaignKey,
    view: ElectionView,
    leader: Candidate,
    signal: AbortSignal,
  ): Promise<LeaseNotHeld> {
    this.#heldToken = null;
    const older = view.candidates.filter((c) => c.createRevision < campaign.createRevision);
    const predecessor = older[older.length - 1] as Candidate;
    const waitsBehindLeaderOnly = older.length === 1 && leader.lease === leader.namedLease;
    const line = this.#watches.waitInLine(
      waitsBehindLeaderOnly ? { ours: campaign.key, ahead: leader.key } : null,
    );
    this.#watches.follow(leader);
    this.#watches.watch('leader', leader.key, view.revision + 1n);
    this.#watches.watch(
      'predecessor',
      predecessor.key === leader.key ? null : predecessor.key,
      view.revision + 1n,
    );
    await this.#watches.ready(signal);
    this.#watches.lineIsLive(line);
    if (leader.lease !== leader.namedLease) {
      throw strayLeaderError(this.#recipe.election, leader);
    }
    return notHeld(leader);
  }

  /** The key to lead with without reading the election again, or null (see keepalive-rules). */
  #shortcut(key: string, generation: number): CampaignKey | null {
    const line = this.#watches.takeLine();
    const campaign = this.#campaign;
    if (line === null || campaign === null) return null;
    const may = mayLeadWithoutReading({
      aheadDeleted: line.aheadDeleted,
      waitedAs: line.ours,
      campaignKey: key,
      readAt: line.since,
      now: this.#clock.now(),
      waitedOnStream: line.streamGeneration,
      currentStream: this.#watches.streamGeneration,
      watchesSynced: this.#watches.synced,
      keyKnown: !campaign.gone && campaign.key === key && campaign.generation === generation,
      ownWatchVouches: this.#watches.vouchesFor(key),
    });
    return may ? campaign : null;
  }

  /** The keepalive's acknowledgement, or null when the lease turned out to be gone. */
  async #awaitProof(proof: Promise<KeepaliveAck>): Promise<KeepaliveAck | null> {
    try {
      return await proof;
    } catch (error) {
      if (error instanceof LeaseLostError) return null;
      throw this.#recipe.error(error, 'campaign keepalive');
    }
  }

  /** Reads the election if our key is known to exist; null when it does not (any more). */
  async #readIfKnown(
    key: string,
    generation: number,
    signal: AbortSignal,
  ): Promise<ElectionView | null> {
    const known = this.#campaign;
    if (known === null || known.gone || known.key !== key || known.generation !== generation) {
      return null;
    }
    const view = await this.#recipe.read(signal);
    const ours = view.candidates.some(
      (candidate) => candidate.key === key && candidate.createRevision === known.createRevision,
    );
    if (!ours) {
      known.gone = true;
      return null;
    }
    return view;
  }

  // ---------------------------------------------------------------- renew

  /**
   * The common renewal, without I/O: a recent enough keepalive of the session and a watch that
   * vouches for our key. Null when anything is missing; a renew attempt then does the full work.
   * A process with thousands of elections runs this thousands of times a second, so it allocates
   * nothing it does not return.
   */
  renewLocally(request: LocalRenewRequest): LeaseHeld<EtcdFence> | null {
    const campaign = this.#campaign;
    const session = this.#session;
    if (
      session === null ||
      !this.#stillHeld(campaign, request.token) ||
      !this.#watches.vouchesFor(campaign.key)
    ) {
      return null;
    }
    const startedAt = this.#clock.now();
    const notBefore = this.#proofs.renewalNotBefore(startedAt);
    const ack = session.acknowledgedSince(notBefore);
    if (ack === null || ack.generation !== campaign.generation) return null;
    this.#proofs.attemptStarted(startedAt);
    const freshSince = keepFreshSince(
      startedAt,
      ack.sentAt,
      this.#proofs.maxAge,
      session.electionCount,
    );
    if (freshSince !== null) session.keepFresh(freshSince);
    this.#proofs.proved(campaign, ack);
    const sentAt = onClock(request.clock, this.#clock, ack.sentAt);
    const answer = heldInPlace(this.#localHeld, campaign, sentAt, ack.ttlSeconds);
    this.#localHeld = answer;
    return answer;
  }

  async renew(request: AttemptRequest, signal: AbortSignal): Promise<Observation<EtcdFence>> {
    const startedAt = this.#clock.now();
    const notBefore = this.#proofs.renewalNotBefore(startedAt);
    this.#proofs.attemptStarted(startedAt);
    const campaign = this.#campaign;
    const session = this.#session;
    if (session === null || !this.#stillHeld(campaign, request.token)) return this.#lost(signal);
    let ack: KeepaliveAck;
    try {
      ack = await session.keepalive(notBefore, signal);
    } catch (error) {
      if (error instanceof LeaseLostError) return this.#lost(signal);
      throw this.#recipe.error(error, 'renew');
    }
    if (campaign.gone || ack.generation !== campaign.generation) return this.#lost(signal);
    if (!this.#watches.vouchesFor(campaign.key)) {
      // The watch on our key cannot vouch for it right now: read it. If the watch was live when
      // the read went out and the read finds the key, the watch vouches from then on.
      const liveAtRead = this.#watches.ownWatchLive(campaign.key);
      let revision: bigint | null;
      try {
        revision = await this.#recipe.keyRevision(campaign.key, signal);
      } catch (error) {
        throw this.#recipe.error(error, 'renew');
      }
      if (revision !== campaign.createRevision) {
        campaign.gone = true;
        return this.#lost(signal);
      }
      this.#watches.verified(campaign.key, liveAtRead);
    }
    this.#proofs.proved(campaign, ack);
    return held(campaign, onClock(request.clock, this.#clock, ack.sentAt), ack.ttlSeconds);
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

  /** Our term is over: report who leads now (best effort). */
  async #lost(signal: AbortSignal): Promise<LeaseNotHeld> {
    this.#heldToken = null;
    try {
      const leader = (await this.#recipe.read(signal)).candidates[0];
      return leader === undefined ? nobody() : notHeld(leader);
    } catch {
      if (signal.aborted) throw signal.reason;
      return nobody();
    }
  }

  // ---------------------------------------------------------------- transfer

  /** Checks that the term `token` can be handed to `successor` (see candidate-steering.ts). */
  async prepareTransfer(token: bigint, successor: string, signal: AbortSignal): Promise<void> {
    const campaign = this.#campaign;
    if (!this.#stillHeld(campaign, token)) {
      throw new LeaderElectError(ErrorCode.NotLeader, `term ${token} is no longer ours`);
    }
    await this.#steering.prepare(token, successor, signal);
  }

  /** Hands the term `token` to `successor`; resolves with its token once it confirmed. */
  transfer(
    token: bigint,
    successor: string,
    confirmWithinMs: number,
    signal: AbortSignal,
  ): Promise<bigint> {
    const campaign = this.#campaign;
    return this.#steering.transfer(token, successor, confirmWithinMs, signal, () => {
      // Our key is gone: the term is over here; the elector campaigns again later, at the back.
      if (campaign !== null) campaign.gone = true;
      if (this.#campaign === campaign) this.#campaign = null;
      this.#heldToken = null;
      this.#watches.dropAll();
    });
  }

  /** Our priority from now on (republished at once if we have a key). */
  advertise(identity: string, priority: number): void {
    this.#steering.advertise(identity, priority, this.#campaign);
  }

  /** Token of the term we last reported held and that was not released or lost since. */
  get heldToken(): bigint | null {
    return this.#heldToken;
  }

  // ---------------------------------------------------------------- resign and close

  /** Resigns the term `token` if it is our current key's; a no-op otherwise. */
  async release(token: bigint, signal: AbortSignal): Promise<void> {
    const campaign = this.#campaign;
    if (campaign === null || campaign.createRevision !== token) return;
    await this.#resign(campaign, signal);
  }

  async #resign(campaign: CampaignKey, signal: AbortSignal): Promise<void> {
    await this.#recipe.resign(campaign.key, campaign.createRevision, signal);
    campaign.gone = true;
    if (this.#campaign === campaign) this.#campaign = null;
    if (this.#heldToken === campaign.createRevision) this.#heldToken = null;
    this.#watches.dropAll();
  }

  /**
   * Leaves the session. The last election of a session revokes the lease — unless it still holds
   * its term (releaseOnCancel: false, or stopped past its deadline): then the lease runs out on
   * the server like a crash. With other elections on the lease, our key is deleted explicitly.
   */
  async close(signal: AbortSignal): Promise<void> {
    this.#watches.close();
    this.#steering.close();
    this.#listener = null;
    this.#stopLostListener?.();
    this.#stopLostListener = null;
    const session = this.#session;
    this.#session = null;
    try {
      if (session !== null && !session.closed) {
        const last = session.electionCount === 1;
        const lease = session.current;
        const abandon = last && this.#heldToken !== null && this.#campaign?.gone === false;
        if (!last && lease !== null) {
          await this.#recipe.deleteQuietly(candidateKey(this.#recipe.election, lease.id), signal);
        }
        await session.leave(this.#recipe.election, !abandon);
      }
    } finally {
      this.#campaign = null;
      this.#heldToken = null;
    }
  }

  // ---------------------------------------------------------------- helpers

  #sessionFor(leaseDurationMs: number): LeaseSession {
    if (this.#session !== null && !this.#session.closed) return this.#session;
    const ttlSeconds = sessionTtl(leaseDurationMs);
    const session = this.#resources.sessionFor(
      this.#recipe.election,
      ttlSeconds,
      this.#proofs.timings?.renewDeadlineMs ?? null,
    );
    this.#session = session;
    this.#stopLostListener = session.onLost((generation) => {
      const campaign = this.#campaign;
      if (campaign !== null && campaign.generation === generation && !campaign.gone) {
        campaign.gone = true;
        this.emit({ type: 'changed' });
      }
    });
    this.#resources.hub.tightenProbe((ttlSeconds * 1_000) / 3);
    return session;
  }

  /** The watches' callback: our key `key` was deleted at `modRevision`. */
  ownKeyDeleted(key: string, modRevision: bigint): void {
    const campaign = this.#campaign;
    if (
      campaign !== null &&
      campaign.key === key &&
      !campaign.gone &&
      modRevision > campaign.createRevision
    ) {
      campaign.gone = true;
      this.emit({ type: 'changed' });
    }
  }

  /**
   * The watches' callback: the watch on our key `key` is live and needs a read to vouch for it.
   * The read goes out in a batch with other elections' (key-checker.ts); the same rule as in
   * {@link renew}: found with our create revision, the watch vouches from then on; found gone, our
   * term is over (as when the watch reports the deletion). Best effort: a failed read leaves the
   * check to the next renewal.
   */
  ownWatchNeedsCheck(key: string): void {
    const campaign = this.#campaign;
    const liveAtRead = this.#watches.ownWatchLive(key);
    if (campaign === null || campaign.key !== key || campaign.gone || liveAtRead === null) return;
    this.#recipe.keyRevision(key).then(
      (revision) => {
        if (revision === campaign.createRevision) {
          this.#watches.verified(key, liveAtRead);
        } else if (!campaign.gone) {
          campaign.gone = true;
          if (this.#campaign === campaign) this.emit({ type: 'changed' });
        }
      },
      () => undefined,
    );
  }

  /** Passes a watch event to the elector's listener. */
  emit(event: WatchEvent): void {
    const listener = this.#listener;
    if (listener === null) return;
    try {
      listener(event);
    } catch {
      // The elector's listener does not throw; a foreign one must not break the backend.
    }
  }
}
