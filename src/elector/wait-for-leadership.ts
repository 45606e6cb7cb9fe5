import { ErrorCode, LeaderElectError } from '../errors.js';
import type { LeaderElector } from './leader-elector.js';
import type { Term } from './term.js';

/**
 * The term as soon as `elector` leads (at once if it does). Rejects with `signal.reason` on
 * abort, or `LE_STOPPED` if the elector stops first. Leaves no listener behind.
 */
export function waitForLeadership<Fence>(
  elector: LeaderElector<Fence>,
  signal: AbortSignal | undefined,
): Promise<Term<Fence>> {
  const current = elector.currentTerm();
  if (current !== null) return Promise.resolve(current);
  if (signal?.aborted) return Promise.reject(signal.reason);
  const stopped = () =>
    new LeaderElectError(ErrorCode.Stopped, `elector "${elector.name}" stopped`);
  if (elector.phase === 'stopped' || elector.phase === 'stopping') {
    return Promise.reject(
      new LeaderElectError(ErrorCode.Stopped, `elector "${elector.name}" is stopped`),
    );
  }
  return new Promise<Term<Fence>>((resolve, reject) => {
    const cleanup = () => {
      elector.off('startedLeading', onStarted);
      elector.off('stopped', onStopped);
      signal?.removeEventListener('abort', onAbort);
    };
    const onStarted = (term: Term<Fence>) => {
      cleanup();
      resolve(term);
    };
    const onStopped = () => {
      cleanup();
      reject(stopped());
    };
    const onAbort = () => {
      cleanup();
      reject(signal?.reason);
    };
    elector.on('startedLeading', onStarted);
    elector.on('stopped', onStopped);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
