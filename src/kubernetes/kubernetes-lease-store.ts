import type { ElectionTimings, LeaseBackend, WatchHandle } from '../backend/lease-backend.js';
import {
  RecordLeaseBackend,
  type RecordLeaseBackendOptions,
} from '../backend/record-lease-backend.js';
import type {
  LeaseRecord,
  RecordStore,
  RecordWatchEvent,
  StoredRecord,
} from '../backend/record-store.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import {
  asStatus,
  type LeaseVerb,
  networkError,
  type RequestContext,
  statusError,
} from './kube-errors.js';
import { type KubeResponse, KubeTransport } from './kube-transport.js';
import type { KubeClientConfig } from './kubeconfig.js';
import {
  LEASE_API_VERSION,
  type LeaseObject,
  leaseToRecordData,
  mergeSpec,
  metadataFor,
  recordToLeaseSpec,
  toLeaseDurationSeconds,
} from './lease-object.js';
import { LeaseWatch } from './lease-watch.js';
import { validateLeaseName, validateNamespace } from './names.js';

/** client-go's request timeout with its default renew deadline: max(1 s, 10 s / 2). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/** Versions of each Lease kept for updates (ours, and the few seen just before). */
const CACHED_VERSIONS = 4;

export interface KubernetesLeaseStoreOptions {
  /**
   * Where and as whom: {@link loadKubeconfig}'s result (fast: it does not import client-node's
   * generated API), or a client-node `KubeConfig` loaded by the caller (`loadFromDefault()`,
   * `loadFromCluster()` in a pod, `loadFromFile()`...). Its current context's cluster and user
   * are used, including exec/OIDC plugins, client certificates and proxies.
   */
  readonly kubeConfig: KubeClientConfig;
  /** Namespace of the Lease objects (a DNS-1123 label). */
  readonly namespace: string;
  /**
   * Upper bound on each HTTP request, in milliseconds; each is also bounded by the elector's
   * deadline for the call. By default it follows the electors: `renewDeadline / 2` (the smallest
   * among the electors using this store), so that a hung request leaves time for another within
   * the renew deadline (client-go uses `max(1 s, renewDeadline / 2)`).
   * @default renewDeadline / 2 (5000 before any elector is configured)
   */
  readonly requestTimeoutMs?: number;
}

/**
 * A {@link RecordStore} over `coordination.k8s.io/v1` Lease objects: the storage of client-go's
 * `LeaseLock`, so electors of this library and Go components (kube-controller-manager,
 * controller-runtime managers...) can campaign for the same Lease.
 *
 * - Mapping as client-go's: `holderIdentity`, `leaseDurationSeconds` (whole seconds: other
 *   durations are rejected with `LE_INVALID_TIMING` before any request), `acquireTime` and
 *   `renewTime` as MicroTime, `leaseTransitions`, and `strategy` / `preferredHolder` kept.
 * - The version is the Lease's `resourceVersion`; updates are a PUT carrying it (409 →
 *   `LE_CONFLICT`), built from the last object read or written, so labels, annotations, owner
 *   references and unknown spec fields survive, and the leader's renewal needs no GET first.
 * - `watch` follows the single Lease (field selector on its name) and reports `down` and
 *   reconnects with bounded backoff when the stream breaks.
 *
 * One store can serve many Lease names in its namespace ({@link lease}); {@link close} frees
 * its connections. {@link kubernetesBackend} makes a backend that owns a store of its own.
 */
export class KubernetesLeaseStore implements RecordStore {
  readonly description: string;
  readonly namespace: string;
  /** @internal The connection to the apiserver; the coordinated candidate shares it. */
  readonly transport: KubeTransport;
  private requestTimeoutMs: number;
  /** Whether the user chose the request timeout (else it follows the electors' renewDeadline). */
  private readonly fixedTimeout: boolean;
  private configured = false;
  /** Last few Lease objects per name, newest last. */
  private readonly objects = new Map<string, LeaseObject[]>();
  private readonly watches = new Set<WatchHandle>();

  constructor(options: KubernetesLeaseStoreOptions) {
    validateNamespace(options.namespace);
    const timeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `requestTimeoutMs must be a positive number of milliseconds, got ${String(timeout)}`,
        { details: { requestTimeoutMs: timeout } },
      );
    }
    this.namespace = options.namespace;
    this.requestTimeoutMs = timeout;
    this.fixedTimeout = options.requestTimeoutMs !== undefined;
    this.transport = new KubeTransport(options.kubeConfig);
    this.description = `kubernetes ${this.transport.server} namespace "${this.namespace}"`;
  }

  /**
   * Called by each elector's constructor: rejects a leaseDuration that is not whole seconds
   * (`LE_INVALID_TIMING`, before any request), and, unless `requestTimeoutMs` was given, bounds
   * every request by renewDeadline / 2 (the smallest of the electors using this store).
   */
  configure(timings: ElectionTimings): void {
    toLeaseDurationSeconds(timings.leaseDurationMs);
    if (this.fixedTimeout) return;
    const derived = timings.renewDeadlineMs / 2;
    this.requestTimeoutMs = this.configured ? Math.min(this.requestTimeoutMs, derived) : derived;
    this.configured = true;
  }

  /** @internal The bound on each request (see `requestTimeoutMs`), as configured now. */
  get requestTimeout(): number {
    return this.requestTimeoutMs;
  }

  /** A lease backend for the Lease `name` on this store (one per elector). */
  lease(name: string, options: RecordLeaseBackendOptions = {}): LeaseBackend {
    validateLeaseName(name);
    return new RecordLeaseBackend(this, name, options);
  }

  async get(name: string, signal: AbortSignal): Promise<StoredRecord | null> {
    validateLeaseName(name);
    const ctx = this.context('get', name);
    const response = await this.send('GET', this.objectPath(name), undefined, signal, ctx);
    if (response.status === 404 && isLeaseNotFound(response.body, name)) {
      this.objects.delete(name);
      return null;
    }
    return this.accept(response, [200], ctx);
  }

  async create(name: string, record: LeaseRecord, signal: AbortSignal): Promise<StoredRecord> {
    validateLeaseName(name);
    const ctx = this.context('create', name);
    const body: LeaseObject = {
      apiVersion: LEASE_API_VERSION,
      kind: 'Lease',
      metadata: { name, namespace: this.namespace },
      spec: recordToLeaseSpec(record),
    };
    const response = await this.send('POST', this.collectionPath(), body, signal, ctx);
    return this.accept(response, [200, 201], ctx);
  }

  /**
   * A PUT of the Lease as last seen at `version` with the record's spec: the resourceVersion in
   * it makes the apiserver compare-and-swap (409 when it changed). No GET first: the object
   * comes from the cache of what this store read, wrote or watched.
   */
  async update(
    name: string,
    record: LeaseRecord,
    version: string,
    signal: AbortSignal,
  ): Promise<StoredRecord> {
    validateLeaseName(name);
    const ctx = this.context('update', name);
    recordToLeaseSpec(record); // rejects a duration that is not whole seconds before any request
    const base = this.cached(name, version) ?? (await this.fetchVersion(name, version, signal));
    const body: LeaseObject = {
      ...base,
      apiVersion: LEASE_API_VERSION,
      kind: 'Lease',
      metadata: {
        ...metadataFor(base.metadata, record),
        name,
        namespace: this.namespace,
        resourceVersion: version,
      },
      spec: mergeSpec(base.spec, record),
    };
    const response = await this.send('PUT', this.objectPath(name), body, signal, ctx);
    if (response.status === 404) {
      throw new LeaderElectError(
        ErrorCode.Conflict,
        `cannot update ${ctx.name === undefined ? 'the Lease' : `Lease "${name}"`} in namespace "${this.namespace}": it was deleted`,
        { details: { status: 404, verb: 'update', name, namespace: this.namespace } },
      );
    }
    return this.accept(response, [200], ctx);
  }

  watch(name: string, listener: (event: RecordWatchEvent) => void): WatchHandle {
    validateLeaseName(name);
    const watch = new LeaseWatch({
      transport: this.transport,
      namespace: this.namespace,
      name,
      requestTimeoutMs: this.requestTimeoutMs,
      onLease: (lease) => {
        if (lease === null) this.objects.delete(name);
        else this.remember(name, lease);
      },
      listener,
      toRecordEvent: (lease) => ({
        type: 'record',
        record: lease === null ? null : this.toStored(lease),
      }),
    });
    const handle: WatchHandle = {
      close: () => {
        if (this.watches.delete(handle)) watch.close();
      },
    };
    this.watches.add(handle);
    return handle;
  }

  /** Stops every watch and closes every connection of this store. Idempotent. */
  async close(): Promise<void> {
    for (const handle of [...this.watches]) handle.close();
    this.transport.close();
    this.objects.clear();
  }

  private async send(
    method: string,
    path: string,
    body: LeaseObject | undefined,
    signal: AbortSignal,
    ctx: RequestContext,
  ): Promise<KubeResponse> {
    try {
      return await this.transport.request(method, path, {
        ...(body === undefined ? {} : { body }),
        signal,
        timeoutMs: this.requestTimeoutMs,
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw networkError(error, ctx);
    }
  }

  /** A success answer carrying a Lease → the stored record; anything else → a typed error. */
  private accept(response: KubeResponse, ok: number[], ctx: RequestContext): StoredRecord {
    if (!ok.includes(response.status)) throw statusError(response.status, response.body, ctx);
    const lease = response.body as LeaseObject | undefined;
    if (
      typeof lease !== 'object' ||
      lease === null ||
      typeof lease.metadata?.resourceVersion !== 'string'
    ) {
      throw new LeaderElectError(
        ErrorCode.BackendError,
        `unexpected answer from ${this.transport.server} to ${ctx.verb} Lease "${ctx.name ?? ''}": not a Lease`,
      );
    }
    this.remember(ctx.name ?? '', lease);
    return this.toStored(lease);
  }

  private toStored(lease: LeaseObject): StoredRecord {
    return { version: lease.metadata.resourceVersion ?? '', data: leaseToRecordData(lease) };
  }

  private remember(name: string, lease: LeaseObject): void {
    const version = lease.metadata.resourceVersion;
    if (version === undefined) return;
    const list = (this.objects.get(name) ?? []).filter(
      (o) => o.metadata.resourceVersion !== version,
    );
    list.push(lease);
    if (list.length > CACHED_VERSIONS) list.splice(0, list.length - CACHED_VERSIONS);
    this.objects.set(name, list);
  }

  private cached(name: string, version: string): LeaseObject | undefined {
    return this.objects.get(name)?.find((o) => o.metadata.resourceVersion === version);
  }

  /**
   * Only for a version this store has not kept (another store's answer handed to us): read the
   * object so the PUT keeps its metadata. If it moved on, the swap is lost already.
   */
  private async fetchVersion(
    name: string,
    version: string,
    signal: AbortSignal,
  ): Promise<LeaseObject> {
    await this.get(name, signal);
    const current = this.cached(name, version);
    if (current === undefined) {
      throw new LeaderElectError(
        ErrorCode.Conflict,
        `Lease "${name}" in namespace "${this.namespace}" is no longer at version ${version}`,
        { details: { verb: 'update', name, namespace: this.namespace, version } },
      );
    }
    return current;
  }

  private context(verb: LeaseVerb, name: string): RequestContext {
    return { verb, name, namespace: this.namespace, server: this.transport.server };
  }

  private collectionPath(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`;
  }

  private objectPath(name: string): string {
    return `${this.collectionPath()}/${name}`;
  }
}

/** A 404 about the Lease itself (not an unserved API group, which also answers 404). */
function isLeaseNotFound(body: unknown, name: string): boolean {
  const status = asStatus(body);
  return status?.reason === 'NotFound' && status.details?.name === name;
}
