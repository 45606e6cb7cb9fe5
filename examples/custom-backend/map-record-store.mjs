// @ts-check
/**
 * A third-party backend, written as a user of leader-elect would: a `RecordStore` (versioned
 * get / create / update with compare-and-swap, and an optional watch), turned into an election
 * by the package's `RecordLeaseBackend`, which implements client-go's acquire/renew algorithm
 * once for every store.
 *
 * The data lives in a Map here, standing in for whatever you build on (a SQL table with a
 * version column, a key-value service with conditional writes, ...): replace the bodies of
 * get/create/update/watch with calls to it and keep their contract:
 *
 * - `version` changes on every write and is compared for equality only;
 * - `create` fails with `LE_CONFLICT` if the record exists, `update` if its version moved on;
 * - the store keeps data as given and never judges it (the adapter reports corrupt records);
 * - every call honours its AbortSignal; an unreachable service is a transient
 *   `LE_BACKEND_UNAVAILABLE` (retried by the elector's policy);
 * - `watch` (optional, but it is what makes failover fast) reports `up`, then every new version
 *   in write order (`null` when the record is deleted), asynchronously, never from inside a call.
 *
 * map-record-store.test.mjs runs the package's conformance suite against it.
 */
import { ErrorCode, LeaderElectError, RecordLeaseBackend } from 'leader-elect';

/** @typedef {import('leader-elect').LeaseRecord} LeaseRecord */
/** @typedef {import('leader-elect').StoredRecord} StoredRecord */
/** @typedef {import('leader-elect').RecordWatchEvent} RecordWatchEvent */
/** @typedef {import('leader-elect').RecordStore} RecordStore */

/** @implements {RecordStore} */
export class MapRecordStore {
  description = 'map-record-store';
  /** @type {Map<string, { version: string, data: unknown }>} */
  #records = new Map();
  /** @type {Map<string, Set<(event: RecordWatchEvent) => void>>} */
  #listeners = new Map();
  #writes = 0;

  /**
   * A backend for one election (one per elector).
   * @param {string} election
   */
  lease(election) {
    return new RecordLeaseBackend(this, election);
  }

  /**
   * @param {string} name
   * @param {AbortSignal} signal
   * @returns {Promise<StoredRecord | null>}
   */
  async get(name, signal) {
    await this.#roundTrip(signal);
    return this.#records.get(name) ?? null;
  }

  /**
   * @param {string} name
   * @param {LeaseRecord} record
   * @param {AbortSignal} signal
   * @returns {Promise<StoredRecord>}
   */
  async create(name, record, signal) {
    await this.#roundTrip(signal);
    if (this.#records.has(name)) {
      throw new LeaderElectError(ErrorCode.Conflict, `${name} already exists`);
    }
    return this.#write(name, record);
  }

  /**
   * @param {string} name
   * @param {LeaseRecord} record
   * @param {string} version
   * @param {AbortSignal} signal
   * @returns {Promise<StoredRecord>}
   */
  async update(name, record, version, signal) {
    await this.#roundTrip(signal);
    if (this.#records.get(name)?.version !== version) {
      throw new LeaderElectError(ErrorCode.Conflict, `${name} changed since version ${version}`);
    }
    return this.#write(name, record);
  }

  /**
   * @param {string} name
   * @param {(event: RecordWatchEvent) => void} listener
   */
  watch(name, listener) {
    const listeners = this.#listeners.get(name) ?? new Set();
    this.#listeners.set(name, listeners);
    listeners.add(listener);
    setImmediate(() => listeners.has(listener) && listener({ type: 'up' }));
    return {
      close: () => {
        listeners.delete(listener);
        if (listeners.size === 0) this.#listeners.delete(name);
      },
    };
  }

  /**
   * For the conformance suite: stores anything, as a foreign writer could.
   * @param {string} name
   * @param {unknown} data
   */
  writeRaw(name, data) {
    this.#write(name, data);
  }

  /**
   * For the conformance suite: takes the lease from its holder as an operator would, keeping
   * `leaseTransitions` so that fencing tokens keep rising.
   * @param {string} name
   */
  clearHolder(name) {
    const current = this.#records.get(name);
    if (current === undefined) return;
    this.#write(name, { ...Object(current.data), holderIdentity: '', leaseDurationMs: 1000 });
  }

  /**
   * @param {string} name
   * @param {unknown} data
   * @returns {StoredRecord}
   */
  #write(name, data) {
    const stored = { version: String(++this.#writes), data: structuredClone(data) };
    this.#records.set(name, stored);
    for (const listener of this.#listeners.get(name) ?? []) {
      // Delivered later, in write order, and only to listeners still open by then.
      setImmediate(
        () =>
          this.#listeners.get(name)?.has(listener) && listener({ type: 'record', record: stored }),
      );
    }
    return stored;
  }

  /**
   * Where a real store awaits its service. An abort rejects with the signal's reason.
   * @param {AbortSignal} signal
   */
  async #roundTrip(signal) {
    signal.throwIfAborted();
    await new Promise((resolve) => setImmediate(resolve));
    signal.throwIfAborted();
  }
}
