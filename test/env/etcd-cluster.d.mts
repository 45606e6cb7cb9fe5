export interface EtcdTlsOptions {
  ca: string;
  cert: string;
  key: string;
  clientCertAuth?: boolean;
  clientCert?: string;
  clientKey?: string;
}

export interface ClientTls {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

export interface StartEtcdClusterOptions {
  binary: string;
  members?: number;
  dataDir?: string;
  tls?: EtcdTlsOptions;
  extraArgs?: string[];
  name?: string;
  heartbeatMs?: number;
  electionMs?: number;
  timeoutMs?: number;
  /** SIGTERM-to-SIGKILL grace of cluster.stop(), default 2000 */
  stopGraceMs?: number;
  keep?: boolean;
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** pid of the current process; undefined while stopped */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Default SIGKILL. Resolves after exit (at once for SIGSTOP/SIGCONT). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Same data dir and ports, --initial-cluster-state existing. */
  restart(opts?: { wait?: boolean; timeoutMs?: number }): Promise<void>;
  /** SIGTERM, SIGKILL after graceMs (default 5000). */
  stop(opts?: { graceMs?: number }): Promise<void>;
  healthy(): Promise<boolean>;
}

export interface EtcdCluster {
  readonly name: string;
  readonly token: string;
  /** temp dir holding every member's data dir and log */
  readonly dir: string;
  /** TLS material for clients (undefined for plain http) */
  readonly tls: ClientTls | undefined;
  readonly endpoints: string[];
  readonly members: EtcdMember[];
  /** SIGTERM all members (SIGKILL after stopGraceMs), remove the data dir unless keep. */
  stop(): Promise<void>;
  leaderMember(opts?: { timeoutMs?: number }): Promise<EtcdMember | null>;
  memberIds(): Promise<Record<string, EtcdMember>>;
}

export interface HttpJsonResult {
  status: number | undefined;
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: arbitrary JSON
  json: any;
}

export function startEtcdCluster(opts: StartEtcdClusterOptions): Promise<EtcdCluster>;
export function freePorts(count: number): Promise<number[]>;
export function httpJson(
  url: string,
  opts?: {
    method?: string;
    body?: unknown;
    tls?: ClientTls | undefined;
    timeoutMs?: number;
    headers?: Record<string, string>;
  },
): Promise<HttpJsonResult>;
