/**
 * The record stores' lease backend, as an I/O shell: it reads and writes the store, reads the
 * clocks, and asks the pure rules of client-go's algorithm (acquire-or-renew.ts) what to write.
 * What it knows of its record between calls is a RecordView (record-view.ts); the store's watch
 * becomes its push channels in record-watch.ts, the second half of a transfer is in
 * record-transfer.ts.
 */
import type { Clock } from '../clock.js';
import { ErrorCode, hasErrorCode, LeaderElectError } from '../errors.js';
import {
  acquisitionOf,
  decideAttempt,
  handOverTo,
  heldBy,
  isOurTerm,
  mayTake,
  observationAfterConflict,
  type RecordRead,
  releasedForm,
  renewalOf,
} from './acquire-or-renew.js';
import type {
  AttemptRequest,
  BackendContext,
  CandidateInfo,
  ElectionTimings,
  InspectRequest,
  LeaseBackend,
  LeaseStatus,
  Observation,
  ObserveListener,
  ReleaseRequest,
  TransferOutcome,
  TransferRequest,
  TransferRequestByOperator,
  WatchHandle,
  WatchListener,
} from './lease-backend.js';
import { formatMicroTime, parseLeaseRecord } from './lease-record.js';
import type { LeaseRecord, RecordStore, StoredRecord } from './record-store.js';
import { awaitConfirmation, freeAfterHandOver } from './record-transfer.js';
import { RecordView, type VersionedRecord } from './record-view.js';
import { RecordWatches } from './record-watch.js';

export interface RecordLeaseBackendOptions {
  /** Called when a renewal had to fall back from the cached record to get + update. */
  readonly onSlowPath?: () => void;
}

/**
 * client-go's acquire/renew algorithm, implemented once over any {@link RecordStore}.
 *
 * Expiry rule: another holder's lease expires at `t + record.leaseDurationMs`, where `t` is our
 * clock reading when we first observed the record's current version. Remote timestamps are never
 * read as times, so clock offsets between machines do not matter; only clock rates do — unless
 * the elector was given `maxClockSkew`: then also once the record's renewTime is older than
 * `leaseDuration + maxClockSkew` by our wall clock (record-expiry.ts).
 *
 * Writes are compare-and-swap on the version we judged, so a decision taken on an old view
 * cannot overwrite a newer record. Every acquisition increments `leaseTransitions`, which is the
 * fencing token; a renewal keeps it. The leader renews from its cached record without reading
 * first, and falls back to get + update on any failure (client-go's slow path).
 */
export class RecordLeaseBackend implements LeaseBackend {
  readonly description: string;
  private readonly view = new RecordView();
  /** The watches opened, when the store can watch. */
  private readonly watches: RecordWatches | null = null;
  private closed = false;
  /**
   * Present only when the store can watch: the elector then follows the pushed records; without
   * it, followers poll every jittered retryPeriod.
   */
  readonly watch?: (listener: WatchListener, context: BackendContext) => WatchHandle;
  /** Present only when the store can watch (see LeaseBackend.observe). */
  readonly observe?: (listener: ObserveListener) => WatchHandle;
  /** Present only when the store keeps candidates (see LeaseBackend.advertise). */
  readonly advertise?: (candidate: CandidateInfo) => WatchHandle;
  readonly candidates?: (request: {
    readonly signal: AbortSignal;
  }) => Promise<readonly CandidateInfo[]>;

  constructor(
    private readonly store: RecordStore,
    /** The record's name in the store: the election's name. */
    readonly name: string,
    private readonly options: RecordLeaseBackendOptions = {},
  ) {
    this.description = `${store.description} lease "${name}"`;
    const { advertise, candidates } = store;
    if (advertise !== undefined && candidates !== undefined) {
      this.advertise = (candidate) => advertise.call(store, name, candidate);
      this.candidates = (request) => candidates.call(store, name, request.signal);
    }
    if (store.watch !== undefined) {
      const watches = new RecordWatches({
        store,
        name,
        parse: (stored) => this.parse(stored),
        view: this.view,
      });
      this.watches = watches;
      this.watch = (listener, context) => {
        this.assertOpen();
        return watches.forElector(listener, context);
      };
      this.observe = (listener) => {
        this.assertOpen();
        return watches.forObserver(listener);
      };
    }
  }

  configure(timings: ElectionTimings): void {
    this.store.configure?.(timings);
    this.view.maxClockSkewMs = timings.maxClockSkewMs ?? null;
  }

  async attempt(request: AttemptRequest): Promise<Observation> {
    this.assertOpen();
    const { clock, identity, signal } = request;
    const cached = this.view.lastWrite;
    if (
      request.mode === 'renew' &&
      cached !== null &&
      isOurTerm(cached.record, identity, request.token)
    ) {
      const next = renewalOf(
        cached.record,
        request.leaseDurationMs,
        formatMicroTime(clock.wallNow()),
      );
      const sentAt = clock.now();
      try {
        const stored = await this.view.writing(next, () =>
          this.store.update(this.name, next, cached.version, signal),
        );
        return this.wrote(stored, next, sentAt, clock);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        this.options.onSlowPath?.();
        request.onSlowPath?.();
        if (!hasErrorCode(error, ErrorCode.Conflict) && !isRetryable(error)) throw error;
      }
    }
    const direct = this.directAcquisition(request);
    if (direct !== null) return direct;
    return this.attemptSlow(request);
  }

  /**
   * When our latest observation (usually pushed by the watch) already shows the lease free,
   * released or expired, write on that version at once: the compare-and-swap guarantees the
   * record is still the one we judged, and it saves a read. A graceful handoff then costs one
   * watch event plus one write.
   */
  private directAcquisition(request: AttemptRequest): Promise<Observation> | null {
    const observed = this.view.observed;
    if (request.mode !== 'acquire' || observed === null) return null;
    const { clock, identity, signal } = request;
    const { record, version } = observed;
    if (!mayTake(record, identity, this.view.expiresAt(observed, clock), clock.now())) return null;
    const next = acquisitionOf(
      record,
      identity,
      request.leaseDurationMs,
      formatMicroTime(clock.wallNow()),
    );
    const sentAt = clock.now();
    return this.view
      .writing(next, () => this.store.update(this.name, next, version, signal))
      .then(
        (stored) => this.wrote(stored, next, sentAt, clock),
        (error: unknown) => {
          if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
          return this.observeAfterConflict(request);
        },
      );
  }

  private async attemptSlow(request: AttemptRequest): Promise<Observation> {
    const { clock, signal } = request;
    const current = await this.store.get(this.name, signal);
    const readAt = clock.now();
    const wall = formatMicroTime(clock.wallNow());
    const decision = decideAttempt({
      claim: request,
      read: this.noteRead(current, readAt, clock),
      readAt,
      wall,
      highestTransitions: this.view.highestTransitions,
    });
    if (decision.write === null) return decision.observation;
    const next = decision.record;
    const sentAt = clock.now();
    try {
      const stored = await this.view.writing(next, () =>
        current === null
          ? this.store.create(this.name, next, signal)
          : this.store.update(this.name, next, current.version, signal),
      );
      return this.wrote(stored, next, sentAt, clock);
    } catch (error) {
      if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
      return this.observeAfterConflict(request);
    }
  }

  /** After a lost compare-and-swap: read once more so the elector learns who won. */
  private async observeAfterConflict(request: AttemptRequest): Promise<Observation> {
    const { clock, signal, identity } = request;
    const current = await this.store.get(this.name, signal);
    const readAt = clock.now();
    return observationAfterConflict(this.noteRead(current, readAt, clock), identity, readAt);
  }

  /** The record as read at `readAt` (null: none), noted in the view, with its expiry on `clock`. */
  private noteRead(current: StoredRecord | null, readAt: number, clock: Clock): RecordRead | null {
    if (current === null) {
      this.view.forgetObserved();
      return null;
    }
    const record = this.parse(current);
    const observed = this.view.note(current.version, record, readAt);
    return { record, expiresAt: this.view.expiresAt(observed, clock) };
  }

  async inspect(request: InspectRequest): Promise<LeaseStatus> {
    this.assertOpen();
    const current = await this.store.get(this.name, request.signal);
    if (current === null) {
      return {
        holder: null,
        token: null,
        leaseDurationMs: null,
        remainingMs: null,
        renewTime: null,
      };
    }
    const record = this.parse(current);
    return {
      holder: record.holderIdentity === '' ? null : record.holderIdentity,
      token: BigInt(record.leaseTransitions),
      leaseDurationMs: record.leaseDurationMs,
      remainingMs: null,
      renewTime: record.renewTime,
    };
  }

  /**
   * Hands the lease to `successor` in one compare-and-swap on our last write: the record names
   * the successor as holder, with `leaseTransitions + 1` — to every other observer (client-go
   * included) an ordinary holder change, so nobody else may take the lease for a whole lease
   * duration. The successor confirms with a write of its own (ours: an acquisition with the next
   * token; client-go's: a renewal). When it does not within `confirmWithinMs`, the hand-over
   * record is replaced by the released form: the lease is free.
   */
  async transfer(request: TransferRequest): Promise<TransferOutcome> {
    this.assertOpen();
    const { clock, identity, signal, successor, token } = request;
    let target = this.view.lastWrite;
    for (let attempt = 0; ; attempt++) {
      if (target === null || !isOurTerm(target.record, identity, token)) {
        throw new LeaderElectError(
          ErrorCode.NotLeader,
          `${this.description}: term ${token} is no longer ours; nothing to hand over`,
        );
      }
      const handOver = handOverTo(target.record, successor, formatMicroTime(clock.wallNow()));
      let stored: StoredRecord;
      try {
        stored = await this.store.update(this.name, handOver, target.version, signal);
      } catch (error) {
        if (!hasErrorCode(error, ErrorCode.Conflict) || attempt > 0) throw error;
        target = this.versioned(await this.store.get(this.name, signal));
        continue;
      }
      this.view.forgetWrite();
      this.view.note(stored.version, handOver, clock.now());
      const site = {
        store: this.store,
        name: this.name,
        parse: (r: StoredRecord) => this.parse(r),
      };
      const confirmed = await awaitConfirmation(site, stored.version, request);
      if (confirmed !== null) return { successorToken: BigInt(confirmed.leaseTransitions) };
      return freeAfterHandOver(site, stored.version, handOver, request, this.description);
    }
  }

  /**
   * An operator's request that the holder hand the lease to `to` (`leader-elect transfer`): the
   * holder sees it through its watch (stores without a watch cannot carry requests) and its next
   * write consumes it. Rejects with `LE_TRANSFER_REFUSED` when nobody holds the lease.
   */
  async requestTransfer(request: TransferRequestByOperator): Promise<void> {
    this.assertOpen();
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.store.get(this.name, request.signal);
      const record = current === null ? null : this.parse(current);
      if (current === null || record === null || record.holderIdentity === '') {
        throw new LeaderElectError(
          ErrorCode.TransferRefused,
          `${this.description}: nobody holds the lease; there is nothing to transfer`,
        );
      }
      try {
        await this.store.update(
          this.name,
          { ...record, transferTo: request.to },
          current.version,
          request.signal,
        );
        return;
      } catch (error) {
        if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
      }
    }
    throw new LeaderElectError(
      ErrorCode.Conflict,
      `${this.description}: the lease kept changing; the transfer request was not written`,
    );
  }

  async release(request: ReleaseRequest): Promise<void> {
    if (this.closed) return;
    const { clock, identity, signal, token } = request;
    let target = this.view.lastWrite;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (target === null || !isOurTerm(target.record, identity, token)) return;
      const released = releasedForm(target.record, formatMicroTime(clock.wallNow()));
      try {
        await this.store.update(this.name, released, target.version, signal);
        this.view.forgetWrite();
        return;
      } catch (error) {
        if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
        target = this.versioned(await this.store.get(this.name, signal));
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watches?.closeAll();
    this.view.clear();
  }

  /** Our write of `record` (sent at `sentAt`) went through: it is the term's proof. */
  private wrote(
    stored: StoredRecord,
    record: LeaseRecord,
    sentAt: number,
    clock: Clock,
  ): Observation {
    this.view.wrote(stored, record, clock.now());
    return heldBy(record, sentAt);
  }

  /** The record as read (null: none), parsed, with its version. */
  private versioned(current: StoredRecord | null): VersionedRecord | null {
    return current === null ? null : { version: current.version, record: this.parse(current) };
  }

  private parse(stored: StoredRecord): LeaseRecord {
    return parseLeaseRecord(stored.data, `${this.description} (version ${stored.version})`);
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new LeaderElectError(ErrorCode.Stopped, `${this.description}: backend is closed`);
    }
  }
}

function isRetryable(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { transient?: unknown }).transient === true
  );
}
