/** Our candidate key as a candidacy last saw it, the answers built from it, and corrupt keys. */

import type { LeaseHeld, LeaseNotHeld } from '../backend/lease-backend.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import type { ClientResources } from './client-resources.js';
import type { Candidate } from './election-recipe.js';
import { type EtcdFence, EtcdTermFence } from './fence.js';
import type { SessionLease } from './lease-session.js';

/** Our candidate key as we last saw it. */
export interface CampaignKey {
  readonly key: string;
  readonly leaseId: bigint;
  /** Generation of the session lease it is attached to. */
  readonly generation: number;
  readonly createRevision: bigint;
  readonly fence: EtcdTermFence;
  /** Deleted (resigned by someone, lease expired or revoked). */
  gone: boolean;
}

/**
 * `current` if it is the live key `key` created at `createRevision` on this generation of the
 * session lease, else a new record of that key with its own fence.
 */
export function rememberKey(
  current: CampaignKey | null,
  key: string,
  lease: SessionLease,
  createRevision: bigint,
  resources: ClientResources,
  requestTimeout: number,
): CampaignKey {
  if (
    current !== null &&
    current.key === key &&
    current.createRevision === createRevision &&
    current.generation === lease.generation &&
    !current.gone
  ) {
    return current;
  }
  return {
    key,
    leaseId: lease.id,
    generation: lease.generation,
    createRevision,
    gone: false,
    fence: new EtcdTermFence(resources, key, createRevision, requestTimeout),
  };
}

export function held(
  campaign: CampaignKey,
  sentAt: number,
  ttlSeconds: number,
): LeaseHeld<EtcdFence> {
  return {
    kind: 'held',
    token: campaign.createRevision,
    sentAt,
    leaseDurationMs: ttlSeconds * 1_000,
    fence: campaign.fence,
  };
}

export function notHeld(leader: Candidate): LeaseNotHeld {
  return { kind: 'not-held', holder: leader.value, token: leader.createRevision, expiresAt: null };
}

export function nobody(): LeaseNotHeld {
  return { kind: 'not-held', holder: null, token: null, expiresAt: null };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** renewLocally's answer, one per term, updated in place (see LeaseBackend.renewLocally). */
export type LocalHeld = Mutable<LeaseHeld<EtcdFence>>;

/**
 * `previous` updated in place if it answers for `campaign`'s term, else a new answer. A process
 * with thousands of elections renews locally thousands of times a second: no allocation per call.
 */
export function heldInPlace(
  previous: LocalHeld | null,
  campaign: CampaignKey,
  sentAt: number,
  ttlSeconds: number,
): LocalHeld {
  let answer = previous;
  if (
    answer === null ||
    answer.token !== campaign.createRevision ||
    answer.fence !== campaign.fence
  ) {
    answer = { ...held(campaign, sentAt, ttlSeconds) };
  }
  answer.sentAt = sentAt;
  answer.leaseDurationMs = ttlSeconds * 1_000;
  return answer;
}

/** Our key `key` exists but on another lease than our session's. */
export function foreignLeaseError(
  election: string,
  key: string,
  lease: bigint,
  ourLease: bigint,
): LeaderElectError {
  return new LeaderElectError(
    ErrorCode.CorruptRecord,
    `etcd election "${election}": key ${JSON.stringify(key)} exists but is attached to lease ${lease.toString(16)}, not to our session lease ${ourLease.toString(16)}; delete it`,
    { details: { key } },
  );
}

/** The oldest candidate key is not on the lease its name gives: it may never expire. */
export function strayLeaderError(election: string, leader: Candidate): LeaderElectError {
  return new LeaderElectError(
    ErrorCode.CorruptRecord,
    `etcd election "${election}": the oldest candidate key ${JSON.stringify(leader.key)} (value ${JSON.stringify(leader.value)}) is ${leader.lease === 0n ? 'not attached to any lease' : `attached to lease ${leader.lease.toString(16)}`}, not to the lease its name gives; it was not written by the election recipe and may never expire. Nobody can lead until it is deleted`,
    { details: { key: leader.key, value: leader.value } },
  );
}
