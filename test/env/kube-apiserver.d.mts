import type { EtcdCluster } from './etcd-cluster.mjs';

export const ADMIN_USER: 'admin';
export const RESTRICTED_USER: 'restricted';

export interface KubeApiserverProcess {
  readonly index: number;
  readonly port: number;
  readonly url: string;
  readonly logFile: string;
  readonly caFile: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  start(): Promise<void>;
  /** Default SIGKILL; resolves after exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface KubeEnv {
  readonly dir: string;
  /** URL clients use (HAProxy's when there is one). */
  readonly server: string;
  readonly caFile: string;
  readonly adminToken: string;
  readonly restrictedToken: string;
  readonly adminKubeconfig: string;
  readonly restrictedKubeconfig: string;
  readonly apiservers: KubeApiserverProcess[];
  /** JSON lines, one audit event (level Metadata) per request on leases, one file per apiserver. */
  readonly auditLogs: string[];
  readonly etcd: EtcdCluster;
  kubeconfig(opts: {
    token: string;
    user: string;
    name?: string;
    server?: string;
  }): Promise<string>;
  stop(): Promise<void>;
}

export interface StartKubeApiserverOptions {
  binary: string;
  etcdBinary: string;
  apiservers?: number;
  haproxy?: boolean;
  timeoutMs?: number;
  keep?: boolean;
  verbosity?: number;
  /** Serve coordination.k8s.io/v1beta1 and run the coordinated election controller (default true). */
  coordinated?: boolean;
}

export function startKubeApiserver(opts: StartKubeApiserverOptions): Promise<KubeEnv>;
export function writeKubeconfig(
  path: string,
  opts: { server: string; caFile: string; token: string; user: string; namespace?: string },
): Promise<string>;
