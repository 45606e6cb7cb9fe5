/**
 * Cancellation, one model everywhere: every asynchronous call takes an `AbortSignal` and rejects
 * with `signal.reason` when it aborts. These helpers are the only place that wires signals
 * together; the elector, the etcd backend and the Kubernetes transport use them.
 */
import { type Clock, systemClock } from './clock.js';

/** A signal of one call, linked to an outer one and bounded by an optional deadline. */
export interface ScopedSignal {
  readonly signal: AbortSignal;
  /** Aborts the call with `reason` (no-op once aborted). */
  abort(reason: unknown): void;
  /** Detaches from the outer signal and clears the deadline. Call it when the call settles. */
  dispose(): void;
}

export interface Deadline {
  /** Milliseconds on `clock` after which the call is aborted. */
  readonly ms: number;
  /** The abort reason at the deadline (typically a typed timeout error). */
  readonly reason: () => unknown;
  /** @default the process clock */
  readonly clock?: Clock;
}

/**
 * A signal that aborts with `outer`'s reason when `outer` aborts, with `deadline.reason()` once
 * `deadline.ms` have passed, or when {@link ScopedSignal.abort} is called.
 *
 * Why not `AbortSignal.any([outer, AbortSignal.timeout(ms)])`: a long-lived outer signal (an
 * elector's, a backend's) would collect a weak reference per call, and `AbortSignal.timeout`
 * runs on wall-clock timers we cannot inject. `dispose()` leaves nothing behind.
 */
export function scopedSignal(outer?: AbortSignal, deadline?: Deadline): ScopedSignal {
  const controller = new AbortController();
  if (outer?.aborted === true) {
    controller.abort(outer.reason);
    return { signal: controller.signal, abort: noop, dispose: noop };
  }
  const clock = deadline?.clock ?? systemClock;
  const timer =
    deadline === undefined ? null : clock.setTimer(() => abort(deadline.reason()), deadline.ms);
  const forward = outer === undefined ? null : () => abort(outer.reason);
  if (outer !== undefined && forward !== null) {
    outer.addEventListener('abort', forward, { once: true });
  }
  let disposed = false;
  function dispose(): void {
    if (disposed) return;
    disposed = true;
    if (timer !== null) clock.clearTimer(timer);
    if (outer !== undefined && forward !== null) outer.removeEventListener('abort', forward);
  }
  function abort(reason: unknown): void {
    if (!controller.signal.aborted) controller.abort(reason);
    dispose();
  }
  return { signal: controller.signal, abort, dispose };
}

/** Settles like `promise`, or rejects with `signal.reason` as soon as `signal` aborts. */
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

/**
 * Calls `listener` once when `signal` aborts (at once if it already has). Returns the function
 * that removes the listener.
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  if (signal.aborted) {
    listener();
    return noop;
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/** Resolves (never rejects) when `signal` aborts. */
export function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    onAbort(signal, resolve);
  });
}

function noop(): void {}
