import type { LeaseRecord } from '../backend/record-store.js';
import { ErrorCode, LeaderElectError } from '../errors.js';

/** The coordination.k8s.io/v1 Lease as JSON on the wire (only what we read or write). */
export interface LeaseObject {
  apiVersion?: string;
  kind?: string;
  metadata: LeaseMetadata;
  spec?: LeaseSpec;
}

export interface LeaseMetadata {
  name?: string;
  namespace?: string;
  resourceVersion?: string;
  /** Labels, annotations, owner references, managed fields...: kept as found on update. */
  [key: string]: unknown;
}

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  /** MicroTime: RFC 3339 with 6 fractional digits. */
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
  strategy?: string | null;
  preferredHolder?: string | null;
  [key: string]: unknown;
}

export const LEASE_API_VERSION = 'coordination.k8s.io/v1';

const MS_PER_SECOND = 1000;

/**
 * Lease → the record the adapter validates, as client-go's `LeaseSpecToLeaseElectionRecord`
 * maps it: absent holder means free (`""`), absent counters mean 0, absent times mean "no time".
 *
 * One deliberate difference keeps a Lease we do not understand from ever looking free: client-go
 * reads a held Lease without `leaseDurationSeconds` as duration 0, i.e. already expired, and takes
 * it over at once. We map it to `leaseDurationMs: 0`, which `parseLeaseRecord` rejects for a held
 * lease (`LE_CORRUPT_RECORD`): some writer we do not know may be relying on it. Field types the
 * apiserver would never serve (it validates the schema) are passed through unchanged so that the
 * adapter rejects them too.
 */
/**
 * The annotation that carries an operator's transfer request (`leader-elect transfer`): in the
 * metadata, not the spec, so client-go, which compares the spec's record, sees no change.
 */
export const TRANSFER_ANNOTATION = 'leader-elect.dev/transfer-to';

/** `metadata` with the transfer request annotation set to `record.transferTo`, or removed. */
export function metadataFor(metadata: LeaseMetadata, record: LeaseRecord): LeaseMetadata {
  const annotations = { ...(metadata.annotations as Record<string, string> | undefined) };
  const had = TRANSFER_ANNOTATION in annotations;
  if (record.transferTo === undefined) delete annotations[TRANSFER_ANNOTATION];
  else annotations[TRANSFER_ANNOTATION] = record.transferTo;
  if (!had && record.transferTo === undefined) return metadata;
  return { ...metadata, annotations };
}

export function leaseToRecordData(lease: LeaseObject): Record<string, unknown> {
  const spec = lease.spec ?? {};
  const holderIdentity = spec.holderIdentity ?? '';
  const seconds = spec.leaseDurationSeconds;
  const data: Record<string, unknown> = {
    holderIdentity,
    leaseDurationMs: typeof seconds === 'number' ? seconds * MS_PER_SECOND : 0,
    acquireTime: spec.acquireTime ?? '',
    renewTime: spec.renewTime ?? '',
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
  if (seconds !== undefined && seconds !== null && typeof seconds !== 'number') {
    data.leaseDurationMs = seconds; // not a number: let the adapter reject it by type
  }
  if (spec.strategy !== undefined && spec.strategy !== null) data.strategy = spec.strategy;
  if (spec.preferredHolder !== undefined && spec.preferredHolder !== null) {
    data.preferredHolder = spec.preferredHolder;
  }
  const request = (lease.metadata?.annotations as Record<string, unknown> | undefined)?.[
    TRANSFER_ANNOTATION
  ];
  if (typeof request === 'string' && request !== '') data.transferTo = request;
  return data;
}

/**
 * Record → Lease spec, as client-go's `LeaderElectionRecordToLeaseSpec` writes it. The duration
 * must be whole seconds (the API field is `int32` seconds): see {@link toLeaseDurationSeconds}.
 * Empty timestamps (a Lease that had none) stay absent rather than being sent as invalid times.
 */
export function recordToLeaseSpec(record: LeaseRecord): LeaseSpec {
  const spec: LeaseSpec = {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: toLeaseDurationSeconds(record.leaseDurationMs),
    leaseTransitions: record.leaseTransitions,
  };
  if (record.acquireTime !== '') spec.acquireTime = record.acquireTime;
  if (record.renewTime !== '') spec.renewTime = record.renewTime;
  if (record.strategy !== undefined) spec.strategy = record.strategy;
  if (record.preferredHolder !== undefined) spec.preferredHolder = record.preferredHolder;
  return spec;
}

/** Spec fields this library owns; any other spec field found on a Lease is kept on update. */
const RECORD_SPEC_FIELDS = [
  'holderIdentity',
  'leaseDurationSeconds',
  'acquireTime',
  'renewTime',
  'leaseTransitions',
  'strategy',
  'preferredHolder',
] as const;

/** `base` (a Lease as last read) with its record fields replaced by `record`'s. */
export function mergeSpec(base: LeaseSpec | undefined, record: LeaseRecord): LeaseSpec {
  const kept: LeaseSpec = { ...base };
  for (const field of RECORD_SPEC_FIELDS) delete kept[field];
  return { ...kept, ...recordToLeaseSpec(record) };
}

/**
 * The rule for durations that are not whole seconds: rejected, never rounded. Rounding down
 * would let followers take over before the leader's renew deadline has passed (unsafe); rounding
 * up would silently make failover slower than configured. Rejected before any request is sent,
 * with `LE_INVALID_TIMING` naming the value.
 */
export function toLeaseDurationSeconds(leaseDurationMs: number): number {
  const seconds = leaseDurationMs / MS_PER_SECOND;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 2 ** 31 - 1) {
    throw new LeaderElectError(
      ErrorCode.InvalidTiming,
      `leaseDuration ${leaseDurationMs} ms cannot be stored in a Kubernetes Lease: ` +
        'spec.leaseDurationSeconds is a whole number of seconds (at least 1). ' +
        `Use a multiple of 1000 ms, e.g. ${Math.max(1, Math.ceil(seconds)) * MS_PER_SECOND}; ` +
        'it is not rounded, because rounding would silently change how long followers wait.',
      { details: { leaseDuration: leaseDurationMs, rule: 'whole seconds' } },
    );
  }
  return seconds;
}
