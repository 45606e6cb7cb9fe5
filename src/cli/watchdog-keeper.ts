/**
 * Keeps one live term watchdog for the command supervisor: starts it (before campaigning) and
 * replaces it when it dies (also when it was killed for not answering an `arm`).
 *
 * A death is replaced at once only once in a row (a watchdog that dies as soon as it starts must
 * not make a spawn loop); after that the next term starts one, and steps down if it cannot.
 */
import type { Reporter } from './reporter.js';
import { type ChildExit, exitText } from './supervised-child.js';
import type { TermWatchdog, TermWatchdogOptions, WatchdogFired } from './term-watchdog.js';

export interface WatchdogKeeperOptions {
  readonly start: (options: TermWatchdogOptions) => Promise<TermWatchdog>;
  readonly reporter: Reporter;
  readonly onFired: (fired: WatchdogFired) => void;
  /** Whether a command runs under this watchdog (its death is then reported by the supervisor). */
  readonly guarding: (watchdog: TermWatchdog) => boolean;
}

export class WatchdogKeeper {
  readonly #options: WatchdogKeeperOptions;
  #current: TermWatchdog | null = null;
  #starting: Promise<TermWatchdog> | null = null;
  #replaceEarly = true;
  #closed = false;

  constructor(options: WatchdogKeeperOptions) {
    this.#options = options;
  }

  /** The live watchdog, if any. */
  get current(): TermWatchdog | null {
    return this.#current?.alive === true ? this.#current : null;
  }

  /** The live watchdog, starting one if there is none; rejects if it cannot be started. */
  ready(): Promise<TermWatchdog> {
    const current = this.current;
    if (current !== null) return Promise.resolve(current);
    if (this.#starting !== null) return this.#starting;
    const starting = this.#options
      .start({ onFired: (fired) => this.#options.onFired(fired) })
      .then((watchdog) => {
        this.#current = watchdog;
        void watchdog.exited.then((exit) => this.#exited(watchdog, exit));
        return watchdog;
      });
    this.#starting = starting;
    const clear = () => {
      if (this.#starting === starting) this.#starting = null;
    };
    starting.then(clear, clear);
    return starting;
  }

  /** A command runs guarded: a later death may be replaced at once again. */
  guarded(): void {
    this.#replaceEarly = true;
  }

  /** Ends the watchdog for good (nothing is guarded any more). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#starting?.catch(() => undefined);
    await this.#current?.close();
  }

  #exited(watchdog: TermWatchdog, exit: ChildExit): void {
    if (this.#current !== watchdog) return;
    this.#current = null;
    if (this.#closed) return;
    if (!this.#options.guarding(watchdog)) {
      this.#warn(
        `the watchdog process ${watchdog.pid} died (${exitText(exit)}); starting a new one`,
      );
    }
    if (this.#replaceEarly) {
      this.#replaceEarly = false;
      this.ready().catch(() => {
        // The next term tries again, and steps down if it cannot.
      });
    }
  }

  #warn(message: string): void {
    this.#options.reporter.event('warning', { message }, `warning: ${message}`);
  }
}
