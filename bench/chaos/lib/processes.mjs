/**
 * Every process the chaos run starts goes through `spawnTracked`, which
 *
 * - runs it under `setpriv --pdeathsig KILL` (the kernel kills it if the harness dies, even by
 *   SIGKILL) and in its own process group (`detached`), so a kill of the group reaches its helpers;
 * - remembers its PID until it exits, plus any PIDs it reports as its own children
 *   (`adopt(pid)`: a `leader-elect run` child lives in its own session, out of the group);
 * - is SIGKILLed with its group and adoptees by `killAll()`, which the harness calls at the end,
 *   on SIGINT/SIGTERM and on errors, and synchronously on 'exit'.
 *
 * Processes are stopped by PID only, never by name.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((path) => existsSync(path));

/** pid → { child, label } of every live process we started. */
const live = new Map();
/** PIDs our processes reported as their children (killed too, if still there). */
const adopted = new Set();

function killPid(pid, signal) {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL of everything we started (group, then pid) and of the adopted PIDs. Synchronous. */
export function killAll() {
  for (const [pid] of live) {
    killPid(-pid, 'SIGKILL');
    killPid(pid, 'SIGKILL');
  }
  for (const pid of adopted) killPid(pid, 'SIGKILL');
  adopted.clear();
}

process.on('exit', killAll);

/**
 * @param {string} command
 * @param {string[]} args
 * @param {{label: string, env?: Record<string, string>, stdio?: any, cwd?: string}} options
 */
export function spawnTracked(
  command,
  args,
  { label, env, stdio = ['ignore', 'pipe', 'pipe'], cwd },
) {
  const [file, argv] = SETPRIV
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]]
    : [command, args];
  const child = spawn(file, argv, { stdio, env: env ?? process.env, cwd, detached: true });
  if (child.pid !== undefined) live.set(child.pid, { child, label });
  const pid = child.pid;
  child.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(pid);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      live.delete(pid);
      resolve({ code: null, signal: null, error });
    });
  });
  return child;
}

/** Records a PID started by one of our processes (outside its group) for cleanup. */
export function adopt(pid) {
  if (Number.isInteger(pid) && pid > 0) adopted.add(pid);
}

/** Forgets an adopted PID once it is known to be gone. */
export function release(pid) {
  adopted.delete(pid);
}

/** Sends a signal to one PID (not its group). False if it is gone. */
export function signalPid(pid, signal) {
  return pid !== undefined && killPid(pid, signal);
}

/** Live processes we started, for the end-of-run check. */
export function liveProcesses() {
  return [...live].map(([pid, { label }]) => ({ pid, label }));
}

/** Adopted PIDs that still exist (signal 0 probes without killing). */
export function liveAdopted() {
  return [...adopted].filter((pid) => killPid(pid, 0));
}

/** SIGCONT + SIGKILL of the process and its group; resolves when it exited (bounded). */
export async function killProcess(child, timeoutMs = 5_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  killPid(-child.pid, 'SIGCONT');
  killPid(-child.pid, 'SIGKILL');
  killPid(child.pid, 'SIGKILL');
  await Promise.race([child.exited, new Promise((r) => setTimeout(r, timeoutMs))]);
}
