// Starts a real kube-apiserver (built from source by test/env/kube/build.mjs)
// on loopback, on its own single-member etcd, for the Kubernetes tests.
//
//   const env = await startKubeApiserver({ binary, etcdBinary });
//   env.server              'https://127.0.0.1:41234'
//   env.adminKubeconfig     kubeconfig of "admin" (group system:masters)
//   env.restrictedKubeconfig  kubeconfig of "restricted" (no permissions until a RoleBinding)
//   await env.stop()
//
//   // Two apiservers on one etcd behind HAProxy (TCP), for failover tests:
//   const ha = await startKubeApiserver({ binary, etcdBinary, apiservers: 2, haproxy: true });
//   await ha.apiservers[0].kill();
//
// Authentication is a static token file (an admin in system:masters and a
// restricted user), authorization RBAC, service-account tokens signed with an
// RSA key generated here with openssl. A single apiserver generates its own
// serving certificate in --cert-dir; several share one from tls-certs.mjs so
// that one CA fits whichever of them HAProxy picks.
//
// Every child runs under `setpriv --pdeathsig KILL` where available and is
// SIGKILLed on process exit, so a dead test runner leaves nothing behind.
// Logs go to <dir>/*.log; `keep: true` keeps the directory for debugging.

import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePorts, httpJson, startEtcdCluster } from './etcd-cluster.mjs';
import { makeTestCerts } from './tls-certs.mjs';

const execFileAsync = promisify(execFile);
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Users in the token file. */
export const ADMIN_USER = 'admin';
export const RESTRICTED_USER = 'restricted';

// ---------------------------------------------------------------------------
// Children

const liveChildren = new Set();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Spawns `file args` with output appended to `logFile`; resolves nothing, returns the child. */
function spawnLogged(file, args, logFile) {
  installExitHook();
  const fd = openSync(logFile, 'a');
  const [cmd, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', file, ...args]] : [file, args];
  let child;
  try {
    child = spawn(cmd, argv, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  liveChildren.add(child);
  child.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      liveChildren.delete(child);
      resolve({ code: null, signal: null, error: err });
    });
  });
  return child;
}

async function stopChild(child, graceMs) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

async function tail(file, lines = 30) {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} not open after ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

// ---------------------------------------------------------------------------
// Files

async function openssl(args, cwd) {
  try {
    await execFileAsync('openssl', args, { cwd, timeout: 60_000 });
  } catch (err) {
    throw new Error(`openssl ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

/**
 * Writes a kubeconfig (JSON is valid YAML: client-go and client-node read it).
 * @returns {Promise<string>} its path
 */
export async function writeKubeconfig(
  path,
  { server, caFile, token, user, namespace = 'default' },
) {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'test', user, namespace } }],
    'current-context': user,
  };
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return path;
}

// ---------------------------------------------------------------------------
// The environment

/**
 * @param {object} opts
 * @param {string} opts.binary         kube-apiserver binary
 * @param {string} opts.etcdBinary     etcd binary (>= 3.5)
 * @param {number} [opts.apiservers=1] how many apiservers share the etcd
 * @param {boolean} [opts.haproxy=false] put HAProxy (TCP, round robin, health checks) in front
 * @param {number} [opts.timeoutMs=120000] readiness timeout of each apiserver
 * @param {boolean} [opts.keep=false]  keep the temp dir (logs) after stop()
 * @param {number} [opts.verbosity=1]  kube-apiserver -v
 * @param {boolean} [opts.coordinated=true] serve coordination.k8s.io/v1beta1 and run the
 *   coordinated leader election controller (feature gate CoordinatedLeaderElection); false
 *   starts an apiserver as most clusters run today, without either
 */
export async function startKubeApiserver({
  binary,
  etcdBinary,
  apiservers: count = 1,
  haproxy = false,
  timeoutMs = 120_000,
  keep = false,
  verbosity = 1,
  coordinated = true,
}) {
  if (!binary || !existsSync(binary)) throw new Error(`kube-apiserver binary not found: ${binary}`);
  if (haproxy && !existsSync('/usr/sbin/haproxy')) {
    throw new Error('haproxy is not installed (apt-get install -y haproxy)');
  }
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'leader-elect-kube-'));
  const cleanup = [];
  try {
    const etcd = await startEtcdCluster({ binary: etcdBinary, members: 1, name: 'kube-etcd' });
    cleanup.push(() => etcd.stop());

    const adminToken = randomBytes(24).toString('hex');
    const restrictedToken = randomBytes(24).toString('hex');
    const tokenFile = join(dir, 'tokens.csv');
    await writeFile(
      tokenFile,
      `${adminToken},${ADMIN_USER},${ADMIN_USER}-uid,"system:masters"\n` +
        `${restrictedToken},${RESTRICTED_USER},${RESTRICTED_USER}-uid\n`,
      { mode: 0o600 },
    );
    // Audit log of every request on leases (metadata only): lets tests check, from the
    // server's side, which verbs a client sent (e.g. that renewals are PUTs without a GET).
    const auditPolicy = join(dir, 'audit-policy.yaml');
    await writeFile(
      auditPolicy,
      [
        'apiVersion: audit.k8s.io/v1',
        'kind: Policy',
        'omitStages: ["RequestReceived"]',
        'rules:',
        '  - level: Metadata',
        '    resources:',
        '      - group: coordination.k8s.io',
        '        resources: ["leases"]',
        '  - level: None',
        '',
      ].join('\n'),
    );
    const saKey = join(dir, 'service-account.key');
    await openssl(['genrsa', '-out', saKey, '2048'], dir);

    // One apiserver: its own self-signed certificate. Several: one shared certificate.
    const shared = count > 1 ? await makeTestCerts(join(dir, 'tls')) : null;
    const ports = await freePorts(count + (haproxy ? 1 : 0));

    const servers = [];
    for (let i = 0; i < count; i++) {
      const port = ports[i];
      const certDir = join(dir, `apiserver-${i}-certs`);
      await mkdir(certDir, { recursive: true });
      const args = [
        `--etcd-servers=${etcd.endpoints.join(',')}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${port}`,
        ...(shared
          ? [`--tls-cert-file=${shared.cert}`, `--tls-private-key-file=${shared.key}`]
          : [`--cert-dir=${certDir}`]),
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${saKey}`,
        `--service-account-signing-key-file=${saKey}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        '--authorization-mode=RBAC',
        // The kubernetes Service's endpoints cannot be a loopback address; nothing here needs them.
        '--endpoint-reconciler-type=none',
        `--token-auth-file=${tokenFile}`,
        // Coordinated leader election (beta, off by default): without it the apiserver drops
        // Lease.spec.strategy and preferredHolder, which the mapping tests check we keep.
        ...(coordinated
          ? [
              '--feature-gates=CoordinatedLeaderElection=true',
              '--runtime-config=coordination.k8s.io/v1beta1=true',
            ]
          : []),
        '--profiling=false',
        `--audit-policy-file=${auditPolicy}`,
        `--audit-log-path=${join(dir, `audit-${i}.log`)}`,
        '--audit-log-mode=blocking',
        `--v=${verbosity}`,
      ];
      servers.push(
        makeApiserver({
          index: i,
          binary,
          args,
          port,
          logFile: join(dir, `apiserver-${i}.log`),
          caFile: shared ? shared.ca : join(certDir, 'apiserver.crt'),
          adminToken,
          timeoutMs,
        }),
      );
    }
    cleanup.push(() => Promise.all(servers.map((s) => s.stop())));
    // Start together (they share the etcd), wait for each.
    await Promise.all(servers.map((s) => s.start()));

    let server = servers[0].url;
    let haproxyChild = null;
    if (haproxy) {
      const port = ports[count];
      const cfg = join(dir, 'haproxy.cfg');
      await writeFile(
        cfg,
        [
          'global',
          '  maxconn 512',
          'defaults',
          '  mode tcp',
          '  timeout connect 1s',
          '  timeout client 30m',
          '  timeout server 30m',
          '  retries 2',
          '  option redispatch',
          'frontend kube',
          `  bind 127.0.0.1:${port}`,
          '  default_backend apiservers',
          'backend apiservers',
          '  balance roundrobin',
          '  default-server inter 200ms fall 1 rise 2 on-marked-down shutdown-sessions',
          ...servers.map((s, i) => `  server apiserver-${i} 127.0.0.1:${s.port} check`),
          '',
        ].join('\n'),
      );
      haproxyChild = spawnLogged('/usr/sbin/haproxy', ['-db', '-f', cfg], join(dir, 'haproxy.log'));
      cleanup.push(() => stopChild(haproxyChild, 2_000));
      await waitForPort(port, 10_000);
      server = `https://127.0.0.1:${port}`;
    }

    const caFile = servers[0].caFile;
    const adminKubeconfig = await writeKubeconfig(join(dir, 'admin.kubeconfig'), {
      server,
      caFile,
      token: adminToken,
      user: ADMIN_USER,
    });
    const restrictedKubeconfig = await writeKubeconfig(join(dir, 'restricted.kubeconfig'), {
      server,
      caFile,
      token: restrictedToken,
      user: RESTRICTED_USER,
    });
    process.stderr.write(
      `[kube-env] ${count} kube-apiserver(s) ready at ${server} in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})\n`,
    );

    let stopped = false;
    return {
      dir,
      server,
      caFile,
      adminToken,
      restrictedToken,
      adminKubeconfig,
      restrictedKubeconfig,
      apiservers: servers,
      /** JSON lines, one audit event per request on leases, per apiserver. */
      auditLogs: servers.map((_, i) => join(dir, `audit-${i}.log`)),
      etcd,
      /** Writes a kubeconfig for `token` (e.g. another user) and returns its path. */
      kubeconfig: ({ token, user, name = user, server: url = server }) =>
        writeKubeconfig(join(dir, `${name}.kubeconfig`), { server: url, caFile, token, user }),
      async stop() {
        if (stopped) return;
        stopped = true;
        for (const fn of cleanup.reverse()) await fn();
        if (!keep) await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
    if (!keep) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function makeApiserver({ index, binary, args, port, logFile, caFile, adminToken, timeoutMs }) {
  let child = null;
  const url = `https://127.0.0.1:${port}`;
  const self = {
    index,
    port,
    url,
    logFile,
    caFile,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== null && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      child = spawnLogged(binary, args, logFile);
      await waitReady(self, child, adminToken, timeoutMs);
    },
    /** Default SIGKILL; resolves after the process exited. */
    async kill(signal = 'SIGKILL') {
      if (!self.running) return;
      child.kill(signal);
      await child.exited;
    },
    /** Same flags and port; resolves when /readyz answers ok. */
    async restart() {
      await self.kill();
      await self.start();
    },
    async stop() {
      await stopChild(child, 5_000);
    },
  };
  return self;
}

/** Polls /readyz (as admin) until it answers 200, the process dies, or timeoutMs. */
async function waitReady(server, child, adminToken, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `kube-apiserver ${server.index} exited (${child.exitCode ?? child.signalCode}) before ready:\n${await tail(server.logFile)}`,
      );
    }
    if (existsSync(server.caFile)) {
      try {
        const res = await httpJson(`${server.url}/readyz`, {
          tls: { ca: server.caFile },
          headers: { authorization: `Bearer ${adminToken}` },
          timeoutMs: 2_000,
        });
        if (res.status === 200) return;
        last = `${res.status} ${res.body.slice(0, 500)}`;
      } catch (err) {
        last = err.message;
      }
    }
    await sleep(250);
  }
  await stopChild(child, 2_000);
  throw new Error(
    `kube-apiserver ${server.index} not ready after ${timeoutMs} ms (last /readyz: ${last}):\n${await tail(server.logFile)}`,
  );
}
