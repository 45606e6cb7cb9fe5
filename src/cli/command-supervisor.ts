/**
 * Ties a term to the command: the command runs exactly while the term is valid.
 * `lead(term)` is the elector's `onStartedLeading`: it starts the command, and when the term
 * ends it sends SIGTERM to the command's process group and SIGKILL after the (capped) grace.
 * It resolves only when nothing of the group is left, so the elector releases the lease (or
 * campaigns again) only after the command is dead.
 *
 * With a term watchdog (`leader-elect run` always has one) the command also does not depend on
 * this process's event loop: the watchdog, a process of its own, is armed with the term's
 * deadline before the command runs, each renewal moves the deadline forward (`renewed`), and it
 * stops the group at the deadline itself if we are paused or stuck. Our own stop path below
 * usually acts first; the watchdog is the guarantee. The command never runs without a live
 * watchdog: if it dies, the command is stopped and the term handed back.
 */
import { type Clock, ErrorCode, LeaderElectError, systemClock, type Term } from '../index.js';
import { formatDuration } from './duration.js';
import { ExitCode } from './exit-codes.js';
import type { Reporter } from './reporter.js';
import { type ChildExit, exitCodeOf, exitText, SupervisedChild } from './supervised-child.js';
import {
  type GuardState,
  monotonicDeadline,
  type TermWatchdog,
  type TermWatchdogOptions,
  type WatchdogFired,
} from './term-watchdog.js';
import { WatchdogKeeper } from './watchdog-keeper.js';

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
  /**
   * Starts a term watchdog (`TermWatchdog.start`). Without it the command is guarded by this
   * process alone (its stop path and exit hook).
   */
  readonly startWatchdog?: (options: TermWatchdogOptions) => Promise<TermWatchdog>;
  /** The elector's clock, to convert term deadlines for the watchdog. @default systemClock */
  readonly clock?: Pick<Clock, 'now'>;
  /**
   * Under `restart`: hands the term back to the election (the elector's `resign({ term })`:
   * release now, campaign again after a retry period). `lead()` returns right after calling it,
   * so that the resignation, which waits for the work, finds it done. Required with `restart`.
   */
  readonly resign?: (term: Term<unknown>) => void;
}

/** How a command-exited line tells what the watchdog did (it acts only when we are late). */
const WATCHDOG_DID: Readonly<Record<GuardState, string>> = {
  armed: '',
  unknown: '',
  terminated: 'stopped by the watchdog at the term deadline',
  killed: 'killed by the watchdog at the term deadline',
};

/** The group the watchdog guards, and for which term. */
interface Guard {
  readonly term: Term<unknown>;
  readonly pgid: number;
  readonly watchdog: TermWatchdog;
  /** The last signal the watchdog sent to the group on its own, as far as we have heard. */
  fired: WatchdogFired['signal'] | null;
}

export class CommandSupervisor {
  readonly #options: CommandSupervisorOptions;
  readonly #clock: Pick<Clock, 'now'>;
  #child: SupervisedChild | null = null;
  #restartToken: bigint | null = null;
  readonly #watchdogs: WatchdogKeeper | null;
  #guard: Guard | null = null;

  constructor(options: CommandSupervisorOptions) {
    if (options.restart && options.resign === undefined) {
      throw new TypeError(
        'CommandSupervisor: restart needs resign (the elector that hands the term back)',
      );
    }
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#watchdogs =
      options.startWatchdog === undefined
        ? null
        : new WatchdogKeeper({
            start: options.startWatchdog,
            reporter: options.reporter,
            onFired: (fired) => this.#onFired(fired),
            guarding: (watchdog) => this.#guard?.watchdog === watchdog,
          });
  }

  /** True while the command (or anything in its group) may be running. */
  get running(): boolean {
    return this.#child !== null;
  }

  /** Whether the term with this token ended because the command exited under `--restart`. */
  restarted(token: bigint): boolean {
    return this.#restartToken === token;
  }

  /** The current watchdog's pid, if one runs (for tests and diagnostics). */
  get watchdogPid(): number | null {
    return this.#watchdogs?.current?.pid ?? null;
  }

  /**
   * Starts the watchdog before campaigning, so that leadership does not wait for its start.
   * Rejects if it cannot be started.
   */
  async prepare(): Promise<void> {
    await this.#watchdogs?.ready();
  }

  /** Ends the watchdog (after the last term; nothing is guarded any more). */
  async close(): Promise<void> {
    await this.#watchdogs?.close();
  }

  /** The elector's `renewed`: the term's deadline moved; move the watchdog's with it. */
  renewed(term: Term<unknown>): void {
    const guard = this.#guard;
    if (guard === null || guard.term !== term) return;
    guard.watchdog.extend(guard.pgid, monotonicDeadline(term.validUntil, this.#clock));
  }

  /** SIGKILL the command's group at once (a second SIGTERM/SIGINT). */
  killNow(): void {
    this.#child?.kill();
  }

  /** The elector's `onStartedLeading`. */
  async lead(term: Term<unknown>): Promise<void> {
    if (term.signal.aborted) return;
    let watchdog: TermWatchdog | null = null;
    if (this.#watchdogs !== null) {
      try {
        watchdog = await this.#watchdogs.ready();
      } catch (error) {
        return failTerm(
          `cannot start the watchdog process (${messageOf(error)}): the command does not run unguarded; stepping down`,
        );
      }
      if (term.signal.aborted) return;
    }
    const child = await this.#start(term, watchdog);
    if (child === null) return;
    return this.#supervise(child, term, watchdog);
  }

  /**
   * Starts the command for the term, behind the watchdog's guard if there is one. Null when it
   * did not start (reported, or the term ended first); rejects when it must not run unguarded.
   */
  async #start(
    term: Term<unknown>,
    watchdog: TermWatchdog | null,
  ): Promise<SupervisedChild | null> {
    const { reporter, command, args } = this.#options;
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
        ...(watchdog === null ? {} : { beforeRun: (pgid) => this.#arm(watchdog, pgid, term) }),
      });
    } catch (error) {
      if (error instanceof NotGuarded) {
        await this.#unguard();
        // The term ended before the watchdog held its deadline: nothing ran, nothing to report.
        if (error.termEnded) return null;
        return failTerm(`${error.message}: the command does not run unguarded; stepping down`);
      }
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      reporter.event(
        'command-failed',
        { command, error: code },
        `cannot start the command "${command}": ${code}; check the command after --`,
      );
      this.#options.onFinished(ExitCode.CommandNotStarted);
      return null;
    }
    this.#watchdogs?.guarded();
    this.#child = child;
    this.#options.onRunning?.(true);
    reporter.event(
      'command-started',
      { pid: child.pid, token: term.token },
      `started the command (pid ${child.pid}, token ${term.token}): ${[command, ...args].join(' ')}`,
    );
    return child;
  }

  /** Until the command is gone: the term ends, the watchdog dies, or the command exits. */
  async #supervise(
    child: SupervisedChild,
    term: Term<unknown>,
    watchdog: TermWatchdog | null,
  ): Promise<void> {
    const ended = await Promise.race([
      child.exited.then(() => 'exited' as const),
      aborted(term.signal).then(() => 'term-ended' as const),
      ...(watchdog === null ? [] : [watchdog.exited.then(() => 'watchdog-died' as const)]),
    ]);
    if (ended === 'term-ended' || term.signal.aborted) {
      const reason =
        term.signal.reason instanceof Error ? term.signal.reason.message : 'term ended';
      await this.#stop(child, term, reason);
      return;
    }
    if (ended === 'watchdog-died' && watchdog !== null) {
      const exit = await watchdog.exited;
      const died = `the watchdog process ${watchdog.pid} died (${exitText(exit)})`;
      await this.#stop(child, term, `${died}; the command must not run unguarded`);
      return failTerm(
        `${died}: stopped the command and stepped down; a new watchdog guards the next term`,
      );
    }
    return this.#exitedWhileLeading(child, term);
  }

  /**
   * The command exited while the term is on: by itself, or stopped by the watchdog while we were
   * paused (then the term is over, or a renewal reached the watchdog too late).
   */
  async #exitedWhileLeading(child: SupervisedChild, term: Term<unknown>): Promise<void> {
    const { reporter } = this.#options;
    const exit = child.exit as ChildExit;
    const fired = await this.#firedSignal();
    if (fired !== null) {
      await this.#terminate(child);
      await this.#unguard();
      this.#reportGone(child, term, exit, fired, 'the watchdog stopped it at the term deadline');
      if (!term.isValid()) return; // the elector ends the term (renew-deadline)
      return failTerm(
        'the watchdog stopped the command at the term deadline before a renewal reached it; stepping down',
      );
    }
    reporter.event(
      'command-exited',
      { pid: child.pid, token: term.token, code: exit.code, signal: exit.signal, by: 'itself' },
      `the command exited by itself (pid ${child.pid}, ${exitText(exit)})`,
    );
    // Whatever it left behind in its group must not outlive the term either.
    await this.#terminate(child);
    await this.#unguard();
    if (this.#options.restart) {
      this.#restartToken = term.token;
      reporter.event(
        'restart',
        { token: term.token },
        '--restart: releasing the lease and campaigning again',
      );
      this.#options.resign?.(term);
      return;
    }
    this.#options.onFinished(exitCodeOf(exit));
  }

  async #stop(child: SupervisedChild, term: Term<unknown>, reason: string): Promise<void> {
    this.#options.reporter.event(
      'command-stopping',
      { pid: child.pid, token: term.token, reason, graceMs: this.#options.graceMs },
      `stopping the command (pid ${child.pid}): ${reason}; SIGKILL after ${formatDuration(this.#options.graceMs)}`,
    );
    const { exit, killed } = await this.#terminate(child);
    const state = await this.#unguard();
    this.#reportGone(
      child,
      term,
      exit,
      killed || state === 'killed' ? 'SIGKILL' : 'SIGTERM',
      killed ? 'killed after the grace period' : WATCHDOG_DID[state],
    );
  }

  #reportGone(
    child: SupervisedChild,
    term: Term<unknown>,
    exit: ChildExit,
    by: 'SIGTERM' | 'SIGKILL',
    how: string,
  ): void {
    this.#options.reporter.event(
      'command-exited',
      { pid: child.pid, token: term.token, code: exit.code, signal: exit.signal, by },
      `the command is gone (pid ${child.pid}, ${exitText(exit)}${how === '' ? '' : `, ${how}`})`,
    );
  }

  async #terminate(child: SupervisedChild) {
    try {
      return await child.terminate(this.#options.graceMs, (signal) => {
        // Tell the watchdog first, so that it does not send a second SIGTERM.
        const guard = this.#guard;
        if (signal === 'SIGTERM' && guard !== null) guard.watchdog.stopping(guard.pgid);
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

  /** beforeRun of the child: the watchdog holds the term's deadline before the command runs. */
  async #arm(watchdog: TermWatchdog, pgid: number, term: Term<unknown>): Promise<void> {
    this.#guard = { term, pgid, watchdog, fired: null };
    const deadline = monotonicDeadline(term.validUntil, this.#clock);
    const armed = watchdog.arm(pgid, deadline, this.#options.graceMs);
    const outcome = await Promise.race([
      armed.then(
        () => 'armed' as const,
        (error: unknown) => error,
      ),
      aborted(term.signal).then(() => 'term-ended' as const),
    ]);
    if (outcome === 'term-ended' || !term.isValid()) {
      throw new NotGuarded('the term ended before the command could start', true);
    }
    if (outcome !== 'armed') {
      throw new NotGuarded(`the watchdog did not guard the command (${messageOf(outcome)})`, false);
    }
  }

  /** Disarms the guard once its group is gone; resolves with what the watchdog had done. */
  async #unguard(): Promise<GuardState> {
    const guard = this.#guard;
    if (guard === null) return 'unknown';
    this.#guard = null;
    return guard.watchdog.disarm(guard.pgid);
  }

  /**
   * The signal the watchdog sent on its own to the running guard's group, if any: after a
   * round trip, every notification it wrote before has been read.
   */
  async #firedSignal(): Promise<WatchdogFired['signal'] | null> {
    const guard = this.#guard;
    if (guard === null) return null;
    await guard.watchdog.ping();
    return guard.fired;
  }

  #onFired(fired: WatchdogFired): void {
    const guard = this.#guard;
    const ours = guard !== null && guard.pgid === fired.pgid;
    if (ours) guard.fired = fired.signal;
    this.#options.reporter.event(
      'watchdog-signal',
      { pid: fired.pgid, ...(ours ? { token: guard.term.token } : {}), signal: fired.signal },
      `the watchdog sent ${fired.signal} to the command's process group (${fired.pgid}) at the term deadline: leader-elect was not in time`,
    );
  }
}

/** The watchdog could not take the guard: the command must not run. */
class NotGuarded extends Error {
  constructor(
    message: string,
    readonly termEnded: boolean,
  ) {
    super(message);
  }
}

/**
 * Ends the term as a failed work: the elector reports the error, releases and campaigns again.
 * (A failure, unlike `--restart`: it belongs in the `error` events.)
 */
function failTerm(message: string): Promise<never> {
  return Promise.reject(new LeaderElectError(ErrorCode.CallbackFailed, message));
}

function messageOf(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}
