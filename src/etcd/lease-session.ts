/**
 * The session lease: one etcd lease per client (and TTL) that every election of the process
 * attaches its candidate key to, as Go's `concurrency.Session` does. Renewal traffic is per
 * lease, never per election:
 *
 * - a background keepalive runs only when no keepalive was sent for TTL/3 (Go's interval);
 * - an election's renewal reuses the latest acknowledged keepalive if it is recent enough (see
 *   keepalive-rules.ts), joins one in flight that qualifies, and otherwise sends one that every
 *   concurrent renewal shares;
 * - a keepalive that a member does not answer in time is sent again on another member, until its
 *   budget runs out (one member's death must not cost a term while another answers);
 * - a session that has heard nothing for the shortest renew deadline of its elections stops
 *   keeping the lease alive and revokes it if it can (`deafAfter`): its keys must be able to go
 *   away when the process cannot hear the election.
 *
 * Times are readings of the host's clock (the client's, see client-resources.ts).
 */
import type { Etcd3 } from 'etcd3';
import { raceAbort, scopedSignal } from '../abort.js';
import type { Clock, TimerHandle } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { toEtcdError } from './etcd-errors.js';
import { unary } from './grpc-call.js';
import { KeepaliveChannel } from './keepalive-channel.js';
import {
  backgroundInterval,
  deafAfter,
  keepaliveAttemptTimeout,
  keepaliveTimeout,
} from './keepalive-rules.js';
import type { Members } from './members.js';

export interface SessionLease {
  readonly id: bigint;
  /** The TTL etcd granted (it may raise the requested one to its minimum). */
  readonly ttlSeconds: number;
  /** Increases with every new lease of this session; keys remember the one they belong to. */
  readonly generation: number;
}

export interface KeepaliveAck {
  /** Clock reading just before the request that etcd acknowledged was sent. */
  readonly sentAt: number;
  readonly ttlSeconds: number;
  readonly generation: number;
}

/** The lease expired or was revoked (or the session let go of it): every key on it is gone. */
export class LeaseLostError extends Error {
  constructor(readonly generation: number) {
    super('the etcd session lease expired or was revoked');
  }
}

export interface SessionHost {
  readonly client: Etcd3;
  readonly endpoints: readonly string[];
  readonly requestTimeout: number;
  readonly clock: Clock;
  /** Absent in unit tests: etcd3 chooses the member then. */
  readonly members?: Members;
  /** The etcd3 client was closed by its owner: stop keeping the lease alive. */
  clientClosed(): boolean;
  forget(session: LeaseSession): void;
  /** A store revision seen in a keepalive answer of `member` (see keepalive-channel.ts). */
  noteRevision?(revision: bigint, member: string | null): void;
}

/** How often an abandoned lease is revoked again until it must have expired on the server. */
const REVOKE_RETRY_MS = 500;

export class LeaseSession {
  /** The TTL asked for, in whole seconds (sessions are shared per requested TTL). */
  readonly requestedTtl: number;
  readonly #host: SessionHost;
  readonly #channel: KeepaliveChannel;
  /** Election → its renew deadline (see keepalive-rules.ts `deafAfter`), or null if unknown. */
  readonly #elections = new Map<string, number | null>();
  /**
   * The elections' known renew deadlines, as deadline → how many elections have it: `deafAfter`
   * looks at the distinct values only (usually one). Over every election it was O(N) per
   * keepalive, and a join between two keepalives made it be computed again: a burst of N
   * campaigns was O(N²) — 26 % of the CPU at 10,000 elections, most of it at 100,000 (profiled,
   * issue 15).
   */
  readonly #renewDeadlineCounts = new Map<number, number>();
  /** `deafAfter` of the current elections, or null when it must be computed again. */
  #deafAfterMs: number | null = null;
  readonly #lostListeners = new Set<(generation: number) => void>();
  readonly #closing = new AbortController();
  #closed = false;
  #lease: SessionLease | null = null;
  #generation = 0;
  #granting: Promise<SessionLease> | null = null;
  #lastAck: KeepaliveAck | null = null;
  /** Clock reading when etcd last answered us (a grant or a keepalive). */
  #lastHeardAt = Number.NEGATIVE_INFINITY;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #inFlight: { readonly sentAt: number; readonly done: Promise<KeepaliveAck> } | null = null;
  #backgroundTimer: TimerHandle | null = null;
  #revokeTimer: TimerHandle | null = null;

  constructor(host: SessionHost, requestedTtl: number) {
    this.#host = host;
    this.requestedTtl = requestedTtl;
    this.#channel = new KeepaliveChannel(host);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The lease while it is believed alive. */
  get current(): SessionLease | null {
    return this.#lease;
  }

  get generation(): number {
    return this.#generation;
  }

  hosts(election: string): boolean {
    return this.#elections.has(election);
  }

  get electionCount(): number {
    return this.#elections.size;
  }

  /** Adds an election, with its renew deadline when known (see keepalive-rules.ts `deafAfter`). */
  join(election: string, renewDeadlineMs: number | null = null): void {
    this.#forgetDeadline(election);
    this.#elections.set(election, renewDeadlineMs);
    if (renewDeadlineMs === null) return;
    const count = this.#renewDeadlineCounts.get(renewDeadlineMs) ?? 0;
    this.#renewDeadlineCounts.set(renewDeadlineMs, count + 1);
    if (count === 0) this.#deafAfterMs = null; // a new distinct deadline
  }

  /** Takes `election`'s renew deadline out of the counts (if it had one). */
  #forgetDeadline(election: string): void {
    const renewDeadline = this.#elections.get(election);
    if (renewDeadline === undefined || renewDeadline === null) return;
    const count = this.#renewDeadlineCounts.get(renewDeadline) ?? 0;
    if (count > 1) {
      this.#renewDeadlineCounts.set(renewDeadline, count - 1);
      return;
    }
    this.#renewDeadlineCounts.delete(renewDeadline);
    this.#deafAfterMs = null; // a distinct deadline is gone
  }

  /** Registers a listener for lease loss; returns its remover. */
  onLost(listener: (generation: number) => void): () => void {
    this.#lostListeners.add(listener);
    return () => this.#lostListeners.delete(listener);
  }

  /** The session lease, granted on first use (one grant shared by concurrent callers). */
  lease(signal: AbortSignal): Promise<SessionLease> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#lease !== null) return Promise.resolve(this.#lease);
    if (this.#granting === null) {
      const granting = this.#grant();
      this.#granting = granting;
      const settle = () => {
        if (this.#granting === granting) this.#granting = null;
      };
      granting.then(settle, settle);
    }
    return raceAbort(this.#granting, signal);
  }

  async #grant(): Promise<SessionLease> {
    const sentAt = this.#host.clock.now();
    const scope = this.#requestScope(this.#closing.signal, 'granting the session lease');
    let response: { ID: string; TTL: string };
    try {
      response = await unary(
        (options) => this.#host.client.leaseClient.leaseGrant({ TTL: this.requestedTtl }, options),
        scope.signal,
        this.#host.requestTimeout,
      );
    } catch (error) {
      throw toEtcdError(error, { operation: 'granting the session lease', ...this.#where() });
    } finally {
      scope.dispose();
    }
    const lease: SessionLease = {
      id: BigInt(response.ID),
      ttlSeconds: Number(response.TTL),
      generation: ++this.#generation,
    };
    if (this.#closed) {
      void this.#revoke(lease.id);
      throw this.#closedError();
    }
    this.#lease = lease;
    this.#deafAfterMs = null; // it depends on the granted TTL
    // The grant itself proves the lease alive until sentAt + TTL, like a keepalive.
    this.#lastAck = { sentAt, ttlSeconds: lease.ttlSeconds, generation: lease.generation };
    this.#lastSentAt = sentAt;
    this.#lastHeardAt = this.#host.clock.now();
    this.#scheduleBackground();
    // Open the keepalive stream now, off the critical path: the first renewal (or a follower's
    // takeover) should not wait for a new stream. A turn later (setImmediate: a turn, not a
    // time), once the campaign's transaction has gone out in this turn's microtasks: opening the
    // stream first delayed that transaction by 10 ms at p50 when three candidates start at once
    // (bench/etcd/cold-start-trace.mjs, 20 trials: LeaseKeepAlive +61.3 ms, Txn +71.6 ms after
    // the grant was sent).
    setImmediate(() => {
      if (!this.#closed && this.#lease === lease) this.#channel.warm();
    });
    return lease;
  }

  /**
   * An acknowledged keepalive of the current lease sent at or after `notBefore` (a clock
   * reading): the latest one if it qualifies, the one in flight if it does, else a new one.
   * Rejects with {@link LeaseLostError} when the lease is gone (or the session let go of it).
   */
  keepalive(notBefore: number, signal: AbortSignal): Promise<KeepaliveAck> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const lease = this.#lease;
    if (lease === null || this.#letGoIfDeaf(lease)) {
      return Promise.reject(new LeaseLostError(this.#generation));
    }
    const last = this.#lastAck;
    if (last !== null && last.generation === lease.generation && last.sentAt >= notBefore) {
      return Promise.resolve(last);
    }
    const inFlight = this.#inFlight;
    if (inFlight !== null && inFlight.sentAt >= notBefore) return raceAbort(inFlight.done, signal);
    return raceAbort(this.#sendKeepalive(lease), signal);
  }

  /**
   * Sends a keepalive in the background unless one was sent at or after `ifNoneSince` (a clock
   * reading) or one is in flight. Renewals answered from the latest acknowledgement call it once
   * that one is getting old, so that the renewals after them find a fresh one too, instead of
   * each asking etcd in turn (one keepalive per period, whatever the number of elections).
   */
  keepFresh(ifNoneSince: number): void {
    const lease = this.#lease;
    if (this.#closed || lease === null || this.#inFlight !== null) return;
    if (this.#lastSentAt >= ifNoneSince) return;
    this.#sendKeepalive(lease).catch(() => undefined);
  }

  /** The latest acknowledged keepalive of the current lease if it was sent at or after `notBefore`. */
  acknowledgedSince(notBefore: number): KeepaliveAck | null {
    const lease = this.#lease;
    const last = this.#lastAck;
    if (this.#closed || lease === null || last === null) return null;
    return last.generation === lease.generation && last.sentAt >= notBefore ? last : null;
  }

  /** Forgets the lease if it is still generation `generation` (etcd said it does not exist). */
  markLost(generation: number): void {
    const lease = this.#lease;
    if (lease === null || lease.generation !== generation) return;
    this.#lease = null;
    this.#lastAck = null;
    this.#inFlight = null;
    this.#clearBackground();
    this.#channel.reset(new LeaseLostError(generation));
    for (const listener of [...this.#lostListeners]) {
      try {
        listener(generation);
      } catch {
        // a listener's failure must not stop the others
      }
    }
  }

  /**
   * Removes an election. The last one ends the session: keepalives stop and, when `revoke`, the
   * lease is revoked (deleting any key still on it). Without `revoke` the lease runs out its TTL
   * on the server, as if the process had crashed.
   */
  async leave(election: string, revoke: boolean): Promise<void> {
    this.#forgetDeadline(election);
    this.#elections.delete(election);
    if (this.#elections.size > 0 || this.#closed) return;
    this.#closed = true;
    this.#host.forget(this);
    this.#closing.abort(this.#closedError());
    this.#clearBackground();
    if (this.#revokeTimer !== null) this.#host.clock.clearTimer(this.#revokeTimer);
    this.#revokeTimer = null;
    this.#channel.close(this.#closedError());
    const lease = this.#lease;
    this.#lease = null;
    this.#inFlight = null;
    if (revoke && lease !== null) await this.#revoke(lease.id);
  }

  // ---------------------------------------------------------------- keepalives

  #sendKeepalive(lease: SessionLease): Promise<KeepaliveAck> {
    const sentAt = this.#host.clock.now();
    this.#lastSentAt = sentAt;
    const done = this.#keepaliveWithFailover(lease);
    const entry = { sentAt, done };
    this.#inFlight = entry;
    done.then(
      (ack) => {
        if (this.#inFlight === entry) this.#inFlight = null;
        const last = this.#lastAck;
        if (
          this.#lease?.generation === ack.generation &&
          (last === null || last.generation !== ack.generation || ack.sentAt > last.sentAt)
        ) {
          this.#lastAck = ack;
        }
      },
      () => {
        if (this.#inFlight === entry) this.#inFlight = null;
      },
    );
    return done;
  }

  /**
   * One keepalive, sent again on another member when a stream breaks or a member does not answer
   * within an attempt's timeout, until the keepalive's budget runs out. The proof is the send time
   * of the attempt etcd answered.
   */
  async #keepaliveWithFailover(lease: SessionLease): Promise<KeepaliveAck> {
    const { clock, requestTimeout } = this.#host;
    const budgetEnd = clock.now() + keepaliveTimeout(lease.ttlSeconds, requestTimeout);
    const attemptTimeout = keepaliveAttemptTimeout(lease.ttlSeconds, requestTimeout);
    for (;;) {
      const sentAt = clock.now();
      let ttl: number;
      try {
        ttl = await this.#channel.exchange(lease.id, Math.min(attemptTimeout, budgetEnd - sentAt));
      } catch (error) {
        if (this.#closed || error instanceof LeaseLostError || clock.now() >= budgetEnd) {
          throw error;
        }
        if (this.#lease?.generation !== lease.generation || this.#letGoIfDeaf(lease)) {
          throw new LeaseLostError(lease.generation);
        }
        continue; // the channel suspected that member: the next stream goes to another
      }
      this.#lastHeardAt = clock.now();
      if (ttl <= 0) {
        this.markLost(lease.generation);
        throw new LeaseLostError(lease.generation);
      }
      if (this.#lease?.generation !== lease.generation) throw new LeaseLostError(lease.generation);
      return { sentAt, ttlSeconds: ttl, generation: lease.generation };
    }
  }

  /**
   * Lets go of the lease when etcd has not answered for `deafAfter`: no more keepalives for it
   * (its keys expire with it on the server), a revocation sent now and again until the server
   * must have expired it anyway (a one-way partition lets requests through: the revocation then
   * deletes our keys at once), and the elections are told the lease is lost.
   */
  #letGoIfDeaf(lease: SessionLease): boolean {
    const now = this.#host.clock.now();
    if (now - this.#lastHeardAt <= this.#deafAfter(lease)) {
      return false;
    }
    const expiresBy = this.#lastSentAt + lease.ttlSeconds * 1_000;
    this.markLost(lease.generation);
    this.#revokeUntil(lease.id, expiresBy);
    return true;
  }

  #deafAfter(lease: SessionLease): number {
    this.#deafAfterMs ??= deafAfter(lease.ttlSeconds, this.#renewDeadlines());
    return this.#deafAfterMs;
  }

  #renewDeadlines(): Iterable<number> {
    return this.#renewDeadlineCounts.keys();
  }

  #revokeUntil(id: bigint, until: number): void {
    if (this.#closed || this.#host.clock.now() > until) return;
    void this.#revoke(id).then((revoked) => {
      if (revoked || this.#closed) return;
      this.#revokeTimer = this.#background(REVOKE_RETRY_MS, () => {
        this.#revokeTimer = null;
        this.#revokeUntil(id, until);
      });
    });
  }

  /** True if etcd confirmed the revocation (best effort: an unrevoked lease expires anyway). */
  async #revoke(id: bigint): Promise<boolean> {
    const scope = this.#requestScope(undefined, 'revoking the session lease');
    try {
      await unary(
        (options) => this.#host.client.leaseClient.leaseRevoke({ ID: id.toString() }, options),
        scope.signal,
        this.#host.requestTimeout,
      );
      return true;
    } catch {
      return false;
    } finally {
      scope.dispose();
    }
  }

  /** A request's signal: `outer`, bounded by the request timeout on the host's clock. */
  #requestScope(outer: AbortSignal | undefined, operation: string) {
    const { clock, requestTimeout } = this.#host;
    return scopedSignal(outer, {
      ms: requestTimeout,
      clock,
      reason: () =>
        new LeaderElectError(
          ErrorCode.BackendTimeout,
          `${operation}: etcd did not answer within ${requestTimeout} ms`,
        ),
    });
  }

  // ---------------------------------------------------------------- background

  #scheduleBackground(): void {
    this.#clearBackground();
    const lease = this.#lease;
    if (lease === null || this.#closed) return;
    const interval = backgroundInterval(lease.ttlSeconds, this.#deafAfter(lease));
    const delay = Math.max(0, this.#lastSentAt + interval - this.#host.clock.now());
    this.#backgroundTimer = this.#background(delay, () => {
      this.#backgroundTimer = null;
      this.#backgroundKeepalive(lease, interval);
    });
  }

  #backgroundKeepalive(lease: SessionLease, interval: number): void {
    if (this.#lease !== lease || this.#closed) return;
    if (this.#host.clientClosed()) {
      // Streams opened before the close would keep working: let the lease run out instead.
      this.#channel.reset(new Error('the etcd3 client was closed'));
      return;
    }
    if (this.#letGoIfDeaf(lease)) return;
    const inFlight = this.#inFlight;
    if (inFlight !== null) {
      const next = () => this.#scheduleBackground();
      inFlight.done.then(next, next);
      return;
    }
    // A renewal sent one meanwhile: wait for the interval to pass since that one.
    if (this.#host.clock.now() - this.#lastSentAt < interval * 0.95) {
      this.#scheduleBackground();
      return;
    }
    this.#sendKeepalive(lease).then(
      () => this.#scheduleBackground(),
      (error: unknown) => {
        if (error instanceof LeaseLostError || this.#closed || this.#lease !== lease) return;
        // Retry soon: the lease runs out if keepalives keep failing.
        this.#clearBackground();
        this.#backgroundTimer = this.#background(Math.min(500, interval / 2), () => {
          this.#backgroundTimer = null;
          this.#backgroundKeepalive(lease, interval);
        });
      },
    );
  }

  /** A background timer: it does not keep the process alive (the elections' own timers do). */
  #background(delayMs: number, run: () => void): TimerHandle {
    const timer = this.#host.clock.setTimer(run, delayMs);
    this.#host.clock.unrefTimer?.(timer);
    return timer;
  }

  #clearBackground(): void {
    if (this.#backgroundTimer !== null) this.#host.clock.clearTimer(this.#backgroundTimer);
    this.#backgroundTimer = null;
  }

  #where(): { endpoints: readonly string[] } {
    return { endpoints: this.#host.endpoints };
  }

  #closedError(): LeaderElectError {
    return new LeaderElectError(ErrorCode.Stopped, 'the etcd session was closed');
  }
}
