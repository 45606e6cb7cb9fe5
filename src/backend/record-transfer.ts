/**
 * The second half of a transfer over a record store (see RecordLeaseBackend.transfer): after the
 * hand-over record names the successor, wait for the successor's own write; if none comes in
 * time, replace the hand-over by the released form, so that the lease is free.
 */
import { onAbort, scopedSignal } from '../abort.js';
import type { TimerHandle } from '../clock.js';
import { ErrorCode, hasErrorCode, LeaderElectError } from '../errors.js';
import { releasedForm } from './acquire-or-renew.js';
import type { TransferOutcome, TransferRequest, WatchHandle } from './lease-backend.js';
import { formatMicroTime } from './lease-record.js';
import type { LeaseRecord, RecordStore, StoredRecord } from './record-store.js';

/** The record a transfer concerns. */
export interface RecordSite {
  readonly store: RecordStore;
  readonly name: string;
  readonly parse: (stored: StoredRecord) => LeaseRecord;
}

/**
 * Waits (at most `confirmWithinMs`, or until `signal` aborts) for a version newer than the
 * hand-over that names the successor. Null when none came, or when someone else took the lease.
 */
export function awaitConfirmation(
  site: RecordSite,
  handOverVersion: string,
  request: TransferRequest,
): Promise<LeaseRecord | null> {
  const { clock, confirmWithinMs, signal, successor } = request;
  return new Promise<LeaseRecord | null>((resolve) => {
    let settled = false;
    let watch: WatchHandle | null = null;
    let poll: TimerHandle | null = null;
    const finish = (record: LeaseRecord | null) => {
      if (settled) return;
      settled = true;
      clock.clearTimer(deadline);
      if (poll !== null) clock.clearTimer(poll);
      watch?.close();
      detach();
      resolve(record);
    };
    const judge = (version: string, record: LeaseRecord) => {
      if (version === handOverVersion) return;
      finish(record.holderIdentity === successor ? record : null);
    };
    const deadline = clock.setTimer(() => finish(null), confirmWithinMs);
    const detach = onAbort(signal, () => finish(null));
    const storeWatch = site.store.watch;
    if (storeWatch !== undefined) {
      watch = storeWatch.call(site.store, site.name, (event) => {
        if (event.type !== 'record') return;
        if (event.record === null) return finish(null);
        try {
          judge(event.record.version, site.parse(event.record));
        } catch {
          finish(null);
        }
      });
    }
    // Without a watch (or if its events are late), read now and then: a tenth of the bound.
    const read = () => {
      poll = null;
      site.store.get(site.name, signal).then(
        (current) => {
          if (settled) return;
          if (current === null) return finish(null);
          judge(current.version, site.parse(current));
          if (!settled) poll = clock.setTimer(read, Math.max(10, confirmWithinMs / 10));
        },
        () => {
          if (!settled) poll = clock.setTimer(read, Math.max(10, confirmWithinMs / 10));
        },
      );
    };
    poll = clock.setTimer(read, Math.max(10, confirmWithinMs / 10));
  });
}

/** The successor did not confirm: free the lease, unless it confirmed at the last moment. */
export async function freeAfterHandOver(
  site: RecordSite,
  handOverVersion: string,
  handOver: LeaseRecord,
  request: TransferRequest,
  description: string,
): Promise<TransferOutcome> {
  const { clock, successor, confirmWithinMs } = request;
  const released = releasedForm(handOver, formatMicroTime(clock.wallNow()));
  const scope = scopedSignal(undefined, {
    ms: confirmWithinMs,
    clock,
    reason: () => new LeaderElectError(ErrorCode.BackendTimeout, 'freeing the lease timed out'),
  });
  try {
    await site.store.update(site.name, released, handOverVersion, scope.signal);
  } catch (error) {
    if (!hasErrorCode(error, ErrorCode.Conflict)) {
      throw new LeaderElectError(
        ErrorCode.TransferFailed,
        `${description}: "${successor}" did not confirm the transfer within ${confirmWithinMs} ms, and freeing the lease failed (it is free at the latest a lease duration after the hand-over)`,
        { cause: error, details: { successor } },
      );
    }
    // The record moved: the successor confirmed just now, or someone else took it.
    const current = await site.store.get(site.name, scope.signal).catch(() => null);
    const record = current === null ? null : site.parse(current);
    if (record !== null && record.holderIdentity === successor) {
      return { successorToken: BigInt(record.leaseTransitions) };
    }
  } finally {
    scope.dispose();
  }
  throw new LeaderElectError(
    ErrorCode.TransferFailed,
    `${description}: "${successor}" did not confirm the transfer within ${confirmWithinMs} ms (not a live candidate?); the lease is free`,
    { details: { successor } },
  );
}
