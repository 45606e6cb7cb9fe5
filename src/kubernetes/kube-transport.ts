import http from 'node:http';
import https from 'node:https';
import { onAbort, raceAbort, scopedSignal } from '../abort.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import type { KubeClientConfig } from './kubeconfig.js';

/** Largest response body we read (a Lease or a Status is a few KiB). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Idle keep-alive sockets are closed after this long (Go's http.Transport uses 90 s). */
const IDLE_SOCKET_TIMEOUT_MS = 60_000;

export interface KubeResponse {
  readonly status: number;
  /** Parsed JSON, or `undefined` when the body is not JSON. */
  readonly body: unknown;
  readonly text: string;
}

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** The caller's deadline (the elector's); rejects with `signal.reason` when it aborts. */
  readonly signal: AbortSignal;
  /** Our own bound on this one request; rejects with a transient `LE_BACKEND_UNAVAILABLE`. */
  readonly timeoutMs: number;
}

export interface StreamOptions {
  readonly query?: Readonly<Record<string, string>>;
  /** Closing the stream: abort this signal. */
  readonly signal: AbortSignal;
  /** Bound on the wait for the response headers. */
  readonly headersTimeoutMs: number;
}

/**
 * HTTP to the apiserver with the credentials and TLS settings of a configuration: our own
 * {@link loadKubeconfig}'s, or a client-node `KubeConfig`.
 *
 * Why not client-node's generated `CoordinationV1Api`: in 1.3 it sends through node-fetch
 * without passing any AbortSignal, so a request can never be aborted (a hung apiserver would
 * hold a renewal past its deadline), and it builds a new agent, hence a new TLS connection, for
 * every call. Here the configuration still decides everything about authentication (tokens, client
 * certificates, exec and OIDC plugins, in-cluster service-account files, proxies): we ask it
 * for the options of every request with `applyToHTTPSOptions`, then send with Node's own
 * `https.request`, which aborts for real, over one keep-alive agent that `close()` destroys.
 */
export class KubeTransport {
  readonly server: string;
  private readonly base: URL;
  private agent: http.Agent | null = null;
  private closed = false;

  constructor(private readonly kubeConfig: KubeClientConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        "the KubeConfig has no current cluster: load one (loadKubeconfig, or client-node's loadFromDefault, loadFromCluster, loadFromFile) first",
      );
    }
    let base: URL;
    try {
      base = new URL(cluster.server);
    } catch (cause) {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `the KubeConfig's cluster "${cluster.name}" has an invalid server URL ${JSON.stringify(cluster.server)}`,
        { cause },
      );
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:') {
      throw new LeaderElectError(
        ErrorCode.InvalidOption,
        `the KubeConfig's server ${cluster.server} is neither https nor http`,
      );
    }
    this.base = base;
    this.server = base.origin;
  }

  /** One request with a JSON body and response, bounded by `signal` and `timeoutMs`. */
  async request(method: string, path: string, options: RequestOptions): Promise<KubeResponse> {
    const bound = scopedSignal(options.signal, {
      ms: options.timeoutMs,
      reason: () => this.timeoutError(method, path, options.timeoutMs),
    });
    try {
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
      const request = await this.prepare(method, path, options.query, bound.signal, {
        accept: 'application/json',
        ...(payload === undefined
          ? {}
          : {
              'content-type': 'application/json',
              'content-length': String(Buffer.byteLength(payload)),
            }),
      });
      return await new Promise<KubeResponse>((resolve, reject) => {
        const req = request.send((res) => {
          readBody(res).then(
            (text) => resolve({ status: res.statusCode ?? 0, body: parseJson(text), text }),
            reject,
          );
        });
        abortOn(bound.signal, req, reject);
        req.on('error', reject);
        req.end(payload);
      });
    } finally {
      bound.dispose();
    }
  }

  /**
   * Opens a streaming GET (a watch). Resolves once the response headers arrive; the caller reads
   * the body and ends the stream by aborting `signal`, which destroys its connection.
   */
  async stream(path: string, options: StreamOptions): Promise<http.IncomingMessage> {
    const bound = scopedSignal(options.signal, {
      ms: options.headersTimeoutMs,
      reason: () => this.timeoutError('GET', path, options.headersTimeoutMs),
    });
    try {
      // A connection of its own (no pooling): it lives as long as the watch and dies with it.
      const request = await this.prepare(
        'GET',
        path,
        options.query,
        bound.signal,
        { accept: 'application/json' },
        true,
      );
      return await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = request.send(resolve);
        req.on('socket', (socket) => socket.setKeepAlive(true, 5_000));
        req.on('error', reject);
        // Destroys the request (and the response, once there is one) for the stream's whole life.
        abortOn(options.signal, req, reject);
        abortOn(bound.signal, req, reject);
        req.end();
      });
    } finally {
      bound.dispose();
    }
  }

  /** Destroys every pooled connection. Requests still in flight fail. Idempotent. */
  close(): void {
    this.closed = true;
    this.agent?.destroy();
    this.agent = null;
  }

  private async prepare(
    method: string,
    path: string,
    query: Readonly<Record<string, string>> | undefined,
    signal: AbortSignal,
    headers: http.OutgoingHttpHeaders,
    dedicated = false,
  ): Promise<{ send(onResponse: (res: http.IncomingMessage) => void): http.ClientRequest }> {
    if (this.closed) {
      throw new LeaderElectError(ErrorCode.Stopped, `connection to ${this.server} is closed`);
    }
    // The KubeConfig fills in credentials and TLS material; exec plugins may take a while, so
    // this is bounded by the same signal as the request.
    const auth: https.RequestOptions = { headers: {} };
    await raceAbort(this.kubeConfig.applyToHTTPSOptions(auth), signal);
    const url = new URL(this.base.href);
    url.pathname = `${this.base.pathname.replace(/\/+$/, '')}${path}`;
    for (const [key, value] of Object.entries(query ?? {})) url.searchParams.set(key, value);
    const secure = url.protocol === 'https:';
    const viaProxy = this.kubeConfig.getCurrentCluster()?.proxyUrl !== undefined;
    const agent = viaProxy ? auth.agent : dedicated ? false : this.pooledAgent(secure);
    const options: https.RequestOptions = {
      method,
      headers: { 'user-agent': 'leader-elect', ...auth.headers, ...headers },
      ...(agent === undefined ? {} : { agent }),
      ...(auth.auth === undefined || auth.auth === null ? {} : { auth: auth.auth }),
      ...tlsOptions(auth),
    };
    return {
      send: (onResponse) =>
        secure ? https.request(url, options, onResponse) : http.request(url, options, onResponse),
    };
  }

  private pooledAgent(secure: boolean): http.Agent {
    if (this.agent === null) {
      const options: http.AgentOptions = {
        keepAlive: true,
        maxFreeSockets: 2,
        scheduling: 'lifo',
        timeout: IDLE_SOCKET_TIMEOUT_MS,
      };
      this.agent = secure ? new https.Agent(options) : new http.Agent(options);
    }
    return this.agent;
  }

  private timeoutError(method: string, path: string, timeoutMs: number): LeaderElectError {
    return new LeaderElectError(
      ErrorCode.BackendUnavailable,
      `the apiserver at ${this.server} did not answer ${method} ${path} within ${timeoutMs} ms`,
      { details: { reason: 'timeout', timeoutMs } },
    );
  }
}

/** The TLS fields of the KubeConfig's options, without the undefined ones. */
function tlsOptions(source: https.RequestOptions): https.RequestOptions {
  const out: https.RequestOptions = {};
  if (source.ca !== undefined) out.ca = source.ca;
  if (source.cert !== undefined) out.cert = source.cert;
  if (source.key !== undefined) out.key = source.key;
  if (source.pfx !== undefined) out.pfx = source.pfx;
  if (source.passphrase !== undefined) out.passphrase = source.passphrase;
  if (source.rejectUnauthorized !== undefined) out.rejectUnauthorized = source.rejectUnauthorized;
  if (source.servername !== undefined) out.servername = source.servername;
  return out;
}

/** Destroys `req` and rejects with the signal's reason when `signal` aborts. */
function abortOn(
  signal: AbortSignal,
  req: http.ClientRequest,
  reject: (reason: unknown) => void,
): void {
  const detach = onAbort(signal, () => {
    reject(signal.reason);
    // Destroying the request destroys its socket: an aborted request never goes back to the pool.
    req.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  });
  req.once('close', detach);
}

/** Reads a whole (bounded) response body as UTF-8. */
export function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy(new Error(`response body larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete)
        reject(new Error('the connection closed before the response was complete'));
    });
  });
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
