/**
 * A candidate slot of one election: a real process that is killed, paused, restarted (each
 * incarnation gets a fresh identity `<slot>.<n>`: two processes never share one, assumption 4 of
 * docs/guarantees.md), and its TCP proxies — one per server endpoint — that survive restarts.
 *
 * Two kinds:
 * - `library`: fixtures/elector.mjs on the built library (dist/).
 * - `cli`: `node dist/cli/main.js run --json ... -- node fixtures/writer-child.mjs`; its
 *   `command-started` events give the child's PID, which is adopted for cleanup.
 *
 * Every line a candidate prints is recorded in the history (kind `candidate`) with the harness's
 * arrival time; the slot keeps what the nemesis needs online: running, leading (token), the
 * leader it last reported, whether it is paused.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { writeKubeconfig } from '../../../test/env/kube-apiserver.mjs';
import { TcpProxy } from '../../../test/env/tcp-proxy.mjs';
import { nowMs } from './clock.mjs';
import { adopt, killProcess, release, signalPid, spawnTracked } from './processes.mjs';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const ELECTOR = here('../fixtures/elector.mjs');
const CHILD = here('../fixtures/writer-child.mjs');
const DIST = here('../../../dist');
/** Debian's libfaketime (packages faketime, libfaketime; scripts/ensure-system-packages.sh). */
export const FAKETIME_LIB = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
].find((path) => existsSync(path));

/** Whether a PID exists and is not a zombie (an exited child waiting for init to reap it). */
function isAlive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export class CandidateSlot {
  /** Restart when the process exits by itself (the harness turns this off for the teardown). */
  autoRestart = true;
  expectExit = false;
  /** @type {TcpProxy[]} */
  proxies = [];
  incarnation = 0;
  child = null;
  identity = null;
  running = false;
  paused = false;
  /** token (string) while this incarnation believes it leads, else null */
  leadingToken = null;
  /** identity this incarnation last reported as leader (null: nobody / not yet) */
  seenLeader = undefined;
  /** time the current incarnation started */
  startedAt = 0;
  skew = null;
  childPid = null;

  /**
   * @param {object} o
   * @param {string} o.id            slot id, e.g. `etcd-lib-0/c1`
   * @param {string} o.election
   * @param {'etcd' | 'kubernetes'} o.backend
   * @param {'library' | 'cli'} o.kind
   * @param {object} o.servers       lib/servers.mjs topology
   * @param {object} [o.etcd]        etcd: the cluster (of servers.etcd) this election uses
   * @param {{leaseDuration: number, renewDeadline: number, retryPeriod: number}} o.timings
   * @param {string} o.resourceUrl
   * @param {string} o.dir           where kubeconfigs go
   * @param {string} [o.dist]        the library build to run (default: the repository's dist/)
   * @param {import('./history.mjs').History} o.history
   */
  constructor(o) {
    Object.assign(this, o);
  }

  async init() {
    const targets = this.backend === 'etcd' ? this.etcd.memberPorts : [this.servers.kube.port];
    this.proxies = await Promise.all(
      targets.map((port, i) =>
        new TcpProxy({ targetPort: port, label: `${this.id}/p${i}` }).listen(),
      ),
    );
    if (this.backend === 'kubernetes') {
      this.kubeconfig = await writeKubeconfig(
        `${this.dir}/${this.id.replaceAll('/', '_')}.kubeconfig`,
        {
          server: `https://127.0.0.1:${this.proxies[0].port}`,
          caFile: this.servers.kube.caFile,
          token: this.servers.kube.token,
          user: 'admin',
        },
      );
    }
    return this;
  }

  #record(kind, fields) {
    return this.history.record(kind, {
      election: this.election,
      slot: this.id,
      candidate: this.identity,
      ...fields,
    });
  }

  #command() {
    const t = this.timings;
    const endpoints = this.proxies.map((p) => p.url).join(',');
    if (this.kind === 'library') {
      return [
        ELECTOR,
        '--backend',
        this.backend,
        ...(this.backend === 'etcd'
          ? ['--endpoints', endpoints, '--fence-key', `chaos-fenced/${this.election}`]
          : ['--kubeconfig', this.kubeconfig, '--namespace', 'default']),
        '--election',
        this.election,
        '--identity',
        this.identity,
        '--resource',
        this.resourceUrl,
        '--lease-duration-ms',
        String(t.leaseDuration),
        '--renew-deadline-ms',
        String(t.renewDeadline),
        '--retry-period-ms',
        String(t.retryPeriod),
        ...(this.dist ? ['--dist', this.dist] : []),
      ];
    }
    return [
      `${this.dist ?? DIST}/cli/main.js`,
      'run',
      '--backend',
      this.backend,
      ...(this.backend === 'etcd'
        ? ['--endpoints', endpoints, '--election', this.election]
        : [
            '--kubeconfig',
            this.kubeconfig,
            '--namespace',
            'default',
            '--lease-name',
            this.election,
          ]),
      '--identity',
      this.identity,
      '--lease-duration',
      `${t.leaseDuration}ms`,
      '--renew-deadline',
      `${t.renewDeadline}ms`,
      '--retry-period',
      `${t.retryPeriod}ms`,
      '--json',
      '--',
      process.execPath,
      CHILD,
      '--resource',
      this.resourceUrl,
      '--election',
      this.election,
      '--candidate',
      this.identity,
    ];
  }

  /** Starts a new incarnation, optionally under a libfaketime clock rate. */
  start({ skew = null } = {}) {
    if (this.running) throw new Error(`${this.id} is already running`);
    this.incarnation += 1;
    this.identity = `${this.id}.${this.incarnation}`;
    this.leadingToken = null;
    this.seenLeader = undefined;
    this.paused = false;
    this.skew = skew;
    this.childPid = null;
    for (const proxy of this.proxies) proxy.resetConnections();
    const env = { ...process.env };
    // The CLI's own etcd password variable and faketime settings must not leak in by accident.
    delete env.LD_PRELOAD;
    delete env.FAKETIME;
    if (skew !== null) {
      env.LD_PRELOAD = FAKETIME_LIB;
      // "+0 xR": no offset, clocks (wall and monotonic) advance at R times the real rate.
      env.FAKETIME = `+0 x${skew}`;
      env.FAKETIME_NO_CACHE = '1';
    }
    const child = spawnTracked(process.execPath, this.#command(), {
      label: this.identity,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.running = true;
    this.startedAt = nowMs();
    this.#record('process-start', { candidateKind: this.kind, pid: child.pid, skew });
    const identity = this.identity;
    const onLine = (line) => this.#onLine(line, identity);
    // The library fixture speaks on stdout; `leader-elect run --json` on stderr.
    createInterface({ input: this.kind === 'library' ? child.stdout : child.stderr }).on(
      'line',
      onLine,
    );
    (this.kind === 'library' ? child.stderr : child.stdout).on('data', () => {});
    this.expectExit = false;
    child.exited.then(({ code, signal }) => {
      if (this.child !== child) return;
      this.running = false;
      this.paused = false;
      this.leadingToken = null;
      if (this.childPid !== null) release(this.childPid);
      const unexpected = !this.expectExit;
      this.#record('process-exit', { pid: child.pid, code, signal, unexpected });
      // A candidate that exits by itself (e.g. `leader-elect run` gives up with exit code 3 when
      // it starts during a quorum loss) is restarted after a second, as systemd's
      // Restart=always would; the report counts these exits.
      if (unexpected && this.autoRestart) {
        setTimeout(() => {
          if (this.child === child && !this.running && this.autoRestart) this.start();
        }, 1_000);
      }
    });
    return child;
  }

  #onLine(line, identity) {
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      return;
    }
    if (identity !== this.identity || typeof e?.event !== 'string') return;
    const { event, time: _time, t: ownT, ...fields } = e;
    switch (event) {
      case 'started-leading':
        this.leadingToken = String(fields.token);
        break;
      case 'stopped-leading':
        this.leadingToken = null;
        break;
      case 'leader':
        this.seenLeader = fields.identity ?? null;
        break;
      case 'command-started':
        this.childPid = fields.pid;
        adopt(fields.pid);
        break;
      case 'command-exited':
        release(fields.pid);
        break;
      default:
    }
    this.#record('candidate', { event, ownT: ownT ?? null, ...fields });
  }

  /** PID of the process that the nemesis treats as "the candidate" (the supervisor for cli). */
  get pid() {
    return this.running ? this.child.pid : undefined;
  }

  signal(signal) {
    if (!this.running) return false;
    const ok = signalPid(this.child.pid, signal);
    if (ok) this.#record('signal', { pid: this.child.pid, signal });
    if (signal === 'SIGSTOP') this.paused = true;
    if (signal === 'SIGCONT') this.paused = false;
    return ok;
  }

  /**
   * SIGKILL; waits for the exit. A `leader-elect run` child must die with its supervisor
   * (pdeathsig): one still there 500 ms later is recorded as `orphan-child`, then killed.
   */
  async kill() {
    if (!this.running) return;
    this.expectExit = true;
    const childPid = this.childPid;
    this.signal('SIGKILL');
    await killProcess(this.child);
    if (childPid !== null) {
      await new Promise((r) => setTimeout(r, 500));
      if (isAlive(childPid)) {
        this.#record('orphan-child', { pid: childPid });
        signalPid(childPid, 'SIGKILL');
      }
    }
  }

  /** SIGTERM (release), SIGKILL after graceMs. */
  async stop({ graceMs = 6_000 } = {}) {
    if (!this.running) return;
    this.expectExit = true;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const exited = await Promise.race([
      this.child.exited.then(() => true),
      new Promise((r) => setTimeout(() => r(false), graceMs)),
    ]);
    if (!exited) await this.kill();
  }

  /** The proxy that carried this candidate's most recent client→server bytes (etcd: its member). */
  get activeProxyIndex() {
    let best = -1;
    let bestAt = -1;
    this.proxies.forEach((p, i) => {
      if (p.connections > 0 && p.lastToServerAt > bestAt) {
        best = i;
        bestAt = p.lastToServerAt;
      }
    });
    return best;
  }

  blackhole(direction) {
    for (const p of this.proxies) p.blackhole(direction);
  }

  latency(ms) {
    for (const p of this.proxies) p.latency(ms);
  }

  heal() {
    for (const p of this.proxies) p.heal();
  }

  async close() {
    this.autoRestart = false;
    await this.kill();
    await Promise.all(this.proxies.map((p) => p.close()));
  }
}
