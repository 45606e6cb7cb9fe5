/**
 * Loads the chosen backend with a dynamic `import()`, so that a user of one backend needs
 * none of etcd3, @kubernetes/client-node and pg for the others, and checks that it answers before
 * anything is campaigned for or run.
 */
import { access, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { hasErrorCode, isLeaderElectError, type LeaseBackend } from '../index.js';
import type {
  BackendConfig,
  EtcdConfig,
  KubernetesConfig,
  PostgresConfig,
} from './backend-config.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';

export interface OpenedBackend {
  readonly backend: LeaseBackend<unknown>;
  /** The election's name in metrics and messages: etcd election, or `namespace/lease`. */
  readonly name: string;
  /** e.g. `etcd election "jobs" at http://127.0.0.1:2379`. */
  readonly where: string;
}

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * @param onWarning non-fatal findings of the backend (e.g. foreign keys under an etcd election).
 */
export async function openBackend(
  config: BackendConfig,
  onWarning: (message: string) => void = () => {},
): Promise<OpenedBackend> {
  switch (config.kind) {
    case 'etcd':
      return openEtcd(config, onWarning);
    case 'kubernetes':
      return openKubernetes(config);
    case 'postgres':
      return openPostgres(config, onWarning);
    case 'memory':
      throw usageError('the memory backend cannot coordinate processes; use etcd or kubernetes');
  }
}

async function openEtcd(
  config: EtcdConfig,
  onWarning: (message: string) => void,
): Promise<OpenedBackend> {
  const module = await loadModule(() => import('../etcd/index.js'), 'etcd', 'etcd3');
  const tls =
    config.tls === null
      ? undefined
      : {
          ...(config.tls.cacert === undefined
            ? {}
            : { ca: await readPem(config.tls.cacert, '--cacert') }),
          ...(config.tls.cert === undefined
            ? {}
            : { cert: await readPem(config.tls.cert, '--cert') }),
          ...(config.tls.key === undefined ? {} : { key: await readPem(config.tls.key, '--key') }),
        };
  const backend = construct(() =>
    module.etcdBackend({
      election: config.election,
      endpoints: config.endpoints,
      // `run` candidates can be steered (`leader-elect transfer`); no effect for the others.
      steering: true,
      onWarning: (warning) => onWarning(warning.message),
      ...(tls === undefined ? {} : { tls }),
      ...(config.auth === null ? {} : { auth: config.auth }),
    }),
  );
  return {
    backend,
    name: config.election,
    where: `etcd election "${config.election}" at ${config.endpoints.join(',')}`,
  };
}

async function openKubernetes(config: KubernetesConfig): Promise<OpenedBackend> {
  // Our own kubeconfig loader, not client-node's KubeConfig: importing client-node costs
  // 0.6–1 s of start-up (see src/kubernetes/kubeconfig.ts); it is imported only for the plugins
  // and proxies the loader hands to it.
  const module = await loadModule(() => import('../kubernetes/index.js'), 'kubernetes', 'js-yaml');
  if (config.kubeconfig === null) await requireSomeKubeconfig();
  let kubeConfig: Awaited<ReturnType<typeof module.loadKubeconfig>>;
  try {
    kubeConfig = await module.loadKubeconfig({
      ...(config.kubeconfig === null ? {} : { path: config.kubeconfig }),
      ...(config.context === null ? {} : { context: config.context }),
    });
  } catch (error) {
    if (isLeaderElectError(error) && error.details.missingPackage !== undefined) {
      throw new CliError(
        ExitCode.Backend,
        `--backend kubernetes needs the ${String(error.details.missingPackage)} package for this kubeconfig (${String(error.details.reason)}): npm install ${String(error.details.missingPackage)}`,
        { cause: error },
      );
    }
    throw new CliError(ExitCode.Backend, `${messageOf(error)}; check --kubeconfig and --context`, {
      cause: error,
    });
  }
  const namespace = config.namespace ?? (await defaultNamespace(kubeConfig.namespace));
  const backend = construct(() =>
    module.kubernetesBackend({ kubeConfig, namespace, name: config.leaseName }),
  );
  return {
    backend,
    name: `${namespace}/${config.leaseName}`,
    where: `Kubernetes Lease ${namespace}/${config.leaseName}`,
  };
}

/**
 * When no configuration exists at all, say so and where we looked (the places kubectl and
 * client-node's `loadFromDefault()` read), before the loader's own message.
 */
async function requireSomeKubeconfig(): Promise<void> {
  const fromEnv = process.env.KUBECONFIG ?? '';
  if (fromEnv.trim() !== '') return;
  const home = join(homedir(), '.kube', 'config');
  const inCluster =
    (process.env.KUBERNETES_SERVICE_HOST ?? '') !== '' && (await exists(SERVICE_ACCOUNT_TOKEN));
  if (inCluster || (await exists(home))) return;
  throw new CliError(
    ExitCode.Backend,
    `no kubeconfig found: $KUBECONFIG is not set, ${home} does not exist, and this is not a pod (no KUBERNETES_SERVICE_HOST and service account token ${SERVICE_ACCOUNT_TOKEN}); pass --kubeconfig FILE`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function openPostgres(
  config: PostgresConfig,
  onWarning: (message: string) => void,
): Promise<OpenedBackend> {
  const module = await loadModule(() => import('../postgres/index.js'), 'postgres', 'pg');
  const backend = construct(() =>
    module.postgresBackend({
      connectionString: config.connectionString,
      name: config.election,
      ...(config.table === null ? {} : { table: config.table }),
      ...(config.schema === null ? {} : { schema: config.schema }),
      ...(config.password === null ? {} : { password: config.password }),
      onWarning: (warning) => onWarning(warning.message),
    }),
  );
  const table =
    config.schema === null
      ? (config.table ?? module.DEFAULT_TABLE)
      : `${config.schema}.${config.table ?? module.DEFAULT_TABLE}`;
  return {
    backend,
    name: config.election,
    where: `PostgreSQL election "${config.election}" (table ${table}) at ${module.describeConnectionString(config.connectionString)}`,
  };
}

/** The pod's namespace, else the kubeconfig context's, else `default`. */
async function defaultNamespace(contextNamespace: string | undefined): Promise<string> {
  try {
    const inCluster = (await readFile(SERVICE_ACCOUNT_NAMESPACE, 'utf8')).trim();
    if (inCluster !== '') return inCluster;
  } catch {
    // not in a pod
  }
  return contextNamespace ?? 'default';
}

async function loadModule<T>(
  load: () => Promise<T>,
  backend: string,
  dependency: string,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && messageOf(error).includes(dependency)) {
      throw new CliError(
        ExitCode.Backend,
        `--backend ${backend} needs the ${dependency} package: npm install ${dependency}`,
        { cause: error },
      );
    }
    throw new CliError(
      ExitCode.Backend,
      `cannot load the ${backend} backend: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
}

async function readPem(path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new CliError(
      ExitCode.Backend,
      `cannot read ${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? messageOf(error)}; check the path`,
      { cause: error },
    );
  }
}

/** Backend factories validate names and options synchronously: those are usage errors. */
function construct(create: () => LeaseBackend<unknown>): LeaseBackend<unknown> {
  try {
    return create();
  } catch (error) {
    if (hasErrorCode(error, 'LE_INVALID_NAME') || hasErrorCode(error, 'LE_INVALID_OPTION')) {
      throw usageError(error.message);
    }
    throw new CliError(ExitCode.Backend, `cannot set up the backend: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/**
 * One read-only request, so that an unreachable or misconfigured backend fails at once with exit
 * code 3 instead of campaigning forever. Returns the status it saw (or `null` when the backend
 * cannot inspect).
 */
export async function probeBackend(
  opened: OpenedBackend,
  timeoutMs: number,
): Promise<Awaited<ReturnType<NonNullable<LeaseBackend['inspect']>>> | null> {
  const { backend } = opened;
  if (typeof backend.inspect !== 'function') return null;
  try {
    return await backend.inspect({ signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw backendFailure(opened, error);
  }
}

/** A backend error as the one line that says what to change, with exit code 3. */
export function backendFailure(opened: Pick<OpenedBackend, 'where'>, error: unknown): CliError {
  const code = isLeaderElectError(error) ? error.code : undefined;
  const message =
    error instanceof DOMException && error.name === 'TimeoutError'
      ? 'no answer in time'
      : messageOf(error);
  let hint: string;
  switch (code) {
    case 'LE_AUTH_FAILED':
      hint = opened.where.startsWith('PostgreSQL')
        ? 'check the user in the connection string and the password variable ($PGPASSWORD or --password-env)'
        : 'check --user and the password variable';
      break;
    case 'LE_SCHEMA_MISSING':
      hint = 'create the table with sql/leader-elect-postgres.sql';
      break;
    case 'LE_PERMISSION_DENIED':
      hint = 'grant the user read and write access to the election';
      break;
    case 'LE_TLS_ERROR':
      hint =
        isLeaderElectError(error) && error.details.cause === 'tls-not-spoken'
          ? 'check the scheme in --endpoints (http:// or https://)'
          : 'check --cacert, --cert and --key';
      break;
    case 'LE_INVALID_NAME':
    case 'LE_INVALID_OPTION':
      hint = 'check the backend flags';
      break;
    default:
      hint = opened.where.startsWith('etcd')
        ? 'check --endpoints and that the cluster is up'
        : opened.where.startsWith('PostgreSQL')
          ? 'check the connection string and that the server is up'
          : 'check --kubeconfig, --context and that the API server is up';
  }
  // Typed errors often name the fix already (e.g. the RBAC verb to grant).
  const named =
    (code === 'LE_PERMISSION_DENIED' && /\bgrant\b/i.test(message)) ||
    (code === 'LE_SCHEMA_MISSING' && message.includes('sql/leader-elect-postgres.sql'));
  return new CliError(
    ExitCode.Backend,
    `cannot use ${opened.where}: ${message}${named ? '' : `; ${hint}`}`,
    { cause: error },
  );
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
