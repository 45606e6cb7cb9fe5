/**
 * Which keepalives prove one candidacy's terms: how old a keepalive a campaign, the shortcut or a
 * renewal may reuse (the rules are in keepalive-rules.ts; this holds a candidacy's inputs to them),
 * and until when a proved term's fence may write.
 */

import type { ElectionTimings } from '../backend/lease-backend.js';
import type { CampaignKey } from './candidate-key.js';
import {
  backgroundInterval,
  keepaliveNotBefore,
  renewalProofAge,
  shortcutProofAge,
} from './keepalive-rules.js';
import type { KeepaliveAck } from './lease-session.js';

export class CandidateProofs {
  readonly #maxAgeFixed: boolean;
  #maxKeepaliveAge: number | undefined;
  #timings: ElectionTimings | null = null;
  /** Clock reading when the previous attempt began: renewals reuse keepalives sent since. */
  #previousAttemptAt: number | null = null;

  /** `maxKeepaliveAge`: fixed by the user, else (undefined) derived from the elector's timings. */
  constructor(maxKeepaliveAge: number | undefined) {
    this.#maxKeepaliveAge = maxKeepaliveAge;
    this.#maxAgeFixed = maxKeepaliveAge !== undefined;
  }

  /** The elector's timings (see {@link renewalProofAge}). */
  configure(timings: ElectionTimings): void {
    this.#timings = timings;
    if (!this.#maxAgeFixed) {
      // The session's cadence for a lease of this election's TTL; with other elections on the
      // session it can only be shorter (see lease-session.ts), never longer.
      const ttlSeconds = sessionTtl(timings.leaseDurationMs);
      const cadence = backgroundInterval(ttlSeconds, timings.renewDeadlineMs);
      this.#maxKeepaliveAge = renewalProofAge(timings, cadence);
    }
  }

  /** The elector's timings, once configured. */
  get timings(): ElectionTimings | null {
    return this.#timings;
  }

  /** How old a keepalive may be to prove a term (0 until known). */
  get maxAge(): number {
    return this.#maxKeepaliveAge ?? 0;
  }

  /** How old a keepalive may be to prove a campaign's term, with or without the shortcut. */
  campaignAge(shortcut: boolean): number {
    return shortcut && this.#timings !== null
      ? shortcutProofAge(this.#timings)
      : (this.#maxKeepaliveAge ?? 0);
  }

  /** An attempt began at `startedAt`: later renewals may reuse keepalives sent since. */
  attemptStarted(startedAt: number): void {
    this.#previousAttemptAt = startedAt;
  }

  /**
   * The oldest keepalive a renewal starting at `startedAt` may reuse. A `maxKeepaliveAge` set by
   * the user keeps its documented rule (sent since the election's previous attempt, and at most
   * that old); the derived one lets renewals ride on the session's background keepalive.
   */
  renewalNotBefore(startedAt: number): number {
    if (this.#maxAgeFixed || this.#maxKeepaliveAge === undefined) {
      return keepaliveNotBefore(startedAt, this.#previousAttemptAt, this.#maxKeepaliveAge);
    }
    return startedAt - this.#maxKeepaliveAge;
  }

  /** The term of `campaign` was proved by `ack`: its fence may write until the term's deadline. */
  proved(campaign: CampaignKey, ack: KeepaliveAck): void {
    if (this.#timings !== null) {
      campaign.fence.holdUntil(ack.sentAt + this.#timings.renewDeadlineMs);
    }
  }
}

/** etcd leases have whole-second TTLs: round up, so the lease is never shorter than asked. */
export function sessionTtl(leaseDurationMs: number): number {
  return Math.max(1, Math.ceil(leaseDurationMs / 1_000));
}
