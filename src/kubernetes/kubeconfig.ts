/**
 * Loading a kubeconfig (or a pod's service account) without importing @kubernetes/client-node.
 *
 * Why: client-node's `KubeConfig` lives in a module that imports the whole generated API (about
 * 2,300 model files); importing it took 650–1,000 ms on the benchmark machine, against 5 ms for
 * js-yaml and this file — most of what made our Kubernetes cold start slower than client-go's
 * (docs/benchmarks.md, "Cold start"). The transport needs only two things from a configuration
 * (`getCurrentCluster()` and `applyToHTTPSOptions()`, {@link KubeClientConfig}), so this reads the
 * common cases itself: contexts, clusters and users from one or more files, certificate
 * authorities, client certificates and keys (files or `-data`), bearer tokens (`token`,
 * `token-file`), basic auth, `as` (impersonation), `insecure-skip-tls-verify`,
 * `tls-server-name`, and the in-cluster service account. What it does not implement — exec
 * credential plugins, `auth-provider` plugins (OIDC, GCP, Azure) and `proxy-url` — it hands to
 * client-node's `KubeConfig`, imported only then, with the same cluster and user, so users of
 * those features get exactly what they got before.
 */
import { access, readFile } from 'node:fs/promises';
import type https from 'node:https';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { load as parseYaml } from 'js-yaml';
import { type Clock, systemClock } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';

/** The cluster a configuration points at (the fields the transport reads). */
export interface KubeCluster {
  readonly name: string;
  /** The apiserver's URL, e.g. `https://10.0.0.1:6443`. */
  readonly server: string;
  /** An HTTP(S) or SOCKS proxy: requests then go through the configuration's own agent. */
  readonly proxyUrl?: string | undefined;
}

/**
 * What the Kubernetes backend needs from a configuration: where (the current cluster) and as
 * whom (the TLS material and headers of each request). Both client-node's `KubeConfig` and
 * {@link loadKubeconfig}'s result satisfy it.
 */
export interface KubeClientConfig {
  getCurrentCluster(): KubeCluster | null;
  /** Fills in credentials and TLS options (`ca`, `cert`, `key`, `headers`, `auth`...) for one request. */
  applyToHTTPSOptions(options: https.RequestOptions): Promise<void>;
}

/** Where {@link loadKubeconfig} looks, and which context it uses. */
export interface LoadKubeconfigOptions {
  /**
   * kubeconfig file(s) to read, merged as kubectl merges `$KUBECONFIG`: the first file that
   * defines a cluster, user or context name wins, and so does the first `current-context`.
   * @default `$KUBECONFIG` (paths separated by `:`, `;` on Windows); else `~/.kube/config`; else,
   * in a pod, its service account
   */
  readonly path?: string | readonly string[];
  /**
   * The context to use.
   * @default the configuration's `current-context`
   */
  readonly context?: string;
  /**
   * Where a pod's service account is mounted (`token`, `ca.crt`, `namespace`).
   * @default '/var/run/secrets/kubernetes.io/serviceaccount'
   */
  readonly serviceAccountDir?: string;
}

/** A loaded configuration: the chosen context, its cluster and user. */
export interface Kubeconfig extends KubeClientConfig {
  /** The context in use (`inCluster` for a pod's service account). */
  readonly context: string;
  /** Every context the configuration defines. */
  readonly contexts: readonly string[];
  /** The context's namespace, or the pod's (service account `namespace` file), if any. */
  readonly namespace: string | undefined;
  /** Where it came from: the files read, or the service account directory. */
  readonly source: string;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * How long file-based credentials (token files, certificate and key files) are reused before they
 * are read again: rotated tokens and certificates are picked up within a minute, as client-go and
 * client-node refresh a service account token, without a file read per request.
 */
const FILE_REFRESH_MS = 60_000;

/**
 * Reads a kubeconfig the way kubectl does (or a pod's service account) and returns the
 * configuration of one context, for {@link kubernetesBackend} and {@link KubernetesLeaseStore}.
 * Bad input (no configuration found, unreadable or malformed files, a context, cluster or user
 * that is not defined, a missing server, a certificate file that cannot be read) rejects with
 * `LE_INVALID_OPTION`, naming the file and the entry. A user with an exec or auth-provider
 * plugin, or a cluster with a `proxy-url`, needs @kubernetes/client-node installed: it is
 * imported for those only.
 *
 * @example
 * import { LeaderElector } from 'leader-elect';
 * import { kubernetesBackend, loadKubeconfig } from 'leader-elect/kubernetes';
 *
 * const kubeConfig = await loadKubeconfig(); // $KUBECONFIG, ~/.kube/config, or the pod's account
 * const elector = new LeaderElector({
 *   backend: kubernetesBackend({ kubeConfig, namespace: kubeConfig.namespace ?? 'default', name: 'my-controller' }),
 *   onStartedLeading: async (term) => { ... },
 * });
 */
export async function loadKubeconfig(options: LoadKubeconfigOptions = {}): Promise<Kubeconfig> {
  if (typeof options !== 'object' || options === null) {
    throw invalid('loadKubeconfig takes an options object');
  }
  const serviceAccountDir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const files = await kubeconfigFiles(options.path, serviceAccountDir);
  const config = files === null ? await inCluster(serviceAccountDir) : await readFiles(files);
  return select(config, options.context);
}

// ---------------------------------------------------------------------------
// Sources

/** The files to read, or null for the service account (client-node's loadFromDefault order). */
async function kubeconfigFiles(
  path: string | readonly string[] | undefined,
  serviceAccountDir: string,
): Promise<string[] | null> {
  if (path !== undefined) {
    const paths = typeof path === 'string' ? [path] : path;
    if (
      !Array.isArray(paths) ||
      paths.length === 0 ||
      !paths.every((p) => typeof p === 'string' && p !== '')
    ) {
      throw invalid(`path must be a file name or a non-empty array of them, got ${String(path)}`);
    }
    return [...paths];
  }
  const fromEnv = (process.env.KUBECONFIG ?? '').split(delimiter).filter((p) => p !== '');
  if (fromEnv.length > 0) return fromEnv;
  const home = join(homedir(), '.kube', 'config');
  if (await exists(home)) return [home];
  if (await exists(join(serviceAccountDir, 'token'))) return null;
  throw invalid(
    `no kubeconfig found: $KUBECONFIG is not set, ${home} does not exist, and this is not a pod (no service account token ${join(serviceAccountDir, 'token')})`,
  );
}

/** The pod's service account, as client-go's rest.InClusterConfig and client-node read it. */
async function inCluster(dir: string): Promise<Parsed> {
  const host = process.env.KUBERNETES_SERVICE_HOST ?? '';
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '';
  if (host === '' || port === '') {
    throw invalid(
      `found a service account token in ${dir} but KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not both set: not in a pod? pass a kubeconfig instead`,
    );
  }
  // client-node's rule: these ports are plain HTTP (a local proxy such as `kubectl proxy`).
  const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
  let namespace: string | undefined;
  try {
    namespace = (await readFile(join(dir, 'namespace'), 'utf8')).trim() || undefined;
  } catch {
    namespace = undefined;
  }
  return {
    source: `the service account in ${dir}`,
    currentContext: 'inClusterContext',
    clusters: new Map([
      [
        'inCluster',
        {
          server: `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`,
          caFile: join(dir, 'ca.crt'),
          insecure: false,
        },
      ],
    ]),
    users: new Map([['inClusterUser', { tokenFile: join(dir, 'token') }]]),
    contexts: new Map([
      ['inClusterContext', { cluster: 'inCluster', user: 'inClusterUser', namespace }],
    ]),
  };
}

// ---------------------------------------------------------------------------
// Parsing

interface ClusterEntry {
  readonly server: string;
  readonly caFile?: string | undefined;
  readonly caData?: string | undefined;
  readonly insecure: boolean;
  readonly tlsServerName?: string | undefined;
  readonly proxyUrl?: string | undefined;
}

interface UserEntry {
  readonly token?: string | undefined;
  readonly tokenFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly certData?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly keyData?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly impersonate?: string | undefined;
  /** Plugin sections this file does not implement: client-node handles them (as read). */
  readonly exec?: unknown;
  readonly authProvider?: unknown;
}

interface ContextEntry {
  readonly cluster: string;
  readonly user: string;
  readonly namespace?: string | undefined;
}

interface Parsed {
  readonly source: string;
  readonly currentContext: string | undefined;
  readonly clusters: Map<string, ClusterEntry>;
  readonly users: Map<string, UserEntry>;
  readonly contexts: Map<string, ContextEntry>;
}

async function readFiles(files: readonly string[]): Promise<Parsed> {
  const merged: Parsed & { currentContext: string | undefined } = {
    source: files.join(delimiter),
    currentContext: undefined,
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      throw invalid(
        `cannot read the kubeconfig ${file}: ${readFailure(cause)}`,
        { path: file },
        cause,
      );
    }
    const parsed = parseFile(text, file);
    // kubectl's merge: the first file to set a value wins.
    merged.currentContext ??= parsed.currentContext;
    for (const kind of ['clusters', 'users', 'contexts'] as const) {
      const into = merged[kind] as Map<string, unknown>;
      for (const [name, entry] of parsed[kind]) if (!into.has(name)) into.set(name, entry);
    }
  }
  return merged;
}

function parseFile(text: string, file: string): Parsed {
  let document: unknown;
  try {
    document = parseYaml(text, { filename: file });
  } catch (cause) {
    throw invalid(
      `the kubeconfig ${file} is not valid YAML: ${(cause as Error).message}`,
      { path: file },
      cause,
    );
  }
  if (document === undefined || document === null) document = {};
  if (!isRecord(document)) throw invalid(`the kubeconfig ${file} is not a mapping`, { path: file });
  const at = new Fields(file, dirname(file));
  const current = at.optionalString(document, 'current-context', 'the top level');
  return {
    source: file,
    currentContext: current === '' ? undefined : current,
    clusters: at.named(document, 'clusters', 'cluster', (entry, where) => ({
      server: at.requiredString(entry, 'server', where).replace(/\/$/, ''),
      caFile: at.path(entry, 'certificate-authority', where),
      caData: at.optionalString(entry, 'certificate-authority-data', where),
      insecure: at.optionalBoolean(entry, 'insecure-skip-tls-verify', where) ?? false,
      tlsServerName: at.optionalString(entry, 'tls-server-name', where),
      proxyUrl: at.optionalString(entry, 'proxy-url', where),
    })),
    users: at.named(document, 'users', 'user', (entry, where) => ({
      token: at.optionalString(entry, 'token', where),
      tokenFile: at.path(entry, 'tokenFile', where) ?? at.path(entry, 'token-file', where),
      certFile: at.path(entry, 'client-certificate', where),
      certData: at.optionalString(entry, 'client-certificate-data', where),
      keyFile: at.path(entry, 'client-key', where),
      keyData: at.optionalString(entry, 'client-key-data', where),
      username: at.optionalString(entry, 'username', where),
      password: at.optionalString(entry, 'password', where),
      impersonate: at.optionalString(entry, 'as', where),
      exec: entry.exec ?? undefined,
      authProvider: entry['auth-provider'] ?? undefined,
    })),
    contexts: at.named(document, 'contexts', 'context', (entry, where) => ({
      cluster: at.requiredString(entry, 'cluster', where),
      user: at.optionalString(entry, 'user', where) ?? '',
      namespace: at.optionalString(entry, 'namespace', where) || undefined,
    })),
  };
}

/** Typed reads of one file's fields, with errors that name the file and the entry. */
class Fields {
  constructor(
    private readonly file: string,
    private readonly directory: string,
  ) {}

  /** A `[{ name, <key>: {...} }]` list as a map (the first of two entries with one name wins). */
  named<T>(
    document: Record<string, unknown>,
    list: string,
    key: string,
    read: (entry: Record<string, unknown>, where: string) => T,
  ): Map<string, T> {
    const out = new Map<string, T>();
    const items = document[list];
    if (items === undefined || items === null) return out;
    if (!Array.isArray(items)) throw this.error(`${list} must be a list`);
    items.forEach((item: unknown, i) => {
      if (!isRecord(item) || typeof item.name !== 'string' || item.name === '') {
        throw this.error(`${list}[${i}] needs a name`);
      }
      const where = `${list}[${i}] ("${item.name}")`;
      const body = item[key] ?? {};
      if (!isRecord(body)) throw this.error(`${where}.${key} must be a mapping`);
      if (!out.has(item.name)) out.set(item.name, read(body, `${where}.${key}`));
    });
    return out;
  }

  optionalString(entry: Record<string, unknown>, field: string, where: string): string | undefined {
    const value = entry[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      throw this.error(`${where}.${field} must be a string, got ${typeof value}`);
    }
    return value;
  }

  requiredString(entry: Record<string, unknown>, field: string, where: string): string {
    const value = this.optionalString(entry, field, where);
    if (value === undefined || value === '') throw this.error(`${where}.${field} is missing`);
    return value;
  }

  optionalBoolean(
    entry: Record<string, unknown>,
    field: string,
    where: string,
  ): boolean | undefined {
    const value = entry[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') {
      throw this.error(`${where}.${field} must be true or false, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  /** A file name, relative to the kubeconfig's directory (kubectl's rule). */
  path(entry: Record<string, unknown>, field: string, where: string): string | undefined {
    const value = this.optionalString(entry, field, where);
    if (value === undefined || value === '') return undefined;
    return isAbsolute(value) ? value : join(this.directory, value);
  }

  error(message: string): LeaderElectError {
    return invalid(`the kubeconfig ${this.file}: ${message}`, { path: this.file });
  }
}

// ---------------------------------------------------------------------------
// The chosen context

async function select(config: Parsed, requested: string | undefined): Promise<Kubeconfig> {
  if (requested !== undefined && (typeof requested !== 'string' || requested === '')) {
    throw invalid(`context must be a non-empty string, got ${String(requested)}`);
  }
  const contexts = [...config.contexts.keys()];
  const name = requested ?? config.currentContext;
  const known = contexts.length === 0 ? 'none' : contexts.join(', ');
  if (name === undefined) {
    throw invalid(`${config.source} sets no current-context: choose a context (known: ${known})`, {
      source: config.source,
    });
  }
  const context = config.contexts.get(name);
  if (context === undefined) {
    throw invalid(`${config.source} has no context "${name}" (known: ${known})`, {
      source: config.source,
      context: name,
    });
  }
  const cluster = config.clusters.get(context.cluster);
  if (cluster === undefined) {
    throw invalid(
      `${config.source}: context "${name}" names cluster "${context.cluster}", which is not defined`,
      { source: config.source, context: name },
    );
  }
  // client-go treats a context without a user (or naming an unknown one) as anonymous.
  const user = config.users.get(context.user) ?? {};
  if (cluster.server.startsWith('http:') && !cluster.insecure) {
    // client-node refuses plain HTTP unless insecure-skip-tls-verify is set: credentials would
    // travel in clear text.
    throw invalid(
      `${config.source}: cluster "${context.cluster}" is served over plain HTTP (${cluster.server}); set insecure-skip-tls-verify: true to allow it`,
      { source: config.source, context: name },
    );
  }
  if (!/^https?:\/\//.test(cluster.server)) {
    throw invalid(
      `${config.source}: cluster "${context.cluster}" has server ${JSON.stringify(cluster.server)}, which is neither an https:// nor an http:// URL`,
      { source: config.source, context: name },
    );
  }
  const credentials =
    user.exec !== undefined || user.authProvider !== undefined || cluster.proxyUrl !== undefined
      ? await viaClientNode(name, context, context.cluster, cluster, user)
      : await OwnCredentials.load(cluster, user, config.source, systemClock);
  return {
    context: name,
    contexts,
    namespace: context.namespace,
    source: config.source,
    getCurrentCluster: () => ({
      name: context.cluster,
      server: cluster.server,
      ...(cluster.proxyUrl === undefined ? {} : { proxyUrl: cluster.proxyUrl }),
    }),
    applyToHTTPSOptions: (options) => credentials.apply(options),
  };
}

interface Credentials {
  apply(options: https.RequestOptions): Promise<void>;
}

/** The credentials this file implements: TLS material, tokens, basic auth, impersonation. */
class OwnCredentials implements Credentials {
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
async function viaClientNode(
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

// ---------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function invalid(
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): LeaderElectError {
  return new LeaderElectError(ErrorCode.InvalidOption, message, {
    details,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Why a file could not be read, in words, with the errno code the user can search for. */
function readFailure(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file (ENOENT)';
  if (code === 'EACCES') return 'permission denied (EACCES)';
  if (code === 'EISDIR') return 'a directory, not a file (EISDIR)';
  return code ?? String(cause);
}
