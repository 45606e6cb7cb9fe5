import type { LeaderElectError } from '../errors.js';
import type { Term } from './term.js';

/** Who leads, as this elector observes it. `identity: null` means nobody holds the lease. */
export interface LeaderInfo {
  readonly identity: string | null;
  readonly token: bigint | null;
}

/**
 * Why a term ended.
 * - `stopped`: `stop()` was called (or `run`'s signal aborted).
 * - `lost`: the backend showed another holder (or our key/record is gone).
 * - `renew-deadline`: no renewal succeeded before the term's deadline (includes process pauses).
 * - `work-failed`: `onStartedLeading` threw or rejected; we stepped down so another candidate can lead.
 * - `transferred`: `transfer()` handed the lease to a named successor.
 * - `resigned`: `resign()` gave the term back to the election (the lease was released).
 */
export type StopReason =
  | 'stopped'
  | 'lost'
  | 'renew-deadline'
  | 'work-failed'
  | 'transferred'
  | 'resigned';

export type ElectorPhase = 'idle' | 'follower' | 'leader' | 'stopping' | 'stopped';

/**
 * Whether the elector can reach its backend: `ready` while its last request to the backend got
 * an answer (held or not), false before the first answer, after a failed request (until the next
 * answer) and once stopped. For a readiness probe (`/readyz`): a follower that cannot reach the
 * backend is healthy by client-go's rule, but it is not ready to take over.
 */
export interface Readiness {
  readonly ready: boolean;
  /** Why not ready (or `'the backend answers'`). */
  readonly reason: string;
  /** The code of the error that made it not ready, when there was one. */
  readonly code: string | null;
}

export interface HealthStatus {
  readonly ok: boolean;
  readonly message: string;
}

/** Typed events (eventemitter3). They mirror the callbacks and are emitted after them. */
export interface ElectorEvents<Fence = undefined> {
  startedLeading: [term: Term<Fence>];
  stoppedLeading: [term: Term<Fence>, reason: StopReason];
  newLeader: [leader: LeaderInfo];
  /** Backend failures, corrupt records, callback errors. Never leaves a half-leader. */
  error: [error: LeaderElectError];
  /** Every phase change (`follower` → `leader` → `stopping` → `stopped` ...). */
  phase: [phase: ElectorPhase];
  /** A renewal succeeded; `latencyMs` is the call's duration. */
  renewed: [term: Term<Fence>, latencyMs: number];
  /** The elector stopped for good (after `stop()` or a one-shot term). */
  stopped: [];
  /** Readiness changed (see {@link Readiness}). */
  readiness: [readiness: Readiness];
}
