import type { CandidateInfo, ElectionTimings, WatchHandle } from './lease-backend.js';

/**
 * The lease as record stores keep it. It is client-go's `LeaderElectionRecord`, with the
 * duration in milliseconds (stores with coarser units, such as Kubernetes' whole seconds, map
 * it at their edge). Timestamps are wall-clock data for humans and peers: never used to decide
 * expiry.
 */
export interface LeaseRecord {
  /** The holder's identity; the empty string means released / free. */
  readonly holderIdentity: string;
  /** How long the holder's lease lasts after each renewal, in milliseconds (> 0). */
  readonly leaseDurationMs: number;
  /** RFC 3339 wall time of the acquisition (data only). */
  readonly acquireTime: string;
  /** RFC 3339 wall time of the last renewal (data only). */
  readonly renewTime: string;
  /** Incremented on every acquisition we make; the fencing token of the holder's term. */
  readonly leaseTransitions: number;
  /** Coordinated leader election fields, kept as found when present. */
  readonly strategy?: string;
  readonly preferredHolder?: string;
  /**
   * An operator's request that the holder hand the lease to this identity
   * (`leader-elect transfer`). The holder's next write consumes it. Stores map it where their
   * peers ignore it (Kubernetes: an annotation, not the spec client-go reads).
   */
  readonly transferTo?: string;
}

/** A record as stored: opaque data plus the store's version (the compare-and-swap handle). */
export interface StoredRecord {
  /** Changes on every write. Compared for equality only. */
  readonly version: string;
  /** The stored value, validated by the adapter (a store never decides what is corrupt). */
  readonly data: unknown;
}

export type RecordWatchEvent =
  | { readonly type: 'record'; readonly record: StoredRecord | null }
  | { readonly type: 'up' }
  | { readonly type: 'down'; readonly error?: unknown };

/**
 * A versioned key-value store with compare-and-swap: enough for client-go's leader election
 * algorithm, which `RecordLeaseBackend` implements once over any store.
 *
 * Errors: a lost compare-and-swap rejects with `LE_CONFLICT`; an unreachable store with a
 * transient `LE_BACKEND_UNAVAILABLE`; permission problems with `LE_PERMISSION_DENIED`.
 */
export interface RecordStore {
  readonly description: string;
  /** The record, or `null` when it does not exist. */
  get(name: string, signal: AbortSignal): Promise<StoredRecord | null>;
  /** Creates the record; `LE_CONFLICT` if it exists. */
  create(name: string, record: LeaseRecord, signal: AbortSignal): Promise<StoredRecord>;
  /** Replaces the record if its version is still `version`; `LE_CONFLICT` otherwise. */
  update(
    name: string,
    record: LeaseRecord,
    version: string,
    signal: AbortSignal,
  ): Promise<StoredRecord>;
  /** Optional: advertises a candidate of `name` until the handle closes (see `LeaseBackend.advertise`). */
  readonly advertise?: ((name: string, candidate: CandidateInfo) => WatchHandle) | undefined;
  /** Optional: the live candidates of `name`. */
  readonly candidates?:
    | ((name: string, signal: AbortSignal) => Promise<readonly CandidateInfo[]>)
    | undefined;
  /** Optional: see `LeaseBackend.configure`; called for every elector using the store. */
  readonly configure?: ((timings: ElectionTimings) => void) | undefined;
  /** Optional: pushes every new version of the record (and `null` on deletion), in write order. */
  readonly watch?:
    | ((name: string, listener: (event: RecordWatchEvent) => void) => WatchHandle)
    | undefined;
}
