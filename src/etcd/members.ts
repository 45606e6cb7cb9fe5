/**
 * The members of one etcd3 client, and which of them failed us lately, so that a retry after a
 * member failed or went silent goes to a *different* member.
 *
 * Why: etcd3 picks a member at random for every new stream and call. After a member dies, hangs
 * or is cut off, a retry can land on it again (one time in three with three members); a leader
 * whose renew deadline leaves room for two or three attempts cannot afford that, and neither can
 * a fenced write bounded by its term. So a stream or call here goes to members in this order:
 * those that have not failed us lately (in random order, to spread the load), then those that
 * did (the one that failed longest ago first), and the one the caller asks to avoid last.
 *
 * The keepalive and watch streams go to the same member while it serves them (`affinity`): a
 * keepalive answered by the watch's member then vouches for the watch, so an idle election
 * needs no watch probes, and a keepalive that times out moves the watch too (watch-hub.ts).
 *
 * This uses etcd3's connection pool (`withConnection` with our own order of its hosts, which keeps
 * etcd3's credentials, auth token and per-member circuit breakers); when etcd3's internals are
 * not what this expects, it falls back to etcd3's own random choice.
 */
import { castGrpcError, type Etcd3 } from 'etcd3';
import type { Clock } from '../clock.js';

/** gRPC call metadata as etcd3 prepares it (credentials, auth token). */
export type Metadata = unknown;

/** How long a member that failed us is tried after the others. */
const SUSPECT_MS = 10_000;

export type Service = 'KV' | 'Lease' | 'Watch';

interface PoolHost {
  readonly host: string;
}

interface Pool {
  readonly hosts: readonly PoolHost[];
  withConnection<T>(
    service: Service,
    fn: (args: { resource: PoolHost; client: unknown; metadata: Metadata }) => T | Promise<T>,
    order?: Generator<PoolHost, void, unknown>,
  ): Promise<T>;
}

/** A stream or call opened on one member (`member` null when etcd3 chose it). */
export interface OnMember<T> {
  readonly value: T;
  readonly member: string | null;
}

export class Members {
  readonly #pool: Pool | null;
  readonly #clock: Clock;
  /** Member → clock reading when it last failed us. */
  readonly #suspects = new Map<string, number>();
  readonly #suspectListeners: ((member: string) => void)[] = [];
  /** The member the session's streams share (see the module comment), while not suspected. */
  #affinity: string | null = null;

  constructor(client: Etcd3, clock: Clock) {
    this.#pool = poolOf(client);
    this.#clock = clock;
  }

  /** True when calls can be placed on chosen members (etcd3's internals are as expected). */
  get targeted(): boolean {
    return this.#pool !== null;
  }

  /**
   * Runs `open` with the raw gRPC client of `service` on the best member (see the module
   * comment), never on `avoid` unless no other member is left. Returns null when members cannot
   * be chosen (the caller uses etcd3's own client then).
   */
  async open<T>(
    service: Service,
    open: (client: unknown, metadata: Metadata, member: string) => T | Promise<T>,
    avoid: string | null = null,
  ): Promise<OnMember<T> | null> {
    const pool = this.#pool;
    if (pool === null) return null;
    let member: string | null = null;
    const value = await pool.withConnection(
      service,
      ({ resource, client, metadata }) => {
        member = resource.host;
        return open(client, metadata, resource.host);
      },
      this.#order(pool, avoid, service !== 'KV'),
    );
    return { value, member };
  }

  /**
   * One unary call (`method` of `service`) on the best member, as etcd3 would make it (its
   * errors typed by etcd3). `placed` learns the member as soon as the call goes out (a call that
   * hangs never answers). Null when members cannot be chosen.
   */
  async call<T>(
    service: Service,
    method: string,
    payload: unknown,
    options: unknown,
    avoid: string | null,
    placed: (member: string) => void,
  ): Promise<OnMember<T> | null> {
    return this.open(
      service,
      (client, metadata, member) =>
        new Promise<T>((resolve, reject) => {
          placed(member);
          const invoke = (client as Record<string, (...args: unknown[]) => void>)[method];
          if (typeof invoke !== 'function') {
            reject(new Error(`etcd3's ${service} client has no method ${method}`));
            return;
          }
          invoke.call(client, payload, metadata, options, (error: Error | null, response: T) => {
            if (error) reject(castGrpcError(error));
            else resolve(response);
          });
        }),
      avoid,
    );
  }

  /** `member` failed us (an error, a timeout, silence): try the others first for a while. */
  suspect(member: string | null): void {
    if (member === null) return;
    this.#suspects.set(member, this.#clock.now());
    if (this.#affinity === member) this.#affinity = null;
    for (const listener of this.#suspectListeners) listener(member);
  }

  /**
   * Calls `listener` whenever a request or stream of this client finds a member failing, so that
   * the client's other streams on it move too (the watch stream, when a keepalive timed out).
   */
  onSuspect(listener: (member: string) => void): void {
    this.#suspectListeners.push(listener);
  }

  /** `member` answered: it is as good as any again. */
  trust(member: string | null): void {
    if (member !== null) this.#suspects.delete(member);
  }

  *#order(pool: Pool, avoid: string | null, streams: boolean): Generator<PoolHost, void, unknown> {
    const now = this.#clock.now();
    const affinity = streams ? this.#affinity : null;
    const rank = (host: PoolHost): number => {
      if (host.host === avoid) return Number.POSITIVE_INFINITY;
      const failedAt = this.#suspects.get(host.host);
      if (failedAt === undefined || now - failedAt > SUSPECT_MS) {
        return host.host === affinity ? -2 : -1;
      }
      return failedAt;
    };
    const hosts = shuffle([...pool.hosts]).sort((a, b) => rank(a) - rank(b));
    // The first stream of the session picks the member the others follow.
    if (streams && this.#affinity === null && hosts[0] !== undefined && hosts[0].host !== avoid) {
      this.#affinity = hosts[0].host;
    }
    // etcd3 asks for as many hosts as it has, skipping those whose circuit breaker is open.
    for (;;) yield* hosts;
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** etcd3's connection pool, if it looks as this module expects. */
function poolOf(client: Etcd3): Pool | null {
  const pool = (client as unknown as { pool?: Partial<Pool> }).pool;
  if (
    pool === undefined ||
    !Array.isArray(pool.hosts) ||
    typeof pool.withConnection !== 'function' ||
    !pool.hosts.every((host) => typeof (host as Partial<PoolHost>).host === 'string')
  ) {
    return null;
  }
  return pool as Pool;
}
