import type { Clock } from '../clock.js';

/**
 * The pluggable backend contract. A `LeaseBackend` serves one election for one elector.
 *
 * Invariants every implementation must keep (the conformance suite checks them):
 * - `attempt` reports `held` only when this identity holds the lease in the backend after a
 *   request that was sent at or after `sentAt` (read on the elector's clock before sending).
 * - Tokens of successive acquisitions of one election are strictly increasing, across all
 *   processes, and a renewal keeps its term's token.
 * - A record the backend cannot interpret is never reported as free: `attempt` rejects with a
 *   `LE_CORRUPT_RECORD` error instead.
 * - Every call honours its AbortSignal: it rejects with `signal.reason` soon after the abort and
 *   leaves nothing running.
 * - After `close()` the backend holds no timers, watches or sockets of its own.
 */
export interface LeaseBackend<Fence = undefined> {
  /** Human-readable description, e.g. `memory lease "scheduler"`. */
  readonly description: string;

  /**
   * Optional: the election's own name (`scheduler`, an etcd election, a Lease's name), the
   * default `name` of an elector in metrics labels and messages. Without it the elector uses
   * `description`.
   */
  readonly name?: string;

  /**
   * Optional: called once by the elector's constructor with its validated timings, so that a
   * backend can reject what it cannot honour (throw a typed `LE_INVALID_TIMING`) and derive its
   * own request timeouts from them.
   */
  configure?(timings: ElectionTimings): void;

  /**
   * Optional: admission of acquisitions, for a backend that bounds how many run at once (etcd:
   * every election of one client shares its connection). The elector asks for it before every
   * acquire attempt and starts the attempt's deadline only once it resolves, with the function
   * that frees the slot; the elector calls that function when the attempt has settled. Admission
   * is in request order; it rejects with `request.signal.reason` if the signal aborts while it
   * waits (the elector stops). Renewals are never admitted: they must not wait behind campaigns.
   */
  admit?(request: { readonly signal: AbortSignal }): Promise<() => void>;

  /** Campaign (`mode: 'acquire'`) or renew (`mode: 'renew'`) once. */
  attempt(request: AttemptRequest): Promise<Observation<Fence>>;

  /**
   * Optional: a renewal the backend can answer without I/O (etcd: a shared keepalive recent
   * enough and a watch that vouches for our key). Returns the renewal, under the same rules as a
   * `renew` attempt, or null to have the elector make a full attempt. The elector calls it before
   * every renewal; it must be synchronous and cheap (a process may renew thousands of elections
   * a second), and must not throw. The elector reads the answer before it calls again and keeps
   * no reference to it, so a backend may return one object per term, updated in place.
   */
  renewLocally?(request: LocalRenewRequest): LeaseHeld<Fence> | null;

  /** Gives the lease up if we still hold it with `token`; a no-op otherwise. */
  release(request: ReleaseRequest): Promise<void>;

  /**
   * Optional push channel. When present the elector relies on it instead of polling: followers
   * react to releases and renewals as soon as the backend sees them.
   */
  watch?(listener: WatchListener, context: BackendContext): WatchHandle;

  /**
   * Optional read-only look at the lease, without campaigning (for `leader-elect status` and
   * dashboards).
   */
  inspect?(request: InspectRequest): Promise<LeaseStatus>;

  /**
   * Optional: pushes who leads, as it changes, without campaigning (for `observeLeader` and
   * `leader-elect watch`). `up` means the push channel works (an observer then reads the lease
   * once with `inspect`, and polls only while it is down); `leader` events report the holder and
   * its token as the backend sees them change, in order.
   */
  observe?(listener: ObserveListener): WatchHandle;

  /**
   * Optional: checks, before the leader's work is stopped, that a transfer to `successor` can
   * happen (a live candidate, nothing foreign in the way). Rejects with `LE_TRANSFER_REFUSED`
   * naming the reason otherwise; the term then goes on untouched.
   */
  prepareTransfer?(request: PrepareTransferRequest): Promise<void>;

  /**
   * Optional: hands the term `token` to `successor` (see `LeaderElector.transfer`), after the
   * leader's work was aborted and awaited. Nobody but the successor may take the lease from then
   * on. Resolves once the successor holds the lease with a term of its own, proved by its own
   * write. Rejects with `LE_NOT_LEADER` when the term was no longer ours, and with
   * `LE_TRANSFER_FAILED` when the successor did not confirm within `confirmWithinMs`: the backend
   * has then left the lease free (never held by nobody for longer than a lease).
   */
  transfer?(request: TransferRequest): Promise<TransferOutcome>;

  /**
   * Optional: asks whoever holds the lease to hand it to `to` (an operator's request, e.g.
   * `leader-elect transfer`); the holder's elector sees it as a `transfer-requested` watch event
   * and calls `transfer(to)`. Resolves once the request is written, not when it is honoured.
   */
  requestTransfer?(request: TransferRequestByOperator): Promise<void>;

  /**
   * Optional: makes this candidate (its identity and priority) discoverable to the leader until
   * the handle is closed (see `candidates`).
   */
  advertise?(candidate: CandidateInfo): WatchHandle;

  /** Optional: the live candidates of the election, as they advertised themselves. */
  candidates?(request: { readonly signal: AbortSignal }): Promise<readonly CandidateInfo[]>;

  /** Frees everything the backend holds for this election. Idempotent. */
  close(): Promise<void>;
}

/** The elector's validated timings, in milliseconds. */
export interface ElectionTimings {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /**
   * The elector's `maxClockSkew`, when set: record stores may then also judge a foreign record
   * expired by the wall-clock time written in it (see `recordExpiresAt`). Absent: never.
   */
  readonly maxClockSkewMs?: number;
}

export interface BackendContext {
  /** The elector's clock: the backend measures observation times on it, and nothing else. */
  readonly clock: Clock;
  /** Our identity in this election. */
  readonly identity: string;
}

export interface AttemptRequest extends BackendContext {
  /** `acquire` when we do not hold a valid term; `renew` to extend the term with `token`. */
  readonly mode: 'acquire' | 'renew';
  /** The term being renewed (only for `renew`). */
  readonly token?: bigint;
  /** Requested lease duration in milliseconds. */
  readonly leaseDurationMs: number;
  /** Aborted at the call's deadline (bounded by the renew deadline) or when the elector stops. */
  readonly signal: AbortSignal;
  /** Called when a renewal had to fall back to a slower path (client-go's `slowpath` metric). */
  readonly onSlowPath?: () => void;
}

export interface LocalRenewRequest extends BackendContext {
  /** The term being renewed. */
  readonly token: bigint;
  /** Requested lease duration in milliseconds. */
  readonly leaseDurationMs: number;
}

export interface ReleaseRequest extends BackendContext {
  readonly token: bigint;
  readonly signal: AbortSignal;
}

export interface PrepareTransferRequest extends BackendContext {
  /** The term to hand over. */
  readonly token: bigint;
  readonly successor: string;
  readonly signal: AbortSignal;
}

export interface TransferRequest extends PrepareTransferRequest {
  /** How long the successor has to confirm with a write of its own. */
  readonly confirmWithinMs: number;
}

/** A candidate as it advertises itself (see LeaseBackend.advertise). */
export interface CandidateInfo {
  readonly identity: string;
  /** Higher leads: a leader hands over to a live candidate of higher priority. */
  readonly priority: number;
}

export interface TransferRequestByOperator {
  /** The identity the holder should hand the lease to. */
  readonly to: string;
  readonly signal: AbortSignal;
}

export interface TransferOutcome {
  /** The successor's fencing token (greater than ours), when the backend knows it. */
  readonly successorToken: bigint | null;
}

export interface InspectRequest {
  readonly signal: AbortSignal;
}

/** What a read-only look at the lease shows. */
export interface LeaseStatus {
  /** Identity of the holder; `null` when free or released. */
  readonly holder: string | null;
  /** The holder's fencing token. */
  readonly token: bigint | null;
  /** The holder's declared lease duration in milliseconds, when recorded. */
  readonly leaseDurationMs: number | null;
  /**
   * Time left on the holder's lease as the server counts it (etcd's TTL), when the backend knows
   * it; `null` when expiry is judged by observers (record stores): then it is at most
   * `leaseDurationMs` from now.
   */
  readonly remainingMs: number | null;
  /** The holder's last renewal as recorded (remote wall clock: data, never trusted as time). */
  readonly renewTime: string | null;
}

/** We hold the lease. */
export interface LeaseHeld<Fence = undefined> {
  readonly kind: 'held';
  /** Fencing token of the term: strictly greater than every earlier term's token. */
  readonly token: bigint;
  /**
   * Clock reading taken just before sending the request that proved the hold. The elector's
   * term is valid until `sentAt + renewDeadline`.
   */
  readonly sentAt: number;
  /** The lease duration in force (e.g. the TTL the server granted), in milliseconds. */
  readonly leaseDurationMs: number;
  /** Backend-specific fencing helpers exposed on the term (e.g. an etcd guarded write). */
  readonly fence: Fence;
}

/** Someone else holds the lease, or it is free but we did not get it. */
export interface LeaseNotHeld {
  readonly kind: 'not-held';
  /** Identity of the holder; `null` when the lease is free or released. */
  readonly holder: string | null;
  /** The holder's fencing token when the backend knows it. */
  readonly token: bigint | null;
  /**
   * Clock reading at which, by our own observation, the holder's lease expires and we should
   * try again. `null` when expiry is decided elsewhere (server-side TTL) and the backend's watch
   * will tell us; the elector then polls only while the watch is down.
   */
  readonly expiresAt: number | null;
}

export type Observation<Fence = undefined> = LeaseHeld<Fence> | LeaseNotHeld;

export type WatchEvent =
  /** A change that shows who holds the lease now (for a leader: another holder means loss). */
  | { readonly type: 'observed'; readonly observation: LeaseNotHeld }
  /** Something changed that may let us acquire: attempt now. */
  | { readonly type: 'changed' }
  /** The watch is established; polling can stop. */
  | { readonly type: 'up' }
  /** The watch is down (it is being re-established); poll meanwhile. */
  | { readonly type: 'down'; readonly error?: unknown }
  /** An operator asked the holder (us) to hand the lease to `to` (see requestTransfer). */
  | { readonly type: 'transfer-requested'; readonly to: string };

export type WatchListener = (event: WatchEvent) => void;

export type ObserveEvent =
  /** The holder (null: nobody) and its token, as they changed. */
  | { readonly type: 'leader'; readonly holder: string | null; readonly token: bigint | null }
  /** The push channel is established (or back): read the lease once, polling can stop. */
  | { readonly type: 'up' }
  /** The push channel is down (it is being re-established): poll meanwhile. */
  | { readonly type: 'down'; readonly error?: unknown };

export type ObserveListener = (event: ObserveEvent) => void;

export interface WatchHandle {
  /** Stops the watch and frees its resources. Idempotent. */
  close(): void;
}
