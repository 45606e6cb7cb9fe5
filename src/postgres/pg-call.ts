/**
 * One unit of work on a pooled connection, bounded by the caller's AbortSignal and our own
 * timeout. node-postgres cannot abort a query, so an abort destroys the connection instead
 * (the pool opens a new one next time); the server ends a statement it was still running when it
 * notices, or at its statement_timeout. Only this module checks connections out of the pool.
 */
import { ErrorCode, LeaderElectError } from '../errors.js';
import { type PgRequestContext, toPgError } from './pg-errors.js';
import type { PgPool, PgPoolClient } from './pg-types.js';

export interface PgCallOptions {
  readonly signal: AbortSignal;
  /** Our bound on the whole call; rejects with a transient LE_BACKEND_UNAVAILABLE. */
  readonly timeoutMs: number;
  readonly context: PgRequestContext;
  /**
   * Once this returns true (e.g. COMMIT was sent), an abort no longer destroys the connection:
   * the call waits for the server's answer, bounded by the timeout only.
   */
  readonly committing?: () => boolean;
}

export async function withConnection<T>(
  pool: PgPool,
  options: PgCallOptions,
  work: (client: PgPoolClient, destroy: () => void) => Promise<T>,
): Promise<T> {
  const { signal, timeoutMs, context } = options;
  if (signal.aborted) throw signal.reason;
  let client: PgPoolClient | null = null;
  let destroyed = false;
  let onAbort: (() => void) | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  // A connection error outside a query would be thrown as an 'error' event otherwise.
  const onClientError = () => {
    destroyed = true;
  };
  let fail: (reason: unknown, force?: boolean) => void = () => undefined;
  const stop = new Promise<never>((_, reject) => {
    fail = (reason: unknown, force = false) => {
      if (!force && options.committing?.() === true && client !== null) return;
      if (client !== null && !destroyed) {
        destroyed = true;
        client.release(true);
      }
      reject(reason);
    };
    onAbort = () => fail(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    // The timeout holds even after COMMIT was sent: then the outcome is unknown, and says so.
    timer = setTimeout(() => {
      const unknown = options.committing?.() === true;
      fail(
        new LeaderElectError(
          ErrorCode.BackendUnavailable,
          `PostgreSQL at ${context.server} did not answer within ${timeoutMs} ms (${context.operation}, ${context.target})` +
            (unknown ? ': COMMIT was sent, so the transaction may or may not have committed' : ''),
          {
            details: {
              reason: 'timeout',
              timeoutMs,
              operation: context.operation,
              outcomeUnknown: unknown,
            },
          },
        ),
        true,
      );
    }, timeoutMs);
  });
  stop.catch(() => undefined);
  const connecting = pool.connect();
  try {
    try {
      client = await Promise.race([connecting, stop]);
    } catch (error) {
      // A connection that arrives after we gave up goes back to the pool.
      connecting.then(
        (late) => late.release(),
        () => undefined,
      );
      throw error;
    }
    client.on('error', onClientError);
    const acquired = client;
    const destroy = () => {
      if (destroyed) return;
      destroyed = true;
      acquired.release(true);
    };
    const result = await Promise.race([work(client, destroy), stop]);
    return result;
  } catch (error) {
    const inner = error instanceof PassThrough ? error.error : error;
    if (client !== null && !destroyed && isConnectionFailure(inner)) {
      destroyed = true;
      client.release(true);
    }
    if (signal.aborted && options.committing?.() !== true) throw signal.reason;
    if (error instanceof PassThrough) throw error.error;
    throw toPgError(error, context);
  } finally {
    if (timer !== null) clearTimeout(timer);
    if (onAbort !== null) signal.removeEventListener('abort', onAbort);
    if (client !== null && !destroyed) {
      client.removeListener('error', onClientError);
      client.release();
    }
    // A destroyed connection keeps our listener: the server's last words (57P01 during a
    // shutdown, say) may still arrive as an 'error' event, which must not go unheard.
  }
}

/** Wraps an error of the caller's own work so that it is rethrown as it is, not mapped. */
export class PassThrough {
  constructor(readonly error: unknown) {}
}

/** Errors after which the connection must not be reused. */
function isConnectionFailure(error: unknown): boolean {
  if (error instanceof LeaderElectError) return error.transient;
  if (typeof error !== 'object' || error === null) return false;
  const { code, severity, message } = error as {
    code?: unknown;
    severity?: unknown;
    message?: unknown;
  };
  if (severity === undefined) {
    // Not a server answer: a socket failure, or an error of the caller's own code.
    return (
      (typeof code === 'string' && /^E[A-Z]+$/.test(code)) ||
      (typeof message === 'string' &&
        /Connection terminated|not queryable|Connection ended/i.test(message))
    );
  }
  return typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P'));
}
