/**
 * The Kubernetes backend of the benchmark: a kube-apiserver built from source by the project's
 * test environment (test/env/kube, on its own etcd), started and stopped here, and every
 * implementation that can run on it, each as a child process:
 *
 * - leader-elect (ours)                          bench/fixtures/ours-kube.mjs
 * - client-go tools/leaderelection (LeaseLock)   test/env/kube/cmd/client-go-candidate
 * - @codedependant/kubernetes-leader-election    bench/fixtures/codedependant.mjs
 *
 * Observers (the observe scenario): ours (bench/lib/observers.mjs) and a client-go informer on
 * the Lease (test/env/kube/cmd/client-go-lease-informer, built here on first use: seconds, it
 * reuses the candidate's packages).
 *
 * The apiserver binary is never built here (a cold build takes 10–25 minutes): without a cached
 * one the backend is skipped with a message saying how to build it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CandidateProcess, parseJsonLine } from '../candidate-process.mjs';
import { packageVersion } from '../machine.mjs';
import { ourObservers, parseInformer } from '../observers.mjs';
import { sleep } from '../stats.mjs';

const run = promisify(execFile);
const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const fixture = (name) => here(`../../fixtures/${name}`);
const LAUNCHER = here('../../../test/env/kube-apiserver.mjs');
const KUBE_BUILD = here('../../../test/env/kube/build.mjs');
const NAMESPACE = 'default';

/**
 * After the Lease has a holder, how long the follower gets before a trial starts: client-go's
 * follower polls every retryPeriod with up to 1.2 × retryPeriod of jitter, so 1.2 s covers at
 * least one poll at the failover timings (0.5 s + up to 0.6 s) for every implementation alike.
 */
const SETTLE_MS = 1_200;

function parseFixture(line) {
  const e = parseJsonLine(line);
  return e ? { ...e, type: e.event } : null;
}

/** client-go candidate lines (see test/env/kube/cmd/client-go-candidate/main.go). */
function parseClientGo(line) {
  const e = parseJsonLine(line);
  if (!e) return null;
  switch (e.event) {
    case 'started':
      return { type: 'started' };
    case 'started_leading':
      return { type: 'elected' };
    case 'stopped_leading':
      return { type: 'lost', reason: 'stopped_leading' };
    default:
      return { type: 'info', event: e.event, identity: e.identity };
  }
}

const goDuration = (ms) => `${ms}ms`;

/** A MicroTime ("2026-01-02T03:04:05.123456Z") as a harness `performance.now()` reading. */
function wallToHarness(microTime) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(microTime ?? '');
  if (!m) return null;
  const fraction = Number(`0.${m[2] ?? '0'}`) * 1000;
  return Date.parse(`${m[1]}Z`) + fraction - performance.timeOrigin;
}

/**
 * One request on the Lease API, as the admin user; resolves the parsed JSON (or null).
 */
function apiRequest(env, ca, method, path, body) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, env.server);
    const request = https.request(
      url,
      {
        method,
        ca,
        agent: false,
        headers: {
          authorization: `Bearer ${env.adminToken}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        timeout: 10_000,
      },
      (response) => {
        let data = '';
        response.setEncoding('utf8');
        response.on('data', (d) => (data += d));
        response.on('end', () => {
          let json = null;
          try {
            json = JSON.parse(data);
          } catch {
            // not JSON (metrics)
          }
          resolve({ status: response.statusCode, json, text: data });
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${method} ${path} timed out`)));
    request.on('error', reject);
    if (body) request.write(JSON.stringify(body));
    request.end();
  });
}

/**
 * Watches one Lease and records every version with the harness time it arrived: the
 * independent observer of renewals (expiry = last renewal by the holder + leaseDuration).
 */
function watchLease(env, ca, name) {
  const history = [];
  let request;
  let closed = false;
  const open = () => {
    if (closed) return;
    const path = `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases?watch=true&allowWatchBookmarks=false&fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`;
    request = https.request(
      new URL(path, env.server),
      { method: 'GET', ca, agent: false, headers: { authorization: `Bearer ${env.adminToken}` } },
      (response) => {
        let partial = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          const t = performance.now();
          const lines = (partial + chunk).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            const event = parseJsonLine(line);
            const spec = event?.object?.spec;
            if (!spec) continue;
            history.push({
              t,
              type: event.type,
              holder: spec.holderIdentity ?? '',
              renewTime: spec.renewTime ?? null,
              leaseDurationSeconds: spec.leaseDurationSeconds ?? null,
              transitions: spec.leaseTransitions ?? null,
            });
          }
        });
        response.on('end', () => setTimeout(open, 100));
      },
    );
    request.on('error', () => setTimeout(open, 200));
    request.end();
  };
  open();
  return {
    history,
    close() {
      closed = true;
      request?.destroy();
    },
  };
}

export async function startKubernetesBackend({ log }) {
  if (!existsSync(LAUNCHER) || !existsSync(KUBE_BUILD)) {
    return { skipped: 'test/env/kube-apiserver.mjs or test/env/kube/build.mjs is missing' };
  }
  const { ensureKubeBinaries, kubeBinaryPath } = await import(KUBE_BUILD);
  const { ensureBinaries } = await import(here('../../../test/env/build.mjs'));
  const apiserverBinary = await kubeBinaryPath('kube-apiserver');
  const candidateBinary = await kubeBinaryPath('client-go-candidate');
  const missing = [
    [apiserverBinary, 'kube-apiserver'],
    [candidateBinary, 'client-go-candidate'],
  ].filter(([path]) => !existsSync(path));
  if (missing.length > 0) {
    return {
      skipped: `${missing.map(([, n]) => n).join(' and ')} not built yet (cold build 10–25 min); build once with \`node test/env/kube/build.mjs\``,
    };
  }
  const oursAvailable = await import('../../../dist/kubernetes/index.js').then(
    (m) => typeof m.kubernetesBackend === 'function',
    (error) => {
      log(`ours on Kubernetes unavailable: ${error.message.split('\n')[0]}`);
      return false;
    },
  );

  const { etcd: etcdBinary } = await ensureBinaries(['etcd']);
  const { startKubeApiserver } = await import(LAUNCHER);
  const kubeVersion = await run(apiserverBinary, ['--version'], { timeout: 10_000 }).then(
    (r) => r.stdout.trim().replace(/^Kubernetes /, ''),
    () => null,
  );
  log(`starting kube-apiserver ${kubeVersion}`);
  const env = await startKubeApiserver({ binary: apiserverBinary, etcdBinary });
  const ca = readFileSync(env.caFile);
  const [clientNodeVersion, codedependantVersion, ourVersion] = await Promise.all([
    packageVersion('@kubernetes/client-node'),
    packageVersion('@codedependant/kubernetes-leader-election'),
    packageVersion('.'),
  ]);
  const clientGoVersion = (() => {
    try {
      const mod = readFileSync(here('../../../test/env/kube/go.mod'), 'utf8');
      return /k8s\.io\/client-go\s+(\S+)/.exec(mod)?.[1] ?? null;
    } catch {
      return null;
    }
  })();
  const leaseSeconds = (p) => Math.ceil(p.leaseDuration / 1000);

  const implementations = [
    {
      id: 'leader-elect',
      label: 'leader-elect (ours)',
      ours: true,
      version: `leader-elect ${ourVersion}`,
      unavailable: oursAvailable
        ? undefined
        : 'dist/kubernetes/index.js (leader-elect/kubernetes) is not built',
      graceful: 'step-down',
      writes: 'fenced (term.isValid() + term.token)',
      settings: (p) => ({
        leaseDurationMs: p.leaseDuration,
        renewDeadlineMs: p.renewDeadline,
        retryPeriodMs: p.retryPeriod,
        text: `leaseDuration ${p.leaseDuration} / renewDeadline ${p.renewDeadline} / retryPeriod ${p.retryPeriod} ms`,
      }),
      command: ({ election, identity, profile, fenceUrl, scale = false, elections = 1 }) => ({
        command: process.execPath,
        args: [
          fixture('ours-kube.mjs'),
          '--kubeconfig',
          env.adminKubeconfig,
          '--namespace',
          NAMESPACE,
          '--name',
          election,
          '--identity',
          identity,
          '--lease-duration-ms',
          String(profile.leaseDuration),
          '--renew-deadline-ms',
          String(profile.renewDeadline),
          '--retry-period-ms',
          String(profile.retryPeriod),
          ...(scale ? ['--scale', '--elections', String(elections)] : []),
          ...(fenceUrl ? ['--fence-url', fenceUrl] : []),
        ],
      }),
      parse: () => parseFixture,
      renewalIntervalMs: (p) => p.retryPeriod,
    },
    {
      id: 'client-go',
      label: 'client-go leaderelection',
      version: `k8s.io/client-go ${clientGoVersion}`,
      graceful: 'SIGTERM',
      writes: null,
      noWritesReason:
        'the client-go candidate binary does no writes; its stale claim is reported instead',
      settings: (p) => ({
        leaseDurationMs: p.leaseDuration,
        renewDeadlineMs: p.renewDeadline,
        retryPeriodMs: p.retryPeriod,
        text: `LeaseDuration ${p.leaseDuration} / RenewDeadline ${p.renewDeadline} / RetryPeriod ${p.retryPeriod} ms, ReleaseOnCancel`,
      }),
      command: ({ election, identity, profile }) => ({
        command: candidateBinary,
        args: [
          '--kubeconfig',
          env.adminKubeconfig,
          '--namespace',
          NAMESPACE,
          '--name',
          election,
          '--identity',
          identity,
          '--lease-duration',
          goDuration(profile.leaseDuration),
          '--renew-deadline',
          goDuration(profile.renewDeadline),
          '--retry-period',
          goDuration(profile.retryPeriod),
          '--release-on-cancel',
        ],
      }),
      parse: () => parseClientGo,
      renewalIntervalMs: (p) => p.retryPeriod,
    },
    {
      id: 'codedependant',
      label: '@codedependant/kubernetes-leader-election',
      version: `@codedependant/kubernetes-leader-election ${codedependantVersion}`,
      graceful: 'exit-command',
      writes: 'unfenced (no token in its API)',
      settings: (p) => ({
        leaseDurationMs: leaseSeconds(p) * 1000,
        renewDeadlineMs: null,
        retryPeriodMs: p.retryPeriod,
        text: `lease_duration_sec ${leaseSeconds(p)}, renew_interval_ms ${p.retryPeriod} (no renew deadline)`,
      }),
      command: ({ election, identity, profile, fenceUrl }) => ({
        command: process.execPath,
        args: [
          fixture('codedependant.mjs'),
          '--namespace',
          NAMESPACE,
          '--name',
          election,
          '--identity',
          identity,
          '--lease-duration-sec',
          String(leaseSeconds(profile)),
          '--renew-interval-ms',
          String(profile.retryPeriod),
          ...(fenceUrl ? ['--fence-url', fenceUrl] : []),
        ],
        env: { KUBECONFIG: env.adminKubeconfig, KUBERNETES_SERVICE_HOST: '127.0.0.1' },
      }),
      parse: () => parseFixture,
      renewalIntervalMs: (p) => p.retryPeriod,
    },
  ];

  const watches = new Map();
  const leasePath = (name) => `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${name}`;
  const getLease = async (name) => {
    const res = await apiRequest(env, ca, 'GET', leasePath(name));
    return res.status === 200 ? res.json : null;
  };

  return {
    name: 'kubernetes',
    server: `kube-apiserver ${kubeVersion} on loopback over a 1-member etcd (test/env settings: audit log of lease requests in blocking mode, CoordinatedLeaderElection on)`,
    versions: {
      'kube-apiserver': kubeVersion,
      'k8s.io/client-go': clientGoVersion,
      '@kubernetes/client-node': clientNodeVersion,
      '@codedependant/kubernetes-leader-election': codedependantVersion,
    },
    implementations,
    unsupported(_impl, scenario) {
      if (scenario === 'scale')
        return 'the scale scenario is measured on etcd (one session lease per process); on Kubernetes every election is its own Lease';
      return null;
    },
    /** The observe scenario's observers of a Lease (ours, then client-go's informer). */
    async observers() {
      const ours = ourObservers({
        backendArgs: (name) => [
          '--backend',
          'kubernetes',
          '--kubeconfig',
          env.adminKubeconfig,
          '--namespace',
          NAMESPACE,
          '--lease-name',
          name,
        ],
      }).map((o) => ({ ...o, version: `leader-elect ${ourVersion}` }));
      const informer = {
        id: 'client-go-informer',
        label: 'client-go informer on the Lease',
        version: `k8s.io/client-go ${clientGoVersion}`,
        mode: 'push',
        announcesPush: true,
        settings: 'SharedIndexInformer (list + watch, field selector metadata.name), no resync',
      };
      let binary;
      try {
        binary = (await ensureKubeBinaries(['client-go-lease-informer'])).clientGoLeaseInformer;
      } catch (error) {
        return [
          ...ours,
          { ...informer, unavailable: `not built: ${error.message.split('\n')[0]}` },
        ];
      }
      return [
        ...ours,
        {
          ...informer,
          spawn: (name) =>
            new CandidateProcess({
              label: `client-go-informer/${name}`,
              command: binary,
              args: ['--kubeconfig', env.adminKubeconfig, '--namespace', NAMESPACE, '--name', name],
              parse: parseInformer,
            }),
        },
      ];
    },
    spawn(impl, params) {
      const { command, args, env: childEnv } = impl.command(params);
      return new CandidateProcess({
        label: `${impl.id}/${params.identity}`,
        command,
        args,
        env: childEnv,
        parse: impl.parse(),
      });
    },
    /** Starts the renewal observer of a Lease (before its candidates start). */
    track(name) {
      if (!watches.has(name)) watches.set(name, watchLease(env, ca, name));
    },
    /** The Lease has a holder; then the follower gets SETTLE_MS to observe it. */
    async settled(_impl, name, _count, { timeoutMs = 15_000 } = {}) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const lease = await getLease(name);
        if (lease?.spec?.holderIdentity) break;
        if (performance.now() > deadline)
          throw new Error(`Lease ${name} has no holder after ${timeoutMs} ms`);
        await sleep(50);
      }
      await sleep(SETTLE_MS);
    },
    /**
     * Expiry from the renewal observer: the holder at the crash, the arrival of its last
     * renewal seen by the watch, plus the Lease's leaseDurationSeconds.
     */
    async expiryObserver(_impl, name) {
      const watch = watches.get(name);
      if (!watch) throw new Error(`Lease ${name} is not tracked`);
      let t0;
      return {
        method: 'watch of the Lease: arrival of the last renewal + leaseDurationSeconds',
        start(t) {
          t0 = t;
        },
        async result() {
          const before = watch.history.filter((e) => e.t <= t0);
          const holder = before[before.length - 1]?.holder;
          if (!holder) return { expiry: null, why: 'no holder seen before the crash' };
          const byHolder = watch.history.filter((e) => e.holder === holder);
          const last = byHolder[byHolder.length - 1];
          // Cross-check, kept in the JSON: the renewTime the holder wrote (its wall clock, which
          // is the harness's too on one machine) + leaseDuration. Independent of watch delivery.
          const renewedAt = wallToHarness(last.renewTime);
          return {
            expiry: last.t + last.leaseDurationSeconds * 1000,
            ...(renewedAt === null
              ? {}
              : { expiryByRenewTime: renewedAt + last.leaseDurationSeconds * 1000 }),
          };
        },
      };
    },
    /**
     * Requests on Leases in the benchmark's namespace, by verb, from the apiserver's audit log
     * (one event per request on leases; the apiserver's own leases live in kube-system and are
     * not counted). Watches count once, when they start.
     */
    async trafficSnapshot() {
      const text = readFileSync(env.auditLogs[0], 'utf8');
      const counts = {};
      for (const line of text.split('\n')) {
        const e = parseJsonLine(line);
        if (!e || e.objectRef?.namespace !== NAMESPACE) continue;
        const counted =
          e.verb === 'watch' ? e.stage === 'ResponseStarted' : e.stage === 'ResponseComplete';
        if (counted) counts[e.verb] = (counts[e.verb] ?? 0) + 1;
      }
      return counts;
    },
    keepaliveMethod: null,
    /** A Lease whose holder stopped renewing an hour ago (its remote times say so). */
    async prepareColdStart(_impl, name) {
      const longAgo = new Date(Date.now() - 3_600_000).toISOString().replace('Z', '000Z');
      const res = await apiRequest(
        env,
        ca,
        'POST',
        `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`,
        {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace: NAMESPACE },
          spec: {
            holderIdentity: 'gone-an-hour-ago',
            leaseDurationSeconds: 2,
            acquireTime: longAgo,
            renewTime: longAgo,
            leaseTransitions: 0,
          },
        },
      );
      if (res.status !== 201)
        throw new Error(
          `creating the expired Lease ${name} failed: ${res.status} ${res.text.slice(0, 200)}`,
        );
    },
    coldStartNote:
      'Kubernetes: the Lease names a holder whose renewTime is an hour old; client-go (and any implementation that never trusts remote times) first waits a full lease duration from when it first observes the record',
    async stop() {
      for (const w of watches.values()) w.close();
      await env.stop();
    },
  };
}
