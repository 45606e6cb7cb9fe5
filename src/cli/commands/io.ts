import type { Writable } from 'node:stream';

/** What a subcommand touches of its process, so that tests can run it in-process. */
export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
  readonly platform: NodeJS.Platform;
  /** Where signals are trapped. */
  readonly process: Pick<NodeJS.Process, 'on' | 'off'>;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    platform: process.platform,
    process,
  };
}
