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
import { onAbort } from '../abort.js';

export type CallOptions = NonNullable<Parameters<KVClient['range']>[1]>;
type Interceptor = NonNullable<CallOptions['interceptors']>[number];
/** What an interceptor returns; `nextCall` hands out the interface, the type wants the class. */
type InterceptingCall = ReturnType<Interceptor>;

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
  return call as InterceptingCall;
};

/** Hands the started call to `onStart`, so that its owner can cancel it. */
function capture(onStart: (call: InterceptingCall) => void): Interceptor {
  return (options, nextCall) => {
    const call = nextCall(options) as InterceptingCall;
    const start = call.start.bind(call);
    call.start = (metadata, listener) => {
      start(metadata, listener);
      onStart(call);
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
  let started: InterceptingCall | null = null;
  let aborted = false;
  const cancel = (target: InterceptingCall) =>
    target.cancelWithStatus(FAILED_PRECONDITION, 'leader-elect: call aborted');
  const pending = call({
    deadline: Date.now() + timeoutMs,
    interceptors: [
      requireLeader,
      capture((target) => {
        started = target;
        // Aborted before etcd3 started the call (it first fetches its auth token).
        if (aborted) cancel(target);
      }),
    ],
  });
  return new Promise<T>((resolve, reject) => {
    const detach = onAbort(signal, () => {
      aborted = true;
      if (started !== null) cancel(started);
      reject(signal.reason);
    });
    pending.then(
      (value) => {
        detach();
        resolve(value);
      },
      (error: unknown) => {
        detach();
        reject(signal.aborted ? signal.reason : error);
      },
    );
  });
}
