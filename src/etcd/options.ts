import { ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import { Etcd3, type IOptions, isRecoverableError } from 'etcd3';
import { ErrorCode, LeaderElectError } from '../errors.js';

/** TLS material as PEM (contents, not paths: read files with `fs.readFileSync`). */
export interface EtcdTlsOptions {
  /**
   * CA certificate(s) that signed the etcd server certificates.
   * @default the system's trusted roots
   */
  readonly ca?: string | Buffer;
  /** Client certificate, for etcd's `--client-cert-auth`. Requires `key`. */
  readonly cert?: string | Buffer;
  /** Private key of `cert`. */
  readonly key?: string | Buffer;
}

/** etcd user and password (etcd's `auth enable`). */
export interface EtcdAuthOptions {
  readonly username: string;
  readonly password: string;
}

/** How to reach etcd when the backend creates (and owns) its own etcd3 client. */
export interface EtcdConnectionOptions {
  /**
   * Client URLs of the cluster members, e.g. `['https://10.0.0.1:2379', ...]`. Give all of
   * them: a request that fails on one member is retried on another.
   */
  readonly endpoints: readonly string[];
  /** Connect with TLS (and a client certificate when `cert` and `key` are given). */
  readonly tls?: EtcdTlsOptions;
  /** Authenticate with a username and password. */
  readonly auth?: EtcdAuthOptions;
}

interface EtcdBackendCommonOptions {
  /**
   * Name of the election: the key prefix every candidate shares. Candidate keys are
   * `<election>/<lease ID in hex>`, exactly as Go's `concurrency.NewElection(session, election)`
   * and `etcdctl elect <election>` write them, so all of them compete in the same election.
   * Must be non-empty and must not end with `/`.
   * @example 'my-service'
   */
  readonly election: string;

  /**
   * Upper bound in milliseconds on any single etcd request the backend makes on its own
   * (lease grant and revoke, fenced writes without a signal, cleanup on close). Requests made
   * for the elector are bounded by the elector's deadlines, which are usually shorter.
   * @default 5000
   */
  readonly requestTimeout?: number;

  /**
   * Receives non-fatal findings, e.g. a key under the election prefix that does not follow the
   * `<election>/<hex lease ID>` layout (it is ignored for leadership and reported once per key).
   * The value is a {@link LeaderElectError} with code `LE_CORRUPT_RECORD` and `details.key`.
   * @default reports through `process.emitWarning`
   */
  readonly onWarning?: (warning: LeaderElectError) => void;
}

/** Options of {@link etcdBackend}: pass an etcd3 client, or endpoints (with TLS and auth). */
export type EtcdBackendOptions = EtcdBackendCommonOptions &
  (
    | {
        /**
         * The etcd3 client to use. Every election on the same client shares one session lease
         * (per lease duration) and one watch stream. The client stays yours: close it after
         * the electors have stopped.
         */
        readonly client: Etcd3;
        readonly endpoints?: undefined;
        readonly tls?: undefined;
        readonly auth?: undefined;
      }
    | ({ readonly client?: undefined } & EtcdConnectionOptions)
  );

export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/**
 * How long etcd3's per-host circuit breaker keeps a member out after three consecutive
 * failures. etcd3's default is 5 s; a shorter pause lets an election resume soon after an
 * outage (a lease of a few seconds must not wait 5 s for a breaker).
 */
const HOST_BREAKER_HALF_OPEN_MS = 1_000;

/**
 * Creates an etcd3 client from endpoints, TLS and auth options, the way {@link etcdBackend}
 * does. Use it to share one client (hence one session lease) between many elections; close it
 * yourself after their electors have stopped. It keeps etcd3's defaults (three tries per call on
 * another member; a member is skipped after three consecutive failures) except that a skipped
 * member is tried again after 1 s instead of 5 s.
 *
 * @example
 * const client = createEtcdClient({
 *   endpoints: ['https://etcd-0:2379', 'https://etcd-1:2379', 'https://etcd-2:2379'],
 *   tls: { ca: readFileSync('ca.pem'), cert: readFileSync('client.pem'), key: readFileSync('client-key.pem') },
 *   auth: { username: 'scheduler', password: process.env.ETCD_PASSWORD ?? '' },
 * });
 */
export function createEtcdClient(options: EtcdConnectionOptions): Etcd3 {
  validateConnection(options);
  const etcdOptions: IOptions = {
    hosts: [...options.endpoints],
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: HOST_BREAKER_HALF_OPEN_MS,
          breaker: new ConsecutiveBreaker(3),
        }),
    },
  };
  const tls = options.tls;
  if (tls !== undefined) {
    const credentials: Record<string, Buffer> = {};
    if (tls.ca !== undefined) credentials.rootCertificate = Buffer.from(tls.ca);
    if (tls.cert !== undefined) credentials.certChain = Buffer.from(tls.cert);
    if (tls.key !== undefined) credentials.privateKey = Buffer.from(tls.key);
    etcdOptions.credentials = credentials as NonNullable<IOptions['credentials']>;
  }
  if (options.auth !== undefined) {
    etcdOptions.auth = { username: options.auth.username, password: options.auth.password };
  }
  return new Etcd3(etcdOptions);
}

function invalid(message: string): LeaderElectError {
  return new LeaderElectError(ErrorCode.InvalidOption, message);
}

export function validateConnection(options: EtcdConnectionOptions): void {
  const { endpoints, tls, auth } = options;
  if (
    !Array.isArray(endpoints) ||
    endpoints.length === 0 ||
    !endpoints.every((e) => typeof e === 'string' && e.trim() !== '')
  ) {
    throw invalid(
      `endpoints must be a non-empty array of etcd client URLs (e.g. ['http://127.0.0.1:2379']), got ${JSON.stringify(endpoints)}`,
    );
  }
  if (tls !== undefined) {
    if (typeof tls !== 'object' || tls === null) throw invalid('tls must be an object');
    for (const field of ['ca', 'cert', 'key'] as const) {
      const value = tls[field];
      if (value !== undefined && typeof value !== 'string' && !Buffer.isBuffer(value)) {
        throw invalid(`tls.${field} must be PEM text (a string or Buffer), not a ${typeof value}`);
      }
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      throw invalid('tls.cert and tls.key go together: give both for a client certificate');
    }
  }
  if (auth !== undefined) {
    if (
      typeof auth !== 'object' ||
      auth === null ||
      typeof auth.username !== 'string' ||
      auth.username === '' ||
      typeof auth.password !== 'string'
    ) {
      throw invalid('auth must be { username: non-empty string, password: string }');
    }
  }
}

export function validateRequestTimeout(value: unknown): number {
  if (value === undefined) return DEFAULT_REQUEST_TIMEOUT_MS;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
    throw invalid(`requestTimeout must be a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}
