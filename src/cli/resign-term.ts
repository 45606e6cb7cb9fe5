/**
 * How the command supervisor hands a term back after `--restart` (the command exited by itself
 * and the lease should go back to the election).
 *
 * The supervisor decides that the term should end and returns whatever a {@link ResignTerm}
 * returns as `onStartedLeading`'s result; it throws nothing itself. The elector's public API has
 * one way today for a work to end its term early: rejecting `onStartedLeading`'s promise, which
 * it treats as a failed work (`work-failed`: release, campaign again after a retry period, and
 * an `error` event). {@link resignByRejecting} is that fallback, kept in this one place: it
 * rejects with a {@link RestartRequest}, which run.ts recognises to keep it out of the `error`
 * events and to report the term's end as `restart`.
 *
 * Once the elector can resign a term by itself (e.g. `LeaderElector#resign()`: end the term
 * now, release, campaign again after a retry period), run.ts passes a ResignTerm that calls it
 * and resolves, and RestartRequest goes away.
 */
import type { Term } from '../index.js';

/** Ends `term` early; what it returns is what `onStartedLeading` returns. */
export type ResignTerm = (term: Term<unknown>) => Promise<void>;

/** The marker of a term handed back under `--restart` (see {@link resignByRejecting}). */
export class RestartRequest extends Error {
  override readonly name = 'RestartRequest';
}

/** The fallback: reject, so that the elector steps down as after a failed work. */
export const resignByRejecting: ResignTerm = (term) =>
  Promise.reject(
    new RestartRequest(`the command of term ${term.token} exited; campaigning again (--restart)`),
  );
