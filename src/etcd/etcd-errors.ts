/**
 * Maps what etcd3 and gRPC throw to typed {@link LeaderElectError}s, once, at the edge. etcd3
 * turns gRPC failures into its own error classes but keeps only the message, so the decisions
 * below read class names and messages; every decision is made here and nowhere else.
 */
import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCUnauthenticatedError,
  isRecoverableError,
} from 'etcd3';
import { connectionCause } from '../connection-cause.js';
import { ErrorCode, isLeaderElectError, LeaderElectError } from '../errors.js';

export interface ErrorContext {
  /** What we were doing, e.g. `campaign in "jobs"`. */
  readonly operation: string;
  /** The key or prefix the request touched, named in permission errors. */
  readonly key?: string;
  readonly prefix?: boolean;
  /** The endpoints, named in connection errors. */
  readonly endpoints?: readonly string[];
}

const TLS_FAILURE =
  /certificate|ssl routines|ssl3_|tlsv1|handshake|self[- ]signed|unable to verify|CERT_|wrong version number|alert/i;
const UNAVAILABLE =
  /UNAVAILABLE|DEADLINE_EXCEEDED|no leader|leader changed|request timed out|timed out|too many requests|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|circuit breaker|Failed to connect|connection|stream.*(ended|removed)/i;

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** True when etcd says the lease we used does not exist (expired or revoked). */
export function isLeaseNotFound(error: unknown): boolean {
  return (
    error instanceof EtcdLeaseInvalidError || /requested lease not found/.test(messageOf(error))
  );
}

/** Anything thrown by an etcd call → a typed error (typed errors pass through unchanged). */
export function toEtcdError(error: unknown, context: ErrorContext): LeaderElectError {
  if (isLeaderElectError(error)) return error;
  const message = messageOf(error);
  const where = context.operation;
  if (error instanceof ClientClosedError || /client was already closed/.test(message)) {
    return new LeaderElectError(
      ErrorCode.BackendError,
      `${where}: the etcd client was closed (close the Etcd3 client only after the elector has stopped)`,
      { cause: error, transient: false },
    );
  }
  if (
    error instanceof EtcdAuthenticationFailedError ||
    error instanceof EtcdInvalidAuthTokenError ||
    error instanceof GRPCUnauthenticatedError ||
    /authentication failed|invalid auth token|user name is empty|auth: revision in header is old|UNAUTHENTICATED/.test(
      message,
    )
  ) {
    const hint = /user name is empty/.test(message)
      ? 'etcd has authentication enabled: pass auth: { username, password } (or a client certificate whose CN is the user)'
      : 'check the username and password';
    return new LeaderElectError(
      ErrorCode.AuthenticationFailed,
      `${where}: etcd rejected the credentials (${message}); ${hint}`,
      { cause: error, transient: false },
    );
  }
  if (
    error instanceof EtcdPermissionDeniedError ||
    /permission denied|PERMISSION_DENIED/.test(message)
  ) {
    const target =
      context.key === undefined
        ? 'the election keys'
        : `${context.prefix === true ? 'the prefix' : 'the key'} ${JSON.stringify(context.key)}`;
    return new LeaderElectError(
      ErrorCode.PermissionDenied,
      `${where}: etcd denied access to ${target}; grant the user's role readwrite on it (etcdctl role grant-permission <role> --prefix=true readwrite ${JSON.stringify(context.key ?? '<election>/')})`,
      {
        cause: error,
        transient: false,
        details: { ...(context.key === undefined ? {} : { key: context.key }) },
      },
    );
  }
  const cause = connectionCause(message);
  if (cause?.kind === 'tls-not-spoken' || cause?.kind === 'certificate') {
    return new LeaderElectError(ErrorCode.TlsError, `${where}: ${cause.text}`, {
      cause: error,
      transient: false,
      details: { cause: cause.kind },
    });
  }
  if (TLS_FAILURE.test(message)) {
    return new LeaderElectError(
      ErrorCode.TlsError,
      `${where}: TLS handshake with etcd failed (${firstLine(message)}); check the CA certificate and the client certificate and key`,
      { cause: error, transient: false },
    );
  }
  const endpoints =
    context.endpoints === undefined || context.endpoints.length === 0
      ? ''
      : ` at ${context.endpoints.join(', ')}`;
  if (
    UNAVAILABLE.test(message) ||
    (typeof error === 'object' && error !== null && isRecoverableError(error as Error))
  ) {
    return new LeaderElectError(
      ErrorCode.BackendUnavailable,
      cause === null
        ? `${where}: etcd${endpoints} is unavailable (${firstLine(message)})`
        : `${where}: etcd${endpoints} is unavailable: ${cause.text}`,
      {
        cause: error,
        transient: true,
        ...(cause === null ? {} : { details: { cause: cause.kind } }),
      },
    );
  }
  return new LeaderElectError(ErrorCode.BackendError, `${where}: etcd failed: ${message}`, {
    cause: error,
    transient: false,
  });
}

function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? message;
  return line.replace(/\.?\s*Resolution note:\s*$/, '').trim();
}
