/**
 * The PostgreSQL lease backend: client-go's algorithm ({@link RecordLeaseBackend}) over a
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
  ReleaseRequest,
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
    this.#onClose = options.onClose;
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

  watch(listener: WatchListener, context: BackendContext): WatchHandle {
    return this.#inner.watch(listener, context);
  }

  inspect(request: InspectRequest): Promise<LeaseStatus> {
    return this.#inner.inspect(request);
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
