/**
 * Ending a held term on purpose, other than by `stop()`: handing it to a named successor
 * (`transfer`, also on an operator's request or a higher priority) and giving it back to the
 * election (`resign`). Both follow the order of `stop()`: abort the term's work and wait for it
 * (bounded by `stopGracePeriod`, renewing meanwhile, so that nobody starts while it winds down),
 * then end the term, then touch the lease. The elector stays a candidate afterwards.
 */
import { scopedSignal } from '../abort.js';
import type { LeaseBackend } from '../backend/lease-backend.js';
import type { Clock } from '../clock.js';
import { ErrorCode, LeaderElectError, toLeaderElectError } from '../errors.js';
import { isTermValid } from './decisions.js';
import { type ElectorState, type HeldTerm, heldTermOf } from './elector-state.js';
import type { LeaderInfo, StopReason } from './events.js';
import type { Timings } from './options.js';
import type { Term } from './term.js';

/** What the handover needs of its elector. */
export interface HandoverHost<Fence> {
  readonly identity: string;
  readonly name: string;
  readonly timings: Timings;
  readonly clock: Clock;
  readonly backend: LeaseBackend<Fence>;
  readonly honourTransferRequests: boolean;
  readonly state: ElectorState<Fence>;
  /**
   * Aborts the held term's work (`why` in the abort reason) and waits for it, up to
   * `stopGracePeriod` (past it, reports an error ending with `then`); the term is still renewed
   * meanwhile. Resolves whether the same term is still held and valid afterwards.
   */
  windDown(held: HeldTerm<Fence>, why: string, then: string): Promise<boolean>;
  endTerm(reason: StopReason): void;
  release(token: bigint): Promise<void>;
  observeLeader(leader: LeaderInfo): void;
  /** The backend reported the outcome of our transfer: campaign again, as any follower. */
  transferDone(): void;
  reportError(error: LeaderElectError): void;
}

export interface TransferResult {
  readonly successor: string;
  /** The successor's fencing token, when the backend learnt it. */
  readonly token: bigint | null;
}

export class TermHandover<Fence> {
  readonly #host: HandoverHost<Fence>;

  constructor(host: HandoverHost<Fence>) {
    this.#host = host;
  }

  /** See {@link LeaderElector.transfer}. */
  async transfer(identity: string, signal: AbortSignal | undefined): Promise<TransferResult> {
    const host = this.#host;
    const held = this.#transferable(identity);
    const backend = host.backend;
    if (backend.transfer === undefined) {
      throw new LeaderElectError(
        ErrorCode.TransferRefused,
        `${backend.description} cannot transfer leadership`,
      );
    }
    const { term } = held;
    const request = {
      token: term.token,
      successor: identity,
      identity: host.identity,
      clock: host.clock,
    };
    held.handingOver = true;
    try {
      await this.#prepare(request, identity);
    } catch (error) {
      held.handingOver = false;
      throw toLeaderElectError(
        error,
        ErrorCode.TransferRefused,
        `transfer to "${identity}" refused`,
      );
    }
    if (
      !(await host.windDown(
        held,
        `transferring to ${identity}`,
        `handing over to ${identity} anyway`,
      ))
    ) {
      if (heldTermOf(host.state) === held) host.endTerm('renew-deadline');
      throw new LeaderElectError(
        ErrorCode.NotLeader,
        `term ${term.token} of "${host.name}" ended before it could be handed over`,
      );
    }
    // No renewal and no campaign of ours from here on, until the backend reports the outcome.
    host.endTerm('transferred');
    try {
      const outcome = await backend.transfer({
        ...request,
        confirmWithinMs: host.timings.renewDeadline,
        signal: signal ?? new AbortController().signal,
      });
      host.observeLeader({ identity, token: outcome.successorToken });
      return { successor: identity, token: outcome.successorToken };
    } catch (error) {
      throw toLeaderElectError(error, ErrorCode.TransferFailed, `transfer to "${identity}" failed`);
    } finally {
      host.transferDone();
    }
  }

  /** See {@link LeaderElector.resign}. */
  async resign(term: Term<Fence> | undefined): Promise<boolean> {
    const host = this.#host;
    const state = host.state;
    if (state.kind !== 'leading' || state.held.handingOver) return false;
    const { held } = state;
    if (term !== undefined && held.term !== term) return false;
    // Marked like a transfer: no second resign or transfer of this term meanwhile.
    held.handingOver = true;
    const valid = await host.windDown(held, 'resigned', 'releasing anyway');
    if (heldTermOf(host.state) !== held) return false; // lost, stopped or expired meanwhile
    host.endTerm(valid ? 'resigned' : 'renew-deadline');
    // Released whatever releaseOnCancel says: resigning means someone else should lead now.
    if (valid) await host.release(held.term.token);
    return valid;
  }

  /** An operator asked us, the holder, to hand over (`leader-elect transfer`). */
  onRequest(to: string): void {
    const host = this.#host;
    const state = host.state;
    if (state.kind !== 'leading' || state.held.handingOver) return;
    if (!host.honourTransferRequests) return;
    this.transfer(to, undefined).catch((error: unknown) => {
      host.reportError(
        toLeaderElectError(
          error,
          ErrorCode.TransferFailed,
          `the transfer of "${host.name}" to "${to}" an operator asked for failed`,
        ),
      );
    });
  }

  /** The held term if it may be transferred to `identity` now; else the reason, thrown. */
  #transferable(identity: string): HeldTerm<Fence> {
    const host = this.#host;
    if (typeof identity !== 'string' || identity.trim() === '' || identity === host.identity) {
      throw new LeaderElectError(
        ErrorCode.InvalidIdentity,
        identity === host.identity
          ? `cannot transfer the term of "${host.name}" to ourselves (${identity})`
          : `transfer needs the successor's identity, got ${JSON.stringify(identity)}`,
      );
    }
    const state = host.state;
    if (state.kind === 'stopping' || state.kind === 'stopped') {
      throw new LeaderElectError(ErrorCode.Stopped, `elector "${host.name}" is stopping`);
    }
    if (state.kind === 'leading' && state.held.handingOver) {
      throw new LeaderElectError(
        ErrorCode.TransferInProgress,
        `a transfer or resignation of term ${state.held.term.token} of "${host.name}" is already running`,
      );
    }
    if (state.kind !== 'leading' || !state.held.term.isValid()) {
      throw new LeaderElectError(
        ErrorCode.NotLeader,
        `"${host.name}" is not leading: nothing to transfer`,
      );
    }
    return state.held;
  }

  /** The backend's checks before anything changes (e.g. the successor is a live candidate). */
  async #prepare(
    request: { token: bigint; successor: string; identity: string; clock: Clock },
    identity: string,
  ): Promise<void> {
    const host = this.#host;
    const { prepareTransfer } = host.backend;
    if (prepareTransfer === undefined) return;
    const scope = scopedSignal(undefined, {
      ms: host.timings.renewDeadline,
      clock: host.clock,
      reason: () =>
        new LeaderElectError(
          ErrorCode.BackendTimeout,
          `preparing the transfer to "${identity}" timed out`,
        ),
    });
    try {
      await prepareTransfer.call(host.backend, { ...request, signal: scope.signal });
    } finally {
      scope.dispose();
    }
  }
}

/** Whether `held` is still the held term of `state` and valid at `now`. */
export function stillHeld<Fence>(
  state: ElectorState<Fence>,
  held: HeldTerm<Fence>,
  now: number,
): boolean {
  return heldTermOf(state) === held && isTermValid(held.term.validUntil, now);
}
