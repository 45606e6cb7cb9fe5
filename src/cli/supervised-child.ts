/**
 * The command that runs while we lead, in its own process group (its own session), so that
 * signals reach everything it started.
 *
 * With `beforeRun` the command is started behind a gate: the process (and so its process group)
 * exists first, as a tiny `/bin/sh` that waits on a pipe, and execs the command only once
 * `beforeRun(pgid)` has resolved. `leader-elect run` arms the term watchdog there, so the command
 * never runs unguarded. If `beforeRun` rejects, or we die meanwhile, the command never runs.
 *
 * If `leader-elect` itself dies, even by SIGKILL, nothing of the group may keep running
 * unsupervised. The term watchdog (term-watchdog.ts) sees EOF and SIGKILLs the group. On Linux
 * util-linux's `setpriv` adds two more lines, which hold even if the term watchdog is gone too:
 * - the child is spawned as `setpriv --pdeathsig KILL -- CMD ARGS`, so the kernel kills it when
 *   its parent dies;
 * - a group killer (`setpriv --pdeathsig TERM -- sh -c …`) gets SIGTERM when we die and SIGKILLs
 *   the child's whole group, so grandchildren (`sh -c 'a; b'`) die too.
 * Without either, only an exit hook kills the group: that covers every exit of ours except
 * SIGKILL.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Writable } from 'node:stream';
import { resolveExecutable } from './executable.js';

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnChildOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Path of util-linux's setpriv, or `null` to spawn directly. */
  readonly setpriv: string | null;
  /**
   * Called with the new process group's id before the command runs; the command starts only
   * once it resolves. If it rejects the group is killed, the command never runs, and `start`
   * rejects with its error.
   */
  readonly beforeRun?: (pgid: number) => Promise<void>;
}

/** How often the group is polled while we wait for it to empty. */
const GROUP_POLL_MS = 20;
/** After SIGKILL, how long to wait for the exit to be reported before giving up. */
const KILL_REPORT_MS = 2_000;

/**
 * The gate: waits for `go` on fd 3, then becomes the command (same pid, so same group). EOF or
 * anything else ends it with 125 before the command ran.
 */
const GATE_SCRIPT = 'IFS= read -r go <&3 && [ "$go" = go ] || exit 125; exec "$@" 3<&-';
/** fd 3 of the gated child: the gate's pipe. */
const GATE_FD = 3;

/**
 * The group killer: SIGKILLs group `$1` on SIGTERM (its pdeathsig). A supervisor that died
 * before setpriv set the pdeathsig sends none: then the shell's parent is no longer `$2` (the
 * supervisor's pid) when it starts, and it kills the group at once (such shells were found
 * orphaned, guarding an empty group, after supervisors were SIGKILLed right after a spawn).
 */
const GROUP_KILLER_SCRIPT =
  'trap \'kill -s KILL -- -"$1" 2>/dev/null; kill "$s" 2>/dev/null; exit 0\' TERM\n' +
  '[ "$PPID" = "$2" ] || { kill -s KILL -- -"$1" 2>/dev/null; exit 0; }\n' +
  'while :; do sleep 3600 & s=$!; wait "$s"; done';

/** Groups of running children, killed by the exit hook if we exit while they run. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
  });
}

/**
 * True while a process of the group runs. Zombies do not count: an orphaned grandchild stays a
 * zombie until init reaps it, which some container inits do late. Linux reads /proc; elsewhere
 * signal 0 answers (zombies included).
 */
function groupRuns(pgid: number): boolean {
  if (process.platform !== 'linux') return signalGroup(pgid, 0);
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return signalGroup(pgid, 0);
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp ..."; comm may contain anything, so parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/** Sends `signal` to every process of the group; false when the group is gone. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EPERM') return true;
    return false;
  }
}

export class SupervisedChild {
  readonly pid: number;
  /** Settles when the direct child has exited. */
  readonly exited: Promise<ChildExit>;
  readonly #child: ChildProcess;
  readonly #groupKiller: ChildProcess | null;
  #exit: ChildExit | null = null;
  #groupGone = false;

  private constructor(child: ChildProcess, pid: number, groupKiller: ChildProcess | null) {
    this.#child = child;
    this.pid = pid;
    this.#groupKiller = groupKiller;
    liveGroups.add(pid);
    this.exited = new Promise<ChildExit>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  /**
   * Spawns the command and resolves once it runs. Rejects with the spawn error (ENOENT,
   * EACCES...) when it cannot be started.
   */
  static async start(options: SpawnChildOptions): Promise<SupervisedChild> {
    installExitHook();
    const { command, args, env, setpriv, beforeRun } = options;
    if (beforeRun !== undefined) {
      // Behind the gate, a command that cannot be run would show as the shell's exit code 127:
      // check first, so that it fails as an unstarted spawn does (ENOENT, EACCES).
      const found = resolveExecutable(command, env);
      if ('problem' in found) throw spawnError(command, found.problem);
    }
    const target = beforeRun === undefined ? [command, ...args] : gated(command, args);
    const [file, ...argv] =
      setpriv === null ? target : [setpriv, '--pdeathsig', 'KILL', '--', ...target];
    const child = spawn(file as string, argv, {
      env,
      detached: true, // setsid(): its own session and process group
      stdio:
        beforeRun === undefined
          ? ['inherit', 'inherit', 'inherit']
          : ['inherit', 'inherit', 'inherit', 'pipe'],
    });
    await once(child, 'spawn'); // rejects with the spawn error (ENOENT, EACCES...)
    child.on('error', () => {
      // After a successful spawn only signalling can fail; the exit still arrives.
    });
    const pid = child.pid as number;
    const groupKiller = setpriv === null ? null : startGroupKiller(setpriv, pid);
    const supervised = new SupervisedChild(child, pid, groupKiller);
    if (beforeRun !== undefined) {
      const gate = child.stdio[GATE_FD] as Writable;
      gate.on('error', () => {
        // The gate died (killed before it read): its exit is reported.
      });
      try {
        await beforeRun(pid);
      } catch (error) {
        gate.destroy();
        supervised.kill();
        await supervised.exited;
        await supervised.terminate(0);
        throw error;
      }
      gate.end('go\n');
    }
    return supervised;
  }

  /** The exit, once the child has exited. */
  get exit(): ChildExit | null {
    return this.#exit;
  }

  /**
   * Ends the whole group: SIGTERM, then SIGKILL when `graceMs` has passed and anything of the
   * group is still there. Resolves when the child has exited and the group is gone.
   * @param onSignal told about each signal sent to the group.
   */
  async terminate(
    graceMs: number,
    onSignal: (signal: 'SIGTERM' | 'SIGKILL') => void = () => {},
  ): Promise<{ readonly exit: ChildExit; readonly killed: boolean }> {
    let killed = false;
    if (this.#groupAlive()) {
      if (graceMs > 0) {
        onSignal('SIGTERM');
        signalGroup(this.pid, 'SIGTERM');
        await this.#waitForGroup(graceMs);
      }
      if (this.#groupAlive()) {
        onSignal('SIGKILL');
        signalGroup(this.pid, 'SIGKILL');
        killed = true;
        await this.#waitForGroup(KILL_REPORT_MS);
      }
    }
    const exit = this.#exit ?? (await this.exited);
    this.#forget();
    return { exit, killed };
  }

  /** Kills the group at once (second Ctrl-C, fatal errors). */
  kill(): void {
    if (!this.#groupGone) signalGroup(this.pid, 'SIGKILL');
  }

  /** True while the child, or anything else in its group, runs (or awaits its reaping). */
  #groupAlive(): boolean {
    if (this.#groupGone) return false;
    if (this.#exit === null) return true;
    if (groupRuns(this.pid)) return true;
    this.#groupGone = true;
    return false;
  }

  async #waitForGroup(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.#groupAlive()) {
      const left = deadline - performance.now();
      if (left <= 0) return;
      if (this.#exit === null) {
        // The child itself: wake as soon as it exits.
        await Promise.race([this.exited, delay(left)]);
      } else {
        await delay(Math.min(GROUP_POLL_MS, left));
      }
    }
  }

  #forget(): void {
    liveGroups.delete(this.pid);
    const groupKiller = this.#groupKiller;
    if (groupKiller?.pid !== undefined && groupKiller.exitCode === null) {
      // Its own group: the shell and its sleep.
      signalGroup(groupKiller.pid, 'SIGKILL');
    }
  }

  /** For tests: the child process object. */
  get process(): ChildProcess {
    return this.#child;
  }
}

function startGroupKiller(setpriv: string, pgid: number): ChildProcess | null {
  try {
    const groupKiller = spawn(
      setpriv,
      [
        '--pdeathsig',
        'TERM',
        '--',
        '/bin/sh',
        '-c',
        GROUP_KILLER_SCRIPT,
        'leader-elect-group-killer',
        String(pgid),
        String(process.pid),
      ],
      { detached: true, stdio: 'ignore' },
    );
    groupKiller.on('error', () => {
      // Best effort: the child's own pdeathsig still covers the direct child.
    });
    groupKiller.unref();
    return groupKiller;
  } catch {
    return null;
  }
}

/** `sh -c GATE_SCRIPT` with the command as its positional parameters. */
function gated(command: string, args: readonly string[]): string[] {
  return ['/bin/sh', '-c', GATE_SCRIPT, command, command, ...args];
}

/** The error a failed spawn would have given, for a command found unrunnable beforehand. */
function spawnError(command: string, problem: string): NodeJS.ErrnoException {
  const code = problem.includes('not found') ? 'ENOENT' : 'EACCES';
  return Object.assign(new Error(`spawn ${command} ${code}: ${problem}`), {
    code,
    path: command,
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `exit code 3` or `killed by SIGTERM`, for messages. */
export function exitText(exit: ChildExit): string {
  return exit.signal === null ? `exit code ${exit.code}` : `killed by ${exit.signal}`;
}

/** The exit code a shell would report: the code, or 128 + the signal number. */
export function exitCodeOf(exit: ChildExit): number {
  if (exit.code !== null) return exit.code;
  if (exit.signal !== null) {
    const number = signalNumber(exit.signal);
    return number === undefined ? 1 : 128 + number;
  }
  return 1;
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return (osConstants.signals as Partial<Record<NodeJS.Signals, number>>)[signal];
}
