import { type LeaderChange, observeLeader } from '../../index.js';
import { BACKEND_FLAGS, resolveBackendConfig } from '../backend-config.js';
import { formatDuration } from '../duration.js';
import { CliError, ExitCode, exitCodesHelp, usageError } from '../exit-codes.js';
import { type FlagSpec, formatFlagHelp, parseFlags, wantsHelp } from '../flags.js';
import { backendFailure, openBackend, probeBackend } from '../open-backend.js';
import { createReporter, tokenText } from '../reporter.js';
import type { CliIo } from './io.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './run.js';
import { rejectExtraArguments } from './status.js';

const DEFAULT_TIMEOUT_MS = 30_000;

const TRANSFER_FLAGS: readonly FlagSpec[] = [
  { name: 'to', kind: 'string', value: 'IDENTITY', help: 'the candidate that should lead next' },
  {
    name: 'timeout',
    kind: 'duration',
    value: 'DURATION',
    help: 'how long to wait for the successor to lead',
    defaultText: formatDuration(DEFAULT_TIMEOUT_MS),
  },
  { name: 'json', kind: 'boolean', help: 'JSON lines instead of text' },
  {
    name: 'connect-timeout',
    kind: 'duration',
    value: 'DURATION',
    help: 'how long the backend gets to answer',
    defaultText: formatDuration(DEFAULT_CONNECT_TIMEOUT_MS),
  },
];

export const TRANSFER_SUMMARY = 'ask the leader to hand leadership to a named candidate';

export const TRANSFER_HELP = `leader-elect transfer — ${TRANSFER_SUMMARY}

Usage:
  leader-elect transfer --backend etcd --election NAME --to IDENTITY [options]
  leader-elect transfer --backend kubernetes --lease-name NAME --to IDENTITY [options]

Writes a transfer request that the current leader (a leader-elect run process or a library
elector with honourTransferRequests, the default) sees at once; it stops its work as on a stop
(its command gets SIGTERM, then SIGKILL after the grace) and hands the lease to IDENTITY, which
starts a term of its own with a higher fencing token. Nobody else can take the lease in between.
Prints the new leader and exits 0 once IDENTITY leads; exits 1 when it does not within --timeout
(an unknown candidate, a candidate that is not leader-elect, a leader that refused: see its log).
- etcd: the request and the successor's confirmation use a key beside the election; every
  leader-elect candidate needs steering (leader-elect run enables it).
- kubernetes: the request is an annotation on the Lease (${'`'}leader-elect.dev/transfer-to${'`'}).

Backend:
${formatFlagHelp(BACKEND_FLAGS)}

Options:
${formatFlagHelp(TRANSFER_FLAGS)}

Examples:
  leader-elect transfer --backend etcd --endpoints http://127.0.0.1:2379 --election nightly --to host-b
  leader-elect transfer --backend kubernetes --lease-name scheduler --to scheduler-7d9f --json

${exitCodesHelp('status')}
`;

export async function transferCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(TRANSFER_HELP);
    return ExitCode.Ok;
  }
  const flags = parseFlags(argv, [...BACKEND_FLAGS, ...TRANSFER_FLAGS], 'transfer');
  rejectExtraArguments(flags.positionals, flags.command, 'transfer');
  const to = flags.string('to');
  if (to === undefined || to.trim() === '' || /\p{Cc}/u.test(to)) {
    throw usageError('--to IDENTITY is required: the candidate that should lead next');
  }
  const config = resolveBackendConfig(flags, 'transfer', io.env);
  const connectTimeout = flags.number('connect-timeout') ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const timeout = flags.number('timeout') ?? DEFAULT_TIMEOUT_MS;
  if (connectTimeout <= 0 || timeout <= 0) throw usageError('timeouts must be greater than 0');
  const out = createReporter({
    json: flags.boolean('json') === true,
    stream: io.stdout,
    prefix: '',
  });
  const opened = await openBackend(config);
  try {
    const { backend } = opened;
    if (typeof backend.requestTransfer !== 'function') {
      throw new CliError(ExitCode.Backend, `${opened.where} cannot carry transfer requests`);
    }
    const status = await probeBackend(opened, connectTimeout);
    if (status?.holder === to) {
      out.event(
        'leader',
        { election: opened.name, leader: to, token: status.token },
        `${to} leads already (${tokenText(status.token)})`,
      );
      return ExitCode.Ok;
    }
    if (status !== null && status.holder === null) {
      throw new CliError(
        ExitCode.Failure,
        `nobody leads ${opened.where}: there is nothing to transfer`,
      );
    }
    const observer = observeLeader(backend, { requestTimeout: connectTimeout });
    const deadline = AbortSignal.timeout(timeout);
    try {
      await observer.first();
      try {
        await backend.requestTransfer({ to, signal: AbortSignal.timeout(connectTimeout) });
      } catch (error) {
        throw backendFailure(opened, error);
      }
      const from = status?.holder ?? null;
      out.event(
        'requested',
        { election: opened.name, from, to },
        `asked ${from ?? 'the leader'} to hand ${opened.where} to ${to}`,
      );
      const led = await new Promise<LeaderChange | null>((resolve) => {
        const check = (change: LeaderChange) => {
          if (change.identity === to) resolve(change);
        };
        observer.on('leader', check);
        if (observer.current !== undefined) check(observer.current);
        deadline.addEventListener('abort', () => resolve(null), { once: true });
      });
      if (led === null) {
        const now = observer.current;
        throw new CliError(
          ExitCode.Failure,
          `${to} did not lead within ${formatDuration(timeout)} (the leader is ${now?.identity ?? 'nobody'}): is it a running leader-elect candidate of ${opened.where}${config.kind === 'etcd' ? ' with steering' : ''}? The leader reports why it refused in its log`,
        );
      }
      out.event(
        'leader',
        { election: opened.name, leader: led.identity, token: led.token },
        `${to} leads now (${tokenText(led.token)})`,
      );
      return ExitCode.Ok;
    } finally {
      observer.close();
    }
  } finally {
    await opened.backend.close();
  }
}
