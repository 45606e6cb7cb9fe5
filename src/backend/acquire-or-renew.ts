/**
 * client-go's `tryAcquireOrRenew` as pure rules over a record we observed: what to write (or that
 * the lease is not ours to take) given the record, when it expires on our clock and the wall time
 * to stamp. No I/O and no clock: the shell (record-lease-backend.ts) reads the store and the
 * clocks, asks these rules, and writes with compare-and-swap on the version it judged.
 */
import type { LeaseHeld, LeaseNotHeld, WatchEvent } from './lease-backend.js';
import { RELEASED_LEASE_DURATION_MS, withoutTransferRequest } from './lease-record.js';
import type { LeaseRecord } from './record-store.js';

/** What an attempt asks for: the parts of an `AttemptRequest` the rules read. */
export interface Claim {
  readonly mode: 'acquire' | 'renew';
  readonly identity: string;
  /** The term a renewal is for. */
  readonly token?: bigint | undefined;
  readonly leaseDurationMs: number;
}

/** The record as read, and when it expires on our clock if another holder has it. */
export interface RecordRead {
  readonly record: LeaseRecord;
  readonly expiresAt: number;
}

/** What to do after reading the record: write `record` (create or update), or report `observation`. */
export type AttemptDecision =
  | { readonly write: 'create' | 'update'; readonly record: LeaseRecord }
  | { readonly write: null; readonly observation: LeaseNotHeld };

/** Whether `record` is the one of our term `token`. */
export function isOurTerm(
  record: LeaseRecord,
  identity: string,
  token: bigint | undefined,
): boolean {
  return record.holderIdentity === identity && BigInt(record.leaseTransitions) === token;
}

/**
 * The renewal fast path: our last write renewed without reading first (when it still is the
 * record of the term being renewed, see isOurTerm). A transfer request in it is consumed.
 */
export function renewalOf(
  ownWrite: LeaseRecord,
  leaseDurationMs: number,
  wall: string,
): LeaseRecord {
  return { ...withoutTransferRequest(ownWrite), leaseDurationMs, renewTime: wall };
}

/** Whether `identity` may take a record at `now`: released, already ours, or expired. */
export function mayTake(
  record: LeaseRecord,
  identity: string,
  expiresAt: number,
  now: number,
): boolean {
  return record.holderIdentity === '' || record.holderIdentity === identity || expiresAt <= now;
}

/** The acquisition written over `record`: a new holder and the next fencing token. */
export function acquisitionOf(
  record: LeaseRecord,
  identity: string,
  leaseDurationMs: number,
  wall: string,
): LeaseRecord {
  return {
    ...withoutTransferRequest(record),
    holderIdentity: identity,
    leaseDurationMs,
    acquireTime: wall,
    renewTime: wall,
    leaseTransitions: record.leaseTransitions + 1,
  };
}

/**
 * The slow path's decision, on the record as read at `readAt` (`read` null: there is none).
 *
 * - No record: an acquisition creates it, with a token above every one seen (`highestTransitions`:
 *   a record deleted by hand restarts above them, not at 0); a renewal has lost its term.
 * - Another holder: a renewal has lost; an acquisition waits until the record expires.
 * - The record names us with another term's token: that term is over (a new campaign starts a
 *   term with a higher token).
 * - Otherwise write: a renewal keeps acquireTime and the token, an acquisition takes the next one.
 */
export function decideAttempt(input: {
  readonly claim: Claim;
  readonly read: RecordRead | null;
  readonly readAt: number;
  readonly wall: string;
  readonly highestTransitions: number | null;
}): AttemptDecision {
  const { claim, read, readAt, wall } = input;
  const renewing = claim.mode === 'renew';
  if (read === null) {
    if (renewing) {
      // Someone deleted the record under our term: the term is over.
      return { write: null, observation: released(readAt) };
    }
    const { highestTransitions } = input;
    return {
      write: 'create',
      record: {
        holderIdentity: claim.identity,
        leaseDurationMs: claim.leaseDurationMs,
        acquireTime: wall,
        renewTime: wall,
        leaseTransitions: highestTransitions === null ? 0 : highestTransitions + 1,
      },
    };
  }
  const { record, expiresAt } = read;
  const holder = record.holderIdentity;
  const ours = holder === claim.identity;
  if (holder !== '' && !ours && (renewing || expiresAt > readAt)) {
    return { write: null, observation: notHeld(record, expiresAt) };
  }
  if (renewing && ours && BigInt(record.leaseTransitions) !== claim.token) {
    return {
      write: null,
      observation: {
        kind: 'not-held',
        holder,
        token: BigInt(record.leaseTransitions),
        expiresAt: readAt,
      },
    };
  }
  if (renewing && !ours) return { write: null, observation: notHeld(record, null) };
  return {
    write: 'update',
    record: {
      ...withoutTransferRequest(record),
      holderIdentity: claim.identity,
      leaseDurationMs: claim.leaseDurationMs,
      acquireTime: renewing ? record.acquireTime : wall,
      renewTime: wall,
      leaseTransitions: renewing ? record.leaseTransitions : record.leaseTransitions + 1,
    },
  };
}

/**
 * After a lost compare-and-swap, the record read again at `readAt` (null: deleted): who won.
 * Free, deleted, or a write of ours whose answer we lost: due now (the elector tries again at
 * once).
 */
export function observationAfterConflict(
  read: RecordRead | null,
  identity: string,
  readAt: number,
): LeaseNotHeld {
  if (read === null) return released(readAt);
  const { record, expiresAt } = read;
  if (record.holderIdentity === '' || record.holderIdentity === identity) {
    return {
      kind: 'not-held',
      holder: record.holderIdentity === '' ? null : record.holderIdentity,
      token: BigInt(record.leaseTransitions),
      expiresAt: readAt,
    };
  }
  return notHeld(record, expiresAt);
}

/** Our write went through: the term it proves, valid from `sentAt` (the write's send time). */
export function heldBy(record: LeaseRecord, sentAt: number): LeaseHeld {
  return {
    kind: 'held',
    token: BigInt(record.leaseTransitions),
    sentAt,
    leaseDurationMs: record.leaseDurationMs,
    fence: undefined,
  };
}

/** A record we do not hold, as an observation (`expiresAt` on our clock, null: unknown). */
export function notHeld(record: LeaseRecord, expiresAt: number | null): LeaseNotHeld {
  return {
    kind: 'not-held',
    holder: record.holderIdentity === '' ? null : record.holderIdentity,
    token: BigInt(record.leaseTransitions),
    expiresAt,
  };
}

/** Nobody holds the lease (no record, or a released one seen by the watch): free at `now`. */
export function released(now: number): LeaseNotHeld {
  return { kind: 'not-held', holder: null, token: null, expiresAt: now };
}

/**
 * The hand-over record of a transfer: the successor as holder with the next token, so that to
 * every other observer (client-go included) it is an ordinary holder change.
 */
export function handOverTo(record: LeaseRecord, successor: string, wall: string): LeaseRecord {
  return {
    ...withoutTransferRequest(record),
    holderIdentity: successor,
    acquireTime: wall,
    renewTime: wall,
    leaseTransitions: record.leaseTransitions + 1,
  };
}

/** client-go's released form of `record`: no holder, a 1 s lease, the token kept. */
export function releasedForm(record: LeaseRecord, wall: string): LeaseRecord {
  return {
    ...withoutTransferRequest(record),
    holderIdentity: '',
    leaseDurationMs: RELEASED_LEASE_DURATION_MS,
    acquireTime: wall,
    renewTime: wall,
  };
}

/**
 * Whether a record naming us is newer than any term of ours, so that a leader handed the lease to
 * us (see transfer): not our own write in flight (`writing`: its leaseTransitions; its watch event
 * may come before its answer), and above our last write (`ownWrite`), if any.
 */
export function isHandedToUs(
  record: LeaseRecord,
  ownWrite: LeaseRecord | null,
  writing: number | null,
): boolean {
  return (
    record.leaseTransitions !== writing &&
    (ownWrite === null || record.leaseTransitions > ownWrite.leaseTransitions)
  );
}

/**
 * What a new version of the record (null: deleted) pushed by the store's watch means to the
 * elector `identity`, in the order to report it:
 * - a record naming us that carries an operator's transfer request: `transfer-requested`;
 * - a record naming us newer than any term of ours (`handedToUs`: a leader handed the lease to
 *   us): `changed`, so that the elector attempts now and confirms it with a term of its own;
 *   any other record naming us is our own write: nothing;
 * - released or deleted: free now; another holder: its expiry (`expiresAt`).
 * `report` is called once or twice (no array per event: every renewal is an event for every
 * candidate).
 */
export function reportRecordEvent(
  record: LeaseRecord | null,
  view: {
    readonly identity: string;
    readonly now: number;
    readonly expiresAt: number;
    readonly handedToUs: boolean;
  },
  report: (event: WatchEvent) => void,
): void {
  if (record === null || record.holderIdentity === '') {
    report({ type: 'observed', observation: released(view.now) });
    return;
  }
  if (record.holderIdentity === view.identity) {
    if (record.transferTo !== undefined)
      report({ type: 'transfer-requested', to: record.transferTo });
    if (view.handedToUs) report({ type: 'changed' });
    return;
  }
  report({ type: 'observed', observation: notHeld(record, view.expiresAt) });
}
