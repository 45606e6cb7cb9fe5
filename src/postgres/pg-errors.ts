/**
 * node-postgres failures mapped to typed errors at the edge, by SQLSTATE (the server's answer)
 * or by the socket error code (no answer). Callers branch on our codes, never on messages.
 */
import { ErrorCode, isLeaderElectError, LeaderElectError } from '../errors.js';

/** What a request was doing, for messages that say what to fix. */
export interface PgRequestContext {
  /** e.g. `read`, `update`, `create the table`, `listen`, `fenced transaction`. */
  readonly operation: string;
  /** e.g. `table leader_elect_leases`. */
  readonly target: string;
  /** Where: `127.0.0.1:5432/app as role "svc"` (never the password). */
  readonly server: string;
  /** The privileges the operation needs, for LE_PERMISSION_DENIED messages. */
  readonly privileges?: string;
}

/** SQLSTATE classes and codes after which the same request may succeed. */
const TRANSIENT_STATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '53300', // too_many_connections
  '53000', // insufficient_resources
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, recovery)
  '57P05', // idle_session_timeout
  '25P03', // idle_in_transaction_session_timeout
]);

const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOENT', // a Unix socket that does not exist (server down)
]);

interface PgErrorShape {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly severity?: unknown;
}

function sqlState(error: unknown): string | null {
  if (typeof error !== 'object' || error === null) return null;
  const { code, severity } = error as PgErrorShape;
  // Server errors carry a severity and a five-character SQLSTATE; socket errors a Node code.
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && severity !== undefined) return code;
  return null;
}

function nodeCode(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '';
  const code = (error as PgErrorShape).code;
  return typeof code === 'string' ? code : '';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function toPgError(error: unknown, ctx: PgRequestContext): LeaderElectError {
  if (isLeaderElectError(error)) return error;
  const message = messageOf(error);
  const state = sqlState(error);
  const what = `cannot ${ctx.operation} (${ctx.target}) on PostgreSQL at ${ctx.server}`;
  const details = {
    operation: ctx.operation,
    server: ctx.server,
    sqlState: state,
    code: nodeCode(error),
  };
  if (state !== null) {
    if (state === '28P01' || state === '28000') {
      return new LeaderElectError(
        ErrorCode.AuthenticationFailed,
        `PostgreSQL at ${ctx.server} rejected our credentials (${state}): ${message}; check the user and password`,
        { cause: error, details },
      );
    }
    if (state === '42501') {
      return new LeaderElectError(
        ErrorCode.PermissionDenied,
        `${what}: ${message}${ctx.privileges === undefined ? '' : `; grant ${ctx.privileges}`}`,
        { cause: error, details },
      );
    }
    if (state === '42P01') {
      return new LeaderElectError(
        ErrorCode.SchemaMissing,
        `${what}: ${message}; create it with sql/leader-elect-postgres.sql (or schemaSql()) or let the electors' role create it`,
        { cause: error, details },
      );
    }
    if (state === '3D000') {
      return new LeaderElectError(
        ErrorCode.BackendError,
        `${what}: ${message}; check the database name`,
        {
          cause: error,
          details,
        },
      );
    }
    if (TRANSIENT_STATES.has(state) || state.startsWith('08')) {
      return new LeaderElectError(
        ErrorCode.BackendUnavailable,
        `${what} now (${state}): ${message}`,
        {
          cause: error,
          details,
        },
      );
    }
    return new LeaderElectError(ErrorCode.BackendError, `${what} (${state}): ${message}`, {
      cause: error,
      details,
    });
  }
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    // A deadline of ours (AbortSignal.timeout) ran out: no answer in time.
    return new LeaderElectError(
      ErrorCode.BackendUnavailable,
      `PostgreSQL at ${ctx.server} did not answer in time to ${ctx.operation} (${ctx.target}): ${message}`,
      { cause: error, details },
    );
  }
  const code = nodeCode(error);
  if (
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_') ||
    /self[- ]signed|certificate|SSL/i.test(message)
  ) {
    return new LeaderElectError(
      ErrorCode.TlsError,
      `TLS with PostgreSQL at ${ctx.server} failed: ${message}`,
      {
        cause: error,
        details,
      },
    );
  }
  if (
    SOCKET_CODES.has(code) ||
    /Connection terminated|timeout exceeded when trying to connect|Connection ended|not queryable|Client was closed/i.test(
      message,
    )
  ) {
    return new LeaderElectError(
      ErrorCode.BackendUnavailable,
      `cannot reach PostgreSQL at ${ctx.server} to ${ctx.operation}${code === '' ? '' : ` (${code})`}: ${message}`,
      { cause: error, details },
    );
  }
  return new LeaderElectError(ErrorCode.BackendError, `${what}: ${message}`, {
    cause: error,
    details,
  });
}
