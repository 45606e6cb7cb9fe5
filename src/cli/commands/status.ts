import type { LeaseStatus } from '../../index.js';
import { BACKEND_FLAGS, resolveBackendConfig } from '../backend-config.js';
import { formatDuration } from '../duration.js';
import { CliError, ExitCode, exitCodesHelp, usageError } from '../exit-codes.js';
import { type FlagSpec, formatFlagHelp, parseFlags, wantsHelp } from '../flags.js';
import { openBackend, probeBackend } from '../open-backend.js';
import { createReporter } from '../reporter.js';
import type { CliIo } from './io.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './run.js';

const STATUS_FLAGS: readonly FlagSpec[] = [
  { name: 'json', kind: 'boolean', help: 'one JSON object instead of text' },
  {
    name: 'connect-timeout',
    kind: 'duration',
    value: 'DURATION',
    help: 'how long the backend gets to answer',
    defaultText: formatDuration(DEFAULT_CONNECT_TIMEOUT_MS),
  },
];

export const STATUS_SUMMARY = 'print the current leader, its token and its time left';

export const STATUS_HELP = `leader-elect status — ${STATUS_SUMMARY}

Usage:
  leader-elect status --backend etcd --election NAME [options]
  leader-elect status --backend kubernetes --lease-name NAME [options]
  leader-elect status --backend postgres --connection-string URL --election NAME [options]

Reads the lease once, without campaigning, and prints one line on stdout: the leader's
identity, its fencing token and how long its lease has left as this caller observes it.
- etcd: the time left is the server's TTL of the leader's lease.
- kubernetes, postgres: expiry is judged by observers (client-go's rule), so the lease has at most its
  duration left from now; renewTime is shown as recorded (a remote clock: data, not time).

Backend:
${formatFlagHelp(BACKEND_FLAGS)}

Options:
${formatFlagHelp(STATUS_FLAGS)}

JSON fields: time, event ("status"), election, backend, leader (null: none), token (decimal
string or null), leaseDurationMs, remainingMs (null: judged by observers), renewTime.

Examples:
  leader-elect status --backend etcd --endpoints http://127.0.0.1:2379 --election nightly-report
  leader-elect status --backend kubernetes --namespace jobs --lease-name scheduler --json

${exitCodesHelp('status')}
`;

export async function statusCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(STATUS_HELP);
    return ExitCode.Ok;
  }
  const flags = parseFlags(argv, [...BACKEND_FLAGS, ...STATUS_FLAGS], 'status');
  rejectExtraArguments(flags.positionals, flags.command, 'status');
  const config = resolveBackendConfig(flags, 'status', io.env);
  const timeout = flags.number('connect-timeout') ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (timeout <= 0) throw usageError('--connect-timeout must be greater than 0');
  const opened = await openBackend(config);
  try {
    const status = await probeBackend(opened, timeout);
    if (status === null) {
      throw new CliError(
        ExitCode.Backend,
        `${opened.where} cannot be inspected: this backend has no inspect()`,
      );
    }
    const reporter = createReporter({
      json: flags.boolean('json') === true,
      stream: io.stdout,
      prefix: '',
    });
    reporter.event(
      'status',
      {
        election: opened.name,
        backend: opened.where,
        leader: status.holder,
        token: status.token,
        leaseDurationMs: status.leaseDurationMs,
        remainingMs: status.remainingMs,
        renewTime: status.renewTime,
      },
      statusText(status, opened.where),
    );
    return ExitCode.Ok;
  } finally {
    await opened.backend.close();
  }
}

export function statusText(status: LeaseStatus, where: string): string {
  if (status.holder === null) return `no leader in ${where}`;
  const token = status.token === null ? 'no token' : `token ${status.token}`;
  let left: string;
  if (status.remainingMs !== null) {
    left = `lease ${formatDuration(Math.max(0, Math.round(status.remainingMs)))} left (server TTL)`;
  } else if (status.leaseDurationMs !== null) {
    left = `lease at most ${formatDuration(status.leaseDurationMs)} left (expiry judged by observers${
      status.renewTime === null ? '' : `; renewTime ${status.renewTime}`
    })`;
  } else {
    left = 'time left unknown';
  }
  return `leader is ${status.holder} (${token}), ${left} in ${where}`;
}

export function rejectExtraArguments(
  positionals: readonly string[],
  rest: readonly string[] | null,
  command: string,
): void {
  const [stray] = positionals;
  if (stray !== undefined) {
    throw usageError(`unexpected argument "${stray}"; run "leader-elect ${command} --help"`);
  }
  if (rest !== null) {
    throw usageError(
      `"leader-elect ${command}" takes no command after --; did you mean "leader-elect run"?`,
    );
  }
}
