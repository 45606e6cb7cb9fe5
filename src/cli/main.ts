#!/usr/bin/env node
import { runDemo } from '../demo/demo.js';

const USAGE = `leader-elect — lease-based leader election

Usage:
  leader-elect demo        three candidates on the in-process memory backend: a crash, a failover,
                           a graceful handoff, with measured times (ends by itself)
  leader-elect --help      this text

Exit codes: 0 success, 2 usage error, 1 failure.`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'demo') {
    if (rest.includes('--help')) {
      console.log(
        'leader-elect demo\n\nRuns three candidates in this process on the memory backend and prints a timeline.',
      );
      return 0;
    }
    await runDemo();
    return 0;
  }
  console.error(`leader-elect: unknown command "${command}"; run "leader-elect --help"`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`leader-elect: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
