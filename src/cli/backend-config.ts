/**
 * The backend flags shared by `run`, `status` and `watch`, and their validation into a
 * {@link BackendConfig}. Nothing here talks to a server or loads a backend module.
 */
import { usageError } from './exit-codes.js';
import type { FlagSpec, Flags } from './flags.js';

/** Where the etcd password is read from unless `--password-env` names another variable. */
export const DEFAULT_PASSWORD_ENV = 'LEADER_ELECT_ETCD_PASSWORD';
export const DEFAULT_ETCD_ENDPOINT = 'http://127.0.0.1:2379';

export type BackendKind = 'etcd' | 'kubernetes' | 'memory';

export interface EtcdConfig {
  readonly kind: 'etcd';
  readonly endpoints: readonly string[];
  readonly election: string;
  /** Paths of PEM files. */
  readonly tls: { readonly cacert?: string; readonly cert?: string; readonly key?: string } | null;
  readonly auth: { readonly username: string; readonly password: string } | null;
  /** Environment variable that held the password: removed from the child's environment. */
  readonly passwordEnv: string | null;
}

export interface KubernetesConfig {
  readonly kind: 'kubernetes';
  /** `null`: `$KUBECONFIG`, `~/.kube/config`, or in-cluster, in client-go's order. */
  readonly kubeconfig: string | null;
  readonly context: string | null;
  /** `null`: the pod's namespace in-cluster, else the context's, else `default`. */
  readonly namespace: string | null;
  readonly leaseName: string;
}

export interface MemoryConfig {
  readonly kind: 'memory';
}

export type BackendConfig = EtcdConfig | KubernetesConfig | MemoryConfig;

const ETCD_FLAGS = ['endpoints', 'election', 'cacert', 'cert', 'key', 'user', 'password-env'];
const KUBERNETES_FLAGS = ['kubeconfig', 'context', 'namespace', 'lease-name'];

export const BACKEND_FLAGS: readonly FlagSpec[] = [
  {
    name: 'backend',
    kind: 'string',
    value: 'etcd|kubernetes',
    help: 'where the lease lives (required)',
  },
  {
    name: 'endpoints',
    kind: 'list',
    value: 'URLS',
    help: 'etcd: comma-separated client URLs',
    defaultText: DEFAULT_ETCD_ENDPOINT,
  },
  {
    name: 'election',
    kind: 'string',
    value: 'NAME',
    help: 'etcd: election name, the key prefix shared with `etcdctl elect NAME`',
  },
  { name: 'cacert', kind: 'string', value: 'FILE', help: 'etcd: CA certificate (PEM) for TLS' },
  { name: 'cert', kind: 'string', value: 'FILE', help: 'etcd: client certificate (PEM)' },
  { name: 'key', kind: 'string', value: 'FILE', help: 'etcd: client private key (PEM)' },
  {
    name: 'user',
    kind: 'string',
    value: 'NAME',
    help: `etcd: user name; the password is read from $${DEFAULT_PASSWORD_ENV}`,
  },
  {
    name: 'password-env',
    kind: 'string',
    value: 'VAR',
    help: 'etcd: read the password from this environment variable instead',
  },
  {
    name: 'kubeconfig',
    kind: 'string',
    value: 'FILE',
    help: 'kubernetes: kubeconfig file',
    defaultText: '$KUBECONFIG, ~/.kube/config, or in-cluster',
  },
  { name: 'context', kind: 'string', value: 'NAME', help: 'kubernetes: kubeconfig context' },
  {
    name: 'namespace',
    kind: 'string',
    value: 'NS',
    help: 'kubernetes: namespace of the Lease',
    defaultText: "the pod's, else the context's, else default",
  },
  { name: 'lease-name', kind: 'string', value: 'NAME', help: 'kubernetes: name of the Lease' },
];

/**
 * @param allowMemory only the demo may use the in-process store.
 * @param env where the etcd password is read from.
 */
export function resolveBackendConfig(
  flags: Flags,
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): BackendConfig {
  const kind = flags.string('backend');
  const example =
    `e.g. leader-elect ${command} --backend etcd --endpoints ${DEFAULT_ETCD_ENDPOINT} --election my-job` +
    (command === 'run' ? ' -- ./my-job' : '');
  if (kind === undefined) {
    throw usageError(`--backend is required: etcd or kubernetes (${example})`);
  }
  if (kind === 'memory') {
    throw usageError(
      `--backend memory cannot be used with "${command}": an in-process store cannot coordinate separate processes; use --backend etcd or --backend kubernetes (memory is for "leader-elect demo")`,
    );
  }
  if (kind !== 'etcd' && kind !== 'kubernetes') {
    throw usageError(`unknown backend "${kind}": use --backend etcd or --backend kubernetes`);
  }
  const foreign = (kind === 'etcd' ? KUBERNETES_FLAGS : ETCD_FLAGS).find((name) => flags.has(name));
  if (foreign !== undefined) {
    throw usageError(
      `--${foreign} belongs to --backend ${kind === 'etcd' ? 'kubernetes' : 'etcd'}, not --backend ${kind}`,
    );
  }
  return kind === 'etcd' ? etcdConfig(flags, command, env) : kubernetesConfig(flags, command);
}

function etcdConfig(flags: Flags, command: string, env: NodeJS.ProcessEnv): EtcdConfig {
  const election = flags.string('election');
  if (election === undefined) {
    throw usageError(
      `--election is required with --backend etcd (the name \`etcdctl elect\` uses), e.g. leader-elect ${command} --backend etcd --election my-job`,
    );
  }
  const cacert = flags.string('cacert');
  const cert = flags.string('cert');
  const key = flags.string('key');
  if ((cert === undefined) !== (key === undefined)) {
    throw usageError('--cert and --key go together: give both for a client certificate');
  }
  const useTls = cacert !== undefined || cert !== undefined;
  const endpoints = (flags.list('endpoints') ?? [DEFAULT_ETCD_ENDPOINT]).map((endpoint) =>
    normalizeEndpoint(endpoint, useTls),
  );
  const tls = useTls
    ? {
        ...(cacert === undefined ? {} : { cacert }),
        ...(cert === undefined ? {} : { cert }),
        ...(key === undefined ? {} : { key }),
      }
    : null;

  const user = flags.string('user');
  const passwordEnvFlag = flags.string('password-env');
  if (user === undefined) {
    if (passwordEnvFlag !== undefined) {
      throw usageError('--password-env needs --user: give the etcd user name with --user NAME');
    }
    return { kind: 'etcd', endpoints, election, tls, auth: null, passwordEnv: null };
  }
  if (user.includes(':')) {
    throw usageError(
      `--user takes the user name only: put the password in $${passwordEnvFlag ?? DEFAULT_PASSWORD_ENV}, never on the command line (other users can read it in the process list)`,
    );
  }
  const passwordEnv = passwordEnvFlag ?? DEFAULT_PASSWORD_ENV;
  const password = env[passwordEnv];
  if (password === undefined) {
    throw usageError(
      `--user ${user} needs the password in the environment variable ${passwordEnv}: export ${passwordEnv}=...`,
    );
  }
  return {
    kind: 'etcd',
    endpoints,
    election,
    tls,
    auth: { username: user, password },
    passwordEnv,
  };
}

function normalizeEndpoint(endpoint: string, tls: boolean): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) {
    if (!/^https?:\/\//i.test(endpoint)) {
      throw usageError(`--endpoints: "${endpoint}" must be an http:// or https:// URL`);
    }
    return endpoint;
  }
  return `${tls ? 'https' : 'http'}://${endpoint}`;
}

function kubernetesConfig(flags: Flags, command: string): KubernetesConfig {
  const leaseName = flags.string('lease-name');
  if (leaseName === undefined) {
    throw usageError(
      `--lease-name is required with --backend kubernetes, e.g. leader-elect ${command} --backend kubernetes --namespace default --lease-name my-job`,
    );
  }
  return {
    kind: 'kubernetes',
    kubeconfig: flags.string('kubeconfig') ?? null,
    context: flags.string('context') ?? null,
    namespace: flags.string('namespace') ?? null,
    leaseName,
  };
}
