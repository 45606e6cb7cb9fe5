/**
 * Ties a term to the command: the command runs exactly while the term is valid.
 * `lead(term)` is the elector's `onStartedLeading`: it starts the command, and when the term
 * ends it sends SIGTERM to the command's process group and SIGKILL after the (capped) grace.
 * It resolves only when nothing of the group is left, so the elector releases the lease (or
 * campaigns again) only after the command is dead.
 */
import type { Term } from '../index.js';
import { formatDuration } from './duration.js';
import { ExitCode } from './exit-codes.js';
import type { Reporter } from './reporter.js';
import { type ChildExit, exitCodeOf, SupervisedChild } from './supervised-child.js';

export interface CommandSupervisorOptions {
  readonly command: string;
  readonly args: readonly string[];
  /** The environment of the command, before LEADER_ELECT_IDENTITY and LEADER_ELECT_TOKEN. */
  readonly env: NodeJS.ProcessEnv;
  readonly setpriv: string | null;
  readonly graceMs: number;
  /** Campaign again when the command exits by itself, instead of ending. */
  readonly restart: boolean;
  readonly reporter: Reporter;
  /** The command exited by itself (without `restart`), or could not be started: end with `code`. */
  readonly onFinished: (code: number) => void;
  /** The command started (true) or is gone (false). */
  readonly onRunning?: (running: boolean) => void;
}

/** Thrown from `lead` to make the elector release and campaign again (`--restart`). */
export class RestartRequest extends Error {
  override readonly name = 'RestartRequest';
}

export class CommandSupervisor {
  readonly #options: CommandSupervisorOptions;
  #child: SupervisedChild | null = null;
  #restartToken: bigint | null = null;

  constructor(options: CommandSupervisorOptions) {
    this.#options = options;
  }

  /** True while the command (or anything in its group) may be running. */
  get running(): boolean {
    return this.#child !== null;
  }

  /** Whether the term with this token ended because the command exited under `--restart`. */
  restarted(token: bigint): boolean {
    return this.#restartToken === token;
  }

  /** SIGKILL the command's group at once (a second SIGTERM/SIGINT). */
  killNow(): void {
    this.#child?.kill();
  }

  /** The elector's `onStartedLeading`. */
  async lead(term: Term<unknown>): Promise<void> {
    const { reporter, command, args } = this.#options;
    if (term.signal.aborted) return;
    let child: SupervisedChild;
    try {
      child = await SupervisedChild.start({
        command,
        args,
        env: {
          ...this.#options.env,
          LEADER_ELECT_IDENTITY: term.identity,
          LEADER_ELECT_TOKEN: term.token.toString(),
        },
        setpriv: this.#options.setpriv,
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      reporter.event(
        'command-failed',
        { command, error: code },
        `cannot start the command "${command}": ${code}; check the command after --`,
      );
      this.#options.onFinished(ExitCode.CommandNotStarted);
      return;
    }
    this.#child = child;
    this.#options.onRunning?.(true);
    reporter.event(
      'command-started',
      { pid: child.pid, token: term.token },
      `started the command (pid ${child.pid}, token ${term.token}): ${[command, ...args].join(' ')}`,
    );

    const ended = await Promise.race([
      child.exited.then(() => 'exited' as const),
      aborted(term.signal).then(() => 'term-ended' as const),
    ]);
    if (ended === 'term-ended' || term.signal.aborted) {
      await this.#stop(child, term);
      return;
    }

    const exit = child.exit as ChildExit;
    reporter.event(
      'command-exited',
      { pid: child.pid, token: term.token, code: exit.code, signal: exit.signal, by: 'itself' },
      `the command exited by itself (pid ${child.pid}, ${exitText(exit)})`,
    );
    // Whatever it left behind in its group must not outlive the term either.
    await this.#terminate(child);
    if (this.#options.restart) {
      this.#restartToken = term.token;
      reporter.event(
        'restart',
        { token: term.token },
        '--restart: releasing the lease and campaigning again',
      );
      throw new RestartRequest(`the command exited (${exitText(exit)}); campaigning again`);
    }
    this.#options.onFinished(exitCodeOf(exit));
  }

  async #stop(child: SupervisedChild, term: Term<unknown>): Promise<void> {
    const reason = term.signal.reason instanceof Error ? term.signal.reason.message : 'term ended';
    this.#options.reporter.event(
      'command-stopping',
      { pid: child.pid, token: term.token, reason, graceMs: this.#options.graceMs },
      `stopping the command (pid ${child.pid}): ${reason}; SIGKILL after ${formatDuration(this.#options.graceMs)}`,
    );
    const { exit, killed } = await this.#terminate(child);
    this.#options.reporter.event(
      'command-exited',
      {
        pid: child.pid,
        token: term.token,
        code: exit.code,
        signal: exit.signal,
        by: killed ? 'SIGKILL' : 'SIGTERM',
      },
      `the command is gone (pid ${child.pid}, ${exitText(exit)}${killed ? ', killed after the grace period' : ''})`,
    );
  }

  async #terminate(child: SupervisedChild) {
    try {
      return await child.terminate(this.#options.graceMs, (signal) => {
        this.#options.reporter.event(
          'command-signal',
          { pid: child.pid, signal },
          `sent ${signal} to the command's process group (${child.pid})`,
        );
      });
    } finally {
      this.#child = null;
      this.#options.onRunning?.(false);
    }
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}

export function exitText(exit: ChildExit): string {
  return exit.signal === null ? `exit code ${exit.code}` : `killed by ${exit.signal}`;
}
