#!/usr/bin/env node
import { main } from './cli.js';
import { ExitCode } from './exit-codes.js';

/** If something still holds the event loop after the command is done, exit anyway. */
const LINGER_MS = 3_000;

// Deprecation warnings are for the developers of the code that triggers them, not for users of
// a command: grpc-js sets the TLS server name to an IP address for an https://127.0.0.1
// endpoint (DEP0123), which would print two lines of noise above the one line that matters.
process.noDeprecation = true;

// A closed pipe on our output (`| head`) must not crash us while a command runs.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), LINGER_MS).unref();
  },
  (error: unknown) => {
    process.stderr.write(
      `leader-elect: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exitCode = ExitCode.Failure;
  },
);
