/**
 * One etcd watch stream per client, shared by every election of that client, written over
 * etcd3's raw Watch service because etcd3's own watch builder cannot require a leader.
 *
 * - The stream carries `hasleader: true`: a member that loses its raft leader cancels it
 *   ("etcdserver: no leader") and we reconnect, possibly to another member.
 * - When the store moved past what the stream vouched for (a keepalive or read of this client
 *   saw a newer revision), the stream is probed with a progress request; no answer at that
 *   revision within the probe interval means the member is stuck, paused, cut off or behind:
 *   the stream is reset (keepalive-rules.ts `watchProbe`). An idle election costs no probe.
 * - A member that failed another request of this client (a keepalive timed out on it) is
 *   suspect: a stream on it is reset at once (members.ts `onSuspect`).
 * - After a reconnect every subscription is re-created from the revision after the last event
 *   it delivered, so no event is lost or repeated.
 */
import type { Etcd3, IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';
import { type Clock, systemClock, type TimerHandle } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { toEtcdError } from './etcd-errors.js';
import { Fifo } from './fifo.js';
import { streamOptions } from './grpc-call.js';
import { watchProbe } from './keepalive-rules.js';
import type { Members } from './members.js';
import {
  Subscription,
  type WatchSink,
  type WatchSpec,
  type WatchSubscription,
} from './watch-subscription.js';

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

type StreamState = 'idle' | 'connecting' | 'open' | 'closed';

const RECONNECT_MIN_MS = 50;
const RECONNECT_MAX_MS = 2_000;
/** Probe interval until an election sets it from its lease TTL (see `tightenProbe`). */
const DEFAULT_PROBE_MS = 2_000;
const MIN_PROBE_MS = 250;

export class WatchHub {
  readonly #client: Etcd3;
  readonly #endpoints: readonly string[];
  readonly #subscriptions = new Map<number, Subscription>();
  #streamGeneration = 0;
  /** Highest store revision seen in any response (see #probe). */
  #knownRevision = 0n;
  /** Create requests sent and not answered yet, in order: etcd answers them in order. */
  #creating = new Fifo<Subscription>();
  #nextId = 1;
  #state: StreamState = 'idle';
  #stream: IDuplexStream<IWatchRequest, IWatchResponse> | null = null;
  #reconnectTimer: TimerHandle | null = null;
  #reconnectDelay = RECONNECT_MIN_MS;
  #probeTimer: TimerHandle | null = null;
  #probeMs = DEFAULT_PROBE_MS;
  /** An election has set the interval (from then on it only goes down). */
  #probeSet = false;
  #lastHeardAt = 0;
  /** Highest revision a progress answer of the current stream vouched for. */
  #confirmedRevision = 0n;
  /** The current probe: when it was sent, and the revision its answer must reach. */
  #probingSince: number | null = null;
  #probeTarget = 0n;

  readonly #clientClosed: () => boolean;
  readonly #clock: Clock;
  readonly #members: Members | undefined;
  /** The member the stream runs on (null: etcd3 chose it). */
  #member: string | null = null;
  /** The member of the last stream that broke or went silent: the next one avoids it. */
  #avoid: string | null = null;

  constructor(
    client: Etcd3,
    endpoints: readonly string[],
    clientClosed: () => boolean,
    clock: Clock = systemClock,
    members?: Members,
  ) {
    this.#client = client;
    this.#endpoints = endpoints;
    this.#clientClosed = clientClosed;
    this.#clock = clock;
    this.#members = members;
    members?.onSuspect((member) => {
      // Another request of this client found our stream's member stuck: do not wait for the
      // probe to find out (the keepalive timed out on it, so it would not answer either).
      const stream = this.#stream;
      if (stream !== null && member === this.#member) {
        this.#onBroken(
          stream,
          new LeaderElectError(
            ErrorCode.BackendUnavailable,
            `watch: etcd member ${member} failed another request of this client (reconnecting)`,
            { transient: true },
          ),
        );
      }
    });
  }

  /** True while the stream is connected. */
  get connected(): boolean {
    return this.#state === 'open';
  }

  /**
   * Probe a quiet stream after `intervalMs` of silence (an election asks for TTL/3 of its lease,
   * the cadence of Go's keepalives); with several elections the shortest interval wins.
   */
  tightenProbe(intervalMs: number): void {
    const asked = Math.max(MIN_PROBE_MS, Math.floor(intervalMs));
    const next = this.#probeSet ? Math.min(this.#probeMs, asked) : asked;
    this.#probeSet = true;
    if (next === this.#probeMs) return;
    this.#probeMs = next;
    if (this.#probeTimer !== null) {
      this.#stopProbe();
      this.#startProbe();
    }
  }

  subscribe(spec: WatchSpec, sink: WatchSink): WatchSubscription {
    if (this.#state === 'closed') throw new Error('watch hub is closed');
    const subscription = new Subscription(this, this.#nextId++, spec, sink);
    this.#subscriptions.set(subscription.id, subscription);
    if (this.#state === 'open') this.#create(subscription);
    else if (this.#state === 'idle' && this.#reconnectTimer === null) this.#connect();
    return subscription;
  }

  unsubscribe(subscription: Subscription): void {
    const wasCreated = subscription.state === 'active' || subscription.state === 'creating';
    subscription.state = 'closed';
    this.#subscriptions.delete(subscription.id);
    if (wasCreated && this.#stream !== null && this.#state === 'open') {
      this.#write({ cancel_request: { watch_id: subscription.id } });
    }
    if (this.#subscriptions.size === 0) this.#shutdownStream();
  }

  /** Ends the stream and every subscription. */
  close(): void {
    if (this.#state === 'closed') return;
    for (const subscription of this.#subscriptions.values()) subscription.state = 'closed';
    this.#subscriptions.clear();
    this.#shutdownStream();
    this.#state = 'closed';
  }

  #connect(): void {
    this.#state = 'connecting';
    this.#openOnMember().then(
      ({ stream, member }) => {
        if (this.#state !== 'connecting' || this.#subscriptions.size === 0) {
          endStream(stream);
          if (this.#state === 'connecting') this.#state = 'idle';
          return;
        }
        this.#stream = stream;
        this.#member = member;
        this.#state = 'open';
        this.#streamGeneration++;
        this.#lastHeardAt = this.#clock.now();
        this.#confirmedRevision = 0n;
        this.#endProbing();
        stream.on('data', (response) => this.#onData(stream, response));
        stream.on('error', (error) => this.#onBroken(stream, error));
        stream.on('end', () => this.#onBroken(stream, new Error('etcd watch stream ended')));
        this.#creating.clear();
        for (const subscription of this.#subscriptions.values()) this.#create(subscription);
        this.#startProbe();
      },
      (error: unknown) => {
        if (this.#state !== 'connecting') return;
        this.#state = 'idle';
        this.#failAll(error);
      },
    );
  }

  /** A new stream, on another member than the one that last failed us when we can choose. */
  async #openOnMember(): Promise<{ stream: WatchStream; member: string | null }> {
    const chosen = await this.#members?.open(
      'Watch',
      (client, metadata) =>
        (client as { watch(metadata: unknown, options: unknown): WatchStream }).watch(
          metadata,
          streamOptions(),
        ),
      this.#avoid,
    );
    if (chosen !== null && chosen !== undefined)
      return { stream: chosen.value, member: chosen.member };
    return { stream: await this.#client.watchClient.watch(streamOptions()), member: null };
  }

  #create(subscription: Subscription): void {
    subscription.state = 'creating';
    this.#creating.push(subscription);
    // Start at the next revision: such a watcher is synced at once, so its events go out as soon
    // as they are committed (an earlier start would leave it unsynced, its events batched by
    // etcd's 100 ms sync loop). See #probe for what that means for progress requests.
    const start = subscription.nextRevision;
    subscription.createdStart = start;
    this.#write({
      create_request: {
        key: subscription.spec.key,
        ...(subscription.spec.rangeEnd === undefined
          ? {}
          : { range_end: subscription.spec.rangeEnd }),
        // 0: etcd starts the watcher at its current revision + 1 (synced at once).
        start_revision: subscription.startNow ? '0' : start.toString(),
        watch_id: subscription.id,
        ...(subscription.spec.deletesOnly ? { filters: [0 /* NOPUT */] } : {}),
      },
    });
  }

  #write(request: IWatchRequest): void {
    try {
      this.#stream?.write(request);
    } catch (error) {
      const stream = this.#stream;
      if (stream !== null) this.#onBroken(stream, error);
    }
  }

  /**
   * Counts the streams opened so far. While it is unchanged, every subscription has been synced
   * on one stream since its creation, so events of all of them arrived in revision order.
   */
  get streamGeneration(): number {
    return this.#streamGeneration;
  }

  /**
   * Records a store revision seen in any response header of this client; `member` is the member
   * that answered, when known. A keepalive answered by the member our stream runs on vouches for
   * the stream up to that revision, as a progress answer would: that member has applied the
   * revision (the header is its own), so its synced watchers were handed every event up to it,
   * and both streams share its one HTTP/2 connection — a member paused, cut off or without a
   * raft leader fails the keepalive too (keepalives are forwarded to the raft leader). This is
   * liveness only: nothing safe depends on it, and a stream that is stuck on a healthy member is
   * still found by the probe once the store moves on another member's answer.
   */
  noteRevision(revision: bigint, member: string | null = null): void {
    if (revision > this.#knownRevision) this.#knownRevision = revision;
    if (
      member !== null &&
      member === this.#member &&
      this.#state === 'open' &&
      revision > this.#confirmedRevision &&
      this.#allSynced()
    ) {
      this.#confirmedRevision = revision;
    }
  }

  /** Every subscription is live on the stream and was created synced (see WatchSubscription). */
  #allSynced(): boolean {
    for (const subscription of this.#subscriptions.values()) {
      if (subscription.state !== 'active' || !subscription.synced) return false;
    }
    return true;
  }

  #onData(stream: IDuplexStream<IWatchRequest, IWatchResponse>, response: IWatchResponse): void {
    if (stream !== this.#stream) return;
    if (response.header?.revision !== undefined)
      this.noteRevision(BigInt(response.header.revision));
    this.#lastHeardAt = this.#clock.now();
    this.#reconnectDelay = RECONNECT_MIN_MS; // the member answers: reconnect fast next time
    if (this.#avoid === this.#member) this.#avoid = null;
    if (response.created) {
      // Create answers come in request order; a failed create carries watch_id -1.
      const subscription = this.#creating.shift();
      if (subscription === undefined || subscription.state !== 'creating') {
        if (!response.canceled && response.watch_id !== '-1') {
          this.#write({ cancel_request: { watch_id: response.watch_id } });
        }
        return;
      }
      if (response.canceled) {
        this.#end(subscription, response);
        return;
      }
      const revision = response.header?.revision;
      const current = revision === undefined ? null : BigInt(revision);
      subscription.synced =
        subscription.startNow || (current !== null && current < subscription.createdStart);
      if (subscription.startNow) {
        // The created response carries the store revision after the watcher was registered; the
        // watcher starts at most one past it. At or before the revision we were asked to start
        // from, nothing can have been skipped; past it, events in between may have been.
        subscription.startNow = false;
        // (A re-creation after a reconnect resumes at nextRevision and leaves this as it is.)
        subscription.complete = current !== null && current < subscription.nextRevision;
        // Its real start revision is at most one past `current`: what #probe must wait for.
        if (current !== null && current + 1n > subscription.createdStart) {
          subscription.createdStart = current + 1n;
        }
      }
      subscription.state = 'active';
      subscription.sink.ready();
      return;
    }
    if (response.watch_id === '-1') {
      // A progress answer: every event up to its revision has been delivered on this stream.
      this.#progressed(response.header?.revision);
      return;
    }
    const subscription = this.#subscriptions.get(Number(response.watch_id));
    if (subscription === undefined || subscription.state === 'closed') return;
    if (response.canceled) {
      this.#end(subscription, response);
      return;
    }
    if (response.events.length === 0) {
      // etcd 3.4 answers a progress request on the stream's first watcher, not on watch_id -1.
      this.#progressed(response.header?.revision);
      return;
    }
    for (const event of response.events) {
      // A sink may close its subscription while handling an earlier event of this response.
      if (!this.#subscriptions.has(subscription.id)) return;
      subscription.nextRevision = BigInt(event.kv.mod_revision) + 1n;
      subscription.sink.event(event.type === 'Delete' ? 'delete' : 'put', event.kv);
    }
  }

  #end(subscription: Subscription, response: IWatchResponse): void {
    subscription.state = 'closed';
    this.#subscriptions.delete(subscription.id);
    const compacted = response.compact_revision !== '0' && response.compact_revision !== '';
    subscription.sink.ended(
      compacted
        ? null
        : toEtcdError(new Error(response.cancel_reason || 'watch canceled by etcd'), {
            operation: 'watch',
            key: subscription.spec.key.toString(),
            endpoints: this.#endpoints,
          }),
    );
    if (this.#subscriptions.size === 0) this.#shutdownStream();
  }

  #onBroken(stream: IDuplexStream<IWatchRequest, IWatchResponse>, error: unknown): void {
    if (stream !== this.#stream) return;
    this.#stream = null;
    this.#members?.suspect(this.#member);
    this.#avoid = this.#member;
    this.#member = null;
    this.#stopProbe();
    endStream(stream);
    if (this.#state === 'closed') return;
    this.#state = 'idle';
    this.#failAll(error);
  }

  /** Marks every subscription down and schedules a reconnect with backoff. */
  #failAll(error: unknown): void {
    this.#creating.clear();
    const typed = toEtcdError(error, { operation: 'watch', endpoints: this.#endpoints });
    for (const subscription of [...this.#subscriptions.values()]) {
      if (subscription.state === 'closed') continue;
      subscription.state = 'pending';
      subscription.sink.down(typed);
    }
    if (this.#subscriptions.size === 0 || this.#state === 'closed' || this.#clientClosed()) return;
    const delay = this.#reconnectDelay * (0.5 + Math.random() * 0.5);
    this.#reconnectDelay = Math.min(RECONNECT_MAX_MS, this.#reconnectDelay * 2);
    this.#reconnectTimer = this.#clock.setTimer(() => {
      this.#reconnectTimer = null;
      if (this.#state === 'idle' && this.#subscriptions.size > 0) this.#connect();
    }, delay);
  }

  /** Checks the stream every half probe interval (a background timer: see Clock.unrefTimer). */
  #startProbe(): void {
    const interval = Math.max(MIN_PROBE_MS, Math.floor(this.#probeMs / 2));
    const tick = () => {
      this.#probeTimer = null;
      this.#probe();
      if (this.#stream !== null && this.#probeTimer === null) arm();
    };
    const arm = () => {
      this.#probeTimer = this.#clock.setTimer(tick, interval);
      this.#clock.unrefTimer?.(this.#probeTimer);
    };
    arm();
  }

  #stopProbe(): void {
    if (this.#probeTimer !== null) this.#clock.clearTimer(this.#probeTimer);
    this.#probeTimer = null;
    this.#endProbing();
  }

  #endProbing(): void {
    this.#probingSince = null;
  }

  #progressed(revision: string | undefined): void {
    if (revision === undefined) return;
    const confirmed = BigInt(revision);
    if (confirmed > this.#confirmedRevision) this.#confirmedRevision = confirmed;
    if (this.#probingSince !== null && confirmed >= this.#probeTarget) this.#endProbing();
  }

  #probe(): void {
    const stream = this.#stream;
    if (stream === null) return;
    if (this.#clientClosed()) {
      // gRPC keeps an open stream running after its client was closed: end it ourselves.
      this.#onBroken(stream, new Error('the etcd3 client was closed'));
      return;
    }
    const now = this.#clock.now();
    let needed: bigint | null = null;
    for (const subscription of this.#subscriptions.values()) {
      if (subscription.active && (needed === null || subscription.createdStart > needed))
        needed = subscription.createdStart;
    }
    const action = watchProbe({
      now,
      knownRevision: this.#knownRevision,
      confirmedRevision: this.#confirmedRevision,
      neededRevision: needed,
      lastHeardAt: this.#lastHeardAt,
      probingSince: this.#probingSince,
      probeMs: this.#probeMs,
    });
    if (action === 'quiet') {
      this.#endProbing();
    } else if (action === 'reset') {
      this.#onBroken(
        stream,
        new LeaderElectError(
          ErrorCode.BackendUnavailable,
          `watch: the etcd member did not confirm revision ${this.#probeTarget} within ${this.#probeMs} ms (it answered up to ${this.#confirmedRevision}; no sign of life for ${Math.round(now - this.#lastHeardAt)} ms); reconnecting`,
          { transient: true },
        ),
      );
    } else if (action === 'send') {
      this.#probingSince = now;
      this.#probeTarget = this.#knownRevision;
      this.#write({ progress_request: {} });
    }
  }

  #shutdownStream(): void {
    if (this.#reconnectTimer !== null) this.#clock.clearTimer(this.#reconnectTimer);
    this.#reconnectTimer = null;
    this.#stopProbe();
    const stream = this.#stream;
    this.#stream = null;
    this.#creating.clear();
    if (stream !== null) endStream(stream);
    if (this.#state !== 'closed') this.#state = 'idle';
  }
}

/**
 * Ends a stream without etcd3 counting it as a host failure: etcd3 marks the host failed on a
 * stream error only while the stream is writable, so half-close first, then cancel.
 */
function endStream<Req, Res>(stream: IDuplexStream<Req, Res>): void {
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
