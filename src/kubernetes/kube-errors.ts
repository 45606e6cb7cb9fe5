import { connectionCause } from '../connection-cause.js';
import { ErrorCode, isLeaderElectError, LeaderElectError } from '../errors.js';

/** The RBAC verbs we use on leases and leasecandidates (coordination.k8s.io). */
export type LeaseVerb = 'get' | 'create' | 'update' | 'list' | 'watch' | 'delete';

/** The resources of coordination.k8s.io we use: Leases, and LeaseCandidates (coordinated mode). */
export type CoordinationResource = 'leases' | 'leasecandidates';

/** What a request was doing, for error messages that say what to fix. */
export interface RequestContext {
  readonly verb: LeaseVerb;
  readonly namespace: string;
  /** The object's name; absent for list and watch (which select it by field). */
  readonly name?: string;
  readonly server: string;
  /** @default 'leases' */
  readonly resource?: CoordinationResource;
}

/** The apiserver's `Status` object (kind: Status), as far as we read it. */
export interface ApiStatus {
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: { readonly name?: string; readonly kind?: string; readonly group?: string };
}

export const LEASE_RESOURCE = 'leases.coordination.k8s.io';

export function asStatus(body: unknown): ApiStatus | null {
  if (typeof body !== 'object' || body === null) return null;
  const value = body as Record<string, unknown>;
  return value.kind === 'Status' ? (value as ApiStatus) : null;
}

function resourceOf(ctx: RequestContext): string {
  return `${ctx.resource ?? 'leases'}.coordination.k8s.io`;
}

function target(ctx: RequestContext): string {
  const resource = resourceOf(ctx);
  const object = ctx.name === undefined ? resource : `${resource} "${ctx.name}"`;
  return `${object} in namespace "${ctx.namespace}"`;
}

/**
 * Maps an HTTP answer other than success to a typed error. 409 (Conflict, AlreadyExists) is a
 * lost compare-and-swap; 403 names the verb and the resource to grant; 401 is a credentials
 * problem; 408, 429 and 5xx are transient (the apiserver or its etcd is overloaded or
 * restarting); anything else is a non-retryable backend error carrying the apiserver's message.
 */
export function statusError(status: number, body: unknown, ctx: RequestContext): LeaderElectError {
  const apiStatus = asStatus(body);
  const apiMessage = apiStatus?.message ?? `HTTP ${status}`;
  const reason = apiStatus?.reason ?? '';
  const details = {
    status,
    reason,
    verb: ctx.verb,
    resource: resourceOf(ctx),
    namespace: ctx.namespace,
    ...(ctx.name === undefined ? {} : { name: ctx.name }),
  };
  switch (status) {
    case 409:
      return new LeaderElectError(
        ErrorCode.Conflict,
        `cannot ${ctx.verb} ${target(ctx)}: ${apiMessage}`,
        { details },
      );
    case 403:
      return new LeaderElectError(
        ErrorCode.PermissionDenied,
        `cannot ${ctx.verb} ${target(ctx)}: permission denied by the apiserver at ${ctx.server} ` +
          `(grant the "${ctx.verb}" verb on "${ctx.resource ?? 'leases'}" in API group "coordination.k8s.io"): ${apiMessage}`,
        { details },
      );
    case 401:
      return new LeaderElectError(
        ErrorCode.AuthenticationFailed,
        `the apiserver at ${ctx.server} rejected our credentials (401 Unauthorized) when trying to ` +
          `${ctx.verb} ${target(ctx)}: check the KubeConfig's user (token, certificate, plugin)`,
        { details },
      );
    default:
      break;
  }
  if (status === 408 || status === 429 || status >= 500) {
    return new LeaderElectError(
      ErrorCode.BackendUnavailable,
      `the apiserver at ${ctx.server} could not ${ctx.verb} ${target(ctx)} now (${status}${reason === '' ? '' : ` ${reason}`}): ${apiMessage}`,
      { details },
    );
  }
  if (status === 404) {
    return new LeaderElectError(
      ErrorCode.BackendError,
      `cannot ${ctx.verb} ${target(ctx)}: ${apiMessage}` +
        (apiStatus?.details?.kind === 'namespaces'
          ? ` (the namespace "${ctx.namespace}" does not exist: create it first)`
          : ` (does this apiserver serve coordination.k8s.io/${ctx.resource === 'leasecandidates' ? 'v1beta1' : 'v1'}?)`),
      { details },
    );
  }
  return new LeaderElectError(
    ErrorCode.BackendError,
    `the apiserver at ${ctx.server} refused to ${ctx.verb} ${target(ctx)} (${status}${reason === '' ? '' : ` ${reason}`}): ${apiMessage}`,
    { details },
  );
}

/** OpenSSL verification failures and Node's TLS error codes. */
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
]);

function isTlsFailure(code: string): boolean {
  return TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
}

/**
 * Maps a failure to reach the apiserver (no HTTP answer) to a typed error: TLS failures are not
 * retryable (`LE_TLS_ERROR`: the CA or certificates need fixing); everything at the socket level
 * (refused, reset, unreachable, DNS) is a transient `LE_BACKEND_UNAVAILABLE`.
 */
export function networkError(error: unknown, ctx: RequestContext): LeaderElectError {
  if (isLeaderElectError(error)) return error;
  const code =
    typeof error === 'object' && error !== null && 'code' in error
      ? String((error as { code: unknown }).code)
      : '';
  const message = error instanceof Error ? error.message : String(error);
  const details = { verb: ctx.verb, namespace: ctx.namespace, code, server: ctx.server };
  if (isTlsFailure(code)) {
    return new LeaderElectError(
      ErrorCode.TlsError,
      `TLS with the apiserver at ${ctx.server} failed (${code}) when trying to ${ctx.verb} ${target(ctx)}: ` +
        `${message}; check the KubeConfig's certificate-authority and client certificate`,
      { cause: error, details },
    );
  }
  const cause = connectionCause(`${code} ${message}`);
  if (cause?.kind === 'tls-not-spoken' || cause?.kind === 'certificate') {
    return new LeaderElectError(
      ErrorCode.TlsError,
      `TLS with the apiserver at ${ctx.server} failed when trying to ${ctx.verb} ${target(ctx)}: ${cause.text}`,
      { cause: error, details: { ...details, cause: cause.kind } },
    );
  }
  return new LeaderElectError(
    ErrorCode.BackendUnavailable,
    `cannot reach the apiserver at ${ctx.server} to ${ctx.verb} ${target(ctx)}` +
      (cause === null
        ? `${code === '' ? '' : ` (${code})`}: ${message}`
        : `: ${cause.text} [${message}]`),
    { cause: error, details: cause === null ? details : { ...details, cause: cause.kind } },
  );
}
