/**
 * The credentials a loaded kubeconfig puts on each request: our own (TLS material, tokens, basic
 * auth, impersonation; files re-read every {@link FILE_REFRESH_MS} so that rotation is seen), or
 * client-node's `KubeConfig`, imported only for exec and auth-provider plugins and proxies.
 */
import { readFile } from 'node:fs/promises';
import type https from 'node:https';
import type { Clock } from '../clock.js';
import {
  type ClusterEntry,
  type ContextEntry,
  invalid,
  readFailure,
  type UserEntry,
} from './kubeconfig-file.js';

/**
 * How long file-based credentials (token files, certificate and key files) are reused before they
 * are read again: rotated tokens and certificates are picked up within a minute, as client-go and
 * client-node refresh a service account token, without a file read per request.
 */
const FILE_REFRESH_MS = 60_000;

export interface Credentials {
  apply(options: https.RequestOptions): Promise<void>;
}

/** The credentials this file implements: TLS material, tokens, basic auth, impersonation. */
export class OwnCredentials implements Credentials {
  private constructor(
    private readonly cluster: ClusterEntry,
    private readonly user: UserEntry,
    private readonly files: FileCache,
  ) {}

  /** Reads every file once now, so that a wrong path fails at load, not at the first request. */
  static async load(
    cluster: ClusterEntry,
    user: UserEntry,
    source: string,
    clock: Clock,
  ): Promise<OwnCredentials> {
    const files = new FileCache(clock, source);
    const paths = [cluster.caFile, user.certFile, user.keyFile, user.tokenFile];
    await Promise.all(paths.map((path) => (path === undefined ? null : files.read(path))));
    return new OwnCredentials(cluster, user, files);
  }

  async apply(options: https.RequestOptions): Promise<void> {
    const { cluster, user } = this;
    const headers: Record<string, string> = {};
    const [ca, cert, key, tokenFile] = await Promise.all([
      this.material(cluster.caFile, cluster.caData),
      this.material(user.certFile, user.certData),
      this.material(user.keyFile, user.keyData),
      user.tokenFile === undefined ? null : this.files.read(user.tokenFile),
    ]);
    if (ca !== null) options.ca = ca;
    if (cert !== null) options.cert = cert;
    if (key !== null) options.key = key;
    if (cluster.insecure) options.rejectUnauthorized = false;
    if (cluster.tlsServerName !== undefined) options.servername = cluster.tlsServerName;
    // client-node's precedence: an inline token over a token file.
    const token = user.token ?? tokenFile?.toString('utf8').trim();
    if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`;
    if (user.username !== undefined) options.auth = `${user.username}:${user.password ?? ''}`;
    if (user.impersonate !== undefined) headers['impersonate-user'] = user.impersonate;
    options.headers = { ...(options.headers as Record<string, string> | undefined), ...headers };
  }

  /** A file's contents, else base64 `-data`, else nothing (client-node's rule: the file first). */
  private async material(
    file: string | undefined,
    data: string | undefined,
  ): Promise<Buffer | null> {
    if (file !== undefined) return this.files.read(file);
    if (data !== undefined && data !== '') return Buffer.from(data, 'base64');
    return null;
  }
}

/** File contents, read again once they are {@link FILE_REFRESH_MS} old (rotation). */
class FileCache {
  private readonly entries = new Map<string, { readonly at: number; readonly data: Buffer }>();

  constructor(
    private readonly clock: Clock,
    private readonly source: string,
  ) {}

  async read(path: string): Promise<Buffer> {
    const cached = this.entries.get(path);
    const now = this.clock.now();
    if (cached !== undefined && now - cached.at < FILE_REFRESH_MS) return cached.data;
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (cause) {
      // A file that vanished after it was read once: keep using what we had (a rotation in
      // progress replaces it); one that never could be read is a configuration error.
      if (cached !== undefined) return cached.data;
      throw invalid(`${this.source}: cannot read ${path}: ${readFailure(cause)}`, { path }, cause);
    }
    this.entries.set(path, { at: now, data });
    return data;
  }
}

/**
 * A user or cluster that needs client-node (exec or auth-provider plugins, a proxy): its
 * `KubeConfig`, built from the same cluster and user, does the whole job.
 */
export async function viaClientNode(
  contextName: string,
  context: ContextEntry,
  clusterName: string,
  cluster: ClusterEntry,
  user: UserEntry,
): Promise<Credentials> {
  const what =
    user.exec !== undefined
      ? `user "${context.user}" uses an exec credential plugin`
      : user.authProvider !== undefined
        ? `user "${context.user}" uses an auth-provider plugin`
        : `cluster "${clusterName}" uses a proxy-url`;
  let clientNode: typeof import('@kubernetes/client-node');
  try {
    clientNode = await import('@kubernetes/client-node');
  } catch (cause) {
    throw invalid(
      `the kubeconfig's ${what}, which leader-elect/kubernetes supports through @kubernetes/client-node: npm install @kubernetes/client-node`,
      { missingPackage: '@kubernetes/client-node', reason: what },
      cause,
    );
  }
  const kubeConfig = new clientNode.KubeConfig();
  const userName = context.user === '' ? 'user' : context.user;
  kubeConfig.loadFromOptions({
    clusters: [
      {
        name: clusterName,
        server: cluster.server,
        skipTLSVerify: cluster.insecure,
        ...(cluster.caFile === undefined ? {} : { caFile: cluster.caFile }),
        ...(cluster.caData === undefined ? {} : { caData: cluster.caData }),
        ...(cluster.tlsServerName === undefined ? {} : { tlsServerName: cluster.tlsServerName }),
        ...(cluster.proxyUrl === undefined ? {} : { proxyUrl: cluster.proxyUrl }),
      },
    ],
    users: [
      {
        name: userName,
        ...(user.token === undefined ? {} : { token: user.token }),
        ...(user.certFile === undefined ? {} : { certFile: user.certFile }),
        ...(user.certData === undefined ? {} : { certData: user.certData }),
        ...(user.keyFile === undefined ? {} : { keyFile: user.keyFile }),
        ...(user.keyData === undefined ? {} : { keyData: user.keyData }),
        ...(user.username === undefined ? {} : { username: user.username }),
        ...(user.password === undefined ? {} : { password: user.password }),
        ...(user.impersonate === undefined ? {} : { impersonateUser: user.impersonate }),
        ...(user.exec === undefined ? {} : { exec: user.exec }),
        ...(user.authProvider === undefined ? {} : { authProvider: user.authProvider }),
      },
    ],
    contexts: [{ name: contextName, cluster: clusterName, user: userName }],
    currentContext: contextName,
  });
  return { apply: (options) => kubeConfig.applyToHTTPSOptions(options) };
}
