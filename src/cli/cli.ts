/** The `leader-elect` dispatcher: subcommands, top-level help, errors as one line. */
import { DEMO_SUMMARY, demoCommand } from './commands/demo.js';
import { type CliIo, processIo } from './commands/io.js';
import { RUN_SUMMARY, runCommand } from './commands/run.js';
import { STATUS_SUMMARY, statusCommand } from './commands/status.js';
import { TRANSFER_SUMMARY, transferCommand } from './commands/transfer.js';
import { WATCH_SUMMARY, watchCommand } from './commands/watch.js';
import { CliError, ExitCode, exitCodesHelp } from './exit-codes.js';

const COMMANDS: Readonly<Record<string, (argv: readonly string[], io: CliIo) => Promise<number>>> =
  {
    run: runCommand,
    status: statusCommand,
    watch: watchCommand,
    transfer: transferCommand,
    demo: demoCommand,
  };

const USAGE = `leader-elect — lease-based leader election

Usage:
  leader-elect run [options] -- CMD [ARGS...]   ${RUN_SUMMARY}
  leader-elect status [options]                 ${STATUS_SUMMARY}
  leader-elect watch [options]                  ${WATCH_SUMMARY}
  leader-elect transfer --to ID [options]       ${TRANSFER_SUMMARY}
  leader-elect demo                             ${DEMO_SUMMARY}
  leader-elect COMMAND --help                   options and examples of a command
  leader-elect --help                           this text

Backends: --backend etcd (--endpoints, --election), --backend kubernetes (--lease-name) or
--backend postgres (--connection-string, --election).

Examples:
  leader-elect run --backend etcd --election nightly-report -- ./report.sh
  leader-elect status --backend etcd --election nightly-report
  leader-elect watch --backend kubernetes --namespace jobs --lease-name scheduler --json

${exitCodesHelp()}`;

/** Runs one invocation; resolves with the exit code. Errors become one line on stderr. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    if (command === 'help' && rest[0] !== undefined && rest[0] in COMMANDS) {
      return main([rest[0], '--help'], io);
    }
    (command === undefined ? io.stderr : io.stdout).write(`${USAGE}\n`);
    return command === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  if (command === '--version') {
    io.stdout.write(`${await version()}\n`);
    return ExitCode.Ok;
  }
  const handler = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (handler === undefined) {
    io.stderr.write(`leader-elect: unknown command "${command}"; run "leader-elect --help"\n`);
    return ExitCode.Usage;
  }
  try {
    return await handler(rest, io);
  } catch (error) {
    const exitCode = error instanceof CliError ? error.exitCode : ExitCode.Failure;
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(
      wantsJson(rest)
        ? `${JSON.stringify({ time: new Date().toISOString(), event: 'failed', exitCode, message })}\n`
        : `leader-elect ${command}: ${message}\n`,
    );
    return exitCode;
  }
}

/** `--json` before `--`: failures are JSON lines too. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some(
    (arg) => arg === '--json' || arg === '--json=true',
  );
}

async function version(): Promise<string> {
  const { createRequire } = await import('node:module');
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  return pkg.version;
}
