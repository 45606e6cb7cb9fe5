/**
 * How every request reaches etcd: through the etcd3 client's own gRPC services (so its hosts,
 * credentials, auth token and fault handling apply), with two gRPC interceptors of ours:
 *
 * - `hasleader: true` metadata (etcd's `WithRequireLeader`): a member that has lost its raft
 *   leader fails the call or stream at once ("etcdserver: no leader") instead of letting it hang,
 *   so a partitioned member cannot keep a watch or a keepalive silently stuck.
 * - cancellation from an AbortSignal: the HTTP/2 stream is reset when the signal aborts. The call
 *   is cancelled with FAILED_PRECONDITION, a status etcd3 does not retry and does not count
 *   against the host's circuit breaker (CANCELLED would be retried and would trip it).
 */
import type { KVClient } from 'etcd3';

export type CallOptions = NonNullable<Parameters<KVClient['range']>[1]>;
type Interceptor = NonNullable<CallOptions['interceptors']>[number];

const FAILED_PRECONDITION = 9;

/** Adds `hasleader: true` to the call's metadata (a copy: etcd3 caches its auth metadata). */
const requireLeader: Interceptor = (options, nextCall) => {
  const call = nextCall(options);
  const start = call.start.bind(call);
  call.start = (metadata, listener) => {
    const withLeader = metadata.clone();
    withLeader.set('hasleader', 'true');
    start(withLeader, listener);
  };
  return call;
};

function cancelOn(signal: AbortSignal): Interceptor {
  return (options, nextCall) => {
    const call = nextCall(options);
    const start = call.start.bind(call);
    call.start = (metadata, listener) => {
      start(metadata, listener);
      const cancel = () => call.cancelWithStatus(FAILED_PRECONDITION, 'leader-elect: call aborted');
      if (signal.aborted) cancel();
      else signal.addEventListener('abort', cancel, { once: true });
    };
    return call;
  };
}

/** Options for a stream (watch, keepalive): leader required, no deadline. */
export function streamOptions(): CallOptions {
  return { interceptors: [requireLeader] };
}

/**
 * Runs one unary call: rejects with `signal.reason` as soon as the signal aborts (and resets the
 * call), and gives the call a gRPC deadline of `timeoutMs` as a backstop.
 */
export function unary<T>(
  call: (options: CallOptions) => Promise<T>,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  const pending = call({
    deadline: Date.now() + timeoutMs,
    interceptors: [requireLeader, cancelOn(signal)],
  });
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(signal.aborted ? signal.reason : error);
      },
    );
  });
}

/** Waits for `promise` or the signal's abort (rejecting with `signal.reason`), whichever first. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Resolves after `ms` unless the signal aborts first (then it just resolves early). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
