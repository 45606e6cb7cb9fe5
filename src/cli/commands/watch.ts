import { type LeaderChange, observeLeader } from '../../index.js';
import { BACKEND_FLAGS, resolveBackendConfig } from '../backend-config.js';
import { formatDuration } from '../duration.js';
import { CliError, ExitCode, exitCodesHelp, usageError } from '../exit-codes.js';
import { type FlagSpec, formatFlagHelp, parseFlags, wantsHelp } from '../flags.js';
import { backendFailure, messageOf, openBackend } from '../open-backend.js';
import { createReporter } from '../reporter.js';
import type { CliIo } from './io.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './run.js';
import { rejectExtraArguments } from './status.js';

const DEFAULT_POLL_MS = 2_000;

const WATCH_FLAGS: readonly FlagSpec[] = [
  { name: 'json', kind: 'boolean', help: 'JSON lines instead of text' },
  {
    name: 'poll-interval',
    kind: 'duration',
    value: 'DURATION',
    help: 'how often to read the lease while the watch is down',
    defaultText: formatDuration(DEFAULT_POLL_MS),
  },
  {
    name: 'connect-timeout',
    kind: 'duration',
    value: 'DURATION',
    help: 'how long the backend gets to answer each read',
    defaultText: formatDuration(DEFAULT_CONNECT_TIMEOUT_MS),
  },
];

export const WATCH_SUMMARY = 'print every leader change until interrupted';

export const WATCH_HELP = `leader-elect watch — ${WATCH_SUMMARY}

Usage:
  leader-elect watch --backend etcd --election NAME [options]
  leader-elect watch --backend kubernetes --lease-name NAME [options]
  leader-elect watch --backend postgres --connection-string URL --election NAME [options]

Prints the current leader, then one line on stdout for every change of leader or fencing
token ("no leader" when the lease is free), until SIGINT/SIGTERM (exit 0). It only observes:
it never campaigns and can never be mistaken for a candidate. Changes are pushed by the
backend (etcd: a watch on the election's keys; Kubernetes: a watch on the Lease) and printed
as they happen; while that watch is down the lease is read every --poll-interval.
Diagnostics (watch down, read errors) go to stderr.

Backend:
${formatFlagHelp(BACKEND_FLAGS)}

Options:
${formatFlagHelp(WATCH_FLAGS)}

JSON lines on stdout: {"time", "event": "leader", "election", "leader" (null: none),
"token" (decimal string or null)}; on stderr: {"event": "watch-down" | "watch-up" | "error"}.

Examples:
  leader-elect watch --backend etcd --endpoints http://127.0.0.1:2379 --election nightly-report
  leader-elect watch --backend kubernetes --lease-name scheduler --json | jq .leader

${exitCodesHelp('watch')}
`;

export async function watchCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(WATCH_HELP);
    return ExitCode.Ok;
  }
  const flags = parseFlags(argv, [...BACKEND_FLAGS, ...WATCH_FLAGS], 'watch');
  rejectExtraArguments(flags.positionals, flags.command, 'watch');
  const config = resolveBackendConfig(flags, 'watch', io.env);
  const timeout = flags.number('connect-timeout') ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const pollMs = flags.number('poll-interval') ?? DEFAULT_POLL_MS;
  if (timeout <= 0) throw usageError('--connect-timeout must be greater than 0');
  if (pollMs < 10) throw usageError('--poll-interval must be at least 10ms');
  const json = flags.boolean('json') === true;
  const out = createReporter({ json, stream: io.stdout, prefix: '' });
  const diagnostics = createReporter({ json, stream: io.stderr });

  const opened = await openBackend(config);
  if (typeof opened.backend.inspect !== 'function') {
    await opened.backend.close();
    throw new CliError(
      ExitCode.Backend,
      `${opened.where} cannot be inspected: this backend has no inspect()`,
    );
  }
  const observer = observeLeader(opened.backend, { pollInterval: pollMs, requestTimeout: timeout });
  observer.on('leader', (change: LeaderChange) =>
    out.event(
      'leader',
      { election: opened.name, leader: change.identity, token: change.token },
      change.identity === null
        ? 'no leader'
        : `leader is ${change.identity} (token ${change.token ?? 'unknown'})`,
    ),
  );
  let started = false; // until the first read answers, its failure is the one line of exit 3
  observer.on('error', (error) => {
    if (!started) return;
    diagnostics.event('error', { message: messageOf(error) }, `read failed: ${messageOf(error)}`);
  });
  observer.on('push', (up) =>
    diagnostics.event(
      up ? 'watch-up' : 'watch-down',
      {},
      up ? 'watch is up' : `watch is down: reading the lease every ${formatDuration(pollMs)}`,
    ),
  );
  let stop: (signal: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    stop = resolve;
  });
  const signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) io.process.on(signal, stop);
  try {
    try {
      await observer.first();
      started = true;
    } catch (error) {
      throw backendFailure(opened, error);
    }
    await stopped;
    return ExitCode.Ok;
  } finally {
    for (const signal of signals) io.process.off(signal, stop);
    observer.close();
    await opened.backend.close();
  }
}
