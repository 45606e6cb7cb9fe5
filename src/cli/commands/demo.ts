import { runDemo } from '../../demo/demo.js';
import { ExitCode, usageError } from '../exit-codes.js';
import { wantsHelp } from '../flags.js';
import type { CliIo } from './io.js';

export const DEMO_SUMMARY = 'three candidates in this process: crash, failover, handoff';

export const DEMO_HELP = `leader-elect demo — ${DEMO_SUMMARY}

Usage:
  leader-elect demo

Runs three candidates in this process on the memory backend and prints a timeline with
measured times: the leader crashes (stops renewing without releasing), another takes over
when its lease expires, then stops gracefully and the last one takes over at once. Ends by
itself in about 12 seconds. Same as "npm run demo".

Exit codes:
  0  the demo ran
  1  it failed
  2  usage: unexpected arguments
`;

export async function demoCommand(argv: readonly string[], io: CliIo): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(DEMO_HELP);
    return ExitCode.Ok;
  }
  const [stray] = argv;
  if (stray !== undefined) {
    throw usageError(`"leader-elect demo" takes no arguments, got "${stray}"`);
  }
  await runDemo({ print: (line) => io.stdout.write(`${line}\n`) });
  return ExitCode.Ok;
}
