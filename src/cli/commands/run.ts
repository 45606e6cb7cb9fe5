import {
  DEFAULT_HEALTH_TOLERANCE_MS,
  hasErrorCode,
  LeaderElector,
  type LeaderElectorOptions,
  type Term,
} from '../../index.js';
import { BACKEND_FLAGS, resolveBackendConfig } from '../backend-config.js';
import { CommandSupervisor } from '../command-supervisor.js';
import { formatDuration } from '../duration.js';
import { resolveExecutable } from '../executable.js';
import { CliError, ExitCode, exitCodesHelp, usageError } from '../exit-codes.js';
import { type FlagSpec, formatFlagHelp, parseFlags, wantsHelp } from '../flags.js';
import { planGrace } from '../grace.js';
import {
  createPrometheus,
  type HealthServer,
  loadPrometheus,
  type PrometheusModules,
  type PrometheusSetup,
  startHealthServer,
} from '../health-server.js';
import { backendFailure, type OpenedBackend, openBackend } from '../open-backend.js';
import { createReporter, tokenText } from '../reporter.js';
import { StartupCheck } from '../startup-check.js';
import { TermWatchdog } from '../term-watchdog.js';
import { TIMING_FLAGS, timingsFromFlags } from '../timing-flags.js';
import type { CliIo } from './io.js';
import { SignalTrap } from './signal-trap.js';

/** How long the backend gets to answer the first request before we give up (exit 3). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** After SIGKILL: time for the kernel to end the group and for us to see it. */
const KILL_ALLOWANCE_MS = 2_500;

const COMMAND_FLAGS: readonly FlagSpec[] = [
  {
    name: 'identity',
    kind: 'string',
    value: 'ID',
    help: 'this candidate, unique in the election',
    defaultText: 'hostname_<random uuid>',
  },
  {
    name: 'grace',
    kind: 'duration',
    value: 'DURATION',
    help: 'SIGTERM-to-SIGKILL grace when leadership ends; capped at lease-duration − renew-deadline − slack (10% of lease-duration, ≥ 100ms)',
    defaultText: 'the cap',
  },
  {
    name: 'restart',
    kind: 'boolean',
    help: 'when the command exits by itself, release and campaign again instead of exiting',
  },
  {
    name: 'release-on-cancel',
    kind: 'boolean',
    help: 'release the lease on SIGTERM/SIGINT so another candidate takes over at once (--no-release-on-cancel or =false to keep it until it expires)',
    defaultText: 'true',
  },
];

const HEALTH_FLAGS: readonly FlagSpec[] = [
  {
    name: 'health-port',
    kind: 'port',
    value: 'PORT',
    help: 'serve /healthz, /readyz and /metrics on this port (0: any free port, printed at start)',
  },
  {
    name: 'health-address',
    kind: 'string',
    value: 'ADDR',
    help: 'address for --health-port',
    defaultText: '127.0.0.1',
  },
  {
    name: 'healthz-tolerance',
    kind: 'duration',
    value: 'DURATION',
    help: '/healthz fails when leading without a renewal for lease-duration + this',
    defaultText: formatDuration(DEFAULT_HEALTH_TOLERANCE_MS),
  },
];

const OUTPUT_FLAGS: readonly FlagSpec[] = [
  { name: 'json', kind: 'boolean', help: 'events as JSON lines (on stderr, like the text lines)' },
  {
    name: 'connect-timeout',
    kind: 'duration',
    value: 'DURATION',
    help: 'how long the backend gets to answer the first request',
    defaultText: formatDuration(DEFAULT_CONNECT_TIMEOUT_MS),
  },
];

const RUN_FLAGS = [
  ...BACKEND_FLAGS,
  ...TIMING_FLAGS,
  ...COMMAND_FLAGS,
  ...HEALTH_FLAGS,
  ...OUTPUT_FLAGS,
];

export const RUN_SUMMARY = 'run a command only while this process is the leader';

export const RUN_HELP = `leader-elect run — ${RUN_SUMMARY}

Usage:
  leader-elect run --backend etcd --election NAME [options] -- CMD [ARGS...]
  leader-elect run --backend kubernetes --lease-name NAME [options] -- CMD [ARGS...]
  leader-elect run --backend postgres --connection-string URL --election NAME [options] -- CMD [ARGS...]

Campaigns for the lease. While it leads, CMD runs in its own process group with
LEADER_ELECT_IDENTITY and LEADER_ELECT_TOKEN (the fencing token, increasing with every
term) in its environment; the etcd or PostgreSQL password variable (and
--connection-string-env's variable) is removed from it.
- Leadership lost: CMD's group gets SIGTERM, and SIGKILL after --grace, before any other
  candidate can acquire the lease; then leader-elect campaigns again.
- CMD exits by itself: the lease is released and leader-elect exits with CMD's exit code
  (with --restart: releases and campaigns again).
- SIGTERM/SIGINT/SIGHUP: CMD is stopped the same way, the lease released, exit 0.
  A second signal SIGKILLs CMD's group at once.
- leader-elect paused or killed (even SIGKILL): a watchdog process holds the term's
  deadline and stops CMD's group by then, or at once when leader-elect dies; on Linux
  setpriv --pdeathsig is a second line. CMD never outlives its term.
Events go to stderr, one line each with its time (JSON lines with --json).
On etcd the election is etcd's own recipe: \`etcdctl elect NAME\` and Go's
concurrency.Election candidates take part in the same election.

Backend:
${formatFlagHelp(BACKEND_FLAGS)}

Timing (Go durations: 15s, 500ms, 1m30s; lease-duration > renew-deadline > 1.2 × retry-period):
${formatFlagHelp(TIMING_FLAGS)}

Command:
${formatFlagHelp(COMMAND_FLAGS)}

Health and metrics:
${formatFlagHelp(HEALTH_FLAGS)}

Output:
${formatFlagHelp(OUTPUT_FLAGS)}

Examples:
  # On every host; one of them runs the report at a time:
  export LEADER_ELECT_ETCD_PASSWORD=secret
  leader-elect run --backend etcd --endpoints https://etcd-0:2379,https://etcd-1:2379 \\
    --cacert ca.pem --user reporter --election nightly-report -- ./report.sh --all

  # In a Deployment with several replicas (in-cluster config), with probes and metrics:
  leader-elect run --backend kubernetes --lease-name scheduler --health-port 8080 \\
    --lease-duration 15s --renew-deadline 10s --retry-period 2s -- node scheduler.js

  # PostgreSQL (the password from $PGPASSWORD, never on the command line):
  export PGPASSWORD=secret
  leader-elect run --backend postgres --connection-string postgres://app@db:5432/app \\
    --election billing-cron -- ./bill.sh

  # Keep a worker running on one host, restarting it whenever it exits:
  leader-elect run --backend etcd --election worker --restart -- ./worker

${exitCodesHelp('run')}
`;

export async function runCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(RUN_HELP);
    return ExitCode.Ok;
  }
  const flags = parseFlags(argv, RUN_FLAGS, 'run');
  const example = 'e.g. leader-elect run --backend etcd --election my-job -- ./my-job --its-flag';
  const [stray] = flags.positionals;
  if (stray !== undefined) {
    throw usageError(`unexpected argument "${stray}": the command goes after --, ${example}`);
  }
  if (flags.command === null) {
    throw usageError(`missing command: put it after --, ${example}`);
  }
  const [command, ...args] = flags.command;
  if (command === undefined) throw usageError(`missing command after --, ${example}`);

  const config = resolveBackendConfig(flags, 'run', io.env);
  const timings = timingsFromFlags(flags);
  const identity = flags.string('identity');
  if (identity !== undefined && (identity.trim() === '' || /\p{Cc}/u.test(identity))) {
    throw usageError('--identity must be non-empty text without control characters');
  }
  const grace = planGrace(flags.number('grace'), timings);
  const healthPort = flags.number('health-port');
  if (healthPort === undefined) {
    const orphan = ['health-address', 'healthz-tolerance'].find((name) => flags.has(name));
    if (orphan !== undefined) throw usageError(`--${orphan} needs --health-port`);
  }
  const connectTimeout = flags.number('connect-timeout') ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (connectTimeout <= 0) throw usageError('--connect-timeout must be greater than 0');

  const resolved = resolveExecutable(command, io.env);
  if ('problem' in resolved) {
    throw new CliError(
      ExitCode.CommandNotStarted,
      `cannot run "${command}": ${resolved.problem}; check the command after --`,
    );
  }

  const reporter = createReporter({ json: flags.boolean('json') === true, stream: io.stderr });
  const warn = (message: string) => reporter.event('warning', { message }, `warning: ${message}`);
  if (grace.warning !== undefined) warn(grace.warning);
  const setpriv = io.platform === 'linux' ? findSetpriv(io.env) : null;
  if (setpriv === null) {
    warn(
      'setpriv (util-linux) not found: the command is guarded by the watchdog process alone; if leader-elect and its watchdog are both killed with SIGKILL, the command keeps running; install util-linux for a second line of defence',
    );
  }

  const childEnv = { ...io.env };
  if (config.kind === 'etcd' && config.passwordEnv !== null) delete childEnv[config.passwordEnv];
  if (config.kind === 'postgres') for (const name of config.secretEnv) delete childEnv[name];
  let elector: LeaderElector<unknown> | null = null;
  let prometheus: PrometheusSetup | null = null;
  let exitCode: number | null = null;
  const finish = (code: number) => {
    exitCode ??= code;
    void elector?.stop();
  };
  const supervisor = new CommandSupervisor({
    command,
    args,
    env: childEnv,
    setpriv,
    graceMs: grace.graceMs,
    restart: flags.boolean('restart') === true,
    reporter,
    onFinished: finish,
    onRunning: (running) => prometheus?.childRunning(running),
    startWatchdog: (watchdogOptions) => TermWatchdog.start(watchdogOptions),
    // The elector exists once the backend is open; a term can only exist after that.
    resign: (term) => void elector?.resign({ term }),
  });
  // The watchdog (a node process) starts while the backend module loads; campaigning waits for
  // it below, so that leadership never pays its start-up.
  const watchdogReady = supervisor.prepare();
  watchdogReady.catch(() => {}); // awaited below

  let opened: OpenedBackend;
  let prometheusModules: PrometheusModules | null;
  try {
    // Local checks first: a missing prom-client fails before we connect.
    prometheusModules = healthPort === undefined ? null : await loadPrometheus();
    opened = await openBackend(config, warn);
  } catch (error) {
    await supervisor.close();
    throw error;
  }
  let health: HealthServer | null = null;
  const signals = new SignalTrap(io);
  try {
    try {
      await watchdogReady;
    } catch (error) {
      throw new CliError(
        ExitCode.Failure,
        `cannot start the watchdog process that guards the command (${error instanceof Error ? error.message : String(error)}); check that ${process.execPath} can run`,
      );
    }
    prometheus =
      prometheusModules === null ? null : createPrometheus(prometheusModules, opened.name);

    const options: LeaderElectorOptions<unknown> = {
      backend: opened.backend,
      name: opened.name,
      ...(identity === undefined ? {} : { identity }),
      leaseDuration: timings.leaseDuration,
      renewDeadline: timings.renewDeadline,
      retryPeriod: timings.retryPeriod,
      // Stopping keeps renewing until the command is gone: its grace, then SIGKILL.
      stopGracePeriod: grace.graceMs + KILL_ALLOWANCE_MS,
      releaseOnCancel: flags.boolean('release-on-cancel') !== false,
      onStartedLeading: (term: Term<unknown>) => supervisor.lead(term),
      ...(prometheus === null ? {} : { metrics: prometheus.sink }),
    };
    try {
      elector = new LeaderElector<unknown>(options);
    } catch (error) {
      // The backend may reject timings it cannot honour (Kubernetes: whole seconds).
      if (!hasErrorCode(error, 'LE_INVALID_TIMING')) throw error;
      throw usageError(
        `invalid timings for ${opened.where}: ${error.message}; change --lease-duration, --renew-deadline or --retry-period`,
      );
    }
    const self = elector.identity;

    if (healthPort !== undefined && prometheus !== null) {
      const tolerance = flags.number('healthz-tolerance') ?? DEFAULT_HEALTH_TOLERANCE_MS;
      const running = elector;
      health = await startHealthServer({
        address: flags.string('health-address') ?? '127.0.0.1',
        port: healthPort,
        health: () => running.healthz(tolerance),
        readiness: () => running.readiness(),
        registry: prometheus.registry,
      });
    }

    const campaigning = () => {
      reporter.event(
        'campaigning',
        {
          identity: self,
          backend: opened.where,
          name: opened.name,
          leaseDurationMs: timings.leaseDuration,
          renewDeadlineMs: timings.renewDeadline,
          retryPeriodMs: timings.retryPeriod,
          graceMs: grace.graceMs,
          command: [command, ...args],
        },
        `campaigning as ${self} for ${opened.where} (lease ${formatDuration(timings.leaseDuration)}, renew deadline ${formatDuration(timings.renewDeadline)}, retry ${formatDuration(timings.retryPeriod)}, grace ${formatDuration(grace.graceMs)})`,
      );
      if (health !== null) {
        reporter.event(
          'health-listening',
          { url: health.url },
          `serving ${health.url}/healthz and ${health.url}/metrics`,
        );
      }
    };
    let startupFailure: unknown = null;
    const startup = new StartupCheck(connectTimeout, (error) => {
      startupFailure = error;
      void elector?.stop();
    });
    elector.on('newLeader', (leader) => {
      if (startup.confirm()) campaigning();
      if (leader.identity === self) return; // reported as started-leading
      reporter.event(
        'leader',
        { identity: leader.identity, token: leader.token },
        leader.identity === null
          ? 'no leader'
          : `leader is ${leader.identity} (${tokenText(leader.token)})`,
      );
    });
    // Each renewal moves the watchdog's deadline: the command outlives no deadline we have not seen.
    elector.on('renewed', (term) => supervisor.renewed(term));
    elector.on('startedLeading', (term) =>
      reporter.event(
        'started-leading',
        { identity: self, token: term.token },
        `leading with token ${term.token}`,
      ),
    );
    elector.on('stoppedLeading', (term, reason) => {
      const restart = reason === 'resigned' && supervisor.restarted(term.token);
      reporter.event(
        'stopped-leading',
        { identity: self, token: term.token, reason: restart ? 'restart' : reason },
        `stopped leading (token ${term.token}): ${restart ? 'the command exited, --restart' : reason}`,
      );
    });
    elector.on('error', (error) => {
      if (startup.error(error)) return; // reported as the one line of a failed start
      reporter.event(
        'error',
        { code: error.code, message: error.message },
        `${error.code}: ${error.message}`,
      );
    });

    signals.install((signal, count) => {
      if (count === 1) {
        reporter.event(
          'signal',
          { signal },
          `received ${signal}: stopping${supervisor.running ? ' the command' : ''}${
            options.releaseOnCancel === false ? '' : ' and releasing the lease'
          }`,
        );
        startup.cancel();
        finish(ExitCode.Ok);
      } else {
        reporter.event(
          'signal',
          { signal, count },
          `received ${signal} again: SIGKILL to the command`,
        );
        supervisor.killNow();
      }
    });

    await elector.run();
    startup.cancel();
    if (startupFailure !== null) throw backendFailure(opened, startupFailure);
    const code = exitCode ?? ExitCode.Ok;
    reporter.event('exit', { code }, `stopped; exit code ${code}`);
    return code;
  } finally {
    signals.remove();
    await elector?.stop();
    await supervisor.close();
    await health?.close();
    await opened.backend.close();
  }
}

function findSetpriv(env: NodeJS.ProcessEnv): string | null {
  const found = resolveExecutable('setpriv', {
    PATH: `${env.PATH ?? ''}:/usr/bin:/bin:/usr/sbin:/sbin`,
  });
  return 'path' in found ? found.path : null;
}
