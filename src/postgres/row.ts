/** Rows of the lease table ↔ the record-lease adapter's data (validated by the adapter). */
import type { LeaseRecord, StoredRecord } from '../backend/record-store.js';

/** The columns every read selects, in this order. */
export const RECORD_COLUMNS =
  'holder_identity, lease_duration_ms, acquire_time, renew_time, lease_transitions, strategy, preferred_holder, version';

/**
 * bigint columns arrive as strings (node-postgres) or numbers (row_to_json in a notification).
 * A value that is not a safe integer is passed on as it is, so that the adapter rejects the row
 * as corrupt instead of rounding it.
 */
function integer(value: unknown): unknown {
  if (typeof value === 'string' && /^-?\d+$/.test(value)) {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value;
  }
  return value;
}

/** The adapter's view of a row: NULL columns become `null`, which it rejects where required. */
export function rowToRecord(row: Readonly<Record<string, unknown>>): StoredRecord {
  const data: Record<string, unknown> = {
    holderIdentity: row.holder_identity,
    leaseDurationMs: integer(row.lease_duration_ms),
    acquireTime: row.acquire_time,
    renewTime: row.renew_time,
    leaseTransitions: integer(row.lease_transitions),
  };
  if (row.strategy !== null && row.strategy !== undefined) data.strategy = row.strategy;
  if (row.preferred_holder !== null && row.preferred_holder !== undefined) {
    data.preferredHolder = row.preferred_holder;
  }
  return { version: String(row.version), data };
}

/** Query parameters $2..$8 of an insert or update, after $1 = the election name. */
export function recordParams(record: LeaseRecord): unknown[] {
  return [
    record.holderIdentity,
    record.leaseDurationMs,
    record.acquireTime,
    record.renewTime,
    record.leaseTransitions,
    record.strategy ?? null,
    record.preferredHolder ?? null,
  ];
}
