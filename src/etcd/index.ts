// leader-elect/etcd — the public API, listed by name.
import type { LeaseBackend } from '../backend/lease-backend.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { EtcdElectionBackend } from './etcd-backend.js';
import type { EtcdFence } from './fence.js';
import { validateElectionName } from './keys.js';
import {
  createEtcdClient,
  type EtcdBackendOptions,
  validateConnection,
  validateRequestTimeout,
} from './options.js';

export type {
  EtcdFence,
  EtcdFenceCallOptions,
  EtcdFencedOp,
  EtcdFencedOpResult,
  EtcdFencedResult,
  EtcdKeyValue,
} from './fence.js';
export { candidateKey } from './keys.js';
export {
  createEtcdClient,
  type EtcdAuthOptions,
  type EtcdBackendOptions,
  type EtcdConnectionOptions,
  type EtcdTlsOptions,
} from './options.js';

/** A {@link LeaseBackend} for one etcd election; its terms carry an {@link EtcdFence}. */
export interface EtcdBackend extends LeaseBackend<EtcdFence> {
  /** The election name (the key prefix, without the trailing `/`). */
  readonly election: string;
}

/** Advanced settings of {@link etcdBackend}; the defaults suit the elector's default timings. */
export interface EtcdBackendTuning {
  /**
   * Oldest acknowledged keepalive a renewal may reuse, in milliseconds. When you set it, a
   * renewal reuses the session's latest keepalive if it was sent after the election's previous
   * attempt began and is at most this old. When you do not, the elector's timings set it when it
   * is constructed: `min(1.2 × retryPeriod, (renewDeadline − retryPeriod) / 2)`, raised to 1.2
   * session background intervals (`min(TTL/3, renewDeadline/2)`) as long as a term proved by a
   * keepalive that old still outlives two renewals (`renewDeadline − 2.4 × retryPeriod`), and a
   * renewal reuses any keepalive up to that age: a leader's renewals then ride on the session's
   * background keepalive (5200 ms with the defaults 15 s / 10 s / 2 s: one keepalive per 5 s, as
   * Go's `concurrency.Session`).
   * @default derived from the elector's timings (see above)
   */
  readonly maxKeepaliveAge?: number;

  /**
   * Publish a small side key per candidate, next to the election, that lets a leader steer it:
   * `transfer()` to a candidate that is not next in line (the candidates ahead of it are sent to
   * the back), and a successor's confirmation. The key is `<election>\u0000leader-elect/<lease
   * ID in hex>`, attached to the session lease, outside the recipe's prefix: `etcdctl elect` and
   * Go peers see nothing new under `<election>/`. Needs readwrite on that side prefix too (without
   * it, steering stays off with a warning). Every leader-elect candidate of the election should
   * set it; without it a transfer works only to the candidate next in line.
   * @default false
   */
  readonly steering?: boolean;
}

/** The default `onWarning`: a process warning with the error's code. */
function emitProcessWarning(warning: LeaderElectError): void {
  process.emitWarning(warning.message, { code: warning.code });
}

/**
 * A lease backend over etcd, using etcd's own election recipe so that it competes with Go's
 * `concurrency.Election` and `etcdctl elect` in the same election.
 *
 * - Keys: `<election>/<lease ID in lowercase hex>`, value = the candidate's identity, attached to
 *   the session lease. The leader is the live key with the lowest create revision; that revision
 *   is the term's fencing token (`term.token`, and `term.fence.revision`).
 * - Session lease: one per etcd3 client (and lease duration), shared by every election on the
 *   client, kept alive by keepalives that do not grow with the number of elections. Its TTL is
 *   `leaseDuration` rounded **up** to whole seconds (etcd TTLs are seconds; a shorter lease
 *   would be unsafe); etcd may raise it to its minimum (about 1.5 × its election timeout), and
 *   the granted TTL is what a held observation reports as `leaseDurationMs`.
 * - Followers watch the deletion of their predecessor key only (no thundering herd) and the
 *   leader key (to report who leads); every watch and keepalive stream requires an etcd leader,
 *   so a partitioned member fails them instead of hanging.
 * - `term.fence.put/delete/txn` commit only while our key exists with the term's revision, and
 *   reject with `LE_NOT_LEADER` otherwise.
 * - Keys under the prefix that do not follow the layout are ignored for leadership and reported
 *   once through `onWarning`. A layout key not attached to the lease its name gives (written by
 *   hand, never expiring) blocks the election like any candidate: when it is the oldest,
 *   `attempt` rejects with `LE_CORRUPT_RECORD`, which the elector reports as an `error` event.
 * - `close()` removes our key (a follower's at once; a leader's was removed by `release`).
 *   The last election of a session revokes the lease — unless it still holds its term
 *   (`releaseOnCancel: false`): then keepalives stop and the lease runs out its TTL on the server
 *   as if the process had crashed. A client created from `endpoints` is closed with its backend.
 *
 * Errors are typed at the edge: unreachable → `LE_BACKEND_UNAVAILABLE` (transient), wrong user or
 * password → `LE_AUTH_FAILED`, role without access to the prefix → `LE_PERMISSION_DENIED`, TLS
 * failures → `LE_TLS_ERROR`, an empty election name → `LE_INVALID_NAME` (at construction).
 *
 * @example
 * import { Etcd3 } from 'etcd3';
 * import { LeaderElector } from 'leader-elect';
 * import { etcdBackend } from 'leader-elect/etcd';
 *
 * const client = new Etcd3({ hosts: ['127.0.0.1:2379'] });
 * const elector = new LeaderElector({
 *   backend: etcdBackend({ client, election: 'my-service' }),
 *   leaseDuration: 15_000,
 *   onStartedLeading: async (term) => {
 *     await term.fence.put('/my-service/config', 'x'); // rejected once the term is over
 *   },
 * });
 * void elector.run();
 * @example
 * // Endpoints with TLS and auth: the backend creates its own client and closes it on stop.
 * etcdBackend({
 *   endpoints: ['https://etcd-0:2379', 'https://etcd-1:2379', 'https://etcd-2:2379'],
 *   tls: { ca: readFileSync('ca.pem'), cert: readFileSync('client.pem'), key: readFileSync('client-key.pem') },
 *   auth: { username: 'my-service', password: process.env.ETCD_PASSWORD ?? '' },
 *   election: 'my-service',
 * });
 */
export function etcdBackend(options: EtcdBackendOptions & EtcdBackendTuning): EtcdBackend {
  if (typeof options !== 'object' || options === null) {
    throw new LeaderElectError(ErrorCode.InvalidOption, 'etcdBackend needs an options object');
  }
  const election = validateElectionName(options.election);
  const requestTimeout = validateRequestTimeout(options.requestTimeout);
  const maxKeepaliveAge = options.maxKeepaliveAge;
  if (
    maxKeepaliveAge !== undefined &&
    (typeof maxKeepaliveAge !== 'number' ||
      !Number.isFinite(maxKeepaliveAge) ||
      maxKeepaliveAge < 0)
  ) {
    throw new LeaderElectError(
      ErrorCode.InvalidOption,
      `maxKeepaliveAge must be a non-negative number of milliseconds, got ${String(maxKeepaliveAge)}`,
    );
  }
  if (options.steering !== undefined && typeof options.steering !== 'boolean') {
    throw new LeaderElectError(
      ErrorCode.InvalidOption,
      `steering must be true or false, got ${JSON.stringify(options.steering)}`,
    );
  }
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
    throw new LeaderElectError(ErrorCode.InvalidOption, 'onWarning must be a function');
  }
  const onWarning = options.onWarning ?? emitProcessWarning;
  if (options.client !== undefined) {
    const client = options.client as unknown;
    if (
      typeof client !== 'object' ||
      client === null ||
      typeof (client as { kv?: unknown }).kv !== 'object'
    ) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        'client must be an Etcd3 instance from the etcd3 package',
      );
    }
    if (
      options.endpoints !== undefined ||
      options.tls !== undefined ||
      options.auth !== undefined
    ) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        'pass either client or endpoints (with tls/auth), not both: configure TLS and auth on the client you pass',
      );
    }
    return new EtcdElectionBackend({
      client: options.client,
      ownsClient: false,
      endpoints: [],
      election,
      requestTimeout,
      maxKeepaliveAge,
      onWarning,
      steering: options.steering === true,
    });
  }
  if (options.endpoints === undefined) {
    throw new LeaderElectError(
      ErrorCode.InvalidOption,
      'etcdBackend needs a client (an Etcd3 instance) or endpoints',
    );
  }
  validateConnection(options);
  return new EtcdElectionBackend({
    client: createEtcdClient(options),
    ownsClient: true,
    endpoints: options.endpoints,
    election,
    requestTimeout,
    maxKeepaliveAge,
    onWarning,
    steering: options.steering === true,
  });
}
