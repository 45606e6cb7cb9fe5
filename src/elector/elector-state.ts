/**
 * The elector's state, as a discriminated union: each state carries only its own data, so that an
 * impossible combination (a follower with a term, a stopped elector with a pending campaign)
 * cannot be written.
 *
 * ```
 *  idle ──run()──▶ following ◀──────── term ends (lost, renew-deadline, work-failed)
 *                   │    ▲ hold: after a loss, wait for the old work and a pause
 *          acquired │    │
 *                   ▼    │
 *                 leading ──stop()──▶ stopping (held: renewals go on while the work winds down)
 *                                        │
 *  following ──stop()──▶ stopping (held: null) ──▶ stopped
 * ```
 */
import type { LocalRenewRequest } from '../backend/lease-backend.js';
import type { CampaignHold } from './campaign-hold.js';
import type { ElectorPhase } from './events.js';
import type { Term } from './term.js';

/** A term this elector holds and renews. */
export interface HeldTerm<Fence> {
  readonly term: Term<Fence>;
  /** A transfer or resignation of this term is under way (its work winds down, or the hand-over runs). */
  handingOver: boolean;
  /** `onStartedLeading`'s promise; it settles (never rejects) when the work is over. */
  readonly work: Promise<void>;
  /** Clock reading of the last successful renewal (or of the acquisition). */
  lastRenewAt: number;
  /** The `renewLocally` request of this term, made on first use and reused for every renewal. */
  localRequest: LocalRenewRequest | null;
}

export interface Following {
  readonly kind: 'following';
  /** Clock reading when this campaign began (the time-to-acquire metric). */
  readonly since: number;
  /** Set while campaigning waits after a term ended (see CampaignHold). */
  hold: CampaignHold | null;
  /** Back-to-back immediate retries (bounded, then the jittered poll). */
  immediateRetries: number;
}

export interface Leading<Fence> {
  readonly kind: 'leading';
  readonly held: HeldTerm<Fence>;
}

export interface Stopping<Fence> {
  readonly kind: 'stopping';
  /** The term still held while its work winds down (renewals go on), or null. */
  held: HeldTerm<Fence> | null;
}

export type ElectorState<Fence> =
  | { readonly kind: 'idle' }
  | Following
  | Leading<Fence>
  | Stopping<Fence>
  | { readonly kind: 'stopped' };

/** The public name of a state. */
export function phaseOf(state: ElectorState<unknown>): ElectorPhase {
  switch (state.kind) {
    case 'idle':
      return 'idle';
    case 'following':
      return 'follower';
    case 'leading':
      return 'leader';
    case 'stopping':
      return 'stopping';
    case 'stopped':
      return 'stopped';
  }
}

/** The term this state holds (a leader's, or a stopping leader's while its work winds down). */
export function heldTermOf<Fence>(state: ElectorState<Fence>): HeldTerm<Fence> | null {
  return state.kind === 'leading' || state.kind === 'stopping' ? state.held : null;
}
