/**
 * Runs the programs of examples/ as a user would (`node examples/x.mjs`, importing the built
 * package by its name) and waits on what they print.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

interface Waiter {
  readonly pattern: RegExp;
  readonly from: number;
  readonly resolve: (match: RegExpMatchArray) => void;
}

/** A running example: its output line by line, and promises on lines to come. */
export class ExampleProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #partial = '';
  #waiters = new Set<Waiter>();

  constructor(
    readonly name: string,
    example: string,
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, [`${EXAMPLES}${example}`], {
      cwd: EXAMPLES,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.#onOutput(chunk));
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  /** Lines printed so far that match `pattern`. */
  matching(pattern: RegExp): RegExpMatchArray[] {
    return this.lines.map((line) => line.match(pattern)).filter((m) => m !== null);
  }

  /**
   * The first line matching `pattern` (from line index `from` on), as soon as it is printed.
   * Rejects after `timeoutMs` or when the process exits first, with what it printed.
   */
  waitForLine(pattern: RegExp, timeoutMs = 20_000, from = 0): Promise<RegExpMatchArray> {
    const already = this.lines.slice(from).find((line) => pattern.test(line));
    if (already !== undefined) return Promise.resolve(already.match(pattern)!);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        this.#waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`${this.name}: ${why} waiting for ${pattern}\n${this.transcript()}`));
      };
      const waiter: Waiter = {
        pattern,
        from,
        resolve: (match) => {
          this.#waiters.delete(waiter);
          clearTimeout(timer);
          resolve(match);
        },
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      this.#waiters.add(waiter);
      void this.exited.then(({ code, signal }) => {
        if (this.#waiters.has(waiter)) fail(`exited (${code ?? signal})`);
      });
    });
  }

  /** Resolves with the exit; SIGKILLs it (and fails) if it does not exit within `timeoutMs`. */
  async exit(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    const result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (result === null) {
      this.child.kill('SIGKILL');
      throw new Error(`${this.name} did not exit within ${timeoutMs} ms\n${this.transcript()}`);
    }
    return result;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  transcript(): string {
    return `--- ${this.name} stdout\n${this.lines.join('\n')}\n--- ${this.name} stderr\n${this.stderr}`;
  }

  #onOutput(chunk: string): void {
    const parts = (this.#partial + chunk).split('\n');
    this.#partial = parts.pop() ?? '';
    for (const line of parts) {
      const index = this.lines.push(line) - 1;
      for (const waiter of [...this.#waiters]) {
        const match = index >= waiter.from ? line.match(waiter.pattern) : null;
        if (match !== null) waiter.resolve(match);
      }
    }
  }
}

/** Starts examples and SIGKILLs whatever is still running at the end of a test. */
export class ExampleGroup {
  readonly #running: ExampleProcess[] = [];

  start(name: string, example: string, env: Record<string, string>): ExampleProcess {
    const proc = new ExampleProcess(name, example, env);
    this.#running.push(proc);
    return proc;
  }

  async killAll(): Promise<void> {
    for (const proc of this.#running.splice(0)) {
      proc.kill('SIGKILL');
      await proc.exited;
    }
  }
}
