/**
 * A record store's watch as a lease backend's two push channels: the elector's (every new
 * version of the record noted in the view and told as what it means for this candidate, see
 * `reportRecordEvent`) and an observer's (the holder and token of every version). Only for stores
 * that watch; the backend closes every watch it opened when it closes.
 */
import { ErrorCode, LeaderElectError } from '../errors.js';
import { released, reportRecordEvent } from './acquire-or-renew.js';
import type {
  BackendContext,
  ObserveListener,
  WatchHandle,
  WatchListener,
} from './lease-backend.js';
import type { LeaseRecord, RecordStore, RecordWatchEvent, StoredRecord } from './record-store.js';
import type { RecordView } from './record-view.js';

/** The record the watches follow, and what they update. */
export interface WatchedRecord {
  readonly store: RecordStore;
  readonly name: string;
  readonly parse: (stored: StoredRecord) => LeaseRecord;
  readonly view: RecordView;
}

/** The observer's event for a version of the record: its holder (null: released) and token. */
export function leaderOf(record: LeaseRecord): {
  readonly type: 'leader';
  readonly holder: string | null;
  readonly token: bigint | null;
} {
  return record.holderIdentity === ''
    ? { type: 'leader', holder: null, token: null }
    : { type: 'leader', holder: record.holderIdentity, token: BigInt(record.leaseTransitions) };
}

export class RecordWatches {
  readonly #site: WatchedRecord;
  readonly #handles = new Set<WatchHandle>();

  constructor(site: WatchedRecord) {
    this.#site = site;
  }

  /** The elector's watch (see LeaseBackend.watch). */
  forElector(listener: WatchListener, context: BackendContext): WatchHandle {
    const { parse, view } = this.#site;
    return this.#subscribe((event) => {
      if (event.type !== 'record') {
        listener(event);
        return;
      }
      const now = context.clock.now();
      const stored = event.record;
      if (stored === null) {
        view.forgetObserved();
        listener({ type: 'observed', observation: released(now) });
        return;
      }
      let record: LeaseRecord;
      try {
        record = parse(stored);
      } catch {
        // Corrupt data is reported by the next attempt, which the elector makes on 'changed'.
        listener({ type: 'changed' });
        return;
      }
      const observed = view.note(stored.version, record, now);
      reportRecordEvent(
        record,
        {
          identity: context.identity,
          now,
          expiresAt: view.expiresAt(observed, context.clock),
          handedToUs: view.handedToUs(record),
        },
        listener,
      );
    });
  }

  /** An observer's watch (see LeaseBackend.observe): every version as a `leader` event. */
  forObserver(listener: ObserveListener): WatchHandle {
    const { parse } = this.#site;
    return this.#subscribe((event) => {
      if (event.type !== 'record') {
        listener(event);
        return;
      }
      if (event.record === null) {
        listener({ type: 'leader', holder: null, token: null });
        return;
      }
      let record: LeaseRecord;
      try {
        record = parse(event.record);
      } catch (error) {
        // Never "nobody leads" for data we cannot read: the observer reads (and reports) it.
        listener({ type: 'down', error });
        return;
      }
      listener(leaderOf(record));
    });
  }

  /** Closes every watch still open. */
  closeAll(): void {
    for (const handle of [...this.#handles]) handle.close();
  }

  #subscribe(onEvent: (event: RecordWatchEvent) => void): WatchHandle {
    const { store, name } = this.#site;
    const watch = store.watch;
    if (watch === undefined) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `${store.description} does not support watches`,
      );
    }
    const inner = watch.call(store, name, onEvent);
    const handle: WatchHandle = {
      close: () => {
        if (this.#handles.delete(handle)) inner.close();
      },
    };
    this.#handles.add(handle);
    return handle;
  }
}
