/**
 * The backend flags shared by `run`, `status` and `watch`, and their validation into a
 * {@link BackendConfig}. Nothing here talks to a server or loads a backend module.
 */
import { usageError } from './exit-codes.js';
import type { FlagSpec, Flags } from './flags.js';

/** Where the etcd password is read from unless `--password-env` names another variable. */
export const DEFAULT_PASSWORD_ENV = 'LEADER_ELECT_ETCD_PASSWORD';
export const DEFAULT_ETCD_ENDPOINT = 'http://127.0.0.1:2379';

/** Where the PostgreSQL password is read from unless `--password-env` names another variable. */
export const DEFAULT_POSTGRES_PASSWORD_ENV = 'PGPASSWORD';

export type BackendKind = 'etcd' | 'kubernetes' | 'postgres' | 'memory';

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

export interface PostgresConfig {
  readonly kind: 'postgres';
  /** Without a password (that comes from `password`). */
  readonly connectionString: string;
  readonly election: string;
  readonly table: string | null;
  readonly schema: string | null;
  /** From the password variable; `null`: none set (trust, peer, .pgpass or certificate auth). */
  readonly password: string | null;
  /** Environment variables that held secrets: removed from the child's environment. */
  readonly secretEnv: readonly string[];
}

export interface MemoryConfig {
  readonly kind: 'memory';
}

export type BackendConfig = EtcdConfig | KubernetesConfig | PostgresConfig | MemoryConfig;

/** The backend flags each backend accepts; any other backend flag is rejected with it. */
const FLAGS_OF: Readonly<Record<'etcd' | 'kubernetes' | 'postgres', readonly string[]>> = {
  etcd: ['endpoints', 'election', 'cacert', 'cert', 'key', 'user', 'password-env'],
  kubernetes: ['kubeconfig', 'context', 'namespace', 'lease-name'],
  postgres: [
    'connection-string',
    'connection-string-env',
    'election',
    'table',
    'schema',
    'password-env',
  ],
};
const ALL_BACKEND_FLAGS = [...new Set(Object.values(FLAGS_OF).flat())];

export const BACKEND_FLAGS: readonly FlagSpec[] = [
  {
    name: 'backend',
    kind: 'string',
    value: 'etcd|kubernetes|postgres',
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
    help: 'etcd: election name, the key prefix shared with `etcdctl elect NAME`; postgres: the lease row',
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
    help: `etcd: read the password from this environment variable instead; postgres: likewise, instead of $${DEFAULT_POSTGRES_PASSWORD_ENV}`,
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
  {
    name: 'connection-string',
    kind: 'string',
    value: 'URL',
    help: `postgres: postgres://user@host:5432/db (no password here: it is read from $${DEFAULT_POSTGRES_PASSWORD_ENV})`,
  },
  {
    name: 'connection-string-env',
    kind: 'string',
    value: 'VAR',
    help: 'postgres: read the connection string (it may hold a password) from this environment variable',
  },
  {
    name: 'table',
    kind: 'string',
    value: 'NAME',
    help: 'postgres: the lease table',
    defaultText: 'leader_elect_leases',
  },
  {
    name: 'schema',
    kind: 'string',
    value: 'NAME',
    help: 'postgres: schema of the table',
    defaultText: 'the search_path',
  },
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
    throw usageError(`--backend is required: etcd, kubernetes or postgres (${example})`);
  }
  if (kind === 'memory') {
    throw usageError(
      `--backend memory cannot be used with "${command}": an in-process store cannot coordinate separate processes; use --backend etcd, kubernetes or postgres (memory is for "leader-elect demo")`,
    );
  }
  if (kind !== 'etcd' && kind !== 'kubernetes' && kind !== 'postgres') {
    throw usageError(
      `unknown backend "${kind}": use --backend etcd, --backend kubernetes or --backend postgres`,
    );
  }
  const own = FLAGS_OF[kind];
  const foreign = ALL_BACKEND_FLAGS.find((name) => !own.includes(name) && flags.has(name));
  if (foreign !== undefined) {
    const owners = (Object.keys(FLAGS_OF) as (keyof typeof FLAGS_OF)[]).filter((b) =>
      FLAGS_OF[b].includes(foreign),
    );
    throw usageError(
      `--${foreign} belongs to --backend ${owners.join(' or ')}, not --backend ${kind}`,
    );
  }
  if (kind === 'etcd') return etcdConfig(flags, command, env);
  if (kind === 'postgres') return postgresConfig(flags, command, env);
  return kubernetesConfig(flags, command);
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

function postgresConfig(flags: Flags, command: string, env: NodeJS.ProcessEnv): PostgresConfig {
  const example = `e.g. PGPASSWORD=… leader-elect ${command} --backend postgres --connection-string postgres://app@db:5432/app --election my-job`;
  const election = flags.string('election');
  if (election === undefined) {
    throw usageError(`--election is required with --backend postgres (the lease row), ${example}`);
  }
  const given = flags.string('connection-string');
  const fromEnv = flags.string('connection-string-env');
  if ((given === undefined) === (fromEnv === undefined)) {
    throw usageError(
      given === undefined
        ? `--connection-string or --connection-string-env is required with --backend postgres, ${example}`
        : 'give --connection-string or --connection-string-env, not both',
    );
  }
  const secretEnv: string[] = [];
  let connectionString: string;
  if (given !== undefined) {
    if (connectionStringPassword(given) !== null) {
      throw usageError(
        `--connection-string must not hold a password (other users can read it in the process list): put it in $${flags.string('password-env') ?? DEFAULT_POSTGRES_PASSWORD_ENV}, or pass the whole string in an environment variable with --connection-string-env VAR`,
      );
    }
    connectionString = given;
  } else {
    const value = env[fromEnv as string];
    if (value === undefined || value.trim() === '') {
      throw usageError(
        `--connection-string-env ${fromEnv}: the environment variable ${fromEnv} is not set: export ${fromEnv}=postgres://…`,
      );
    }
    connectionString = value;
    secretEnv.push(fromEnv as string);
  }
  if (!/^postgres(ql)?:\/\//i.test(connectionString)) {
    throw usageError(
      'the connection string must be a postgres:// or postgresql:// URL (e.g. postgres://app@db:5432/app?sslmode=verify-full)',
    );
  }
  const passwordEnvFlag = flags.string('password-env');
  const passwordEnv = passwordEnvFlag ?? DEFAULT_POSTGRES_PASSWORD_ENV;
  const password = env[passwordEnv];
  if (passwordEnvFlag !== undefined && password === undefined) {
    throw usageError(
      `--password-env ${passwordEnvFlag}: the environment variable ${passwordEnvFlag} is not set: export ${passwordEnvFlag}=...`,
    );
  }
  if (password !== undefined) secretEnv.push(passwordEnv);
  return {
    kind: 'postgres',
    connectionString,
    election,
    table: flags.string('table') ?? null,
    schema: flags.string('schema') ?? null,
    password: password ?? null,
    secretEnv,
  };
}

/** The password part of a postgres:// URL (or its `password=` parameter), or null. */
export function connectionStringPassword(connectionString: string): string | null {
  try {
    const url = new URL(connectionString);
    if (url.password !== '') return decodeURIComponent(url.password);
    return url.searchParams.get('password');
  } catch {
    return null;
  }
}
