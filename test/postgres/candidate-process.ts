/**
 * Runs test/postgres/fixtures/candidate.mjs (a leader-elect PostgreSQL candidate) as a child
 * process and reads its JSON lines. Every wait is bounded; children are SIGKILLed (by PID) when
 * the test process exits.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'candidate.mjs');

export interface CandidateEvent {
  readonly event: string;
  readonly t_ms: number;
  readonly [field: string]: unknown;
}

export interface CandidateConfig {
  readonly url: string;
  readonly table: string;
  readonly election: string;
  readonly identity: string;
  readonly writesTable: string;
  readonly leaseDuration?: number;
  readonly renewDeadline?: number;
  readonly retryPeriod?: number;
  readonly pauseThresholdMs?: number;
}

const live = new Set<ChildProcessWithoutNullStreams>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class CandidateProcess {
  readonly events: CandidateEvent[] = [];
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stderr = '';
  #closed = false;
  readonly #waiters = new Set<() => void>();

  constructor(readonly config: CandidateConfig) {
    this.child = spawn(process.execPath, [FIXTURE, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(this.child);
    this.child.stdin.on('error', () => undefined);
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-8000);
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as CandidateEvent);
      } catch {
        this.events.push({ event: 'unparsed', t_ms: 0, line });
      }
      for (const waiter of [...this.#waiters]) waiter();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.#closed = true;
        live.delete(this.child);
        resolve({ code, signal });
        for (const waiter of [...this.#waiters]) waiter();
      });
    });
  }

  get running(): boolean {
    return !this.#closed;
  }

  get mark(): number {
    return this.events.length;
  }

  send(command: string): void {
    if (this.child.stdin.writable) this.child.stdin.write(`${command}\n`);
  }

  /** The first event (at index ≥ from) matching `predicate`, within `timeoutMs`. */
  waitFor(
    predicate: (event: CandidateEvent) => boolean,
    what: string,
    timeoutMs = 20_000,
    from = 0,
  ): Promise<CandidateEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.events.slice(from).find(predicate);
        if (hit !== undefined) return finish(() => resolve(hit));
        if (this.#closed) {
          return finish(() =>
            reject(
              new Error(`candidate ${this.config.identity} exited before ${what}\n${this.dump()}`),
            ),
          );
        }
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(
                `timed out after ${timeoutMs} ms waiting for ${what} from ${this.config.identity}\n${this.dump()}`,
              ),
            ),
          ),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Sends `signal` (default SIGKILL) by PID and waits (≤ 5 s, then SIGKILL) for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGCONT');
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }

  dump(): string {
    return `events:\n${this.events.map((e) => JSON.stringify(e)).join('\n')}\nstderr:\n${this.#stderr}`;
  }
}
