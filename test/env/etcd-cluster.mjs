// Starts a real multi-member etcd cluster on loopback for tests.
//
//   const cluster = await startEtcdCluster({ binary, members: 3 });
//   cluster.endpoints            // ['http://127.0.0.1:41234', ...]
//   await cluster.members[0].kill('SIGKILL'); await cluster.members[0].restart();
//   await cluster.leaderMember() // the member object that is raft leader
//   await cluster.stop()
//
// Works with the etcd built from source (3.6) and Debian's etcd-server (3.4):
// only flags both versions accept are used, and readiness is read from
// /health, which both serve.
//
// Every member's stdout/stderr goes to <dir>/<member>.log, never the terminal.
// Every child is registered for cleanup: killed on process exit, and, where
// util-linux setpriv exists, started with a parent-death signal so that even
// a SIGKILLed test runner cannot leave etcd running.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// ---------------------------------------------------------------------------
// Process cleanup

/** Every live etcd child process started by this module. */
const liveChildren = new Set();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL is the only thing we can do.
  process.on('exit', () => {
    for (const child of liveChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  // Ctrl-C / SIGTERM of the runner: kill the children, then let the signal
  // take its default course if nobody else handles it.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    const handler = () => {
      for (const child of liveChildren) {
        try {
          child.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.once(sig, handler);
  }
}

// setpriv --pdeathsig KILL execs etcd (same pid) with PR_SET_PDEATHSIG, so the
// kernel kills etcd when the thread that spawned it dies, however it dies.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

// ---------------------------------------------------------------------------
// Small helpers

/**
 * Reserves `count` distinct free TCP ports on 127.0.0.1 by listening on port
 * 0. All listeners stay open until every port is known so the kernel cannot
 * hand out the same port twice; they are closed before etcd binds them (a
 * small race with other processes remains; startEtcdCluster retries once).
 */
export async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r()))));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One HTTP(S) request with a JSON body/response, bounded by timeoutMs.
 * `tls` = { ca, cert, key } file paths (cert/key only for client-cert auth).
 * Resolves { status, body, json }; json is undefined if the body is not JSON.
 */
export function httpJson(url, { method = 'GET', body, tls, timeoutMs = 2000, headers = {} } = {}) {
  const u = new URL(url);
  const isHttps = u.protocol === 'https:';
  const payload =
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const opts = {
    method,
    // A fresh connection each time: no keep-alive sockets survive the test.
    agent: false,
    headers: { ...(payload !== undefined && { 'content-type': 'application/json' }), ...headers },
    timeout: timeoutMs,
  };
  if (isHttps && tls) {
    if (tls.ca) opts.ca = readFileSync(tls.ca);
    if (tls.cert) opts.cert = readFileSync(tls.cert);
    if (tls.key) opts.key = readFileSync(tls.key);
  }
  return new Promise((resolve, reject) => {
    const req = (isHttps ? https : http).request(u, opts, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(data);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, body: data, json });
      });
      res.on('error', reject);
    });
    // Hard deadline for the whole exchange, not just socket idleness.
    const timer = setTimeout(
      () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () =>
      req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)),
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

function tail(file, lines = 40) {
  try {
    const text = readFileSync(file, 'utf8').trimEnd().split('\n');
    return text.slice(-lines).join('\n');
  } catch (err) {
    return `(no log: ${err.message})`;
  }
}

/** Waits for a child to exit, SIGKILLing it after graceMs. Never rejects. */
function waitExit(child, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        // gone
      }
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Environment for etcd children: no inherited ETCD_* settings. */
function childEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD_')) env[k] = v;
  // etcd 3.4 refuses to start on architectures other than amd64 (and 3.6 on
  // untested ones) unless this names the architecture. Not needed on x64.
  const goarch = { arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x', arm: 'arm' }[process.arch];
  if (goarch) env.ETCD_UNSUPPORTED_ARCH = goarch;
  return env;
}

// ---------------------------------------------------------------------------
// The cluster

/**
 * @typedef {object} EtcdMember
 * @property {string} name
 * @property {string} clientUrl
 * @property {string} peerUrl
 * @property {string} dataDir
 * @property {string} logFile
 * @property {number|undefined} pid      pid of the current process (undefined when stopped)
 * @property {boolean} running
 * @property {(signal?: NodeJS.Signals) => Promise<void>} kill
 *   Sends the signal (default SIGKILL). Resolves once the process exited, or
 *   at once for SIGSTOP/SIGCONT (pause/resume).
 * @property {(opts?: {wait?: boolean, timeoutMs?: number}) => Promise<void>} restart
 *   Stops the member if running, starts it again on the same data dir and
 *   ports with --initial-cluster-state existing; by default waits until this
 *   member reports healthy (which needs a quorum).
 * @property {(opts?: {graceMs?: number}) => Promise<void>} stop
 *   SIGTERM, SIGKILL after graceMs (default 5 s).
 * @property {() => Promise<boolean>} healthy
 */

/**
 * @param {object} opts
 * @param {string} opts.binary                path of the etcd binary
 * @param {number} [opts.members=3]
 * @param {string} [opts.dataDir]             parent for the fresh temp dir (default os.tmpdir())
 * @param {{ca: string, cert: string, key: string, clientCertAuth?: boolean,
 *          clientCert?: string, clientKey?: string}} [opts.tls]
 *   serve clients over https with this CA/cert/key; clientCertAuth adds
 *   --client-cert-auth, and the health checks then authenticate with
 *   clientCert/clientKey (default: cert/key).
 * @param {string[]} [opts.extraArgs]         appended to every member's flags
 * @param {string} [opts.name='etcd']         member name prefix
 * @param {number} [opts.heartbeatMs=50]
 * @param {number} [opts.electionMs=500]
 * @param {number} [opts.timeoutMs=30000]     readiness timeout
 * @param {number} [opts.stopGraceMs=2000]    SIGTERM-to-SIGKILL grace of cluster.stop()
 * @param {boolean} [opts.keep=false]         keep the data dir (logs) after stop()
 */
export async function startEtcdCluster(opts) {
  // Random ports can collide with some other process between our probe and
  // etcd's bind; one retry with fresh ports makes that practically vanish.
  try {
    return await startOnce(opts);
  } catch (err) {
    if (!err.addressInUse) throw err;
    return await startOnce(opts);
  }
}

async function startOnce({
  binary,
  members = 3,
  dataDir,
  tls,
  extraArgs = [],
  name = 'etcd',
  // Test timings. etcd's defaults (100 ms / 1000 ms) are sized for real
  // networks; on loopback a heartbeat takes microseconds, so 50 ms keeps
  // followers well informed while an election timeout of 500 ms (10x the
  // heartbeat, as etcd recommends) gives fault tests a raft failover in about
  // half a second, yet tolerates the scheduling stalls of a busy 2-core
  // machine (vitest workers, Go peers) without spurious leader changes.
  heartbeatMs = 50,
  electionMs = 500,
  timeoutMs = 30_000,
  stopGraceMs = 2_000,
  keep = false,
}) {
  if (!binary || !existsSync(binary)) throw new Error(`etcd binary not found: ${binary}`);
  installExitHook();

  const parent = dataDir ?? tmpdir();
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, `leader-elect-${name}-`));
  const token = `${name}-${randomBytes(6).toString('hex')}`;
  const scheme = tls ? 'https' : 'http';
  const clientTls = tls && {
    ca: tls.ca,
    cert: tls.clientCert ?? tls.cert,
    key: tls.clientKey ?? tls.key,
  };

  const ports = await freePorts(members * 2);
  const specs = Array.from({ length: members }, (_, i) => ({
    name: `${name}-${i}`,
    clientUrl: `${scheme}://127.0.0.1:${ports[2 * i]}`,
    peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
  }));
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');

  const memberObjs = specs.map((spec) => {
    const memberDir = join(dir, `${spec.name}.etcd`);
    const logFile = join(dir, `${spec.name}.log`);
    /** @type {import('node:child_process').ChildProcess | undefined} */
    let child;

    const args = (state) => [
      '--name',
      spec.name,
      '--data-dir',
      memberDir,
      '--listen-client-urls',
      spec.clientUrl,
      '--advertise-client-urls',
      spec.clientUrl,
      '--listen-peer-urls',
      spec.peerUrl,
      '--initial-advertise-peer-urls',
      spec.peerUrl,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-state',
      state,
      '--initial-cluster-token',
      token,
      '--heartbeat-interval',
      String(heartbeatMs),
      '--election-timeout',
      String(electionMs),
      // zap is the only logger in 3.5+, and accepted (non-default) by 3.4.
      '--logger',
      'zap',
      ...(tls
        ? [
            '--cert-file',
            tls.cert,
            '--key-file',
            tls.key,
            '--trusted-ca-file',
            tls.ca,
            ...(tls.clientCertAuth ? ['--client-cert-auth'] : []),
          ]
        : []),
      ...extraArgs,
    ];

    const start = (state) => {
      // Append: a restarted member's log keeps its earlier life for debugging.
      const fd = openSync(logFile, 'a');
      const argv = args(state);
      const [file, fileArgs] = SETPRIV
        ? [SETPRIV, ['--pdeathsig', 'KILL', '--', binary, ...argv]]
        : [binary, argv];
      try {
        child = spawn(file, fileArgs, { stdio: ['ignore', fd, fd], env: childEnv() });
      } finally {
        closeSync(fd); // the child holds its own copy
      }
      const c = child;
      liveChildren.add(c);
      c.once('exit', () => liveChildren.delete(c));
      c.once('error', () => liveChildren.delete(c));
    };

    const isRunning = () => !!child && child.exitCode === null && child.signalCode === null;

    const member = {
      ...spec,
      dataDir: memberDir,
      logFile,
      get pid() {
        return isRunning() ? child.pid : undefined;
      },
      get running() {
        return isRunning();
      },
      async kill(signal = 'SIGKILL') {
        if (!isRunning()) return;
        child.kill(signal);
        if (signal === 'SIGSTOP' || signal === 'SIGCONT' || signal === 'SIGTSTP') return;
        await waitExit(child, 5_000);
      },
      pause() {
        return member.kill('SIGSTOP');
      },
      resume() {
        return member.kill('SIGCONT');
      },
      async stop({ graceMs = 5_000 } = {}) {
        if (!isRunning()) return;
        child.kill('SIGCONT'); // a paused process cannot act on SIGTERM
        child.kill('SIGTERM');
        await waitExit(child, graceMs);
      },
      async restart({ wait = true, timeoutMs: restartTimeout = timeoutMs } = {}) {
        await member.stop();
        // With a data dir present etcd ignores the initial-cluster flags and
        // rejoins with its stored identity; "existing" makes intent explicit.
        start('existing');
        if (wait) await waitHealthy([member], restartTimeout, clientTls);
      },
      async healthy() {
        return isHealthy(member.clientUrl, clientTls);
      },
      _start: start,
    };
    return member;
  });

  let stopped = false;
  const cluster = {
    name,
    token,
    dir,
    tls: clientTls,
    endpoints: specs.map((s) => s.clientUrl),
    members: memberObjs,
    /** SIGTERM all members (SIGKILL after stopGraceMs), then remove the data dir. */
    async stop() {
      if (stopped) return;
      stopped = true;
      // SIGTERM everyone at once. Followers exit within milliseconds; an
      // etcd leader first tries to hand leadership to a peer it believes
      // connected and, with every peer shutting down too, waits out etcd's
      // request timeout (~5 s; seen with 3.4 and 3.6 whatever the stop
      // order). So once the others are gone, the last member gets 300 ms more
      // and is then SIGKILLed; stopGraceMs bounds the whole stop. The data is
      // discarded anyway and the logs stay intact.
      const stopping = Promise.all(memberObjs.map((m) => m.stop({ graceMs: stopGraceMs })));
      const deadline = Date.now() + stopGraceMs;
      const running = () => memberObjs.filter((m) => m.running).length;
      while (Date.now() < deadline && running() > 1) {
        await sleep(20);
      }
      await sleep(Math.min(300, Math.max(0, deadline - Date.now())));
      await Promise.all(memberObjs.map((m) => m.kill('SIGKILL')));
      await stopping;
      if (!keep) await rm(dir, { recursive: true, force: true });
    },
    /** The member that is currently raft leader, or null if none is known. */
    async leaderMember({ timeoutMs: leaderTimeout = 0 } = {}) {
      const deadline = Date.now() + leaderTimeout;
      for (;;) {
        const m = await findLeader(memberObjs, clientTls);
        if (m || Date.now() >= deadline) return m;
        await sleep(100);
      }
    },
    /** Raft member id (decimal string, as the gateway returns it) -> member object. */
    async memberIds() {
      return memberIdMap(memberObjs, clientTls);
    },
  };

  for (const m of memberObjs) m._start('new');
  try {
    await waitHealthy(memberObjs, timeoutMs, clientTls);
  } catch (err) {
    const logs = memberObjs
      .map((m) => `--- ${m.name} (${m.logFile}) ---\n${tail(m.logFile)}`)
      .join('\n');
    const inUse = /address already in use/.test(logs);
    // The log tails are in `logs` already; now stop and clean up.
    await Promise.all(memberObjs.map((m) => m.stop({ graceMs: stopGraceMs })));
    stopped = true;
    await rm(dir, { recursive: true, force: true });
    const e = new Error(`etcd cluster ${name} (${binary}) not healthy: ${err.message}\n${logs}`);
    e.addressInUse = inUse;
    throw e;
  }
  return cluster;
}

async function isHealthy(clientUrl, tls) {
  try {
    const res = await httpJson(`${clientUrl}/health`, { tls, timeoutMs: 2000 });
    // 3.4 and 3.6 both answer {"health":"true",...}; /health does a quorum
    // read, so "true" means the member has a leader and can serve.
    return res.status === 200 && res.json?.health === 'true';
  } catch {
    return false;
  }
}

async function waitHealthy(members, timeoutMs, tls) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = members.filter((m) => !m.running);
    if (dead.length)
      throw new Error(`member(s) exited during startup: ${dead.map((m) => m.name).join(', ')}`);
    const states = await Promise.all(members.map((m) => isHealthy(m.clientUrl, tls)));
    if (states.every(Boolean)) return;
    if (Date.now() >= deadline) {
      const bad = members.filter((_, i) => !states[i]).map((m) => m.name);
      throw new Error(`timed out after ${timeoutMs} ms waiting for /health of ${bad.join(', ')}`);
    }
    await sleep(100);
  }
}

/** Member list via the gRPC gateway: { [id]: member } for our members. */
async function memberIdMap(members, tls) {
  for (const m of members) {
    if (!m.running) continue;
    try {
      const res = await httpJson(`${m.clientUrl}/v3/cluster/member/list`, {
        method: 'POST',
        body: {},
        tls,
        timeoutMs: 2000,
      });
      if (res.status !== 200 || !res.json?.members) continue;
      const map = {};
      for (const info of res.json.members) {
        const ours = members.find((x) => x.name === info.name);
        if (ours) map[String(info.ID)] = ours;
      }
      return map;
    } catch {
      // try the next member
    }
  }
  return {};
}

async function findLeader(members, tls) {
  // A member is the leader when its own status names itself as leader.
  // Followers keep reporting a dead leader's id until they time out, so a
  // follower's opinion is not enough right after a kill. If a stale leader
  // (e.g. one that was paused) still believes it leads, the higher raft term wins.
  const running = members.filter((m) => m.running);
  const statuses = await Promise.all(
    running.map((m) =>
      httpJson(`${m.clientUrl}/v3/maintenance/status`, {
        method: 'POST',
        body: {},
        tls,
        timeoutMs: 1500,
      }).then(
        (r) => (r.status === 200 ? r.json : undefined),
        () => undefined,
      ),
    ),
  );
  let best = null;
  let bestTerm = -1n;
  statuses.forEach((s, i) => {
    const self = s?.header?.member_id;
    if (!self || s.leader !== self) return;
    const term = BigInt(s.raftTerm ?? s.header?.raft_term ?? 0);
    if (term > bestTerm) {
      best = running[i];
      bestTerm = term;
    }
  });
  return best;
}
