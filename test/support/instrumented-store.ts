import type { WatchHandle } from '../../src/backend/lease-backend.js';
import type {
  LeaseRecord,
  RecordStore,
  RecordWatchEvent,
  StoredRecord,
} from '../../src/backend/record-store.js';
import { ErrorCode, LeaderElectError, MemoryStore } from '../../src/index.js';

/** A MemoryStore that counts calls and can be told to fail, for deterministic unit tests. */
export class InstrumentedStore implements RecordStore {
  readonly description = 'instrumented';
  readonly inner = new MemoryStore();
  readonly calls: string[] = [];
  /** When set, every call whose name matches rejects with a transient error. */
  failing: ((op: string) => boolean) | null = null;
  watchable = true;

  private check(op: string): void {
    this.calls.push(op);
    if (this.failing?.(op)) {
      throw new LeaderElectError(ErrorCode.BackendUnavailable, `injected failure of ${op}`);
    }
  }

  async get(name: string, signal: AbortSignal): Promise<StoredRecord | null> {
    this.check('get');
    return this.inner.get(name, signal);
  }
  async create(name: string, record: LeaseRecord, signal: AbortSignal): Promise<StoredRecord> {
    this.check('create');
    return this.inner.create(name, record, signal);
  }
  async update(name: string, record: LeaseRecord, version: string, signal: AbortSignal) {
    this.check('update');
    return this.inner.update(name, record, version, signal);
  }
  get watch():
    | ((name: string, listener: (e: RecordWatchEvent) => void) => WatchHandle)
    | undefined {
    return this.watchable ? (name, listener) => this.inner.watch(name, listener) : undefined;
  }
}
