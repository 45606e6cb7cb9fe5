/**
 * Every error this library raises is a {@link LeaderElectError} with a stable `code`.
 * Callers branch on `code` (or the `is*` guards), never on messages.
 */

const BRAND: unique symbol = Symbol.for('leader-elect.error');

/** Stable error codes. New codes may be added; existing codes never change meaning. */
export const ErrorCode = {
  /** A timing option breaks a rule (`leaseDuration > renewDeadline > 1.2 × retryPeriod`, positive values). */
  InvalidTiming: 'LE_INVALID_TIMING',
  /** An option has the wrong type or shape (not a timing rule). */
  InvalidOption: 'LE_INVALID_OPTION',
  /** The identity is empty or not a string. */
  InvalidIdentity: 'LE_INVALID_IDENTITY',
  /** An election or lease name is not valid for the backend. */
  InvalidName: 'LE_INVALID_NAME',
  /** No backend was given. */
  MissingBackend: 'LE_MISSING_BACKEND',
  /** `run()` was called on an elector that is already running. */
  AlreadyRunning: 'LE_ALREADY_RUNNING',
  /** The elector was stopped; it cannot be used again. Create a new one. */
  Stopped: 'LE_STOPPED',
  /** A lease record exists but cannot be read as a lease: never treated as free. */
  CorruptRecord: 'LE_CORRUPT_RECORD',
  /** A compare-and-swap lost against a concurrent writer. */
  Conflict: 'LE_CONFLICT',
  /** The backend could not be reached or answered with a retryable failure. */
  BackendUnavailable: 'LE_BACKEND_UNAVAILABLE',
  /** A backend call did not finish within its deadline. */
  BackendTimeout: 'LE_BACKEND_TIMEOUT',
  /** The backend failed in a way that is not retryable and not otherwise classified. */
  BackendError: 'LE_BACKEND_ERROR',
  /** The backend refused our credentials (wrong user or password, bad token). */
  AuthenticationFailed: 'LE_AUTH_FAILED',
  /** The credentials are valid but lack a permission (RBAC verb, etcd role). */
  PermissionDenied: 'LE_PERMISSION_DENIED',
  /** The TLS handshake failed (wrong CA, missing or rejected client certificate). */
  TlsError: 'LE_TLS_ERROR',
  /** The backend's schema (PostgreSQL: the lease table) is missing and could not be created. */
  SchemaMissing: 'LE_SCHEMA_MISSING',
  /** A user callback (`onStartedLeading`, `onStoppedLeading`, `onNewLeader`) threw or rejected. */
  CallbackFailed: 'LE_CALLBACK_FAILED',
  /** An operation was aborted through its AbortSignal. */
  Aborted: 'LE_ABORTED',
  /** The term ended (lost, expired or stopped) before the operation could complete. */
  NotLeader: 'LE_NOT_LEADER',
  /**
   * A transfer was refused before anything changed (unknown successor, a foreign candidate in the
   * way, a backend that cannot transfer): the term goes on.
   */
  TransferRefused: 'LE_TRANSFER_REFUSED',
  /** The successor did not confirm a transfer in time: our term is over and the lease is free. */
  TransferFailed: 'LE_TRANSFER_FAILED',
  /** Another transfer of this term is still running. */
  TransferInProgress: 'LE_TRANSFER_IN_PROGRESS',
  /**
   * The backend does not offer what the options ask for (e.g. the apiserver does not serve the
   * API group coordinated leader election needs). Not retryable until the server changes.
   */
  Unsupported: 'LE_UNSUPPORTED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface LeaderElectErrorOptions {
  readonly cause?: unknown;
  /** Whether retrying the same call may succeed. Defaults to the code's nature. */
  readonly transient?: boolean;
  /** Structured details (the values that broke a rule, the verb that was denied...). */
  readonly details?: Readonly<Record<string, unknown>>;
}

const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  ErrorCode.BackendUnavailable,
  ErrorCode.BackendTimeout,
]);

export class LeaderElectError extends Error {
  readonly code: ErrorCode;
  readonly transient: boolean;
  readonly details: Readonly<Record<string, unknown>>;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options: LeaderElectErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LeaderElectError';
    this.code = code;
    this.transient = options.transient ?? TRANSIENT_CODES.has(code);
    this.details = options.details ?? {};
  }
}

/** True for errors raised by any copy of this library (survives two installed versions). */
export function isLeaderElectError(value: unknown): value is LeaderElectError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[BRAND] === true
  );
}

/** True when `value` is a {@link LeaderElectError} with the given code. */
export function hasErrorCode(value: unknown, code: ErrorCode): value is LeaderElectError {
  return isLeaderElectError(value) && value.code === code;
}

/** The predicate the default retry policy uses: only errors marked transient are retried. */
export function isTransientError(value: unknown): boolean {
  return isLeaderElectError(value) && value.transient;
}

/** Wraps anything thrown by a backend or callback into a typed error, keeping typed ones as they are. */
export function toLeaderElectError(
  value: unknown,
  code: ErrorCode,
  message: string,
): LeaderElectError {
  if (isLeaderElectError(value)) return value;
  const reason = value instanceof Error ? value.message : String(value);
  return new LeaderElectError(code, `${message}: ${reason}`, { cause: value });
}
