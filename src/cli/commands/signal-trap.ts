import type { CliIo } from './io.js';

const TRAPPED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** SIGTERM, SIGINT and SIGHUP, counted, while a command runs. */
export class SignalTrap {
  readonly #io: CliIo;
  #handler: ((signal: NodeJS.Signals) => void) | null = null;
  #count = 0;

  constructor(io: CliIo) {
    this.#io = io;
  }

  install(onSignal: (signal: NodeJS.Signals, count: number) => void): void {
    this.#handler = (signal) => onSignal(signal, ++this.#count);
    for (const signal of TRAPPED) this.#io.process.on(signal, this.#handler);
  }

  remove(): void {
    if (this.#handler === null) return;
    for (const signal of TRAPPED) this.#io.process.off(signal, this.#handler);
    this.#handler = null;
  }
}
