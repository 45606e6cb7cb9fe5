import { ExponentialBackoff, handleWhen, type IPolicy, retry } from 'cockatiel';
import { isTransientError } from '../errors.js';

/**
 * The default policy around every backend call: retry errors marked transient (unreachable,
 * timed out) twice with a short exponential backoff. Each call is already bounded by the
 * elector's deadline signal, so retries never extend a term; they only use the time it has left.
 * Replace it with any cockatiel policy through the `policy` option (a circuit breaker, a bulkhead,
 * or `noop` to disable retries).
 */
export function defaultBackendPolicy(): IPolicy {
  return retry(handleWhen(isTransientError), {
    maxAttempts: 2,
    backoff: new ExponentialBackoff({ initialDelay: 20, maxDelay: 200 }),
  });
}

let shared: IPolicy | null = null;

/**
 * One default policy for every elector that does not bring its own: a retry policy keeps no
 * state between executions, and a process with thousands of elections need not hold thousands.
 */
export function sharedDefaultPolicy(): IPolicy {
  shared ??= defaultBackendPolicy();
  return shared;
}
