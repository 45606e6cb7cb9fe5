import type { CandidateInfo, LeaseBackend, WatchHandle } from '../backend/lease-backend.js';
import {
  RecordLeaseBackend,
  type RecordLeaseBackendOptions,
} from '../backend/record-lease-backend.js';
import type {
  LeaseRecord,
  RecordStore,
  RecordWatchEvent,
  StoredRecord,
} from '../backend/record-store.js';
import { ErrorCode, LeaderElectError } from '../errors.js';

interface Entry {
  version: number;
  data: unknown;
}

/**
 * An in-process {@link RecordStore}: the embedded default backend. Every elector of the process
 * that shares one `MemoryStore` takes part in the same elections, so it gives single-active
 * semantics among workers, tasks or plugins of one process, and it is the store the demo and the
 * unit tests run on.
 *
 * Semantics match the networked stores: versions change on every write (and never repeat, even
 * after a delete), compare-and-swap on the version, watch events delivered asynchronously in
 * write order.
 *
 * @example
 * const store = new MemoryStore();
 * const elector = new LeaderElector({ backend: store.lease('scheduler'), onStartedLeading });
 */
export class MemoryStore implements RecordStore {
  readonly description = 'memory';
  private readonly entries = new Map<string, Entry>();
  private readonly watchers = new Map<string, Set<(event: RecordWatchEvent) => void>>();
  /** Lease name → the candidates advertised for it (see LeaseBackend.advertise). */
  private readonly advertised = new Map<string, Set<CandidateInfo>>();
  private nextVersion = 1;

  /** A lease backend for election `name` on this store (one per elector). */
  lease(name: string, options: RecordLeaseBackendOptions = {}): LeaseBackend {
    validateName(name);
    return new RecordLeaseBackend(this, name, options);
  }

  /** Advertises a candidate of `name` (in this process) until the handle is closed. */
  advertise(name: string, candidate: CandidateInfo): WatchHandle {
    const entry = { identity: candidate.identity, priority: candidate.priority };
    let set = this.advertised.get(name);
    if (set === undefined) {
      set = new Set();
      this.advertised.set(name, set);
    }
    set.add(entry);
    return {
      close: () => {
        set.delete(entry);
        if (set.size === 0 && this.advertised.get(name) === set) this.advertised.delete(name);
      },
    };
  }

  /** The candidates advertised for `name` now. */
  async candidates(name: string, signal: AbortSignal): Promise<readonly CandidateInfo[]> {
    await settle(signal);
    return [...(this.advertised.get(name) ?? [])];
  }

  async get(name: string, signal: AbortSignal): Promise<StoredRecord | null> {
    await settle(signal);
    const entry = this.entries.get(name);
    return entry === undefined ? null : toStored(entry);
  }

  async create(name: string, record: LeaseRecord, signal: AbortSignal): Promise<StoredRecord> {
    await settle(signal);
    if (this.entries.has(name)) {
      throw new LeaderElectError(ErrorCode.Conflict, `memory lease "${name}" already exists`);
    }
    return this.write(name, record);
  }

  async update(
    name: string,
    record: LeaseRecord,
    version: string,
    signal: AbortSignal,
  ): Promise<StoredRecord> {
    await settle(signal);
    const entry = this.entries.get(name);
    if (entry === undefined || String(entry.version) !== version) {
      throw new LeaderElectError(
        ErrorCode.Conflict,
        `memory lease "${name}" changed (expected version ${version}, found ${entry === undefined ? 'none' : entry.version})`,
      );
    }
    return this.write(name, record);
  }

  watch(name: string, listener: (event: RecordWatchEvent) => void): WatchHandle {
    let set = this.watchers.get(name);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(name, set);
    }
    set.add(listener);
    let open = true;
    queueMicrotask(() => {
      if (open) listener({ type: 'up' });
    });
    return {
      close: () => {
        if (!open) return;
        open = false;
        set.delete(listener);
        if (set.size === 0) this.watchers.delete(name);
      },
    };
  }

  /**
   * Writes arbitrary data as the record, bypassing validation: for tests and for repairing or
   * simulating foreign writers. Electors treat data that is not a lease record as corrupt.
   */
  putRaw(name: string, data: unknown): StoredRecord {
    return this.write(name, structuredClone(data));
  }

  /** Deletes the record (watchers see `null`). */
  delete(name: string): void {
    if (!this.entries.delete(name)) return;
    this.notify(name, null);
  }

  /** The stored record, for inspection. */
  inspect(name: string): StoredRecord | null {
    const entry = this.entries.get(name);
    return entry === undefined ? null : toStored(entry);
  }

  /** Number of open watches (for leak checks). */
  get watchCount(): number {
    let count = 0;
    for (const set of this.watchers.values()) count += set.size;
    return count;
  }

  private write(name: string, data: unknown): StoredRecord {
    const entry: Entry = { version: this.nextVersion++, data: structuredClone(data) };
    this.entries.set(name, entry);
    const stored = toStored(entry);
    this.notify(name, stored);
    return stored;
  }

  private notify(name: string, record: StoredRecord | null): void {
    const set = this.watchers.get(name);
    if (set === undefined) return;
    for (const listener of [...set]) {
      queueMicrotask(() => {
        if (set.has(listener)) listener({ type: 'record', record });
      });
    }
  }
}

function toStored(entry: Entry): StoredRecord {
  return { version: String(entry.version), data: structuredClone(entry.data) };
}

/** Resolves in a later microtask (as real I/O would) and honours an already aborted signal. */
async function settle(signal: AbortSignal): Promise<void> {
  await Promise.resolve();
  if (signal.aborted) throw signal.reason;
}

function validateName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 253) {
    throw new LeaderElectError(
      ErrorCode.InvalidName,
      `election name must be a non-empty string of at most 253 characters, got ${JSON.stringify(name)}`,
    );
  }
}
