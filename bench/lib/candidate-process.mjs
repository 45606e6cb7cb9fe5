/**
 * A candidate under test, run as a child process. Every implementation (ours and each peer) is
 * driven through this one class, so the harness overhead is identical for all of them: the
 * harness stamps each stdout line with its own clock (`performance.now()`) the moment the chunk
 * arrives, and stamps each command or signal the moment it sends it.
 *
 * Lines are turned into normalized events by the implementation's `parse(line)`:
 *   { type: 'started' | 'elected' | 'lost' | 'stepped-down' | 'ready' | 'info', ... }
 * plus { type: 'exited', code, signal } when the process ends.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Every live candidate; SIGKILLed if the harness exits, however it exits (see also pdeathsig). */
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

// setpriv --pdeathsig KILL: the kernel kills the candidate if the harness dies (even by SIGKILL).
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

export class CandidateProcess {
  /** @type {Array<{type: string, t: number, [k: string]: unknown}>} */
  events = [];
  #waiters = new Set();
  #child;
  #stderr = '';
  #exited;
  #closed = false;
  #partial = '';

  /**
   * @param {object} o
   * @param {string} o.label       for messages
   * @param {string} o.command
   * @param {string[]} o.args
   * @param {Record<string, string>} [o.env]
   * @param {(line: string) => object | null} o.parse  line → normalized event (without t)
   * @param {(line: string) => object | null} [o.parseStderr]  the same for stderr lines (a
   *        program that reports its state there, e.g. `leader-elect watch`'s watch-up)
   */
  constructor({ label, command, args, env, parse, parseStderr }) {
    this.label = label;
    this.spawnedAt = performance.now();
    const [file, argv] = SETPRIV
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', command, ...args]]
      : [command, args];
    this.#child = spawn(file, argv, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    live.add(this.#child);
    this.pid = this.#child.pid;
    this.#child.stdin.on('error', () => {});
    this.#child.stdout.on('data', (chunk) => {
      const t = performance.now();
      const lines = (this.#partial + chunk.toString('utf8')).split('\n');
      this.#partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        const event = parse(line);
        if (event) this.#push({ ...event, t });
      }
    });
    let stderrPartial = '';
    this.#child.stderr.on('data', (chunk) => {
      const t = performance.now();
      const text = chunk.toString('utf8');
      this.#stderr = (this.#stderr + text).slice(-8_000);
      if (!parseStderr) return;
      const lines = (stderrPartial + text).split('\n');
      stderrPartial = lines.pop() ?? '';
      for (const line of lines) {
        const event = line.trim() === '' ? null : parseStderr(line);
        if (event) this.#push({ ...event, t, stderr: true });
      }
    });
    this.#exited = new Promise((resolve) => {
      this.#child.once('close', (code, signal) => {
        this.#closed = true;
        live.delete(this.#child);
        this.#push({ type: 'exited', code, signal, t: performance.now() });
        resolve({ code, signal });
      });
      this.#child.once('error', (error) => {
        this.#stderr += `\nspawn error: ${error.message}`;
      });
    });
  }

  get running() {
    return !this.#closed;
  }

  get stderr() {
    return this.#stderr;
  }

  get exited() {
    return this.#exited;
  }

  #push(event) {
    this.events.push(event);
    for (const check of [...this.#waiters]) check();
  }

  /** Writes one command line; returns the harness time it was written. */
  send(command) {
    const t = performance.now();
    if (this.#child.stdin.writable) this.#child.stdin.write(`${command}\n`);
    return t;
  }

  /** Sends a signal; returns the harness time it was sent. */
  signal(name) {
    const t = performance.now();
    if (!this.#closed) {
      try {
        this.#child.kill(name);
      } catch {
        // already gone
      }
    }
    return t;
  }

  /** Index to pass as `from` so that only events after now are considered. */
  get mark() {
    return this.events.length;
  }

  /** The last event of a type (or matching a predicate), or undefined. */
  last(match) {
    const pred = typeof match === 'function' ? match : (e) => e.type === match;
    for (let i = this.events.length - 1; i >= 0; i--)
      if (pred(this.events[i])) return this.events[i];
    return undefined;
  }

  /**
   * Resolves with the first event (at index ≥ from) matching `match` (a type or a predicate).
   * Rejects after timeoutMs, or when the process exits first (unless waiting for 'exited').
   */
  waitFor(match, { timeoutMs = 10_000, from = 0 } = {}) {
    const pred = typeof match === 'function' ? match : (e) => e.type === match;
    return new Promise((resolve, reject) => {
      const finish = (fn) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        fn();
      };
      const check = () => {
        for (let i = from; i < this.events.length; i++) {
          if (pred(this.events[i])) return finish(() => resolve(this.events[i]));
        }
        if (this.#closed) {
          finish(() =>
            reject(new Error(`${this.label} exited before the awaited event${this.#tail()}`)),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(`${this.label}: no awaited event within ${timeoutMs} ms${this.#tail()}`),
            ),
          ),
        timeoutMs,
      );
      this.#waiters.add(check);
      check();
    });
  }

  #tail() {
    const events = this.events
      .slice(-8)
      .map((e) => JSON.stringify(e))
      .join('\n  ');
    const err = this.#stderr.trim().split('\n').slice(-6).join('\n  ');
    return `\n  last events:\n  ${events}${err ? `\n  stderr tail:\n  ${err}` : ''}`;
  }

  /** SIGCONT + SIGKILL and wait for the exit (bounded). */
  async kill() {
    if (this.#closed) return;
    this.signal('SIGCONT');
    this.signal('SIGKILL');
    await Promise.race([this.#exited, new Promise((r) => setTimeout(r, 5_000))]);
  }

  /** Asks politely (command or signal), then SIGKILL after graceMs. */
  async stop({ command, signal = 'SIGTERM', graceMs = 3_000 } = {}) {
    if (this.#closed) return;
    this.signal('SIGCONT');
    if (command) this.send(command);
    else this.signal(signal);
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await Promise.race([this.#exited, new Promise((r) => setTimeout(r, graceMs + 5_000))]);
    clearTimeout(timer);
  }
}

/** Parses a JSON line, or returns null for anything else (log noise on stdout). */
export function parseJsonLine(line) {
  try {
    const value = JSON.parse(line);
    return value !== null && typeof value === 'object' ? value : null;
  } catch {
    return null;
  }
}
