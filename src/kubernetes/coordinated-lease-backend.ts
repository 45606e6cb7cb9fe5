/**
 * A lease backend for a coordinated candidate (Kubernetes Coordinated Leader Election, KEP-4355):
 * the apiserver's controller picks the holder among the LeaseCandidates; we never acquire.
 *
 * - Follower: keeps its LeaseCandidate ({@link LeaseCandidacy}) and waits, on the Lease's watch,
 *   for the controller to name it. A Lease that names us is claimed by our own compare-and-swap
 *   write (a new term, token above every one seen), so the term's validity counts from our send
 *   time, as always; a free, expired or absent Lease is left to the controller.
 * - Leader: renews only while the Lease names it with its term's token (from the cached object:
 *   one PUT; a conflict re-reads once). When `preferredHolder` names another candidate it
 *   stops writing: renewals are answered with the proof of the last write, so the term ends at
 *   its own deadline (`renew-deadline`, signal aborted). Once the term is over (and its work
 *   done), the next campaign hands the Lease back (client-go's released form) so the controller
 *   names the preferred holder without waiting for expiry. A preferred holder that is gone is
 *   cleared by our next write instead (kubernetes/kubernetes#138066: it must never stall us).
 * - Release (stop, step-down): deletes our LeaseCandidate first, so the controller does not name
 *   us again, then writes client-go's released form.
 * - API not served: `LE_UNSUPPORTED`, or, with `fallback: 'election'`, the ordinary algorithm
 *   ({@link RecordLeaseBackend}) on the same Lease for the life of the backend.
 */
import type {
  AttemptRequest,
  BackendContext,
  ElectionTimings,
  InspectRequest,
  LeaseBackend,
  LeaseNotHeld,
  LeaseStatus,
  Observation,
  ObserveListener,
  PrepareTransferRequest,
  ReleaseRequest,
  TransferOutcome,
  TransferRequest,
  TransferRequestByOperator,
  WatchHandle,
  WatchListener,
} from '../backend/lease-backend.js';
import { formatMicroTime, parseLeaseRecord } from '../backend/lease-record.js';
import { RecordLeaseBackend } from '../backend/record-lease-backend.js';
import type { LeaseRecord, RecordWatchEvent, StoredRecord } from '../backend/record-store.js';
import { ErrorCode, hasErrorCode, LeaderElectError } from '../errors.js';
import { LeaseCandidacy } from './coordinated-candidate.js';
import { coordinatedStep, coordinatedWrite, releasedRecord } from './coordinated-rules.js';
import type { KubernetesLeaseStore } from './kubernetes-lease-store.js';
import type { CandidateSettings } from './lease-candidate.js';
import { LeaseCandidateClient } from './lease-candidate-client.js';

/** Versions remembered to recognise a watch event that arrives after a newer read or write. */
const REMEMBERED_VERSIONS = 8;

interface SeenVersion {
  readonly version: string;
  readonly record: LeaseRecord;
}

/** Our last write of the current term: the proof a yielding renewal answers with. */
interface TermProof {
  readonly version: string;
  readonly token: bigint;
  readonly sentAt: number;
  readonly leaseDurationMs: number;
}

/** One elector's watch: its listener and the store watch feeding it (replaced on fallback). */
interface WatchSink {
  readonly listener: WatchListener;
  readonly context: BackendContext;
  inner: WatchHandle;
}

/** How a coordinated backend campaigns: as a candidate, or by ordinary election after a fallback. */
export type CoordinatedMode = 'coordinated' | 'election';

/** The backend `kubernetesBackend({ …, coordinated })` returns. */
export interface CoordinatedLeaseBackend extends LeaseBackend {
  /**
   * `coordinated` until the apiserver turned out not to serve `coordination.k8s.io/v1beta1`
   * with `fallback: 'election'`; then `election`, for the life of the backend.
   */
  readonly mode: CoordinatedMode;
}

/** See the module comment. Made by {@link kubernetesBackend}. */
export class CoordinatedRecordBackend implements CoordinatedLeaseBackend {
  readonly description: string;
  readonly watch: (listener: WatchListener, context: BackendContext) => WatchHandle;
  readonly observe: (listener: ObserveListener) => WatchHandle;

  readonly #store: KubernetesLeaseStore;
  readonly #settings: CandidateSettings;
  /** The ordinary algorithm on the same Lease: inspect, observe, and the fallback election. */
  readonly #plain: RecordLeaseBackend;
  readonly #candidacy: LeaseCandidacy;
  #mode: CoordinatedMode = 'coordinated';
  #latest: SeenVersion | null = null;
  /** The last few versions read, written or watched, oldest first. */
  readonly #versions: string[] = [];
  #proof: TermProof | null = null;
  /** Highest leaseTransitions seen, so that a re-created Lease keeps our tokens rising. */
  #highest: number | null = null;
  readonly #sinks = new Set<WatchSink>();
  #closed = false;

  constructor(
    store: KubernetesLeaseStore,
    /** The Lease's name. */
    readonly name: string,
    settings: CandidateSettings,
  ) {
    this.#store = store;
    this.#settings = settings;
    this.description = `${store.description} lease "${name}" (coordinated, strategy ${settings.strategy})`;
    this.#plain = new RecordLeaseBackend(store, name);
    this.#candidacy = new LeaseCandidacy({
      client: new LeaseCandidateClient(
        store.transport,
        store.namespace,
        () => store.requestTimeout,
      ),
      settings,
      requestTimeoutMs: () => store.requestTimeout,
      onTrouble: () => {
        for (const sink of this.#sinks) sink.listener({ type: 'changed' });
      },
    });
    this.watch = (listener, context) => this.#openWatch(listener, context);
    this.observe = (listener) => this.#plain.observe?.(listener) ?? { close: () => undefined };
  }

  get mode(): CoordinatedMode {
    return this.#mode;
  }

  configure(timings: ElectionTimings): void {
    // The store's request timeout, and the ordinary algorithm's settings for a fallback.
    this.#plain.configure(timings);
  }

  async attempt(request: AttemptRequest): Promise<Observation> {
    this.#assertOpen();
    if (this.#mode === 'election') return this.#plain.attempt(request);
    if (request.mode === 'acquire') {
      try {
        await this.#candidacy.ensure(request, request.signal);
      } catch (error) {
        if (!hasErrorCode(error, ErrorCode.Unsupported) || this.#settings.fallback !== 'election') {
          throw error;
        }
        this.#fallBack(error);
        return this.#plain.attempt(request);
      }
      return this.#step(request, null);
    }
    return this.#step(request, request.token ?? null);
  }

  /** One coordinated step: decide on the newest version we know, write if we may; one retry. */
  async #step(request: AttemptRequest, token: bigint | null): Promise<Observation> {
    const { clock, identity, signal } = request;
    for (let round = 0; round < 2; round++) {
      // A renewal decides on the newest version we know (our write, or what the watch pushed
      // since): its write is a compare-and-swap, so a stale view costs a retry, never safety.
      // A campaign reads: it runs on a watch event or a poll, and must see what the controller
      // wrote even while the watch is down.
      const current =
        round === 0 && token !== null && this.#latest !== null
          ? this.#latest
          : await this.#read(signal);
      const step = coordinatedStep(current?.record ?? null, identity, token);
      let clearPreferred = false;
      switch (step.action) {
        case 'wait':
          return notHeld(current, null);
        case 'lost':
          this.#proof = null;
          return notHeld(current, clock.now());
        case 'yield': {
          if (!(await this.#candidacy.isCandidate(step.preferredHolder, signal))) {
            clearPreferred = true; // gone: the preference is stale, and we carry on
            break;
          }
          if (token !== null) return this.#yieldRenewal(current, token, clock.now());
          if (current === null) return notHeld(null, null);
          // Our term is over (it ran out at its deadline, and its work has ended): hand the
          // Lease back at once, as client-go's ReleaseOnCancel does, so that the controller
          // names the preferred holder now instead of after the Lease expires.
          try {
            await this.#writeReleased(current, request, signal);
            return notHeld(this.#latest, null);
          } catch (error) {
            if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
            continue;
          }
        }
        case 'write':
          break;
      }
      if (current === null) return notHeld(null, null); // unreachable: write needs a record
      const next = coordinatedWrite(current.record, {
        identity,
        token,
        leaseDurationMs: request.leaseDurationMs,
        wallTime: formatMicroTime(clock.wallNow()),
        highestSeen: this.#highest,
        clearPreferred,
      });
      const sentAt = clock.now();
      try {
        const stored = await this.#store.update(this.name, next, current.version, signal);
        this.#note(stored.version, next);
        const proof: TermProof = {
          version: stored.version,
          token: BigInt(next.leaseTransitions),
          sentAt,
          leaseDurationMs: next.leaseDurationMs,
        };
        this.#proof = proof;
        return { kind: 'held', ...proofFields(proof), fence: undefined };
      } catch (error) {
        if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
        // Lost the compare-and-swap: judge the version that won.
      }
    }
    const current = await this.#read(signal);
    return notHeld(current, clock.now());
  }

  /**
   * The controller prefers someone else while we lead: answer with the last write's proof (no
   * extension: the term runs out at its deadline). Checked again every renewal, so a preferred
   * candidate that goes away meanwhile lets us carry on.
   */
  #yieldRenewal(current: SeenVersion | null, token: bigint, now: number): Observation {
    const proof = this.#proof;
    if (proof !== null && proof.token === token) {
      return { kind: 'held', ...proofFields(proof), fence: undefined };
    }
    return notHeld(current, now);
  }

  /** client-go's released form on `current` (compare-and-swap); `LE_CONFLICT` if it moved. */
  async #writeReleased(
    current: SeenVersion,
    context: BackendContext,
    signal: AbortSignal,
  ): Promise<void> {
    const released = releasedRecord(current.record, formatMicroTime(context.clock.wallNow()));
    const stored = await this.#store.update(this.name, released, current.version, signal);
    this.#note(stored.version, released);
  }

  async #read(signal: AbortSignal): Promise<SeenVersion | null> {
    const stored = await this.#store.get(this.name, signal);
    if (stored === null) {
      this.#latest = null;
      return null;
    }
    return this.#note(stored.version, this.#parse(stored));
  }

  /** A version read or written: the newest we know. */
  #note(version: string, record: LeaseRecord): SeenVersion {
    if (this.#highest === null || record.leaseTransitions > this.#highest) {
      this.#highest = record.leaseTransitions;
    }
    if (!this.#versions.includes(version)) {
      this.#versions.push(version);
      if (this.#versions.length > REMEMBERED_VERSIONS) this.#versions.shift();
    }
    this.#latest = { version, record };
    return this.#latest;
  }

  /**
   * A version pushed by the watch: newest unless we have already read or written it (the watch
   * can lag behind our own write's answer; the older event must not replace it).
   */
  #noteWatched(version: string, record: LeaseRecord): boolean {
    if (this.#versions.includes(version)) return false;
    this.#note(version, record);
    return true;
  }

  async release(request: ReleaseRequest): Promise<void> {
    if (this.#closed) return;
    if (this.#mode === 'election') {
      await this.#plain.release(request);
      return;
    }
    const { identity, signal, token } = request;
    this.#proof = null;
    // Withdraw first: a candidate that is still there could be named holder again at once.
    let withdrawal: unknown = null;
    try {
      await this.#candidacy.withdraw(signal);
    } catch (error) {
      withdrawal = error;
    }
    let target = this.#latest;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (
        target === null ||
        target.record.holderIdentity !== identity ||
        BigInt(target.record.leaseTransitions) !== token
      ) {
        break;
      }
      try {
        await this.#writeReleased(target, request, signal);
        break;
      } catch (error) {
        if (!hasErrorCode(error, ErrorCode.Conflict)) throw error;
        target = await this.#read(signal);
      }
    }
    if (withdrawal !== null) throw withdrawal;
  }

  inspect(request: InspectRequest): Promise<LeaseStatus> {
    return this.#plain.inspect(request);
  }

  /**
   * Coordinated: refused (`LE_TRANSFER_REFUSED`), the term goes on: the controller decides who
   * leads, by the strategy, and would take the Lease back from a successor it did not choose.
   * After a fallback to ordinary election: the record-lease transfer.
   */
  async prepareTransfer(request: PrepareTransferRequest): Promise<void> {
    this.#assertOpen();
    if (this.#mode === 'election') return; // the record-lease transfer needs no preparation
    throw this.#transferRefused(request.successor);
  }

  transfer(request: TransferRequest): Promise<TransferOutcome> {
    if (this.#mode === 'election') return this.#plain.transfer(request);
    return Promise.reject(this.#transferRefused(request.successor));
  }

  /** An operator's transfer request: refused in coordinated mode, as `prepareTransfer`. */
  requestTransfer(request: TransferRequestByOperator): Promise<void> {
    if (this.#mode === 'election') return this.#plain.requestTransfer(request);
    return Promise.reject(this.#transferRefused(request.to));
  }

  #transferRefused(successor: string): LeaderElectError {
    return new LeaderElectError(
      ErrorCode.TransferRefused,
      `${this.description}: cannot transfer to "${successor}": in coordinated leader election the ` +
        "apiserver's controller decides who leads (by the candidates' versions); it would take " +
        'the Lease back from a successor it did not choose',
      { details: { successor, reason: 'coordinated' } },
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const sink of this.#sinks) sink.inner.close();
    this.#sinks.clear();
    try {
      await this.#candidacy.close();
    } finally {
      await this.#plain.close();
      await this.#store.close();
    }
  }

  // ---------------------------------------------------------------- watch

  #openWatch(listener: WatchListener, context: BackendContext): WatchHandle {
    this.#assertOpen();
    const sink: WatchSink = {
      listener,
      context,
      inner:
        this.#mode === 'election'
          ? this.#plainWatch(listener, context)
          : this.#store.watch(this.name, (event) => this.#onRecordEvent(sink, event)),
    };
    this.#sinks.add(sink);
    return {
      close: () => {
        if (this.#sinks.delete(sink)) sink.inner.close();
      },
    };
  }

  /**
   * The Lease as the controller and the holders write it, for one elector: another holder (or
   * none) is reported with no expiry of ours (the controller decides when it ends); a version
   * naming us that we did not write (the controller named us, or prefers another) asks for an
   * attempt; our own writes coming back are ignored.
   */
  #onRecordEvent(sink: WatchSink, event: RecordWatchEvent): void {
    const { listener, context } = sink;
    if (event.type !== 'record') {
      listener(event);
      return;
    }
    if (event.record === null) {
      this.#latest = null;
      listener({
        type: 'observed',
        observation: { kind: 'not-held', holder: null, token: null, expiresAt: null },
      });
      return;
    }
    let record: LeaseRecord;
    try {
      record = this.#parse(event.record);
    } catch {
      listener({ type: 'changed' }); // the attempt reports the corrupt record
      return;
    }
    // Seen already (our own write coming back, or a version we read): nothing new.
    if (!this.#noteWatched(event.record.version, record)) return;
    if (record.holderIdentity === context.identity) {
      listener({ type: 'changed' });
      return;
    }
    listener({ type: 'observed', observation: notHeld(this.#latest, null) });
  }

  #plainWatch(listener: WatchListener, context: BackendContext): WatchHandle {
    return this.#plain.watch?.(listener, context) ?? { close: () => undefined };
  }

  /** The API is not served and the user asked for ordinary election: switch, once, for good. */
  #fallBack(reason: LeaderElectError): void {
    if (this.#mode === 'election') return;
    this.#mode = 'election';
    for (const sink of this.#sinks) {
      sink.inner.close();
      sink.inner = this.#plainWatch(sink.listener, sink.context);
    }
    try {
      this.#settings.onFallback?.(reason);
    } catch {
      // A failing callback must not stop the election it reports on.
    }
  }

  #parse(stored: StoredRecord): LeaseRecord {
    return parseLeaseRecord(stored.data, `${this.description} (version ${stored.version})`);
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new LeaderElectError(ErrorCode.Stopped, `${this.description}: backend is closed`);
    }
  }
}

function proofFields(proof: TermProof): {
  readonly token: bigint;
  readonly sentAt: number;
  readonly leaseDurationMs: number;
} {
  return { token: proof.token, sentAt: proof.sentAt, leaseDurationMs: proof.leaseDurationMs };
}

function notHeld(current: SeenVersion | null, expiresAt: number | null): LeaseNotHeld {
  const record = current?.record;
  if (record === undefined || record.holderIdentity === '') {
    return { kind: 'not-held', holder: null, token: null, expiresAt };
  }
  return {
    kind: 'not-held',
    holder: record.holderIdentity,
    token: BigInt(record.leaseTransitions),
    expiresAt,
  };
}
