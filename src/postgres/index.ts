// leader-elect/postgres — the public API, listed by name. node-postgres (`pg` 8.x) is an
// optional peer dependency: it is loaded only by this subpath.
import pg from 'pg';
import { ErrorCode, LeaderElectError } from '../errors.js';
import type { PostgresFence } from './fence.js';
import { DEFAULT_TABLE, resolveTable, validateElectionName } from './identifiers.js';
import type { PgPool } from './pg-types.js';
import { PostgresLeaseBackend } from './postgres-backend.js';
import { PostgresLeaseStore } from './postgres-store.js';

export type { PostgresFence, PostgresFenceOptions } from './fence.js';
export { DEFAULT_TABLE, resolveTable, type TableRef, validateElectionName } from './identifiers.js';
export type { PgNotification, PgPool, PgPoolClient, PgQueryResult } from './pg-types.js';
export { PostgresLeaseBackend } from './postgres-backend.js';
export {
  DEFAULT_REQUEST_TIMEOUT_MS,
  PostgresLeaseStore,
  type PostgresLeaseStoreOptions,
} from './postgres-store.js';
export { schemaSql } from './schema.js';

export interface PostgresBackendOptions {
  /**
   * A `pg.Pool` of your own. Backends on one pool (and table) share a store: one LISTEN
   * connection for all their elections. The pool is never ended by us; give it an `error`
   * listener (node-postgres requires one for idle connections a server restart breaks).
   */
  readonly pool?: PgPool;
  /**
   * Or a connection string (`postgres://user@host:5432/db`): the backend creates a small pool
   * of its own (at most `maxConnections`) and ends it on `close()`. Prefer `PGPASSWORD` or a
   * `.pgpass` file over a password in the string.
   */
  readonly connectionString?: string;
  /**
   * The password when created from `connectionString` without one in it (a string, or a
   * function for rotating credentials, as node-postgres takes it). @default `$PGPASSWORD`
   */
  readonly password?: string | (() => string | Promise<string>);
  /** Pool size when created from `connectionString`: the LISTEN connection plus requests. @default 3 */
  readonly maxConnections?: number;
  /** The election: the lease row's name (any text of 1–256 characters, sent as a parameter). */
  readonly name: string;
  /** The lease table (a plain lowercase SQL identifier). @default 'leader_elect_leases' */
  readonly table?: string;
  /** Its schema. @default the connection's search_path */
  readonly schema?: string;
  /**
   * Create the table on first use if it is missing (needs CREATE on the schema); with `false`
   * a missing table is `LE_SCHEMA_MISSING`. @default true
   */
  readonly createTable?: boolean;
  /** Bound on each request. @default renewDeadline / 2 */
  readonly requestTimeoutMs?: number;
  /** Non-fatal findings (a table without the NOTIFY trigger). @default process warnings */
  readonly onWarning?: (warning: LeaderElectError) => void;
  /** Called when a renewal falls back from the cached row to read + update. */
  readonly onSlowPath?: () => void;
}

/** A `LeaseBackend` for one PostgreSQL election; its terms carry a {@link PostgresFence}. */
export type PostgresBackend = PostgresLeaseBackend;

interface Shared {
  readonly store: PostgresLeaseStore;
  refs: number;
}
const sharedStores = new WeakMap<PgPool, Map<string, Shared>>();

function emitProcessWarning(warning: LeaderElectError): void {
  process.emitWarning(warning.message, { code: warning.code });
}

/**
 * A lease backend for one election in a PostgreSQL table: client-go's algorithm (observed-time
 * expiry on the local clock, `lease_transitions` as the fencing token) over one row per
 * election, compare-and-swap on its `version` column, LISTEN/NOTIFY so that followers see a
 * release at once, and `term.fence.transaction(...)` for writes that commit only while the term
 * holds the lease. Lease durations are milliseconds (no rounding).
 *
 * @example
 * import pg from 'pg';
 * import { LeaderElector } from 'leader-elect';
 * import { postgresBackend } from 'leader-elect/postgres';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * pool.on('error', () => {}); // idle connections broken by a server restart
 * const elector = new LeaderElector({
 *   backend: postgresBackend({ pool, name: 'billing-cron' }),
 *   onStartedLeading: async (term) => {
 *     await term.fence.transaction((client) => client.query('UPDATE invoices SET ...'));
 *   },
 * });
 * void elector.run();
 */
export function postgresBackend(options: PostgresBackendOptions): PostgresBackend {
  if (typeof options !== 'object' || options === null) {
    throw new LeaderElectError(ErrorCode.InvalidOption, 'postgresBackend needs an options object');
  }
  const name = validateElectionName(options.name);
  const table = resolveTable(options.table ?? DEFAULT_TABLE, options.schema);
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
    throw new LeaderElectError(ErrorCode.InvalidOption, 'onWarning must be a function');
  }
  const onWarning = options.onWarning ?? emitProcessWarning;
  const storeOptions = {
    table: table.table,
    ...(table.schema === null ? {} : { schema: table.schema }),
    ...(options.createTable === undefined ? {} : { createTable: options.createTable }),
    ...(options.requestTimeoutMs === undefined
      ? {}
      : { requestTimeoutMs: options.requestTimeoutMs }),
    onWarning,
  };
  const slow = options.onSlowPath === undefined ? {} : { onSlowPath: options.onSlowPath };

  if (options.pool !== undefined) {
    const pool = options.pool as unknown;
    if (
      typeof pool !== 'object' ||
      pool === null ||
      typeof (pool as { connect?: unknown }).connect !== 'function' ||
      typeof (pool as { query?: unknown }).query !== 'function'
    ) {
      throw new LeaderElectError(ErrorCode.InvalidOption, 'pool must be a pg.Pool (node-postgres)');
    }
    if (options.connectionString !== undefined) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        'pass either pool or connectionString, not both: configure the connection on the pool you pass',
      );
    }
    let byTable = sharedStores.get(options.pool);
    if (byTable === undefined) {
      byTable = new Map();
      sharedStores.set(options.pool, byTable);
    }
    const key = JSON.stringify([
      table.display,
      options.createTable ?? true,
      options.requestTimeoutMs ?? null,
    ]);
    let shared = byTable.get(key);
    if (shared === undefined) {
      shared = {
        store: new PostgresLeaseStore({
          pool: options.pool,
          server: describePool(options.pool),
          ...storeOptions,
        }),
        refs: 0,
      };
      byTable.set(key, shared);
    }
    shared.refs++;
    const entry = shared;
    const tables = byTable;
    return new PostgresLeaseBackend(entry.store, name, {
      ...slow,
      onClose: async () => {
        entry.refs--;
        if (entry.refs > 0) return;
        if (tables.get(key) === entry) tables.delete(key);
        await entry.store.close();
      },
    });
  }

  const connectionString = options.connectionString;
  if (connectionString === undefined) {
    throw new LeaderElectError(
      ErrorCode.InvalidOption,
      'postgresBackend needs a pool (a pg.Pool) or a connectionString',
    );
  }
  if (typeof connectionString !== 'string' || connectionString.trim() === '') {
    throw new LeaderElectError(
      ErrorCode.InvalidOption,
      'connectionString must be a non-empty string',
    );
  }
  const max = options.maxConnections ?? 3;
  if (!Number.isInteger(max) || max < 2) {
    throw new LeaderElectError(
      ErrorCode.InvalidOption,
      `maxConnections must be an integer ≥ 2 (one LISTEN connection and at least one for requests), got ${String(max)}`,
    );
  }
  if (
    options.password !== undefined &&
    typeof options.password !== 'string' &&
    typeof options.password !== 'function'
  ) {
    throw new LeaderElectError(ErrorCode.InvalidOption, 'password must be a string or a function');
  }
  const pool = new pg.Pool({
    connectionString,
    ...(options.password === undefined ? {} : { password: options.password }),
    max,
    keepAlive: true,
    // Idle connections stay open: a follower's only request may be its takeover, which must not
    // wait for a TCP and SCRAM handshake (and a cold server session) on a fresh connection.
    idleTimeoutMillis: 0,
    // Requests are bounded by their own deadlines; this bounds the connection attempt itself
    // (a SYN to an unreachable host would otherwise wait for the kernel's retries).
    connectionTimeoutMillis: 10_000,
    application_name: 'leader-elect',
  });
  // Idle connections broken by a server restart or a terminated backend: the pool drops them
  // and the next request opens a new one; the failure itself reaches us through that request.
  pool.on('error', () => undefined);
  const store = new PostgresLeaseStore({
    pool: pool as unknown as PgPool,
    ownsPool: true,
    server: describeConnectionString(connectionString),
    ...storeOptions,
  });
  return new PostgresLeaseBackend(store, name, { ...slow, onClose: () => store.close() });
}

/** `host:port/database as user`, never the password. */
export function describeConnectionString(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || '(default database)';
    const user = url.username === '' ? '' : ` as ${decodeURIComponent(url.username)}`;
    const host = url.hostname === '' ? (url.searchParams.get('host') ?? 'localhost') : url.host;
    return `${host}/${database}${user}`;
  } catch {
    return 'the configured server';
  }
}

function describePool(pool: PgPool): string {
  const options = (pool as { options?: Record<string, unknown> }).options;
  if (options === undefined) return 'the pool’s server';
  if (typeof options.connectionString === 'string')
    return describeConnectionString(options.connectionString);
  const host = typeof options.host === 'string' ? options.host : 'localhost';
  const port = options.port === undefined ? '' : `:${String(options.port)}`;
  const database = typeof options.database === 'string' ? options.database : '(default database)';
  const user = typeof options.user === 'string' ? ` as ${options.user}` : '';
  return `${host}${port}/${database}${user}`;
}
