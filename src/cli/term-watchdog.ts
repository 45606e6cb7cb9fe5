/**
 * The supervisor's side of the term watchdog (watchdog-main.ts, which documents the protocol):
 * starts the watchdog process, speaks its line protocol, and converts a term's deadline from
 * the elector's clock to CLOCK_MONOTONIC.
 *
 * Why a process: the command must be stopped by its term's deadline even when the supervisor's
 * event loop does not run (SIGSTOP, a stuck synchronous call, a VM stall hitting one process).
 * Something scheduled independently of it must hold the deadline, and a process is the only
 * such thing a Node program can start without native code.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../index.js';
import { type ChildExit, exitText } from './supervised-child.js';

/** What the watchdog has done to a group (see watchdog-main.ts). */
export type GuardState = 'armed' | 'terminated' | 'killed' | 'unknown';

/** The watchdog signalled a group on its own: the supervisor was not in time. */
export interface WatchdogFired {
  readonly pgid: number;
  readonly signal: 'SIGTERM' | 'SIGKILL';
  /** CLOCK_MONOTONIC reading when it sent the signal, in nanoseconds. */
  readonly atNs: bigint;
}

export interface TermWatchdogOptions {
  /** The watchdog's script. @default dist/cli/watchdog-main.js next to this module */
  readonly script?: string;
  /** Told about every signal the watchdog sends on its own. */
  readonly onFired?: (fired: WatchdogFired) => void;
}

/** The built watchdog, next to this module in dist/cli. */
export const WATCHDOG_SCRIPT = fileURLToPath(new URL('./watchdog-main.js', import.meta.url));
/** How long a new watchdog gets to say it is ready (a cold node start on a loaded host). */
const START_TIMEOUT_MS = 15_000;
/** After EOF the watchdog exits at once; give up waiting after this. */
const CLOSE_TIMEOUT_MS = 2_000;
/**
 * How long a disarm or a ping waits for its answer. Their answers only inform a report (what the
 * watchdog did), and a request not answered yet is still handled when the watchdog runs again,
 * so a slow watchdog must not hold up the supervisor's stop path.
 */
const REPORT_WAIT_MS = 500;
/** A watchdog that does not take a guard within this long cannot be trusted: it is killed. */
export const ARM_TIMEOUT_MS = 2_000;

interface Pending {
  readonly resolve: (fields: readonly string[]) => void;
  readonly reject: (error: Error) => void;
}

/**
 * The CLOCK_MONOTONIC reading (ns) at which `clock` will read `at`, rounded towards earlier,
 * never later. Assumes `clock` runs at CLOCK_MONOTONIC's rate (the system clock does: Node's
 * performance.now() is CLOCK_MONOTONIC since the process started).
 */
export function monotonicDeadline(at: number, clock: Pick<Clock, 'now'>): bigint {
  // Monotonic first: the clock's reading comes at or after it, so the deadline errs early.
  const monotonicBefore = process.hrtime.bigint();
  return toMonotonic(at, clock.now(), monotonicBefore);
}

/**
 * `at` on a clock that read `clockNow` no earlier than the CLOCK_MONOTONIC reading
 * `monotonicBefore` (ns). Floors: the result is never after the true moment.
 */
export function toMonotonic(at: number, clockNow: number, monotonicBefore: bigint): bigint {
  if (!Number.isFinite(at) || !Number.isFinite(clockNow)) {
    throw new RangeError(`cannot convert ${at} (clock at ${clockNow}) to a monotonic deadline`);
  }
  const deadline = monotonicBefore + BigInt(Math.floor((at - clockNow) * 1e6));
  return deadline < 0n ? 0n : deadline;
}

/** Milliseconds as whole nanoseconds, rounded down (a shorter grace is the safe side). */
export function nanosOf(ms: number): bigint {
  return BigInt(Math.max(0, Math.floor(ms * 1e6)));
}

export class TermWatchdog {
  readonly pid: number;
  /** Settles when the watchdog process has exited, for whatever reason. */
  readonly exited: Promise<ChildExit>;
  readonly #child: ChildProcess;
  readonly #pending: Pending[] = [];
  readonly #onFired: ((fired: WatchdogFired) => void) | undefined;
  #buffer = '';
  #ready: (() => void) | null = null;
  #exit: ChildExit | null = null;

  private constructor(child: ChildProcess, onFired: TermWatchdogOptions['onFired']) {
    this.#child = child;
    this.pid = child.pid as number;
    this.#onFired = onFired;
    this.exited = new Promise<ChildExit>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        const gone = new Error(`the watchdog process ${this.pid} exited (${exitText(this.#exit)})`);
        for (const pending of this.#pending.splice(0)) pending.reject(gone);
        resolve(this.#exit);
      });
    });
    child.stdin?.on('error', () => {
      // EPIPE once it is gone; its exit is reported through `exited`.
    });
    child.stdout?.setEncoding('latin1').on('data', (chunk: string) => this.#read(chunk));
  }

  /** Starts a watchdog and resolves once it is ready to guard; rejects if it cannot start. */
  static async start(options: TermWatchdogOptions = {}): Promise<TermWatchdog> {
    const child = spawn(process.execPath, [options.script ?? WATCHDOG_SCRIPT], {
      // Its own session: a terminal's Ctrl-C or a signal to our group does not reach it.
      detached: true,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    child.on('error', () => {
      // After a successful spawn only signalling can fail; the exit still arrives.
    });
    await once(child, 'spawn'); // rejects with the spawn error
    const watchdog = new TermWatchdog(child, options.onFired);
    const ready = new Promise<void>((resolve) => {
      watchdog.#ready = resolve;
    });
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      ready.then(() => 'ready' as const),
      watchdog.exited.then(() => 'exited' as const),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), START_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === 'ready') return watchdog;
    child.kill('SIGKILL');
    const exit = await watchdog.exited;
    throw new Error(
      outcome === 'timeout'
        ? `the watchdog process did not start within ${START_TIMEOUT_MS} ms`
        : `the watchdog process exited at start-up (${exitText(exit)})`,
    );
  }

  /** False once the watchdog process has exited. */
  get alive(): boolean {
    return this.#exit === null;
  }

  /**
   * Guards the group from now on: SIGTERM after `deadlineNs`, SIGKILL at `deadlineNs + graceMs`.
   * Resolves once the watchdog holds the deadline; rejects if it is gone, refuses, or does not
   * answer within ARM_TIMEOUT_MS (then it is killed: its exit tells its owner).
   */
  async arm(pgid: number, deadlineNs: bigint, graceMs: number): Promise<void> {
    const reply = this.#request(`arm ${pgid} ${deadlineNs} ${nanosOf(graceMs)}`);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), ARM_TIMEOUT_MS);
    });
    const outcome = await Promise.race([reply, late]).finally(() => clearTimeout(timer));
    if (outcome === 'late') {
      reply.catch(() => {});
      this.#child.kill('SIGKILL');
      throw new Error(
        `the watchdog process ${this.pid} did not answer within ${ARM_TIMEOUT_MS} ms`,
      );
    }
    const state = outcome[2];
    if (state !== 'armed') throw new Error(`the watchdog answered "${state}" to arm ${pgid}`);
  }

  /** A renewal moved the term's deadline (the watchdog ignores a deadline that is not later). */
  extend(pgid: number, deadlineNs: bigint): void {
    this.#request(`extend ${pgid} ${deadlineNs}`).catch(() => {});
  }

  /** The supervisor is about to send SIGTERM itself: the watchdog keeps only its SIGKILL. */
  stopping(pgid: number): void {
    this.#request(`stopping ${pgid}`).catch(() => {});
  }

  /**
   * The group is gone: forget it. Resolves with what the watchdog had done to it, `unknown` if it
   * is gone or does not answer within REPORT_WAIT_MS.
   */
  async disarm(pgid: number): Promise<GuardState> {
    const reply = await within(this.#request(`disarm ${pgid}`), REPORT_WAIT_MS);
    const state = reply?.[2];
    return state === 'armed' || state === 'terminated' || state === 'killed' ? state : 'unknown';
  }

  /**
   * A round trip: true once every request and notification before it has been handled and read;
   * false if the watchdog is gone or does not answer within REPORT_WAIT_MS.
   */
  async ping(): Promise<boolean> {
    return (await within(this.#request('ping'), REPORT_WAIT_MS)) !== null;
  }

  /**
   * Ends the watchdog: EOF on its stdin, which SIGKILLs whatever it still guards (nothing, when
   * every group was disarmed). Resolves when it has exited.
   */
  async close(): Promise<void> {
    if (this.#exit !== null) return;
    this.#child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      this.exited.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), CLOSE_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!exited) {
      this.#child.kill('SIGKILL');
      await this.exited;
    }
  }

  #request(line: string): Promise<readonly string[]> {
    if (this.#exit !== null) {
      return Promise.reject(new Error(`the watchdog process ${this.pid} is gone`));
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#child.stdin?.write(`${line}\n`);
    });
  }

  #read(chunk: string): void {
    this.#buffer += chunk;
    for (let end = this.#buffer.indexOf('\n'); end !== -1; end = this.#buffer.indexOf('\n')) {
      const fields = this.#buffer.slice(0, end).split(' ');
      this.#buffer = this.#buffer.slice(end + 1);
      this.#message(fields);
    }
  }

  #message(fields: readonly string[]): void {
    const [kind, pgid, signal, at] = fields;
    if (kind === 'ready') {
      this.#ready?.();
      this.#ready = null;
      return;
    }
    if (kind === 'fired') {
      if ((signal === 'SIGTERM' || signal === 'SIGKILL') && at !== undefined) {
        this.#onFired?.({ pgid: Number(pgid), signal, atNs: BigInt(at) });
      }
      return;
    }
    const pending = this.#pending.shift();
    if (pending === undefined) return;
    if (kind === 'error') pending.reject(new Error(`watchdog: ${fields.slice(1).join(' ')}`));
    else pending.resolve(fields);
  }
}

/** The promise's value, or null if it rejects or takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  try {
    return await Promise.race([promise.catch(() => null), late]);
  } finally {
    clearTimeout(timer);
  }
}
