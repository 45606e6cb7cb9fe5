import type { Clock } from '../clock.js';
import { ErrorCode, hasErrorCode, LeaderElectError } from '../errors.js';
import type {
  AttemptRequest,
  BackendContext,
  CandidateInfo,
  ElectionTimings,
  InspectRequest,
  LeaseBackend,
  LeaseNotHeld,
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
import {
  formatMicroTime,
  parseLeaseRecord,
  RELEASED_LEASE_DURATION_MS,
  withoutTransferRequest,
} from './lease-record.js';
import { recordExpiresAt } from './record-expiry.js';
import type { LeaseRecord, RecordStore, StoredRecord } from './record-store.js';
import { awaitConfirmation, freeAfterHandOver } from './record-transfer.js';

export interface RecordLeaseBackendOptions {
  /** Called when a renewal had to fall back from the cached record to get + update. */
  readonly onSlowPath?: () => void;
}

interface ObservedVersion {
  readonly version: string;
  /** Clock reading when we first saw this version. Expiry is measured from here. */
  readonly at: number;
  readonly record: LeaseRecord;
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
  private observed: ObservedVersion | null = null;
  /** Our last successful write, for the renewal fast path and release. */
  private cached: { readonly version: string; readonly record: LeaseRecord } | null = null;
  private closed = false;
  /** Highest leaseTransitions seen for this lease, so a recreated record keeps tokens rising. */
  private highestTransitions: number | null = null;
  private readonly watches = new Set<WatchHandle>();
  /** The elector's maxClockSkew (see record-expiry.ts), or null: remote times are not trusted. */
  private maxClockSkewMs: number | null = null;
  /** leaseTransitions of our own write in flight (see ownWrite). */
  private writingTransitions: number | null = null;
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
      this.watch = (listener, context) => this.openWatch(listener, context);
      this.observe = (listener) => this.openObserver(listener);
    }
  }

  configure(timings: ElectionTimings): void {
    this.store.configure?.(timings);
    this.maxClockSkewMs = timings.maxClockSkewMs ?? null;
  }

  async attempt(request: AttemptRequest): Promise<Observation> {
    this.assertOpen();
    const { clock, identity, signal } = request;
    const cached = this.cached;
    if (
      request.mode === 'renew' &&
      cached !== null &&
      cached.record.holderIdentity === identity &&
      BigInt(cached.record.leaseTransitions) === request.token
    ) {
      const next: LeaseRecord = {
        ...withoutTransferRequest(cached.record),
        leaseDurationMs: request.leaseDurationMs,
        renewTime: formatMicroTime(clock.wallNow()),
      };
      const sentAt = clock.now();
      try {
        const stored = await this.ownWrite(next, () =>
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
    const observed = this.observed;
    if (request.mode !== 'acquire' || observed === null) return null;
    const { clock, identity, signal } = request;
    const { record, version } = observed;
    const free =
      record.holderIdentity === '' ||
      record.holderIdentity === identity ||
      this.expiresAt(observed, clock) <= clock.now();
    if (!free) return null;
    const wall = formatMicroTime(clock.wallNow());
    const next: LeaseRecord = {
      ...withoutTransferRequest(record),
      holderIdentity: identity,
      leaseDurationMs: request.leaseDurationMs,
      acquireTime: wall,
      renewTime: wall,
      leaseTransitions: record.leaseTransitions + 1,
    };
    const sentAt = clock.now();
    return this.ownWrite(next, () => this.store.update(this.name, next, version, signal)).then(
      (stored) => this.wrote(stored, next, sentAt, clock),
      (error: unknown) => {
        if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
        return this.observeAfterConflict(request);
      },
    );
  }

  private async attemptSlow(request: AttemptRequest): Promise<Observation> {
    const { clock, identity, signal } = request;
    const current = await this.store.get(this.name, signal);
    const readAt = clock.now();
    const wall = formatMicroTime(clock.wallNow());

    if (current === null) {
      this.observed = null;
      if (request.mode === 'renew') {
        // Someone deleted the record under our term: the term is over.
        return { kind: 'not-held', holder: null, token: null, expiresAt: readAt };
      }
      const fresh: LeaseRecord = {
        holderIdentity: identity,
        leaseDurationMs: request.leaseDurationMs,
        acquireTime: wall,
        renewTime: wall,
        // A record deleted by hand restarts above every token we have seen, not at 0.
        leaseTransitions: this.highestTransitions === null ? 0 : this.highestTransitions + 1,
      };
      const sentAt = clock.now();
      try {
        const stored = await this.ownWrite(fresh, () =>
          this.store.create(this.name, fresh, signal),
        );
        return this.wrote(stored, fresh, sentAt, clock);
      } catch (error) {
        if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
        return this.observeAfterConflict(request);
      }
    }

    const record = this.parse(current);
    const observed = this.noteVersion(current.version, record, readAt);
    const holder = record.holderIdentity;
    const ours = holder === identity;
    if (holder !== '' && !ours) {
      const expiresAt = this.expiresAt(observed, clock);
      if (request.mode === 'renew' || expiresAt > readAt) {
        return notHeld(record, expiresAt);
      }
    }
    if (request.mode === 'renew' && ours && BigInt(record.leaseTransitions) !== request.token) {
      // The record names us but with another term's token: our term is over. Report it and let
      // the elector campaign again, which starts a new term with a higher token.
      return {
        kind: 'not-held',
        holder,
        token: BigInt(record.leaseTransitions),
        expiresAt: readAt,
      };
    }
    if (request.mode === 'renew' && !ours) {
      return notHeld(record, null);
    }

    const renewing = request.mode === 'renew';
    const next: LeaseRecord = {
      ...withoutTransferRequest(record),
      holderIdentity: identity,
      leaseDurationMs: request.leaseDurationMs,
      acquireTime: renewing ? record.acquireTime : wall,
      renewTime: wall,
      leaseTransitions: renewing ? record.leaseTransitions : record.leaseTransitions + 1,
    };
    const sentAt = clock.now();
    try {
      const stored = await this.ownWrite(next, () =>
        this.store.update(this.name, next, current.version, signal),
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
    if (current === null) {
      this.observed = null;
      return { kind: 'not-held', holder: null, token: null, expiresAt: readAt };
    }
    const record = this.parse(current);
    const observed = this.noteVersion(current.version, record, readAt);
    if (record.holderIdentity === '' || record.holderIdentity === identity) {
      // Free, or a write of ours whose answer we lost: try again at once.
      return {
        kind: 'not-held',
        holder: record.holderIdentity === '' ? null : record.holderIdentity,
        token: BigInt(record.leaseTransitions),
        expiresAt: readAt,
      };
    }
    return notHeld(record, this.expiresAt(observed, clock));
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
    let target = this.cached;
    for (let attempt = 0; ; attempt++) {
      if (
        target === null ||
        target.record.holderIdentity !== identity ||
        BigInt(target.record.leaseTransitions) !== token
      ) {
        throw new LeaderElectError(
          ErrorCode.NotLeader,
          `${this.description}: term ${token} is no longer ours; nothing to hand over`,
        );
      }
      const wall = formatMicroTime(clock.wallNow());
      const handOver: LeaseRecord = {
        ...withoutTransferRequest(target.record),
        holderIdentity: successor,
        acquireTime: wall,
        renewTime: wall,
        leaseTransitions: target.record.leaseTransitions + 1,
      };
      let stored: StoredRecord;
      try {
        stored = await this.store.update(this.name, handOver, target.version, signal);
      } catch (error) {
        if (!hasErrorCode(error, ErrorCode.Conflict) || attempt > 0) throw error;
        const current = await this.store.get(this.name, signal);
        target =
          current === null ? null : { version: current.version, record: this.parse(current) };
        continue;
      }
      this.cached = null;
      this.noteVersion(stored.version, handOver, clock.now());
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
    let target: { version: string; record: LeaseRecord } | null = this.cached;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (
        target === null ||
        target.record.holderIdentity !== identity ||
        BigInt(target.record.leaseTransitions) !== token
      ) {
        return;
      }
      const wall = formatMicroTime(clock.wallNow());
      const released: LeaseRecord = {
        ...withoutTransferRequest(target.record),
        holderIdentity: '',
        leaseDurationMs: RELEASED_LEASE_DURATION_MS,
        acquireTime: wall,
        renewTime: wall,
      };
      try {
        await this.store.update(this.name, released, target.version, signal);
        this.cached = null;
        return;
      } catch (error) {
        if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
        const current = await this.store.get(this.name, signal);
        target =
          current === null ? null : { version: current.version, record: this.parse(current) };
      }
    }
  }

  /** Every version of the record as `leader` events: its holder and token, as stored. */
  private openObserver(listener: ObserveListener): WatchHandle {
    this.assertOpen();
    const watch = this.store.watch;
    if (watch === undefined) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `${this.store.description} does not support watches`,
      );
    }
    const inner = watch.call(this.store, this.name, (event) => {
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
        record = this.parse(event.record);
      } catch (error) {
        // Never "nobody leads" for data we cannot read: the observer reads (and reports) it.
        listener({ type: 'down', error });
        return;
      }
      listener(
        record.holderIdentity === ''
          ? { type: 'leader', holder: null, token: null }
          : {
              type: 'leader',
              holder: record.holderIdentity,
              token: BigInt(record.leaseTransitions),
            },
      );
    });
    const handle: WatchHandle = {
      close: () => {
        if (this.watches.delete(handle)) inner.close();
      },
    };
    this.watches.add(handle);
    return handle;
  }

  private openWatch(listener: WatchListener, context: BackendContext): WatchHandle {
    this.assertOpen();
    const watch = this.store.watch;
    if (watch === undefined) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `${this.store.description} does not support watches`,
      );
    }
    const inner = watch.call(this.store, this.name, (event) => {
      if (event.type !== 'record') {
        listener(event);
        return;
      }
      const now = context.clock.now();
      if (event.record === null) {
        this.observed = null;
        listener({
          type: 'observed',
          observation: { kind: 'not-held', holder: null, token: null, expiresAt: now },
        });
        return;
      }
      let record: LeaseRecord;
      try {
        record = this.parse(event.record);
      } catch {
        // Corrupt data is reported by the next attempt, which the elector makes on 'changed'.
        listener({ type: 'changed' });
        return;
      }
      const observed = this.noteVersion(event.record.version, record, now);
      if (record.holderIdentity === context.identity && record.transferTo !== undefined) {
        listener({ type: 'transfer-requested', to: record.transferTo });
      }
      if (record.holderIdentity === context.identity) {
        // A record naming us that is newer than any term of ours: a leader handed the lease to
        // us (see transfer). Attempt now: the acquisition confirms it with a term of our own.
        const ours = this.cached;
        const handedToUs =
          record.leaseTransitions !== this.writingTransitions &&
          (ours === null || record.leaseTransitions > ours.record.leaseTransitions);
        if (handedToUs) listener({ type: 'changed' });
        return;
      }
      if (record.holderIdentity === '') {
        listener({
          type: 'observed',
          observation: { kind: 'not-held', holder: null, token: null, expiresAt: now },
        });
        return;
      }
      listener({
        type: 'observed',
        observation: notHeld(record, this.expiresAt(observed, context.clock)),
      });
    });
    const handle: WatchHandle = {
      close: () => {
        if (this.watches.delete(handle)) inner.close();
      },
    };
    this.watches.add(handle);
    return handle;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const handle of [...this.watches]) handle.close();
    this.cached = null;
    this.observed = null;
  }

  private wrote(
    stored: StoredRecord,
    record: LeaseRecord,
    sentAt: number,
    clock: Clock,
  ): Observation {
    this.cached = { version: stored.version, record };
    this.noteVersion(stored.version, record, clock.now());
    return {
      kind: 'held',
      token: BigInt(record.leaseTransitions),
      sentAt,
      leaseDurationMs: record.leaseDurationMs,
      fence: undefined,
    };
  }

  /** When the foreign record `observed` expires on `clock` (see record-expiry.ts). */
  private expiresAt(observed: ObservedVersion, clock: Clock): number {
    const skew = this.maxClockSkewMs;
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

  private noteVersion(version: string, record: LeaseRecord, at: number): ObservedVersion {
    if (this.highestTransitions === null || record.leaseTransitions > this.highestTransitions) {
      this.highestTransitions = record.leaseTransitions;
    }
    if (this.observed?.version === version) return this.observed;
    this.observed = { version, at, record };
    return this.observed;
  }

  private parse(stored: StoredRecord): LeaseRecord {
    return parseLeaseRecord(stored.data, `${this.description} (version ${stored.version})`);
  }

  /**
   * One of our own writes (an acquisition or a renewal). While it is in flight its watch event
   * may arrive before its answer: it must not look like a hand-over to us (see openWatch).
   */
  private async ownWrite(
    record: LeaseRecord,
    write: () => Promise<StoredRecord>,
  ): Promise<StoredRecord> {
    this.writingTransitions = record.leaseTransitions;
    try {
      return await write();
    } finally {
      this.writingTransitions = null;
    }
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new LeaderElectError(ErrorCode.Stopped, `${this.description}: backend is closed`);
    }
  }
}

function notHeld(record: LeaseRecord, expiresAt: number | null): LeaseNotHeld {
  return {
    kind: 'not-held',
    holder: record.holderIdentity === '' ? null : record.holderIdentity,
    token: BigInt(record.leaseTransitions),
    expiresAt,
  };
}

function isRetryable(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { transient?: unknown }).transient === true
  );
}
