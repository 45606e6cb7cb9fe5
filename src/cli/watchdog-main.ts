/**
 * The term watchdog: a process of its own that ends the command's process group at the term's
 * deadline unless `leader-elect run` moved the deadline in time, so that nothing in the command's
 * life depends on the supervisor's event loop running (a SIGSTOP, a stuck synchronous call, a VM
 * stall hitting that one process).
 *
 * The supervisor spawns it once at start-up (see term-watchdog.ts) with stdin and stdout as pipes.
 * It imports only node: built-ins so that it starts fast, and it does nothing but keep deadlines.
 *
 * Protocol: one ASCII line per message. Times are absolute CLOCK_MONOTONIC readings in
 * nanoseconds (`process.hrtime.bigint()`; one clock for every process of a Linux machine, in one
 * time namespace), durations are nanoseconds. Every request gets exactly one reply, in order:
 *
 *   arm <pgid> <deadline> <grace>  → armed <pgid> <state>     guard the group from now on
 *   extend <pgid> <deadline>       → extended <pgid> <state>  a renewal moved the deadline
 *   stopping <pgid>                → stopping <pgid> <state>  the supervisor sent SIGTERM itself
 *   disarm <pgid>                  → disarmed <pgid> <state>  the group is gone; forget it
 *   ping                           → pong
 *   anything else                  → error <text>
 *
 * `state` is what the watchdog has done to the group: `armed` (nothing yet), `terminated` (sent
 * SIGTERM), `killed` (sent SIGKILL), or `unknown` (not guarded). When it signals a group on its
 * own it also writes, unasked, `fired <pgid> <SIGTERM|SIGKILL> <monotonic ns>`.
 *
 * The rules:
 * - The deadline only moves forward, and not at all once the watchdog has fired.
 * - SIGTERM at `deadline + min(grace / 4, 50 ms)`: the supervisor's own stop path, which usually
 *   runs at the deadline, goes first, so a healthy supervisor never causes a second SIGTERM. No
 *   SIGTERM once the supervisor said `stopping` (it sent one), none with a grace of 0.
 * - SIGKILL at `deadline + grace`, the supervisor's capped grace: the group is dead before any
 *   other candidate can acquire the lease (docs/cli.md, "The watchdog").
 * - A signal goes only to a group that still has a live (non-zombie) member, so a command that
 *   exited by itself while the supervisor was paused is not reported as stopped by the watchdog.
 * - EOF on stdin means the supervisor is gone (even by SIGKILL): SIGKILL every guarded group at
 *   once and exit. SIGTERM, SIGINT and SIGHUP are ignored: a terminal's Ctrl-C or systemd's
 *   control-group SIGTERM must not take the watchdog away before the supervisor has stopped.
 */
import { readdirSync, readFileSync } from 'node:fs';

type State = 'armed' | 'terminated' | 'killed';

interface Guard {
  readonly pgid: number;
  deadline: bigint;
  readonly grace: bigint;
  state: State;
  /** The supervisor sent SIGTERM itself: only SIGKILL is left to do. */
  supervisorTerminated: boolean;
  timer: NodeJS.Timeout | null;
}

/** The supervisor's stop path gets this long past the deadline to send SIGTERM first. */
const SUPERVISOR_FIRST_NS = 50_000_000n;
/** setTimeout's largest delay; a longer wait re-arms when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const guards = new Map<number, Guard>();

function now(): bigint {
  return process.hrtime.bigint();
}

function send(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** The next signal due for the guard and when, or null when nothing is left to do. */
function nextAction(guard: Guard): { at: bigint; signal: 'SIGTERM' | 'SIGKILL' } | null {
  if (guard.state === 'killed') return null;
  const killAt = guard.deadline + guard.grace;
  if (guard.state === 'armed' && !guard.supervisorTerminated && guard.grace > 0n) {
    const quarter = guard.grace / 4n;
    const first = quarter < SUPERVISOR_FIRST_NS ? quarter : SUPERVISOR_FIRST_NS;
    return { at: guard.deadline + first, signal: 'SIGTERM' };
  }
  return { at: killAt, signal: 'SIGKILL' };
}

function schedule(guard: Guard): void {
  if (guard.timer !== null) clearTimeout(guard.timer);
  guard.timer = null;
  const action = nextAction(guard);
  if (action === null) return;
  const waitMs = Number(action.at - now()) / 1e6;
  // Rounded up: a timer never fires before its moment (and fire() checks again).
  guard.timer = setTimeout(
    () => fire(guard),
    Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(waitMs))),
  );
}

function fire(guard: Guard): void {
  guard.timer = null;
  if (guards.get(guard.pgid) !== guard) return;
  const action = nextAction(guard);
  if (action === null) return;
  const at = now();
  if (at < action.at) {
    schedule(guard);
    return;
  }
  // A group without a live member cannot gain one: nothing left to stop, now or later.
  if (!groupRuns(guard.pgid)) return;
  signalGroup(guard.pgid, action.signal);
  guard.state = action.signal === 'SIGTERM' ? 'terminated' : 'killed';
  send(`fired ${guard.pgid} ${action.signal} ${at}`);
  schedule(guard);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Gone already.
  }
}

/**
 * True while a process of the group runs. Zombies do not count (a paused supervisor does not
 * reap its child). Linux reads /proc; elsewhere signal 0 answers (zombies included).
 */
function groupRuns(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  for (const entry of entries) {
    const first = entry.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid pgrp ...": comm may contain anything, so parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

function pgidOf(text: string | undefined): number {
  const pgid = Number(text);
  if (!Number.isSafeInteger(pgid) || pgid <= 1) throw new Error(`bad process group "${text}"`);
  return pgid;
}

function nanos(text: string | undefined): bigint {
  if (text === undefined || !/^\d+$/.test(text)) throw new Error(`bad time "${text}"`);
  return BigInt(text);
}

function handle(line: string): string {
  const [verb, ...args] = line.split(' ');
  if (verb === 'ping') return 'pong';
  const pgid = pgidOf(args[0]);
  const guard = guards.get(pgid);
  switch (verb) {
    case 'arm': {
      if (guard !== undefined) throw new Error(`group ${pgid} is already guarded`);
      const armed: Guard = {
        pgid,
        deadline: nanos(args[1]),
        grace: nanos(args[2]),
        state: 'armed',
        supervisorTerminated: false,
        timer: null,
      };
      guards.set(pgid, armed);
      schedule(armed);
      return `armed ${pgid} ${armed.state}`;
    }
    case 'extend': {
      const deadline = nanos(args[1]);
      if (guard !== undefined && guard.state === 'armed' && deadline > guard.deadline) {
        guard.deadline = deadline;
        schedule(guard);
      }
      return `extended ${pgid} ${guard?.state ?? 'unknown'}`;
    }
    case 'stopping':
      if (guard !== undefined && !guard.supervisorTerminated) {
        guard.supervisorTerminated = true;
        schedule(guard);
      }
      return `stopping ${pgid} ${guard?.state ?? 'unknown'}`;
    case 'disarm':
      if (guard !== undefined && guard.timer !== null) clearTimeout(guard.timer);
      guards.delete(pgid);
      return `disarmed ${pgid} ${guard?.state ?? 'unknown'}`;
    default:
      throw new Error(`unknown request "${verb}"`);
  }
}

/** The supervisor is gone (or we are failing): nothing guarded may keep running. */
function killAll(): void {
  for (const guard of guards.values()) signalGroup(guard.pgid, 'SIGKILL');
  guards.clear();
}

process.title = 'leader-elect-watchdog';
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => {});
process.stdout.on('error', () => {
  // The supervisor is gone; stdin's EOF ends us.
});
process.on('uncaughtException', (error) => {
  killAll();
  process.stderr.write(`leader-elect watchdog: ${error.stack ?? error.message}\n`);
  process.exit(70);
});

let buffered = '';
process.stdin.setEncoding('latin1');
process.stdin.on('data', (chunk: string) => {
  buffered += chunk;
  for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
    const line = buffered.slice(0, end);
    buffered = buffered.slice(end + 1);
    let reply: string;
    try {
      reply = handle(line);
    } catch (error) {
      reply = `error ${(error as Error).message}`;
    }
    send(reply);
  }
});
const supervisorGone = () => {
  killAll();
  process.exit(0);
};
process.stdin.on('end', supervisorGone);
process.stdin.on('error', supervisorGone);
send(`ready ${process.pid}`);
