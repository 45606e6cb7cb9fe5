/**
 * The session lease: one etcd lease per client (and TTL) that every election of the process
 * attaches its candidate key to, as Go's `concurrency.Session` does. Renewal traffic is per
 * lease, never per election:
 *
 * - a background keepalive runs only when no keepalive was sent for TTL/3 (Go's interval);
 * - an election's renewal reuses the latest acknowledged keepalive if it was sent after that
 *   election's previous attempt began (so at most one retryPeriod old), joins one in flight
 *   that qualifies, and otherwise sends one that every concurrent renewal shares.
 *
 * Times are readings of the host's clock (the client's, see client-resources.ts); the rules that
 * decide how old a keepalive may be are in keepalive-rules.ts.
 */
import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import { raceAbort, scopedSignal } from '../abort.js';
import type { Clock, TimerHandle } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { toEtcdError } from './etcd-errors.js';
import { streamOptions, unary } from './grpc-call.js';
import { backgroundInterval, keepaliveTimeout } from './keepalive-rules.js';

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

/** The lease expired or was revoked: every key on it is gone. */
export class LeaseLostError extends Error {
  constructor(readonly generation: number) {
    super('the etcd session lease expired or was revoked');
  }
}

interface PendingKeepalive {
  readonly resolve: (ttl: number) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: TimerHandle;
}

export interface SessionHost {
  readonly client: Etcd3;
  readonly endpoints: readonly string[];
  readonly requestTimeout: number;
  readonly clock: Clock;
  /** The etcd3 client was closed by its owner: stop keeping the lease alive. */
  clientClosed(): boolean;
  forget(session: LeaseSession): void;
  /** A store revision seen in a response header (keeps the watch hub's liveness probe informed). */
  noteRevision?(revision: bigint): void;
}

type KeepaliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

export class LeaseSession {
  /** The TTL asked for, in whole seconds (sessions are shared per requested TTL). */
  readonly requestedTtl: number;
  readonly #host: SessionHost;
  readonly #elections = new Set<string>();
  readonly #lostListeners = new Set<(generation: number) => void>();
  readonly #closing = new AbortController();
  #closed = false;
  #lease: SessionLease | null = null;
  #generation = 0;
  #granting: Promise<SessionLease> | null = null;
  #lastAck: KeepaliveAck | null = null;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #inFlight: { readonly sentAt: number; readonly done: Promise<KeepaliveAck> } | null = null;
  #stream: KeepaliveStream | null = null;
  #opening: Promise<KeepaliveStream> | null = null;
  #pending: PendingKeepalive[] = [];
  #backgroundTimer: TimerHandle | null = null;

  constructor(host: SessionHost, requestedTtl: number) {
    this.#host = host;
    this.requestedTtl = requestedTtl;
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

  join(election: string): void {
    this.#elections.add(election);
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
      granting.then(
        () => this.#settleGrant(granting),
        () => this.#settleGrant(granting),
      );
    }
    return raceAbort(this.#granting, signal);
  }

  #settleGrant(granting: Promise<SessionLease>): void {
    if (this.#granting === granting) this.#granting = null;
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
    // The grant itself proves the lease alive until sentAt + TTL, like a keepalive.
    this.#lastAck = { sentAt, ttlSeconds: lease.ttlSeconds, generation: lease.generation };
    this.#lastSentAt = sentAt;
    this.#scheduleBackground();
    // Open the keepalive stream now, off the critical path: the first renewal (or a follower's
    // takeover) should not wait for a new stream.
    this.#openStream().catch(() => undefined);
    return lease;
  }

  /**
   * An acknowledged keepalive of the current lease sent at or after `notBefore`
   * (a clock reading): the latest one if it qualifies, the one in flight if it does,
   * else a new one. Rejects with {@link LeaseLostError} when etcd reports the lease gone.
   */
  keepalive(notBefore: number, signal: AbortSignal): Promise<KeepaliveAck> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const lease = this.#lease;
    if (lease === null) return Promise.reject(new LeaseLostError(this.#generation));
    const last = this.#lastAck;
    if (last !== null && last.generation === lease.generation && last.sentAt >= notBefore) {
      return Promise.resolve(last);
    }
    const inFlight = this.#inFlight;
    if (inFlight !== null && inFlight.sentAt >= notBefore) return raceAbort(inFlight.done, signal);
    return raceAbort(this.#sendKeepalive(lease), signal);
  }

  /**
   * Sends a keepalive in the background unless one was sent at or after `ifNoneSince`
   * (a clock reading) or one is in flight. Renewals answered from the latest
   * acknowledgement call it once that one is getting old, so that the renewals after them find a
   * fresh one too, instead of each asking etcd in turn (one keepalive per period, whatever the
   * number of elections).
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
    this.#closeStream(new LeaseLostError(generation));
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
    this.#elections.delete(election);
    if (this.#elections.size > 0 || this.#closed) return;
    this.#closed = true;
    this.#host.forget(this);
    this.#closing.abort(this.#closedError());
    this.#clearBackground();
    this.#closeStream(this.#closedError());
    const lease = this.#lease;
    this.#lease = null;
    this.#inFlight = null;
    if (revoke && lease !== null) await this.#revoke(lease.id);
  }

  async #revoke(id: bigint): Promise<void> {
    const scope = this.#requestScope(undefined, 'revoking the session lease');
    try {
      await unary(
        (options) => this.#host.client.leaseClient.leaseRevoke({ ID: id.toString() }, options),
        scope.signal,
        this.#host.requestTimeout,
      );
    } catch {
      // Best effort: an unrevoked lease expires after its TTL anyway.
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

  #sendKeepalive(lease: SessionLease): Promise<KeepaliveAck> {
    const sentAt = this.#host.clock.now();
    this.#lastSentAt = sentAt;
    const done = this.#exchangeWithRetry(lease, sentAt);
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

  async #exchangeWithRetry(lease: SessionLease, sentAt: number): Promise<KeepaliveAck> {
    let ttl: number;
    try {
      ttl = await this.#exchange(lease);
    } catch (error) {
      // A stream broken under us (member killed, no leader) is retried once on a new stream,
      // which etcd3 may open on another member.
      if (this.#closed || error instanceof LeaseLostError || isTimeout(error)) throw error;
      ttl = await this.#exchange(lease);
    }
    if (ttl <= 0) {
      this.markLost(lease.generation);
      throw new LeaseLostError(lease.generation);
    }
    if (this.#lease?.generation !== lease.generation) throw new LeaseLostError(lease.generation);
    return { sentAt, ttlSeconds: ttl, generation: lease.generation };
  }

  async #exchange(lease: SessionLease): Promise<number> {
    const stream = await this.#openStream();
    return new Promise<number>((resolve, reject) => {
      const timeoutMs = keepaliveTimeout(lease.ttlSeconds, this.#host.requestTimeout);
      const timer = this.#host.clock.setTimer(() => {
        // No answer: the member is stuck. Reset the stream so the next keepalive goes elsewhere.
        this.#closeStream(
          new LeaderElectError(
            ErrorCode.BackendTimeout,
            `etcd did not answer a lease keepalive within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.#pending.push({ resolve, reject, timer });
      try {
        stream.write({ ID: lease.id.toString() });
      } catch (error) {
        this.#onStreamBroken(stream, error);
      }
    });
  }

  #openStream(): Promise<KeepaliveStream> {
    if (this.#stream !== null) return Promise.resolve(this.#stream);
    if (this.#opening !== null) return this.#opening;
    const opening = this.#host.client.leaseClient.leaseKeepAlive(streamOptions()).then(
      (stream) => {
        this.#opening = null;
        if (this.#closed) {
          endStream(stream);
          throw this.#closedError();
        }
        this.#stream = stream;
        stream.on('data', (response) => this.#onResponse(stream, response));
        stream.on('error', (error) => this.#onStreamBroken(stream, error));
        stream.on('end', () =>
          this.#onStreamBroken(stream, new Error('etcd lease keepalive stream ended')),
        );
        return stream;
      },
      (error: unknown) => {
        this.#opening = null;
        throw toEtcdError(error, { operation: 'lease keepalive', ...this.#where() });
      },
    );
    this.#opening = opening;
    return opening;
  }

  #onResponse(stream: KeepaliveStream, response: ILeaseKeepAliveResponse): void {
    if (stream !== this.#stream) return;
    if (response.header?.revision !== undefined) {
      this.#host.noteRevision?.(BigInt(response.header.revision));
    }
    const pending = this.#pending.shift();
    if (pending === undefined) return;
    this.#host.clock.clearTimer(pending.timer);
    pending.resolve(Number(response.TTL));
  }

  #onStreamBroken(stream: KeepaliveStream, error: unknown): void {
    if (stream !== this.#stream) return;
    this.#closeStream(toEtcdError(error, { operation: 'lease keepalive', ...this.#where() }));
  }

  #closeStream(reason: unknown): void {
    const stream = this.#stream;
    this.#stream = null;
    const pending = this.#pending;
    this.#pending = [];
    for (const entry of pending) {
      this.#host.clock.clearTimer(entry.timer);
      entry.reject(reason);
    }
    if (stream !== null) endStream(stream);
  }

  #scheduleBackground(): void {
    this.#clearBackground();
    const lease = this.#lease;
    if (lease === null || this.#closed) return;
    const interval = backgroundInterval(lease.ttlSeconds);
    const delay = Math.max(0, this.#lastSentAt + interval - this.#host.clock.now());
    this.#backgroundTimer = this.#backgroundAfter(delay, () =>
      this.#backgroundKeepalive(lease, interval),
    );
  }

  #backgroundKeepalive(lease: SessionLease, interval: number): void {
    if (this.#lease !== lease || this.#closed) return;
    if (this.#host.clientClosed()) {
      // Streams opened before the close would keep working: let the lease run out instead.
      this.#closeStream(new Error('the etcd3 client was closed'));
      return;
    }
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
        this.#backgroundTimer = this.#backgroundAfter(Math.min(500, interval / 2), () =>
          this.#backgroundKeepalive(lease, interval),
        );
      },
    );
  }

  /** A background timer: it does not keep the process alive (the elections' own timers do). */
  #backgroundAfter(delayMs: number, run: () => void): TimerHandle {
    const timer = this.#host.clock.setTimer(() => {
      this.#backgroundTimer = null;
      run();
    }, delayMs);
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

function isTimeout(error: unknown): boolean {
  return error instanceof LeaderElectError && error.code === ErrorCode.BackendTimeout;
}

/** Ends a stream without etcd3 counting it as a failure of its host (see watch-hub.ts). */
function endStream(stream: KeepaliveStream): void {
  stream.on('error', () => undefined);
  try {
    stream.end();
  } catch {
    // already ended
  }
  try {
    stream.cancel();
  } catch {
    // already cancelled
  }
}
