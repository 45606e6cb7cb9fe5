/**
 * A `RecordStore` on one row per election in a PostgreSQL table, over node-postgres:
 * compare-and-swap on a `version` column that a sequence renews on every write, and a watch
 * through LISTEN/NOTIFY (a trigger on the table notifies every change).
 */
import type { ElectionTimings, WatchHandle } from '../backend/lease-backend.js';
import type {
  LeaseRecord,
  RecordStore,
  RecordWatchEvent,
  StoredRecord,
} from '../backend/record-store.js';
import { ErrorCode, hasErrorCode, LeaderElectError } from '../errors.js';
import { resolveTable, type TableRef } from './identifiers.js';
import { NotifyListener } from './notify-listener.js';
import { withConnection } from './pg-call.js';
import type { PgRequestContext } from './pg-errors.js';
import type { PgPool, PgPoolClient } from './pg-types.js';
import { RECORD_COLUMNS, recordParams, rowToRecord } from './row.js';
import { SCHEMA_LOCK_KEY, schemaSql } from './schema.js';

/** The request timeout before any elector configured the store. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
/** How long `close()` waits for the pool it owns to end. */
const POOL_END_TIMEOUT_MS = 2_000;
/** How often the LISTEN connection is probed before any elector configured the store. */
const DEFAULT_PROBE_INTERVAL_MS = 15_000;

export interface PostgresLeaseStoreOptions {
  /** A `pg.Pool`. The store checks connections out of it and never ends it. */
  readonly pool: PgPool;
  /** Whether `close()` ends the pool (set when the store created it). @default false */
  readonly ownsPool?: boolean;
  /** @default 'leader_elect_leases' */
  readonly table?: string;
  /** Schema of the table. @default the connection's search_path */
  readonly schema?: string;
  /**
   * Create the table, its sequence and its NOTIFY trigger on first use when they are missing
   * (needs CREATE on the schema). With `false`, a missing table is `LE_SCHEMA_MISSING`.
   * @default true
   */
  readonly createTable?: boolean;
  /** Bound on each request. @default renewDeadline / 2 of the electors using the store */
  readonly requestTimeoutMs?: number;
  /** Where, for messages (never a password). */
  readonly server: string;
  /** Non-fatal findings (a table without the NOTIFY trigger). */
  readonly onWarning?: (warning: LeaderElectError) => void;
}

export class PostgresLeaseStore implements RecordStore {
  readonly description: string;
  readonly table: TableRef;
  readonly pool: PgPool;
  readonly server: string;
  readonly #options: PostgresLeaseStoreOptions;
  readonly #listener: NotifyListener;
  #requestTimeoutMs: number;
  #probeIntervalMs = DEFAULT_PROBE_INTERVAL_MS;
  #schema: Promise<void> | null = null;
  #warmed = false;
  #closed = false;
  readonly #sql: {
    readonly get: string;
    readonly create: string;
    readonly update: string;
    readonly warmUp: string;
  };

  constructor(options: PostgresLeaseStoreOptions) {
    this.#options = options;
    this.table = resolveTable(options.table, options.schema);
    this.pool = options.pool;
    this.server = options.server;
    this.description = `PostgreSQL table ${this.table.display}`;
    const timeout = options.requestTimeoutMs;
    if (
      timeout !== undefined &&
      (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)
    ) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `requestTimeoutMs must be a positive number of milliseconds, got ${String(timeout)}`,
      );
    }
    this.#requestTimeoutMs = timeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const t = this.table.qualified;
    this.#sql = {
      get: `SELECT ${RECORD_COLUMNS} FROM ${t} WHERE name = $1`,
      create:
        `INSERT INTO ${t} (name, holder_identity, lease_duration_ms, acquire_time, renew_time, lease_transitions, strategy, preferred_holder) ` +
        'VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING RETURNING version',
      update:
        `UPDATE ${t} SET holder_identity = $2, lease_duration_ms = $3, acquire_time = $4, renew_time = $5, ` +
        'lease_transitions = $6, strategy = $7, preferred_holder = $8, version = DEFAULT ' +
        'WHERE name = $1 AND version = $9 RETURNING version',
      warmUp: `UPDATE ${t} SET holder_identity = holder_identity WHERE name = $1`,
    };
    this.#listener = new NotifyListener({
      pool: this.pool,
      channel: this.table.channel,
      context: { target: `table ${this.table.display}`, server: this.server },
      read: (name, signal) => this.get(name, signal),
      timeoutMs: () => this.#requestTimeoutMs,
      probeIntervalMs: () => this.#probeIntervalMs,
    });
  }

  /** The current bound on each request, in milliseconds. */
  get requestTimeoutMs(): number {
    return this.#requestTimeoutMs;
  }

  configure = (timings: ElectionTimings): void => {
    if (this.#options.requestTimeoutMs === undefined) {
      this.#requestTimeoutMs = Math.max(1, Math.floor(timings.renewDeadlineMs / 2));
    }
    // A silently dead LISTEN connection only slows handoffs (followers still act at expiry):
    // one probe per lease duration finds it.
    this.#probeIntervalMs = Math.min(
      this.#probeIntervalMs,
      Math.max(1_000, timings.leaseDurationMs),
    );
  };

  async get(name: string, signal: AbortSignal): Promise<StoredRecord | null> {
    await this.#ensureSchema(signal);
    const warm = !this.#warmed;
    const row = await withConnection(
      this.pool,
      {
        signal,
        timeoutMs: this.#requestTimeoutMs,
        context: this.#context('read', 'SELECT on the table'),
      },
      async (client) => {
        const found = (await client.query(this.#sql.get, [name])).rows[0];
        if (warm && found !== undefined) {
          this.#warmed = true;
          await this.#warmUp(client, name);
        }
        return found;
      },
    );
    return row === undefined ? null : rowToRecord(row);
  }

  /**
   * The first UPDATE of the table in a server session costs the session's catalog lookups and
   * the compilation of the NOTIFY trigger's function: measured 1.2–1.7 ms instead of 0.35 ms on
   * an idle machine, several times that under load, and it falls on a follower's takeover, the
   * one write a handoff waits for. So once per store, on the connection the pool will hand out
   * next (it is last in, first out), an UPDATE that changes nothing is run and rolled back (its
   * notification is never sent). It waits for no lock (a fenced transaction may hold the row)
   * and its failure (a read-only role) is ignored.
   */
  async #warmUp(client: PgPoolClient, name: string): Promise<void> {
    try {
      await client.query('BEGIN');
      try {
        await client.query("SET LOCAL lock_timeout = '50ms'");
        await client.query(this.#sql.warmUp, [name]);
      } finally {
        await client.query('ROLLBACK');
      }
    } catch {
      // Best effort only.
    }
  }

  async create(name: string, record: LeaseRecord, signal: AbortSignal): Promise<StoredRecord> {
    await this.#ensureSchema(signal);
    const result = await this.#query(
      'create a lease row',
      'INSERT on the table and USAGE on its version sequence',
      signal,
      this.#sql.create,
      [name, ...recordParams(record)],
    );
    const row = result.rows[0];
    if (row === undefined) {
      throw new LeaderElectError(ErrorCode.Conflict, `${this.#where(name)} already exists`);
    }
    return { version: String(row.version), data: { ...record } };
  }

  async update(
    name: string,
    record: LeaseRecord,
    version: string,
    signal: AbortSignal,
  ): Promise<StoredRecord> {
    await this.#ensureSchema(signal);
    const result = await this.#query(
      'update a lease row',
      'UPDATE on the table and USAGE on its version sequence',
      signal,
      this.#sql.update,
      [name, ...recordParams(record), version],
    );
    const row = result.rows[0];
    if (row === undefined) {
      throw new LeaderElectError(
        ErrorCode.Conflict,
        `${this.#where(name)} changed (expected version ${version}) or was deleted`,
      );
    }
    return { version: String(row.version), data: { ...record } };
  }

  watch = (name: string, listener: (event: RecordWatchEvent) => void): WatchHandle => {
    if (this.#closed) {
      throw new LeaderElectError(ErrorCode.Stopped, `${this.description}: store is closed`);
    }
    return this.#listener.subscribe(name, listener);
  };

  /**
   * Runs `work` on a pooled connection, bounded by `signal` and the request timeout. Used by
   * fenced transactions; errors of `work` wrapped in `PassThrough` (pg-call.ts) are rethrown as they are.
   */
  connection<T>(
    operation: string,
    signal: AbortSignal,
    timeoutMs: number,
    work: (client: PgPoolClient, destroy: () => void) => Promise<T>,
    committing?: () => boolean,
  ): Promise<T> {
    return withConnection(
      this.pool,
      {
        signal,
        timeoutMs,
        context: this.#context(operation, 'SELECT on the table'),
        ...(committing === undefined ? {} : { committing }),
      },
      work,
    );
  }

  /** Stops the watch connection; ends the pool if the store created it. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    if (this.#options.ownsPool === true) {
      // pool.end() waits for every connection to be returned. After a server restart we saw a
      // connection left counted as checked out (no socket, no request of ours holding it) keep
      // it pending forever; closing must not hang on that, so it waits a bounded time.
      let timer: ReturnType<typeof setTimeout> | null = null;
      await Promise.race([
        this.pool.end().catch(() => undefined),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, POOL_END_TIMEOUT_MS);
        }),
      ]);
      if (timer !== null) clearTimeout(timer);
    }
  }

  /** Makes sure the table exists (creating it if allowed), once per store. */
  #ensureSchema(signal: AbortSignal): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new LeaderElectError(ErrorCode.Stopped, `${this.description}: store is closed`),
      );
    }
    if (this.#schema === null) {
      const attempt = this.#checkSchema(signal);
      this.#schema = attempt;
      // A failed check is tried again by the next call (the server may be back, or a DBA ran
      // the migration meanwhile).
      attempt.catch(() => {
        if (this.#schema === attempt) this.#schema = null;
      });
    }
    return this.#schema;
  }

  async #checkSchema(signal: AbortSignal): Promise<void> {
    const ref = this.table;
    const context = this.#context('look up the table', 'SELECT on the table');
    const found = await withConnection(
      this.pool,
      { signal, timeoutMs: this.#requestTimeoutMs, context },
      async (client) =>
        (
          await client.query(
            'SELECT to_regclass($1) IS NOT NULL AS present, ' +
              'EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2) AS notifies',
            [ref.qualified, `${ref.table}_notify`],
          )
        ).rows[0],
    );
    if (found?.present === true) {
      if (found.notifies !== true) {
        this.#options.onWarning?.(
          new LeaderElectError(
            ErrorCode.SchemaMissing,
            `${this.description} has no NOTIFY trigger "${ref.table}_notify": followers will not see releases until they poll; run schemaSql() / sql/leader-elect-postgres.sql to add it`,
          ),
        );
      }
      return;
    }
    if (this.#options.createTable === false) {
      throw new LeaderElectError(
        ErrorCode.SchemaMissing,
        `${this.description} does not exist on ${this.server}: create it with sql/leader-elect-postgres.sql (or schemaSql()), or allow createTable`,
        { details: { table: ref.display } },
      );
    }
    try {
      await withConnection(
        this.pool,
        {
          signal,
          timeoutMs: this.#requestTimeoutMs,
          context: this.#context('create the table', 'CREATE on the schema'),
        },
        async (client) => {
          await client.query('BEGIN');
          try {
            await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
            await client.query(schemaSql(ref));
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw error;
          }
        },
      );
    } catch (error) {
      if (hasErrorCode(error, ErrorCode.PermissionDenied)) {
        throw new LeaderElectError(
          ErrorCode.SchemaMissing,
          `${this.description} does not exist on ${this.server} and this role may not create it (${error.message}): ` +
            'create it with sql/leader-elect-postgres.sql (or schemaSql()) as its owner, then grant SELECT, INSERT, UPDATE on it and USAGE on its sequence',
          { cause: error, details: { table: ref.display } },
        );
      }
      throw error;
    }
  }

  async #query(
    operation: string,
    privileges: string,
    signal: AbortSignal,
    text: string,
    values: unknown[],
  ) {
    return withConnection(
      this.pool,
      { signal, timeoutMs: this.#requestTimeoutMs, context: this.#context(operation, privileges) },
      (client) => client.query(text, values),
    );
  }

  #context(operation: string, privileges: string): PgRequestContext {
    return {
      operation,
      target: `table ${this.table.display}`,
      server: this.server,
      privileges: `${privileges} (${this.table.display}): SELECT, INSERT, UPDATE on the table and USAGE on ${this.table.table}_version_seq`,
    };
  }

  #where(name: string): string {
    return `lease row ${JSON.stringify(name)} in ${this.table.display}`;
  }
}
