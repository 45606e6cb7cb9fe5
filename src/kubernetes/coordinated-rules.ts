/**
 * The rules of a coordinated candidate (KEP-4355), as pure functions of the Lease record, our
 * identity and our term: what client-go's `tryCoordinatedRenew` decides, made explicit.
 *
 * - Never acquire: a Lease that is free, expired or absent is left to the controller.
 * - Claim (start a term by our own write) only a Lease that names us as holder.
 * - Renew only while the Lease names us with our term's token.
 * - A `preferredHolder` naming someone else means "end of term": stop renewing (the term then
 *   ends at its own deadline), unless that candidate is gone (checked by the caller, because a
 *   stale preferred holder must not stall the election: kubernetes/kubernetes#138066).
 */
import type { LeaseRecord } from '../backend/record-store.js';

export type CoordinatedStep =
  /** The Lease names us and nobody else is preferred: write our renewal (a term starts or goes on). */
  | { readonly action: 'write' }
  /**
   * The Lease names us, but the controller prefers `preferredHolder`: no write, unless that
   * candidate is gone (then `write`, clearing the preference).
   */
  | { readonly action: 'yield'; readonly preferredHolder: string }
  /** Someone else holds it, or nobody: wait for the controller (never acquire). */
  | { readonly action: 'wait' }
  /** Our term is over: another holder, another term's token, or no Lease. */
  | { readonly action: 'lost' };

/**
 * One step. `token` is the term being renewed (`null` for a follower). The record's holder and
 * token decide; timestamps are never read (expiry is the controller's business, and a write on
 * the version we judged cannot overwrite a newer holder: it is a compare-and-swap).
 */
export function coordinatedStep(
  record: LeaseRecord | null,
  identity: string,
  token: bigint | null,
): CoordinatedStep {
  const renewing = token !== null;
  if (record === null || record.holderIdentity !== identity) {
    return { action: renewing ? 'lost' : 'wait' };
  }
  if (renewing && BigInt(record.leaseTransitions) !== token) return { action: 'lost' };
  const preferred = record.preferredHolder ?? '';
  if (preferred !== '' && preferred !== identity) {
    return { action: 'yield', preferredHolder: preferred };
  }
  return { action: 'write' };
}

/**
 * The record we write for `step` `write`: our renewal of the Lease as last seen. A new term
 * (`token` null) takes a token above every one we have seen for this Lease (`highestSeen`), as
 * every acquisition of ours does, and records its acquire time; a renewal keeps both. A stale
 * preferred holder is cleared; the strategy is kept.
 */
export function coordinatedWrite(
  current: LeaseRecord,
  options: {
    readonly identity: string;
    readonly token: bigint | null;
    readonly leaseDurationMs: number;
    readonly wallTime: string;
    readonly highestSeen: number | null;
    readonly clearPreferred: boolean;
  },
): LeaseRecord {
  const { preferredHolder, ...rest } = current;
  const starting = options.token === null;
  const base = Math.max(current.leaseTransitions, options.highestSeen ?? 0);
  return {
    ...rest,
    ...(options.clearPreferred || preferredHolder === undefined ? {} : { preferredHolder }),
    holderIdentity: options.identity,
    leaseDurationMs: options.leaseDurationMs,
    acquireTime: starting ? options.wallTime : current.acquireTime,
    renewTime: options.wallTime,
    leaseTransitions: starting ? base + 1 : current.leaseTransitions,
  };
}

/** Released form, as client-go writes it (and the record-lease adapter). */
const RELEASED_LEASE_DURATION_MS = 1000;

/**
 * client-go's released form of `current`: no holder, a 1-second duration, times now, the token
 * kept; the preferred holder is dropped (the controller elects afresh on a free Lease).
 */
export function releasedRecord(current: LeaseRecord, wallTime: string): LeaseRecord {
  const { preferredHolder: _dropped, ...rest } = current;
  return {
    ...rest,
    holderIdentity: '',
    leaseDurationMs: RELEASED_LEASE_DURATION_MS,
    acquireTime: wallTime,
    renewTime: wallTime,
  };
}
