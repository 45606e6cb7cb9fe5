/**
 * The exit codes of `leader-elect`, documented in docs/cli.md and in every `--help`.
 * `run` passes the child's own exit code through when the child ends by itself.
 */
export const ExitCode = {
  /** Success (or `run`: stopped by SIGTERM/SIGINT after a clean shutdown). */
  Ok: 0,
  /** Any other failure. */
  Failure: 1,
  /** Usage: unknown flag, bad value, missing command, timings that break the rules. */
  Usage: 2,
  /** The backend cannot be reached, refuses us, or is misconfigured. */
  Backend: 3,
  /** `run`: the command could not be started (not found, not executable). */
  CommandNotStarted: 4,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit-code table as printed at the end of a `--help` (all commands, or one). */
export function exitCodesHelp(command?: 'run' | 'status' | 'watch'): string {
  const ok =
    command === 'run' || command === undefined
      ? '0  success (run: stopped by SIGTERM/SIGINT and shut down cleanly)'
      : command === 'watch'
        ? '0  stopped by SIGINT/SIGTERM'
        : '0  success, with or without a leader';
  const rows = [
    ok,
    '1  other failure',
    '2  usage: unknown flag, bad value or duration, missing command, timings that break the rules',
    '3  backend unreachable, refusing the credentials, or misconfigured',
  ];
  if (command === 'run' || command === undefined) {
    rows.push(
      '4  run: the command could not be started (not found, not executable)',
      "N  run: the child's own exit code when it exits by itself (128+signal if killed by a signal)",
    );
  }
  return `Exit codes:\n${rows.map((row) => `  ${row}`).join('\n')}`;
}

/** An error that ends the command with one line on stderr and a chosen exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

export function usageError(message: string): CliError {
  return new CliError(ExitCode.Usage, message);
}
