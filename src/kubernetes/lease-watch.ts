import type { WatchHandle } from '../backend/lease-backend.js';
import type { RecordWatchEvent } from '../backend/record-store.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import {
  asStatus,
  type CoordinationResource,
  networkError,
  type RequestContext,
  statusError,
} from './kube-errors.js';
import { type KubeTransport, readBody } from './kube-transport.js';
import type { LeaseObject } from './lease-object.js';

/** What a watched object must have: a name and a resourceVersion. */
export interface WatchedObject {
  readonly metadata: { readonly name?: string; readonly resourceVersion?: string };
}

export interface LeaseWatchOptions<T extends WatchedObject = LeaseObject> {
  readonly transport: KubeTransport;
  readonly namespace: string;
  readonly name: string;
  /**
   * The collection the object is in (list and watch path)
   * @default `/apis/coordination.k8s.io/v1/namespaces/<namespace>/leases`
   */
  readonly collectionPath?: string;
  /** For error messages and RBAC hints. @default 'leases' */
  readonly resource?: CoordinationResource;
  /** Bound on the list request and on the wait for the watch's response headers. */
  readonly requestTimeoutMs: number;
  /** Every version of the Lease seen (for the store's cache); `null` when it is gone. */
  readonly onLease: (lease: T | null) => void;
  readonly listener: (event: RecordWatchEvent) => void;
  readonly toRecordEvent: (lease: T | null) => RecordWatchEvent;
  /** Reconnect backoff: doubles from `initialMs` up to `maxMs`, with ±20 % jitter. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

const DEFAULT_BACKOFF = { initialMs: 200, maxMs: 5_000 };
/** Server-side watch timeout, spread like client-go's reflectors so watches do not end together. */
const WATCH_TIMEOUT_MIN_S = 300;
const WATCH_TIMEOUT_SPREAD_S = 300;
/** A stream still open this long after its server-side timeout is stalled. */
const STALL_GRACE_MS = 30_000;
/** A stream that ends sooner than this without any event is treated as a failure (no hot loop). */
const MIN_HEALTHY_STREAM_MS = 1_000;

type StreamEnd =
  | { readonly kind: 'ended'; readonly resourceVersion: string }
  | { readonly kind: 'expired' };

interface WatchEventObject {
  readonly type?: string;
  readonly object?: unknown;
}

/**
 * Watches one Lease, as client-go's reflector does for a single object: list it (with a field
 * selector on its name) for the current state and a resourceVersion, then watch from that
 * version with bookmarks on, and re-watch from the last version seen when the server ends the
 * stream. A 410 Gone (version compacted) relists. Any failure reports `down` (followers then
 * poll) and reconnects after a bounded, jittered exponential backoff; `up` follows once a watch
 * stream is open again. Every version is reported once, in order; deletion as `null`.
 */
export class LeaseWatch<T extends WatchedObject = LeaseObject> implements WatchHandle {
  private closed = false;
  private state: 'connecting' | 'up' | 'down' = 'connecting';
  /** Version last reported: `undefined` before the first report, `null` for "absent". */
  private reported: string | null | undefined = undefined;
  private failures = 0;
  private stream: AbortController | null = null;
  private wakeUp: (() => void) | null = null;
  private sleepTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly path: string;
  private readonly backoff: { readonly initialMs: number; readonly maxMs: number };

  constructor(private readonly options: LeaseWatchOptions<T>) {
    this.path =
      options.collectionPath ??
      `/apis/coordination.k8s.io/v1/namespaces/${options.namespace}/leases`;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    void this.run();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream?.abort(new LeaderElectError(ErrorCode.Aborted, 'watch closed'));
    if (this.sleepTimer !== null) clearTimeout(this.sleepTimer);
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        let resourceVersion = await this.list();
        for (;;) {
          const end = await this.watchFrom(resourceVersion);
          if (end.kind === 'expired') break;
          resourceVersion = end.resourceVersion;
        }
      } catch (error) {
        if (this.closed) return;
        this.failures += 1;
        if (this.state !== 'down') {
          this.state = 'down';
          this.options.listener({ type: 'down', error });
        }
        await this.sleep(this.nextDelay());
      }
    }
  }

  /** Reports the current state; returns the list's resourceVersion to watch from. */
  private async list(): Promise<string> {
    const ctx = this.context('list');
    const controller = this.track();
    let response: Awaited<ReturnType<KubeTransport['request']>>;
    try {
      response = await this.options.transport.request('GET', this.path, {
        query: { fieldSelector: `metadata.name=${this.options.name}` },
        signal: controller.signal,
        timeoutMs: this.options.requestTimeoutMs,
      });
    } catch (error) {
      throw networkError(error, ctx);
    } finally {
      this.untrack(controller);
    }
    if (response.status !== 200) throw statusError(response.status, response.body, ctx);
    const list = response.body as
      | { metadata?: { resourceVersion?: string }; items?: T[] }
      | undefined;
    const resourceVersion = list?.metadata?.resourceVersion;
    if (typeof resourceVersion !== 'string' || !Array.isArray(list?.items)) {
      throw new LeaderElectError(
        ErrorCode.BackendError,
        `unexpected answer to list ${this.path}: not a list`,
      );
    }
    const lease = list.items.find((item) => item.metadata?.name === this.options.name) ?? null;
    this.report(lease);
    return resourceVersion;
  }

  /** One watch stream from `resourceVersion`, until the server ends it or it fails (throws). */
  private async watchFrom(resourceVersion: string): Promise<StreamEnd> {
    const ctx = this.context('watch');
    const timeoutSeconds = WATCH_TIMEOUT_MIN_S + Math.floor(Math.random() * WATCH_TIMEOUT_SPREAD_S);
    const controller = this.track();
    try {
      let res: Awaited<ReturnType<KubeTransport['stream']>>;
      try {
        res = await this.options.transport.stream(this.path, {
          query: {
            watch: 'true',
            fieldSelector: `metadata.name=${this.options.name}`,
            allowWatchBookmarks: 'true',
            resourceVersion,
            timeoutSeconds: String(timeoutSeconds),
          },
          signal: controller.signal,
          headersTimeoutMs: this.options.requestTimeoutMs,
        });
      } catch (error) {
        throw networkError(error, ctx);
      }
      if (res.statusCode !== 200) {
        const text = await readBody(res).catch(() => '');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        if (res.statusCode === 410) return { kind: 'expired' };
        throw statusError(res.statusCode ?? 0, body, ctx);
      }
      if (this.state !== 'up') {
        this.state = 'up';
        this.failures = 0;
        this.options.listener({ type: 'up' });
      }
      const stall = setTimeout(
        () =>
          controller.abort(
            new LeaderElectError(
              ErrorCode.BackendUnavailable,
              `watch on ${this.path} stalled past its ${timeoutSeconds} s timeout`,
            ),
          ),
        timeoutSeconds * 1000 + STALL_GRACE_MS,
      );
      try {
        return await this.consume(res, resourceVersion, controller.signal, ctx);
      } finally {
        clearTimeout(stall);
      }
    } finally {
      this.untrack(controller);
    }
  }

  /** Reads watch events (one JSON object per line) until the stream ends. */
  private consume(
    res: Awaited<ReturnType<KubeTransport['stream']>>,
    from: string,
    signal: AbortSignal,
    ctx: RequestContext,
  ): Promise<StreamEnd> {
    const openedAt = performance.now();
    let resourceVersion = from;
    let events = 0;
    let buffered = '';
    return new Promise<StreamEnd>((resolve, reject) => {
      const fail = (error: unknown) => {
        res.destroy();
        reject(networkError(signal.aborted ? signal.reason : error, ctx));
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          newline = buffered.indexOf('\n');
          if (line === '') continue;
          let event: WatchEventObject;
          try {
            event = JSON.parse(line) as WatchEventObject;
          } catch (error) {
            fail(error);
            return;
          }
          events += 1;
          const outcome = this.handle(event, ctx);
          if (outcome === 'expired') {
            res.destroy();
            resolve({ kind: 'expired' });
            return;
          }
          if (outcome instanceof Error) {
            fail(outcome);
            return;
          }
          if (outcome !== null) resourceVersion = outcome;
        }
      });
      res.on('end', () => {
        if (events === 0 && performance.now() - openedAt < MIN_HEALTHY_STREAM_MS) {
          reject(
            new LeaderElectError(
              ErrorCode.BackendUnavailable,
              `watch on ${this.path} ended at once without events`,
            ),
          );
          return;
        }
        resolve({ kind: 'ended', resourceVersion });
      });
      res.on('error', fail);
      res.on('close', () => {
        if (!res.complete) fail(new Error('watch connection closed'));
      });
    });
  }

  /** Applies one watch event; returns the new resourceVersion, `expired`, an error, or null. */
  private handle(event: WatchEventObject, ctx: RequestContext): string | 'expired' | Error | null {
    const object = event.object as T | undefined;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        if (object?.metadata?.name !== this.options.name) return null;
        this.report(event.type === 'DELETED' ? null : object);
        return object.metadata.resourceVersion ?? null;
      }
      case 'BOOKMARK':
        return object?.metadata?.resourceVersion ?? null;
      case 'ERROR': {
        const status = asStatus(event.object);
        if (status?.code === 410) return 'expired';
        return statusError(status?.code ?? 500, event.object, ctx);
      }
      default:
        return new Error(`unexpected watch event type ${JSON.stringify(event.type)}`);
    }
  }

  private report(lease: T | null): void {
    const version = lease === null ? null : (lease.metadata.resourceVersion ?? null);
    this.options.onLease(lease);
    if (version === this.reported) return;
    this.reported = version;
    if (!this.closed) this.options.listener(this.options.toRecordEvent(lease));
  }

  private context(verb: 'list' | 'watch'): RequestContext {
    return {
      verb,
      namespace: this.options.namespace,
      server: this.options.transport.server,
      ...(this.options.resource === undefined ? {} : { resource: this.options.resource }),
    };
  }

  private track(): AbortController {
    const controller = new AbortController();
    this.stream = controller;
    if (this.closed) controller.abort(new LeaderElectError(ErrorCode.Aborted, 'watch closed'));
    return controller;
  }

  private untrack(controller: AbortController): void {
    if (this.stream === controller) this.stream = null;
  }

  private nextDelay(): number {
    const base = Math.min(
      this.backoff.maxMs,
      this.backoff.initialMs * 2 ** Math.min(this.failures - 1, 20),
    );
    return base * (0.8 + Math.random() * 0.4);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve();
        return;
      }
      this.wakeUp = resolve;
      this.sleepTimer = setTimeout(() => {
        this.sleepTimer = null;
        this.wakeUp = null;
        resolve();
      }, ms);
    });
  }
}
