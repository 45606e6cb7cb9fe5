/**
 * Fenced transactions: the leader's own queries, committed only while its term holds the lease.
 *
 * Inside one transaction on a pooled connection, the first statement locks the election's lease
 * row `FOR SHARE` and checks that it still names this term's holder and token. A successor's
 * takeover is an UPDATE of that row, which must wait for the lock: it commits after our COMMIT
 * or after our ROLLBACK, never between our check and our commit. A term that is already over —
 * taken over, released, or past its renew deadline on the local clock — gets `LE_NOT_LEADER`,
 * and nothing of the transaction is committed.
 */
import type { Clock } from '../clock.js';
import { ErrorCode, hasErrorCode, LeaderElectError } from '../errors.js';
import { PassThrough } from './pg-call.js';
import type { PgPoolClient } from './pg-types.js';
import type { PostgresLeaseStore } from './postgres-store.js';

export interface PostgresFenceOptions {
  /** Aborts the transaction (it is rolled back) unless COMMIT was already sent. */
  readonly signal?: AbortSignal;
}

/**
 * The PostgreSQL backend's fence, exposed on the term as `term.fence`.
 *
 * @example
 * onStartedLeading: async (term) => {
 *   await term.fence.transaction(async (client) => {
 *     await client.query('UPDATE jobs SET owner = $1 WHERE id = $2', [term.identity, jobId]);
 *   }); // committed only while this term holds the lease; LE_NOT_LEADER otherwise
 * }
 */
export interface PostgresFence {
  /** The election (the lease row's name). */
  readonly election: string;
  /** The holder identity the row must still name. */
  readonly identity: string;
  /** The term's fencing token (`lease_transitions`; equal to `term.token`). */
  readonly token: bigint;
  /**
   * Runs `work` in a transaction that commits only while this term holds the lease; resolves
   * with what `work` resolved with. `client` is a pooled connection in the transaction: run your
   * queries on it, do not release it, and do not COMMIT or ROLLBACK yourself.
   *
   * Rejects with `LE_NOT_LEADER` (rolled back) when the term is over: another holder or token
   * in the row, the row gone, or the term past its renew deadline before COMMIT. An error thrown
   * by `work` rolls back and is rethrown as it is.
   *
   * While it runs, the transaction holds the lease row's share lock: a takeover — and this
   * leader's own renewal — waits for it. Keep it short (well under `renewDeadline − retryPeriod`);
   * its statements and idle periods are bounded server-side by the term's remaining validity
   * (`statement_timeout`, `idle_in_transaction_session_timeout`).
   */
  transaction<T>(
    work: (client: PgPoolClient) => Promise<T>,
    options?: PostgresFenceOptions,
  ): Promise<T>;
}

/** What the backend knows of a term of ours, shared with its fence. */
export class TermState {
  #ended = false;

  constructor(
    readonly token: bigint,
    readonly identity: string,
    private lastSentAt: number,
    private readonly clock: Clock,
    private readonly renewDeadlineMs: number,
  ) {}

  renewed(sentAt: number): void {
    if (sentAt > this.lastSentAt) this.lastSentAt = sentAt;
  }

  end(): void {
    this.#ended = true;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Validity left on the local clock: the elector's rule, `sentAt + renewDeadline`. */
  remainingMs(): number {
    if (this.#ended) return 0;
    return Math.max(0, this.lastSentAt + this.renewDeadlineMs - this.clock.now());
  }
}

export class PostgresTermFence implements PostgresFence {
  readonly election: string;
  readonly identity: string;
  readonly token: bigint;
  readonly #store: PostgresLeaseStore;
  readonly #state: TermState;
  readonly #check: string;

  constructor(store: PostgresLeaseStore, election: string, state: TermState) {
    this.election = election;
    this.identity = state.identity;
    this.token = state.token;
    this.#store = store;
    this.#state = state;
    this.#check = `SELECT holder_identity, lease_transitions FROM ${store.table.qualified} WHERE name = $1 FOR SHARE`;
  }

  async transaction<T>(
    work: (client: PgPoolClient) => Promise<T>,
    options: PostgresFenceOptions = {},
  ): Promise<T> {
    if (typeof work !== 'function') {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        'fence.transaction needs a function (client) => Promise',
      );
    }
    const remaining = Math.floor(this.#state.remainingMs());
    if (remaining <= 0) throw this.#notLeader('the term is over on the local clock');
    const signal = options.signal ?? new AbortController().signal;
    let committing = false;
    try {
      return await this.#run(
        work,
        signal,
        remaining,
        () => committing,
        (value) => {
          committing = value;
        },
      );
    } catch (error) {
      // Our own bound (or the server's timeouts) ended the transaction because the term ran
      // out: that is LE_NOT_LEADER. After COMMIT was sent, the outcome is unknown and says so.
      if (
        !committing &&
        hasErrorCode(error, ErrorCode.BackendUnavailable) &&
        this.#state.remainingMs() <= 0
      ) {
        throw this.#notLeader('the term ended during the transaction', {}, error);
      }
      throw error;
    }
  }

  #run<T>(
    work: (client: PgPoolClient) => Promise<T>,
    signal: AbortSignal,
    remaining: number,
    isCommitting: () => boolean,
    setCommitting: (value: boolean) => void,
  ): Promise<T> {
    return this.#store.connection(
      'run a fenced transaction',
      signal,
      // The COMMIT's own answer gets up to one request timeout after the term's validity.
      remaining + this.#store.requestTimeoutMs,
      async (client, destroy) => {
        await client.query('BEGIN');
        let open = true;
        const rollback = async () => {
          if (!open) return;
          open = false;
          await client.query('ROLLBACK').catch(() => destroy());
        };
        try {
          // A paused or partitioned leader's open transaction must not hold the row lock (and
          // stall a takeover) for longer than its term could have lasted.
          await client.query(
            `SET LOCAL statement_timeout = ${remaining}; SET LOCAL idle_in_transaction_session_timeout = ${remaining}`,
          );
          const row = (await client.query(this.#check, [this.election])).rows[0];
          const holder = row?.holder_identity;
          const token = row?.lease_transitions;
          if (row === undefined) {
            await rollback();
            throw this.#notLeader('the lease row no longer exists');
          }
          if (holder !== this.identity || String(token) !== String(this.token)) {
            await rollback();
            throw this.#notLeader(
              `the lease is now held by ${holder === '' ? 'nobody' : JSON.stringify(holder)} with token ${String(token)}`,
              { holder, holderToken: String(token) },
            );
          }
          let result: T;
          try {
            result = await work(client);
          } catch (error) {
            await rollback();
            // A statement cut by the term's own timeouts (or a connection the server closed
            // meanwhile) is the term ending, not the caller's bug.
            if (this.#state.remainingMs() <= 0) {
              throw this.#notLeader('the term ended during the transaction', {}, error);
            }
            throw new PassThrough(error);
          }
          if (this.#state.remainingMs() <= 0) {
            await rollback();
            throw this.#notLeader('the term ended on the local clock before COMMIT');
          }
          setCommitting(true);
          open = false;
          const commit = await client.query('COMMIT');
          if ((commit as { command?: string }).command === 'ROLLBACK') {
            throw new PassThrough(
              new LeaderElectError(
                ErrorCode.BackendError,
                'the fenced transaction was rolled back by PostgreSQL (a statement in it failed and the error was caught); nothing was committed',
              ),
            );
          }
          return result;
        } catch (error) {
          if (error instanceof PassThrough || error instanceof LeaderElectError) throw error;
          await rollback();
          throw error;
        }
      },
      isCommitting,
    );
  }

  #notLeader(
    why: string,
    details: Record<string, unknown> = {},
    cause?: unknown,
  ): LeaderElectError {
    return new LeaderElectError(
      ErrorCode.NotLeader,
      `fenced transaction rejected: term ${this.token} of ${JSON.stringify(this.identity)} in election ${JSON.stringify(this.election)} is over (${why}); nothing was committed`,
      {
        details: {
          election: this.election,
          identity: this.identity,
          token: this.token.toString(),
          ...details,
        },
        ...(cause === undefined ? {} : { cause }),
      },
    );
  }
}
