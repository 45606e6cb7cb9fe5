/**
 * What the backend keeps per etcd3 client: the shared watch stream and the session leases (one
 * per requested TTL; a second candidate for the same election on the same client gets its own,
 * since the recipe allows one key per lease and election). Backends reference it; the last one
 * to close ends the watch stream and, for a client we created from endpoints, closes the client.
 */
import type { Etcd3, IOptions } from 'etcd3';
import type { Clock } from '../clock.js';
import { connectionCause } from '../connection-cause.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { CampaignBatcher } from './campaign-batcher.js';
import { type CallOptions, unary } from './grpc-call.js';
import { KeyChecker } from './key-checker.js';
import { LeaseSession } from './lease-session.js';
import { Members } from './members.js';
import { DEFAULT_REQUEST_LIMIT, type Lane, RequestGate } from './request-gate.js';
import { diagnoseTls, probeTcp } from './tls-diagnosis.js';
import { WatchHub } from './watch-hub.js';

/** Connection failures whose cause gRPC may have lost; a TLS handshake can tell. */
const OPAQUE_CONNECTION_FAILURE = /No connection established|Failed to connect|circuit breaker/;
const DIAGNOSIS_TTL_MS = 5_000;
const DIAGNOSIS_TIMEOUT_MS = 1_000;

const registry = new WeakMap<Etcd3, ClientResources>();

/**
 * Campaigns of one client that run at once; the others wait for a slot, in order, and the
 * elector starts an attempt's deadline only when it gets one (`LeaseBackend.admit`). Without it,
 * every campaign of a process starting 10,000 elections began at once and waited in the request
 * gate with its whole state (its deadline timer, retry policy, transaction), counting its
 * deadline while it waited: at 100,000 the queue outlasted the deadline, the campaigns timed out
 * and queued again, and almost none were elected. A waiting admission holds one abort signal.
 * Twice the request gate's limit keeps the gate full (a campaign is one transaction, sometimes
 * followed by a keepalive) without a long queue in it.
 */
export const CAMPAIGNS_IN_FLIGHT = 2 * DEFAULT_REQUEST_LIMIT;

export interface ClientResourceOptions {
  /** We created the client and close it with the last backend. */
  readonly owned: boolean;
  readonly endpoints: readonly string[];
  readonly requestTimeout: number;
  /** The clock of the sessions and watches (the first backend of a client sets it). */
  readonly clock: Clock;
}

export class ClientResources {
  readonly client: Etcd3;
  readonly endpoints: readonly string[];
  readonly requestTimeout: number;
  /** Every time reading and timer of the client's sessions, watches and checks. */
  readonly clock: Clock;
  readonly hub: WatchHub;
  /** Admission control for the elections' unary requests (see request-gate.ts). */
  readonly gate = new RequestGate();
  /** Admission of the elections' campaigns (see {@link CAMPAIGNS_IN_FLIGHT}). */
  readonly admission = new RequestGate(CAMPAIGNS_IN_FLIGHT);
  /** Batched campaign transactions (see campaign-batcher.ts). */
  readonly campaigns: CampaignBatcher;
  /** Batched reads of single keys (see key-checker.ts). */
  readonly keys: KeyChecker;
  /** The client's members and which of them failed us lately (see members.ts). */
  readonly members: Members;
  readonly #owned: boolean;
  readonly #sessions = new Set<LeaseSession>();
  #references = 0;
  #diagnosis: { readonly at: number; readonly verdict: Promise<string | null> } | null = null;
  /** The last failure whose message named its cause (see connection-cause.ts). */
  #lastCause: { readonly text: string; readonly at: number } | null = null;

  private constructor(client: Etcd3, options: ClientResourceOptions) {
    this.client = client;
    this.endpoints = options.endpoints;
    this.requestTimeout = options.requestTimeout;
    this.clock = options.clock;
    this.members = new Members(client, options.clock);
    this.#owned = options.owned;
    this.hub = new WatchHub(
      client,
      options.endpoints,
      () => isClientClosed(client),
      options.clock,
      this.members,
    );
    this.campaigns = new CampaignBatcher(
      client,
      (call, signal, timeoutMs, lane) => this.unary(call, signal, timeoutMs, lane),
      options.requestTimeout,
      options.clock,
    );
    this.keys = new KeyChecker(
      client,
      (call, signal, timeoutMs, lane) => this.unary(call, signal, timeoutMs, lane),
      options.requestTimeout,
      options.clock,
    );
    warmUp(client);
  }

  /** The resources of `client`, created on first use; every call must be paired with release(). */
  static acquire(client: Etcd3, options: ClientResourceOptions): ClientResources {
    let resources = registry.get(client);
    if (resources === undefined) {
      resources = new ClientResources(client, options);
      registry.set(client, resources);
    }
    resources.#references++;
    return resources;
  }

  /**
   * One unary request of an election, through the gate: its gRPC deadline (`timeoutMs`) starts
   * when it is sent, not while it waits; the signal bounds both.
   */
  unary<T>(
    call: (options: CallOptions) => Promise<T>,
    signal: AbortSignal,
    timeoutMs: number,
    lane: Lane = 'normal',
  ): Promise<T> {
    return this.gate.run(() => unary(call, signal, timeoutMs), signal, lane);
  }

  /**
   * A session for `election` with this TTL: the shared one unless it already hosts `election`.
   * `renewDeadlineMs` (when the election's timings are known) bounds how long the session goes
   * on without hearing etcd (see keepalive-rules.ts `deafAfter`).
   */
  sessionFor(election: string, ttlSeconds: number, renewDeadlineMs: number | null): LeaseSession {
    for (const session of this.#sessions) {
      if (!session.closed && session.requestedTtl === ttlSeconds && !session.hosts(election)) {
        session.join(election, renewDeadlineMs);
        return session;
      }
    }
    const session = new LeaseSession(
      {
        client: this.client,
        endpoints: this.endpoints,
        requestTimeout: this.requestTimeout,
        clock: this.clock,
        members: this.members,
        clientClosed: () => isClientClosed(this.client),
        forget: (ended) => this.#sessions.delete(ended),
        noteRevision: (revision, member) => this.hub.noteRevision(revision, member),
      },
      ttlSeconds,
    );
    this.#sessions.add(session);
    session.join(election, renewDeadlineMs);
    return session;
  }

  /**
   * Replaces an opaque "unavailable" error by `LE_TLS_ERROR` when a direct TLS handshake with
   * the client's credentials fails. Other errors are returned as they are.
   */
  async refine(error: unknown): Promise<unknown> {
    if (!(error instanceof LeaderElectError) || error.code !== ErrorCode.BackendUnavailable) {
      return error;
    }
    if (error.details.cause !== undefined) {
      this.#lastCause = { text: String(error.message), at: this.clock.now() };
      return error;
    }
    if (!OPAQUE_CONNECTION_FAILURE.test(error.message)) return error;
    // etcd3 keeps its options on the client (a protected field): read the TLS material there,
    // so clients passed in by the user are diagnosed too.
    const options = (this.client as unknown as { options?: IOptions }).options;
    const credentials = options?.credentials;
    const hosts = options?.hosts;
    const endpoint = this.endpoints[0] ?? (typeof hosts === 'string' ? hosts : hosts?.[0]);
    if (endpoint === undefined) return error;
    if (credentials === undefined) return this.#withCause(error, endpoint);
    const now = this.clock.now();
    if (this.#diagnosis === null || now - this.#diagnosis.at > DIAGNOSIS_TTL_MS) {
      this.#diagnosis = {
        at: now,
        verdict: diagnoseTls(endpoint, credentials, DIAGNOSIS_TIMEOUT_MS),
      };
    }
    const verdict = await this.#diagnosis.verdict;
    if (verdict === null) return error;
    return new LeaderElectError(
      ErrorCode.TlsError,
      `TLS handshake with etcd at ${endpoint} failed (${verdict}); check the CA certificate and the client certificate and key`,
      { cause: error, transient: false },
    );
  }

  /**
   * An opaque failure ("circuit breaker is open", "No connection established" without detail)
   * with the cause a recent failure named, or that a direct TCP connection shows.
   */
  async #withCause(error: LeaderElectError, endpoint: string): Promise<LeaderElectError> {
    const now = this.clock.now();
    const last = this.#lastCause;
    if (last !== null && now - last.at < DIAGNOSIS_TTL_MS) {
      return new LeaderElectError(ErrorCode.BackendUnavailable, last.text, {
        cause: error,
        transient: true,
      });
    }
    const probed = await probeTcp(endpoint, DIAGNOSIS_TIMEOUT_MS);
    const cause = probed === null ? null : connectionCause(probed);
    if (cause === null) return error;
    const where = error.message.slice(0, Math.max(0, error.message.indexOf(': etcd')));
    return new LeaderElectError(
      ErrorCode.BackendUnavailable,
      `${where === '' ? 'etcd' : `${where}: etcd`} at ${endpoint} is unavailable: ${cause.text}`,
      { cause: error, transient: true, details: { cause: cause.kind } },
    );
  }

  /**
   * True once the etcd3 client was closed (by its owner). gRPC keeps streams that were already
   * open running after a close, so a renewal must not rely on them: it checks this first.
   */
  clientClosed(): boolean {
    return isClientClosed(this.client);
  }

  release(): void {
    if (--this.#references > 0) return;
    registry.delete(this.client);
    this.hub.close();
    this.keys.close();
    this.campaigns.close();
    if (this.#owned) this.client.close();
  }
}

/** The parts of etcd3's (private) connection pool that {@link warmUp} uses. */
interface EtcdPoolInternals {
  readonly hosts?: readonly {
    getServiceClient(name: string): {
      getChannel(): { getConnectivityState(connect: boolean): unknown };
    };
  }[];
}

/**
 * Opens the gRPC channels of the services we use to every member now. etcd3 creates them lazily,
 * one per member and service, and sends each call to a random member: without this, the first
 * takeover of a process could wait for a new connection. Best effort: if etcd3's internals
 * differ, nothing happens (the channels open on first use as before).
 */
function warmUp(client: Etcd3): void {
  try {
    const pool = (client as unknown as { pool?: EtcdPoolInternals }).pool;
    for (const host of pool?.hosts ?? []) {
      for (const service of ['KV', 'Lease', 'Watch']) {
        host.getServiceClient(service).getChannel().getConnectivityState(true);
      }
    }
  } catch {
    // internals changed: skip the optimisation
  }
}

/** Whether etcd3's pool was closed (every host closed); false if its internals differ. */
function isClientClosed(client: Etcd3): boolean {
  const hosts = (client as unknown as { pool?: { hosts?: readonly { closed?: unknown }[] } }).pool
    ?.hosts;
  return hosts !== undefined && hosts.length > 0 && hosts.every((host) => host.closed === true);
}
