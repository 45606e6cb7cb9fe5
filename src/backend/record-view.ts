/**
 * What one record backend knows of its record between calls:
 * - the version it observed last, and the clock reading when it first saw it: another holder's
 *   lease expires a lease duration after that reading (record-expiry.ts), never by remote times;
 * - its own last successful write: the leader renews, releases and hands over from it without
 *   reading first (client-go's fast path);
 * - the highest `leaseTransitions` ever seen, so that a record deleted by hand and recreated
 *   keeps fencing tokens rising;
 * - its own write in flight, whose watch event may arrive before its answer.
 */
import type { Clock } from '../clock.js';
import { isHandedToUs } from './acquire-or-renew.js';
import { recordExpiresAt } from './record-expiry.js';
import type { LeaseRecord, StoredRecord } from './record-store.js';

export interface ObservedVersion {
  readonly version: string;
  /** Clock reading when we first saw this version. Expiry is measured from here. */
  readonly at: number;
  readonly record: LeaseRecord;
}

/** A record as we wrote it, with the version the store gave it. */
export interface VersionedRecord {
  readonly version: string;
  readonly record: LeaseRecord;
}

export class RecordView {
  #observed: ObservedVersion | null = null;
  #lastWrite: VersionedRecord | null = null;
  #highestTransitions: number | null = null;
  /** leaseTransitions of our own write in flight (see write). */
  #writingTransitions: number | null = null;
  /** The elector's maxClockSkew (see record-expiry.ts), or null: remote times are not trusted. */
  #maxClockSkewMs: number | null = null;

  /** The version observed last, or null (none yet, or the record is gone). */
  get observed(): ObservedVersion | null {
    return this.#observed;
  }

  /** Our last successful write, for the renewal fast path, release and transfer; or null. */
  get lastWrite(): VersionedRecord | null {
    return this.#lastWrite;
  }

  /** Highest leaseTransitions seen for this lease (null: none yet). */
  get highestTransitions(): number | null {
    return this.#highestTransitions;
  }

  set maxClockSkewMs(value: number | null) {
    this.#maxClockSkewMs = value;
  }

  /** Notes the record at `version`, read at clock reading `at`; the first sighting counts. */
  note(version: string, record: LeaseRecord, at: number): ObservedVersion {
    if (this.#highestTransitions === null || record.leaseTransitions > this.#highestTransitions) {
      this.#highestTransitions = record.leaseTransitions;
    }
    if (this.#observed?.version === version) return this.#observed;
    this.#observed = { version, at, record };
    return this.#observed;
  }

  /** The record is gone (read as absent, or deleted under the watch). */
  forgetObserved(): void {
    this.#observed = null;
  }

  /** Our write of `record` went through as `stored`, at clock reading `at`. */
  wrote(stored: StoredRecord, record: LeaseRecord, at: number): void {
    this.#lastWrite = { version: stored.version, record };
    this.note(stored.version, record, at);
  }

  /** Our last write is no longer ours to renew (released or handed over). */
  forgetWrite(): void {
    this.#lastWrite = null;
  }

  /** Forgets everything observed and written (the backend closed). */
  clear(): void {
    this.#lastWrite = null;
    this.#observed = null;
  }

  /**
   * One of our own writes (an acquisition or a renewal). While it is in flight its watch event
   * may arrive before its answer: it must not look like a hand-over to us (see handedToUs).
   */
  async writing(record: LeaseRecord, write: () => Promise<StoredRecord>): Promise<StoredRecord> {
    this.#writingTransitions = record.leaseTransitions;
    try {
      return await write();
    } finally {
      this.#writingTransitions = null;
    }
  }

  /** Whether `record`, naming us, is newer than any term of ours (a leader handed it to us). */
  handedToUs(record: LeaseRecord): boolean {
    return isHandedToUs(record, this.#lastWrite?.record ?? null, this.#writingTransitions);
  }

  /** When the foreign record `observed` expires on `clock` (see record-expiry.ts). */
  expiresAt(observed: ObservedVersion, clock: Clock): number {
    const skew = this.#maxClockSkewMs;
    if (skew === null) return observed.at + observed.record.leaseDurationMs;
    const renewed = Date.parse(observed.record.renewTime);
    return recordExpiresAt({
      observedAt: observed.at,
      leaseDurationMs: observed.record.leaseDurationMs,
      renewTimeWallMs: Number.isFinite(renewed) ? renewed : null,
      wallNowMs: clock.wallNow().getTime(),
      now: clock.now(),
      maxClockSkewMs: skew,
    });
  }
}
