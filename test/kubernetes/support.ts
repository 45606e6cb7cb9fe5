/**
 * Helpers for the Kubernetes tests: an admin client (client-node's own generated API, so test
 * setup does not go through the code under test), namespaces, RBAC, and the client-go candidate.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import {
  CoordinationV1Api,
  CoordinationV1beta1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1beta1LeaseCandidate,
  type V1Lease,
} from '@kubernetes/client-node';
import { inject } from 'vitest';
import { httpJson } from '../env/etcd-cluster.mjs';
import { waitFor } from '../support/wait.js';

export function loadKubeConfig(path: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(path);
  return kubeConfig;
}

export const adminKubeConfig = (): KubeConfig => loadKubeConfig(inject('kubeAdminKubeconfig'));
export const restrictedKubeConfig = (): KubeConfig =>
  loadKubeConfig(inject('kubeRestrictedKubeconfig'));

export function adminClients() {
  const kc = adminKubeConfig();
  return {
    core: kc.makeApiClient(CoreV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    candidates: kc.makeApiClient(CoordinationV1beta1Api),
    rbac: kc.makeApiClient(RbacAuthorizationV1Api),
  };
}

let counter = 0;
/** A DNS-1123 name unique to this run. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** Creates the namespace if it does not exist. */
export async function ensureNamespace(name: string): Promise<void> {
  const { core } = adminClients();
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (error) {
    if (statusCode(error) !== 409) throw error;
  }
}

/** A Role on leases with `verbs` in `namespace`, bound to `user`. */
export function grantLeaseVerbs(
  namespace: string,
  user: string,
  verbs: string[],
  name = `leases-${verbs.join('-')}`,
  resourceNames?: string[],
): Promise<void> {
  return grantVerbs(namespace, user, 'leases', verbs, name, resourceNames);
}

/** A Role on `resource` (of coordination.k8s.io) with `verbs` in `namespace`, bound to `user`. */
export async function grantVerbs(
  namespace: string,
  user: string,
  resource: 'leases' | 'leasecandidates',
  verbs: string[],
  name = `${resource}-${verbs.join('-')}`,
  resourceNames?: string[],
): Promise<void> {
  const { rbac } = adminClients();
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name },
      rules: [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: [resource],
          verbs,
          ...(resourceNames === undefined ? {} : { resourceNames }),
        },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  });
}

/** The Lease as the admin sees it, or null. */
export async function readLease(namespace: string, name: string): Promise<V1Lease | null> {
  const { coordination } = adminClients();
  try {
    return await coordination.readNamespacedLease({ namespace, name });
  } catch (error) {
    if (statusCode(error) === 404) return null;
    throw error;
  }
}

/**
 * One request as the admin with the raw JSON body (no client-node serialization: MicroTime
 * fields keep their microseconds). Resolves the status and the parsed answer.
 */
export async function adminRequest(
  method: string,
  path: string,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: raw apiserver JSON, read by tests field by field
): Promise<{ status: number; json: any }> {
  const res = await httpJson(`${inject('kubeServer')}${path}`, {
    method,
    ...(body === undefined ? {} : { body }),
    tls: { ca: inject('kubeCaFile') },
    headers: { authorization: `Bearer ${inject('kubeAdminToken')}` },
    timeoutMs: 5_000,
  });
  return { status: res.status ?? 0, json: res.json };
}

/** A MicroTime (6 fractional digits) for `date`. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The LeaseCandidate as the admin sees it, or null. */
export async function readLeaseCandidate(
  namespace: string,
  name: string,
): Promise<V1beta1LeaseCandidate | null> {
  const { candidates } = adminClients();
  try {
    return await candidates.readNamespacedLeaseCandidate({ namespace, name });
  } catch (error) {
    if (statusCode(error) === 404) return null;
    throw error;
  }
}

/** A local TCP server that counts connections and never answers (a hung apiserver). */
export async function silentServer(): Promise<{
  url: string;
  connections: () => number;
  open: () => number;
  close: () => Promise<void>;
}> {
  let total = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    total++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.resume(); // read and drop (a TLS ClientHello): only then is the client's close seen
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    connections: () => total,
    open: () => sockets.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on which nothing listens (an apiserver that is down). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A KubeConfig for `server` with a bearer token and, optionally, a CA file. */
export function kubeConfigFor(server: string, token: string, caFile?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'c',
        server,
        skipTLSVerify: false,
        ...(caFile === undefined ? {} : { caFile }),
      },
    ],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return kc;
}

// ---------------------------------------------------------------- client-go candidate

export interface CandidateEvent {
  readonly event:
    | 'started'
    | 'candidate_ready'
    | 'new_leader'
    | 'started_leading'
    | 'stopped_leading'
    | 'exiting';
  readonly identity: string;
  /** Unix milliseconds (Go's time.Now()). */
  readonly t: number;
}

export interface CandidateOptions {
  readonly identity: string;
  readonly namespace: string;
  readonly name: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly releaseOnCancel?: boolean;
  readonly kubeconfig?: string;
  /** A coordinated candidate (KEP-4355): client-go's NewCandidate + Coordinated: true. */
  readonly coordinated?: {
    readonly binaryVersion: string;
    readonly emulationVersion: string;
    readonly strategy?: string;
  };
}

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** client-go's leaderelection in a process of its own, reporting JSON lines. */
export class ClientGoCandidate {
  readonly events: CandidateEvent[] = [];
  readonly identity: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private stderr = '';

  constructor(options: CandidateOptions) {
    this.identity = options.identity;
    const binary = inject('clientGoCandidateBinary');
    const args = [
      `--kubeconfig=${options.kubeconfig ?? inject('kubeAdminKubeconfig')}`,
      `--namespace=${options.namespace}`,
      `--name=${options.name}`,
      `--identity=${options.identity}`,
      `--lease-duration=${options.leaseDurationMs}ms`,
      `--renew-deadline=${options.renewDeadlineMs}ms`,
      `--retry-period=${options.retryPeriodMs}ms`,
      `--release-on-cancel=${options.releaseOnCancel ?? true}`,
      ...(options.coordinated === undefined
        ? []
        : [
            '--coordinated',
            `--binary-version=${options.coordinated.binaryVersion}`,
            `--emulation-version=${options.coordinated.emulationVersion}`,
            ...(options.coordinated.strategy === undefined
              ? []
              : [`--strategy=${options.coordinated.strategy}`]),
          ]),
    ];
    // --pdeathsig: the kernel kills the candidate if the test runner dies.
    this.child = SETPRIV
      ? spawn(SETPRIV, ['--pdeathsig', 'KILL', binary, ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
        })
      : spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') this.events.push(JSON.parse(line));
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-8000);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  /** Identity of the last leader it reported ('' when it reported none). */
  get leader(): string | undefined {
    return this.events.filter((e) => e.event === 'new_leader').at(-1)?.identity;
  }

  get leading(): boolean {
    const last = this.events.filter(
      (e) => e.event === 'started_leading' || e.event === 'stopped_leading',
    );
    return last.at(-1)?.event === 'started_leading';
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  waitFor(
    predicate: (event: CandidateEvent) => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<CandidateEvent> {
    return waitFor(
      () => this.events.find(predicate),
      `${this.identity}: ${what} (stderr: ${this.stderr.slice(-500)})`,
      timeoutMs,
    );
  }

  /** SIGTERM (client-go releases when started with release-on-cancel), then wait for exit. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

// ---------------------------------------------------------------- audit log

export interface AuditEvent {
  readonly verb: string;
  readonly user: string;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly stage: string;
  readonly code: number | undefined;
  /** Wall-clock time the apiserver received the request (ms). */
  readonly at: number;
}

/** Requests on leases as the apiserver recorded them (its audit log, level Metadata). */
export async function auditEvents(
  filter: (event: AuditEvent) => boolean = () => true,
): Promise<AuditEvent[]> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(inject('kubeAuditLog'), 'utf8');
  const events: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const raw = JSON.parse(line) as {
      verb: string;
      stage: string;
      user?: { username?: string };
      objectRef?: { namespace?: string; name?: string };
      responseStatus?: { code?: number };
      requestReceivedTimestamp: string;
    };
    const event: AuditEvent = {
      verb: raw.verb,
      user: raw.user?.username ?? '',
      namespace: raw.objectRef?.namespace,
      name: raw.objectRef?.name,
      stage: raw.stage,
      code: raw.responseStatus?.code,
      at: Date.parse(raw.requestReceivedTimestamp),
    };
    if (filter(event)) events.push(event);
  }
  return events;
}

// ---------------------------------------------------------------- TCP proxy

/**
 * A loopback TCP proxy in front of the apiserver (TLS passes through: the serving certificate
 * is for IP 127.0.0.1, whatever the port). `cut()` resets every connection; `refuse()` stops
 * accepting until `accept()`.
 */
export async function tcpProxy(target: string): Promise<{
  url: string;
  connections: () => number;
  cut: () => void;
  refuse: () => Promise<void>;
  accept: () => Promise<void>;
  close: () => Promise<void>;
}> {
  const { port: targetPort } = new URL(target);
  const pairs = new Set<[net.Socket, net.Socket]>();
  let total = 0;
  const onConnection = (client: net.Socket) => {
    total++;
    const upstream = net.connect(Number(targetPort), '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const done = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream).pipe(client);
  };
  let server = net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const cut = () => {
    for (const [a, b] of pairs) {
      a.resetAndDestroy();
      b.destroy();
    }
    pairs.clear();
  };
  return {
    url: `https://127.0.0.1:${port}`,
    connections: () => total,
    cut,
    refuse: async () => {
      // close() stops accepting at once but calls back only when every connection is gone.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      cut();
      await closed;
    },
    accept: async () => {
      server = net.createServer(onConnection);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      cut();
      await closed;
    },
  };
}

// ---------------------------------------------------------------- an independent Lease observer

export interface SeenLease {
  readonly resourceVersion: string;
  readonly holder: string;
  readonly preferredHolder: string;
  readonly strategy: string;
  readonly leaseDurationSeconds: number;
  readonly transitions: number;
  /** The record's renewTime as written (µs since the epoch; 0 when absent). */
  readonly renewTimeUs: number;
  /** When the watch delivered it (performance.now()). */
  readonly at: number;
}

/** Records every version of a Lease through client-node's own Watch (not our code). */
export async function observeLease(
  namespace: string,
  name: string,
): Promise<SeenLease[] & { stop(): void }> {
  const { Watch } = await import('@kubernetes/client-node');
  const seen: SeenLease[] = [];
  const watch = new Watch(adminKubeConfig());
  const controller = await watch.watch(
    `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    { fieldSelector: `metadata.name=${name}` },
    (type: string, lease: V1Lease) => {
      if (type !== 'ADDED' && type !== 'MODIFIED') return;
      const spec = lease.spec;
      const renewTime = spec?.renewTime as unknown;
      seen.push({
        resourceVersion: lease.metadata?.resourceVersion ?? '',
        holder: spec?.holderIdentity ?? '',
        preferredHolder: spec?.preferredHolder ?? '',
        strategy: spec?.strategy ?? '',
        leaseDurationSeconds: spec?.leaseDurationSeconds ?? 0,
        transitions: spec?.leaseTransitions ?? 0,
        renewTimeUs: microseconds(renewTime),
        at: performance.now(),
      });
    },
    () => undefined,
  );
  return Object.assign(seen, { stop: () => controller.abort() });
}

/** client-node parses MicroTime into a Date (ms); a string keeps the microseconds. */
function microseconds(value: unknown): number {
  if (value instanceof Date) return value.getTime() * 1000;
  if (typeof value !== 'string') return 0;
  const match = /\.(\d{1,9})/.exec(value);
  const whole = Date.parse(value.replace(/\.\d+/, ''));
  return whole * 1000 + Number((match?.[1] ?? '').padEnd(6, '0').slice(0, 6));
}

/**
 * Never two holders, as the Lease's own versions show it: whenever the holder changes from one
 * candidate to another (not through a release), the new holder's first version was written at or
 * after the old holder's last renewal plus its lease duration (all timestamps come from clocks of
 * this one machine). Returns the holder changes for further checks.
 */
export function expectSingleHolder(
  seen: readonly SeenLease[],
  expect: (value: unknown, message?: string) => { toBeGreaterThanOrEqual(n: number): void },
): { from: string; to: string }[] {
  const changes: { from: string; to: string }[] = [];
  for (let i = 1; i < seen.length; i++) {
    const prev = seen[i - 1]!;
    const cur = seen[i]!;
    if (cur.holder === prev.holder) continue;
    changes.push({ from: prev.holder, to: cur.holder });
    if (prev.holder === '' || cur.holder === '') continue;
    const expiry = prev.renewTimeUs + prev.leaseDurationSeconds * 1_000_000;
    expect(
      cur.renewTimeUs,
      `${prev.holder} → ${cur.holder}: ${JSON.stringify(seen.slice(Math.max(0, i - 3), i + 1))}`,
    ).toBeGreaterThanOrEqual(expiry);
  }
  return changes;
}
