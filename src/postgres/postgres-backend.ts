/**
 * The PostgreSQL lease backend: client-go's algorithm (`RecordLeaseBackend`) over a
 * {@link PostgresLeaseStore}, with a {@link PostgresFence} on every held observation. It wraps the
 * adapter instead of changing it: the adapter's terms carry no fence, this one adds it and
 * tracks each term's renewals so the fence knows the term's local deadline.
 */
import type {
  AttemptRequest,
  BackendContext,
  ElectionTimings,
  InspectRequest,
  LeaseBackend,
  LeaseStatus,
  Observation,
  ObserveListener,
  ReleaseRequest,
  TransferOutcome,
  TransferRequest,
  WatchHandle,
  WatchListener,
} from '../backend/lease-backend.js';
import { RecordLeaseBackend } from '../backend/record-lease-backend.js';
import { DEFAULT_RENEW_DEADLINE_MS } from '../elector/options.js';
import { type PostgresFence, PostgresTermFence, TermState } from './fence.js';
import type { PostgresLeaseStore } from './postgres-store.js';

export class PostgresLeaseBackend implements LeaseBackend<PostgresFence> {
  readonly description: string;
  readonly election: string;
  /** The election's name (metrics and messages). */
  readonly name: string;
  /** The store always watches (LISTEN/NOTIFY): both push channels exist. */
  readonly watch: (listener: WatchListener, context: BackendContext) => WatchHandle;
  readonly observe: (listener: ObserveListener) => WatchHandle;
  readonly store: PostgresLeaseStore;
  readonly #inner: RecordLeaseBackend;
  readonly #onClose: () => Promise<void>;
  #renewDeadlineMs = DEFAULT_RENEW_DEADLINE_MS;
  #term: { readonly state: TermState; readonly fence: PostgresTermFence } | null = null;
  #closed = false;

  constructor(
    store: PostgresLeaseStore,
    election: string,
    options: { readonly onSlowPath?: () => void; readonly onClose: () => Promise<void> },
  ) {
    this.store = store;
    this.election = election;
    this.#inner = new RecordLeaseBackend(
      store,
      election,
      options.onSlowPath === undefined ? {} : { onSlowPath: options.onSlowPath },
    );
    this.description = this.#inner.description;
    this.name = election;
    this.#onClose = options.onClose;
    const inner = this.#inner;
    const { watch, observe } = inner;
    if (watch === undefined || observe === undefined) {
      throw new Error('internal: the PostgreSQL store always offers a watch');
    }
    this.watch = (listener, context) => watch.call(inner, listener, context);
    this.observe = (listener) => observe.call(inner, listener);
  }

  configure(timings: ElectionTimings): void {
    this.#renewDeadlineMs = timings.renewDeadlineMs;
    this.#inner.configure(timings);
  }

  async attempt(request: AttemptRequest): Promise<Observation<PostgresFence>> {
    const observation = await this.#inner.attempt(request);
    if (observation.kind !== 'held') {
      if (request.mode === 'renew') this.#endTerm();
      return observation;
    }
    let term = this.#term;
    if (
      term === null ||
      term.state.token !== observation.token ||
      term.state.identity !== request.identity
    ) {
      term?.state.end();
      const state = new TermState(
        observation.token,
        request.identity,
        observation.sentAt,
        request.clock,
        this.#renewDeadlineMs,
      );
      term = { state, fence: new PostgresTermFence(this.store, this.election, state) };
      this.#term = term;
    } else {
      term.state.renewed(observation.sentAt);
    }
    return { ...observation, fence: term.fence };
  }

  async release(request: ReleaseRequest): Promise<void> {
    if (this.#term?.state.token === request.token) this.#endTerm();
    await this.#inner.release(request);
  }

  inspect(request: InspectRequest): Promise<LeaseStatus> {
    return this.#inner.inspect(request);
  }

  /** Hands the term to `successor` (see `LeaderElector.transfer`): the adapter's hand-over. */
  async transfer(request: TransferRequest): Promise<TransferOutcome> {
    if (this.#term?.state.token === request.token) this.#endTerm();
    return this.#inner.transfer(request);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#endTerm();
    await this.#inner.close();
    await this.#onClose();
  }

  #endTerm(): void {
    this.#term?.state.end();
    this.#term = null;
  }
}
