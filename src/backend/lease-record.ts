import { ErrorCode, LeaderElectError } from '../errors.js';
import type { LeaseRecord } from './record-store.js';

const MAX_TRANSITIONS = Number.MAX_SAFE_INTEGER;

/**
 * Validates stored data as a {@link LeaseRecord}. Anything else is corrupt or foreign and is
 * rejected with `LE_CORRUPT_RECORD`: such a record is never treated as free, because a writer
 * we do not understand may be holding it.
 */
export function parseLeaseRecord(data: unknown, where: string): LeaseRecord {
  const fail = (rule: string): never => {
    throw new LeaderElectError(
      ErrorCode.CorruptRecord,
      `${where} is not a valid lease record (${rule}); it is never treated as free. ` +
        'Delete or repair it by hand if no process holds it.',
      { details: { where, rule } },
    );
  };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return fail(`expected an object, got ${data === null ? 'null' : typeof data}`);
  }
  const value = data as Record<string, unknown>;
  const {
    holderIdentity,
    leaseDurationMs,
    acquireTime,
    renewTime,
    leaseTransitions,
    strategy,
    preferredHolder,
    transferTo,
  } = value;
  if (typeof holderIdentity !== 'string') return fail('holderIdentity must be a string');
  if (holderIdentity !== '') {
    if (
      typeof leaseDurationMs !== 'number' ||
      !Number.isInteger(leaseDurationMs) ||
      leaseDurationMs <= 0
    ) {
      return fail('leaseDurationMs must be a positive integer while the lease is held');
    }
  } else if (
    typeof leaseDurationMs !== 'number' ||
    !Number.isFinite(leaseDurationMs) ||
    leaseDurationMs < 0
  ) {
    return fail('leaseDurationMs must be a non-negative number');
  }
  if (
    typeof leaseTransitions !== 'number' ||
    !Number.isInteger(leaseTransitions) ||
    leaseTransitions < 0 ||
    leaseTransitions > MAX_TRANSITIONS
  ) {
    return fail('leaseTransitions must be a non-negative integer');
  }
  if (typeof acquireTime !== 'string') return fail('acquireTime must be a string');
  if (typeof renewTime !== 'string') return fail('renewTime must be a string');
  if (strategy !== undefined && typeof strategy !== 'string') {
    return fail('strategy must be a string when present');
  }
  if (preferredHolder !== undefined && typeof preferredHolder !== 'string') {
    return fail('preferredHolder must be a string when present');
  }
  if (transferTo !== undefined && typeof transferTo !== 'string') {
    return fail('transferTo must be a string when present');
  }
  return {
    holderIdentity,
    leaseDurationMs,
    acquireTime,
    renewTime,
    leaseTransitions,
    ...(strategy === undefined ? {} : { strategy }),
    ...(preferredHolder === undefined ? {} : { preferredHolder }),
    ...(transferTo === undefined || transferTo === '' ? {} : { transferTo }),
  };
}

/** `record` without a transfer request: what the holder writes (a request is consumed once seen). */
export function withoutTransferRequest(record: LeaseRecord): LeaseRecord {
  if (record.transferTo === undefined) return record;
  const { transferTo: _consumed, ...rest } = record;
  return rest;
}

/** RFC 3339 with microseconds, as Kubernetes' MicroTime prints it. */
export function formatMicroTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The lease duration of client-go's released form (empty holder, 1 s). */
export const RELEASED_LEASE_DURATION_MS = 1000;
