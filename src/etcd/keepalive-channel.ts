/**
 * The lease keepalive stream of one session: one gRPC stream at a time, on one member. etcd
 * answers the keepalives of a stream in order, so requests wait in a FIFO for their answer.
 *
 * A stream that breaks (member killed, no leader) rejects what waits on it; one that does not
 * answer a keepalive within its timeout (member stuck, paused, cut off) is reset. Either way its
 * member is suspected, and the next stream is opened on another member (see members.ts).
 */
import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import type { Clock, TimerHandle } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { toEtcdError } from './etcd-errors.js';
import { streamOptions } from './grpc-call.js';
import type { Members } from './members.js';

type KeepaliveStream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

interface Pending {
  readonly resolve: (ttl: number) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: TimerHandle;
}

export interface ChannelHost {
  readonly client: Etcd3;
  readonly endpoints: readonly string[];
  readonly clock: Clock;
  /** Absent in unit tests of the session: etcd3 chooses the member then. */
  readonly members?: Members;
  /**
   * A store revision seen in a keepalive answer of `member` (keeps the watch hub's probe
   * informed; null when etcd3 chose the member).
   */
  noteRevision?(revision: bigint, member: string | null): void;
}

export class KeepaliveChannel {
  readonly #host: ChannelHost;
  #stream: KeepaliveStream | null = null;
  /** The member the stream runs on (null: etcd3 chose it). */
  #member: string | null = null;
  /** The member of the last stream that failed us: the next stream avoids it. */
  #avoid: string | null = null;
  #opening: Promise<KeepaliveStream> | null = null;
  #pending: Pending[] = [];
  #closed = false;

  constructor(host: ChannelHost) {
    this.#host = host;
  }

  /** Opens the stream ahead of need (off the critical path of the first renewal). */
  warm(): void {
    this.#open().catch(() => undefined);
  }

  /**
   * Sends one keepalive for lease `id` and resolves with the TTL etcd answered (0: the lease is
   * gone). Rejects when the stream breaks, or with a transient `LE_BACKEND_TIMEOUT` when no
   * answer came within `timeoutMs` (the stream is then reset).
   */
  async exchange(id: bigint, timeoutMs: number): Promise<number> {
    const stream = await this.#open();
    return new Promise<number>((resolve, reject) => {
      const timer = this.#host.clock.setTimer(() => {
        this.#fail(
          stream,
          new LeaderElectError(
            ErrorCode.BackendTimeout,
            `etcd${this.#member === null ? '' : ` member ${this.#member}`} did not answer a lease keepalive within ${Math.round(timeoutMs)} ms`,
          ),
        );
      }, timeoutMs);
      this.#pending.push({ resolve, reject, timer });
      try {
        stream.write({ ID: id.toString() });
      } catch (error) {
        this.#fail(stream, error);
      }
    });
  }

  /** Ends the stream; what waits on it rejects with `reason`. */
  reset(reason: unknown): void {
    const stream = this.#stream;
    this.#stream = null;
    this.#member = null;
    const pending = this.#pending;
    this.#pending = [];
    for (const entry of pending) {
      this.#host.clock.clearTimer(entry.timer);
      entry.reject(reason);
    }
    if (stream !== null) endStream(stream);
  }

  close(reason: unknown): void {
    this.#closed = true;
    this.reset(reason);
  }

  #open(): Promise<KeepaliveStream> {
    if (this.#stream !== null) return Promise.resolve(this.#stream);
    if (this.#opening !== null) return this.#opening;
    const opening = this.#openOnMember().then(
      ({ stream, member }) => {
        this.#opening = null;
        if (this.#closed) {
          endStream(stream);
          throw new LeaderElectError(ErrorCode.Stopped, 'the etcd session was closed');
        }
        this.#stream = stream;
        this.#member = member;
        stream.on('data', (response) => this.#onResponse(stream, response));
        stream.on('error', (error) => this.#fail(stream, error));
        stream.on('end', () => this.#fail(stream, new Error('etcd lease keepalive stream ended')));
        return stream;
      },
      (error: unknown) => {
        this.#opening = null;
        throw toEtcdError(error, {
          operation: 'lease keepalive',
          endpoints: this.#host.endpoints,
        });
      },
    );
    this.#opening = opening;
    return opening;
  }

  async #openOnMember(): Promise<{ stream: KeepaliveStream; member: string | null }> {
    const chosen = await this.#host.members?.open(
      'Lease',
      (client, metadata) =>
        (
          client as {
            leaseKeepAlive(metadata: unknown, options: unknown): KeepaliveStream;
          }
        ).leaseKeepAlive(metadata, streamOptions()),
      this.#avoid,
    );
    if (chosen !== null && chosen !== undefined)
      return { stream: chosen.value, member: chosen.member };
    return {
      stream: await this.#host.client.leaseClient.leaseKeepAlive(streamOptions()),
      member: null,
    };
  }

  #onResponse(stream: KeepaliveStream, response: ILeaseKeepAliveResponse): void {
    if (stream !== this.#stream) return;
    if (response.header?.revision !== undefined) {
      this.#host.noteRevision?.(BigInt(response.header.revision), this.#member);
    }
    this.#host.members?.trust(this.#member);
    if (this.#avoid === this.#member) this.#avoid = null;
    const pending = this.#pending.shift();
    if (pending === undefined) return;
    this.#host.clock.clearTimer(pending.timer);
    pending.resolve(Number(response.TTL));
  }

  /** The stream failed us: suspect its member, avoid it next time, reset. */
  #fail(stream: KeepaliveStream, error: unknown): void {
    if (stream !== this.#stream) return;
    this.#host.members?.suspect(this.#member);
    this.#avoid = this.#member;
    this.reset(
      error instanceof LeaderElectError
        ? error
        : toEtcdError(error, { operation: 'lease keepalive', endpoints: this.#host.endpoints }),
    );
  }
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
