/**
 * A scripted stand-in for the parts of an etcd3 client that the session lease and the watch hub
 * use (`leaseClient.leaseGrant/leaseKeepAlive/leaseRevoke`, `watchClient.watch`), for unit tests
 * of their timing logic on a fake clock. It records what is written and lets the test answer.
 * The same code runs against real etcd clusters in the integration tests (test/etcd/).
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';

export class ScriptedStream extends EventEmitter {
  readonly written: Record<string, unknown>[] = [];
  ended = false;
  cancelled = false;

  write(request: Record<string, unknown>): void {
    if (this.ended) throw new Error('write after end');
    this.written.push(request);
  }

  end(): void {
    this.ended = true;
  }

  cancel(): void {
    this.cancelled = true;
  }

  /** The server answers. */
  answer(response: Record<string, unknown>): void {
    this.emit('data', response);
  }

  /** The server breaks the stream. */
  fail(message = 'connection reset'): void {
    this.emit('error', new Error(message));
  }
}

export class ScriptedEtcd {
  readonly keepaliveStreams: ScriptedStream[] = [];
  readonly watchStreams: ScriptedStream[] = [];
  readonly grants: { TTL: number }[] = [];
  readonly revokes: string[] = [];
  nextLeaseId = 0x1234n;
  grantedTtl: number | null = null;

  get client(): Etcd3 {
    const leaseClient = {
      leaseGrant: async (request: { TTL: number }) => {
        this.grants.push(request);
        const id = this.nextLeaseId++;
        return { ID: id.toString(), TTL: String(this.grantedTtl ?? request.TTL) };
      },
      leaseKeepAlive: async () => {
        const stream = new ScriptedStream();
        this.keepaliveStreams.push(stream);
        return stream;
      },
      leaseRevoke: async (request: { ID: string }) => {
        this.revokes.push(request.ID);
        return {};
      },
    };
    const watchClient = {
      watch: async () => {
        const stream = new ScriptedStream();
        this.watchStreams.push(stream);
        return stream;
      },
    };
    return { leaseClient, watchClient } as unknown as Etcd3;
  }

  /** The keepalive stream currently open (the last one). */
  get keepalive(): ScriptedStream {
    const stream = this.keepaliveStreams.at(-1);
    if (stream === undefined) throw new Error('no keepalive stream opened');
    return stream;
  }

  get watch(): ScriptedStream {
    const stream = this.watchStreams.at(-1);
    if (stream === undefined) throw new Error('no watch stream opened');
    return stream;
  }
}
