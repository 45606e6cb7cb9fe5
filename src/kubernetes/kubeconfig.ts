/**
 * Loading a kubeconfig (or a pod's service account) without importing @kubernetes/client-node.
 *
 * Why: client-node's `KubeConfig` lives in a module that imports the whole generated API (about
 * 2,300 model files); importing it took 650–1,000 ms on the benchmark machine, against 5 ms for
 * js-yaml and these files — most of what made our Kubernetes cold start slower than client-go's
 * (docs/benchmarks.md, "Cold start"). The transport needs only two things from a configuration
 * (`getCurrentCluster()` and `applyToHTTPSOptions()`, {@link KubeClientConfig}), so this reads the
 * common cases itself: contexts, clusters and users from one or more files, certificate
 * authorities, client certificates and keys (files or `-data`), bearer tokens (`token`,
 * `token-file`), basic auth, `as` (impersonation), `insecure-skip-tls-verify`,
 * `tls-server-name`, and the in-cluster service account. What it does not implement — exec
 * credential plugins, `auth-provider` plugins (OIDC, GCP, Azure) and `proxy-url` — it hands to
 * client-node's `KubeConfig`, imported only then, with the same cluster and user, so users of
 * those features get exactly what they got before.
 *
 * This file owns where a configuration comes from (files, `$KUBECONFIG`, `~/.kube/config`, the
 * service account) and the choice of a context; reading and parsing a file is
 * `kubeconfig-file.ts`, and the credentials each request carries are `kubeconfig-credentials.ts`.
 */
import { access, readFile } from 'node:fs/promises';
import type https from 'node:https';
import { isIPv6 } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { systemClock } from '../clock.js';
import { OwnCredentials, viaClientNode } from './kubeconfig-credentials.js';
import { invalid, type Parsed, readFiles } from './kubeconfig-file.js';

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

// ---------------------------------------------------------------------------

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
