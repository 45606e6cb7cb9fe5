import type { WatchHandle } from '../backend/lease-backend.js';
import type { RecordWatchEvent } from '../backend/record-store.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import {
  asStatus,
  type LeaseVerb,
  networkError,
  type RequestContext,
  statusError,
} from './kube-errors.js';
import type { KubeResponse, KubeTransport } from './kube-transport.js';
import type { LeaseCandidateObject } from './lease-candidate.js';
import { LeaseWatch } from './lease-watch.js';

/** What the candidate's watch reports: every new version (`null`: deleted), up and down. */
export type CandidateWatchEvent =
  | { readonly type: 'candidate'; readonly candidate: LeaseCandidateObject | null }
  | { readonly type: 'up' }
  | { readonly type: 'down'; readonly error?: unknown };

/**
 * Requests on `coordination.k8s.io/v1beta1` LeaseCandidates in one namespace, with the typed
 * errors of the Lease store: 403 names the verb on `leasecandidates`, 409 is `LE_CONFLICT`, and
 * a 404 that is not about the object itself (the API version is not served) is `LE_UNSUPPORTED`,
 * naming the group, the feature gate and the flag that enable it.
 */
export class LeaseCandidateClient {
  readonly collectionPath: string;

  constructor(
    private readonly transport: KubeTransport,
    readonly namespace: string,
    /** The bound on each request, read at each request (it follows the electors' timings). */
    private readonly requestTimeoutMs: () => number,
  ) {
    this.collectionPath = `/apis/coordination.k8s.io/v1beta1/namespaces/${namespace}/leasecandidates`;
  }

  /** The candidate, or null when it does not exist. */
  async get(name: string, signal: AbortSignal): Promise<LeaseCandidateObject | null> {
    const ctx = this.context('get', name);
    const response = await this.send(
      'GET',
      `${this.collectionPath}/${name}`,
      undefined,
      signal,
      ctx,
    );
    if (response.status === 404 && isObjectNotFound(response.body, name)) return null;
    return this.accept(response, [200], ctx);
  }

  /** Creates it; `LE_CONFLICT` when it exists. */
  async create(
    candidate: LeaseCandidateObject,
    signal: AbortSignal,
  ): Promise<LeaseCandidateObject> {
    const ctx = this.context('create', candidate.metadata.name ?? '');
    const response = await this.send('POST', this.collectionPath, candidate, signal, ctx);
    return this.accept(response, [200, 201], ctx);
  }

  /**
   * Replaces it if its resourceVersion is still the one in `candidate` (`LE_CONFLICT` otherwise);
   * null when it was deleted meanwhile.
   */
  async update(
    candidate: LeaseCandidateObject,
    signal: AbortSignal,
  ): Promise<LeaseCandidateObject | null> {
    const name = candidate.metadata.name ?? '';
    const ctx = this.context('update', name);
    const response = await this.send(
      'PUT',
      `${this.collectionPath}/${name}`,
      candidate,
      signal,
      ctx,
    );
    if (response.status === 404 && isObjectNotFound(response.body, name)) return null;
    return this.accept(response, [200], ctx);
  }

  /** Deletes it; a candidate already gone is fine. */
  async delete(name: string, signal: AbortSignal): Promise<void> {
    const ctx = this.context('delete', name);
    const response = await this.send(
      'DELETE',
      `${this.collectionPath}/${name}`,
      undefined,
      signal,
      ctx,
    );
    if (response.status === 404 && isObjectNotFound(response.body, name)) return;
    if (response.status !== 200 && response.status !== 202) {
      throw this.failure(response, ctx);
    }
  }

  /** Follows the one candidate `name` (list, then watch), reconnecting after failures. */
  watch(name: string, listener: (event: CandidateWatchEvent) => void): WatchHandle {
    return new LeaseWatch<LeaseCandidateObject>({
      transport: this.transport,
      namespace: this.namespace,
      name,
      collectionPath: this.collectionPath,
      resource: 'leasecandidates',
      requestTimeoutMs: this.requestTimeoutMs(),
      onLease: () => undefined,
      // The watch reports each version once, in order; the object travels as the record's data.
      toRecordEvent: (candidate) => ({
        type: 'record',
        record:
          candidate === null
            ? null
            : { version: candidate.metadata.resourceVersion ?? '', data: candidate },
      }),
      listener: (event: RecordWatchEvent) => {
        if (event.type !== 'record') {
          listener(event);
          return;
        }
        listener({
          type: 'candidate',
          candidate: (event.record?.data as LeaseCandidateObject | undefined) ?? null,
        });
      },
    });
  }

  private async send(
    method: string,
    path: string,
    body: LeaseCandidateObject | undefined,
    signal: AbortSignal,
    ctx: RequestContext,
  ): Promise<KubeResponse> {
    try {
      return await this.transport.request(method, path, {
        ...(body === undefined ? {} : { body }),
        signal,
        timeoutMs: this.requestTimeoutMs(),
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw networkError(error, ctx);
    }
  }

  private accept(response: KubeResponse, ok: number[], ctx: RequestContext): LeaseCandidateObject {
    if (!ok.includes(response.status)) throw this.failure(response, ctx);
    const candidate = response.body as LeaseCandidateObject | undefined;
    if (
      typeof candidate !== 'object' ||
      candidate === null ||
      typeof candidate.metadata?.resourceVersion !== 'string'
    ) {
      throw new LeaderElectError(
        ErrorCode.BackendError,
        `unexpected answer from ${this.transport.server} to ${ctx.verb} LeaseCandidate "${ctx.name ?? ''}": not a LeaseCandidate`,
      );
    }
    return candidate;
  }

  private failure(response: KubeResponse, ctx: RequestContext): LeaderElectError {
    if (response.status === 404 && isVersionNotServed(response.body)) {
      return unsupportedError(this.transport.server, ctx);
    }
    return statusError(response.status, response.body, ctx);
  }

  private context(verb: LeaseVerb, name: string): RequestContext {
    return {
      verb,
      name,
      namespace: this.namespace,
      server: this.transport.server,
      resource: 'leasecandidates',
    };
  }
}

/** The error for an apiserver that does not serve LeaseCandidates. */
export function unsupportedError(server: string, ctx: RequestContext): LeaderElectError {
  return new LeaderElectError(
    ErrorCode.Unsupported,
    `the apiserver at ${server} does not serve coordination.k8s.io/v1beta1 LeaseCandidates ` +
      `(${ctx.verb} in namespace "${ctx.namespace}" answered 404), which coordinated leader ` +
      'election needs: start kube-apiserver with --runtime-config=coordination.k8s.io/v1beta1=true ' +
      'and --feature-gates=CoordinatedLeaderElection=true (beta since Kubernetes 1.33, off by ' +
      "default), or pass coordinated.fallback: 'election' to campaign without the controller",
    {
      details: {
        group: 'coordination.k8s.io',
        version: 'v1beta1',
        resource: 'leasecandidates',
        featureGate: 'CoordinatedLeaderElection',
        runtimeConfig: 'coordination.k8s.io/v1beta1=true',
        server,
        status: 404,
      },
    },
  );
}

/** A 404 about the object itself: the Status names it. */
function isObjectNotFound(body: unknown, name: string): boolean {
  const status = asStatus(body);
  return status?.reason === 'NotFound' && status.details?.name === name;
}

/**
 * A 404 that names no object and no namespace: the path itself is unknown, i.e. this API version
 * (or its resource) is not served. A missing namespace names the namespace (kind `namespaces`).
 */
function isVersionNotServed(body: unknown): boolean {
  const status = asStatus(body);
  if (status === null) return true; // a plain-text 404 from something that is not the resource
  return status.details?.name === undefined && status.details?.kind === undefined;
}
