/**
 * `run` must fail fast, with one line and exit code 3, when the backend cannot be used: nothing
 * is learned by campaigning forever against a wrong endpoint. The elector itself is the probe
 * (so it works for every backend, with or without `inspect()`): its first observation of the
 * lease (a leader, or none) confirms the backend; credentials, permission and TLS errors before
 * that fail at once (and a missing PostgreSQL table); other errors fail when the connect timeout passes without a confirmation.
 */
import { isLeaderElectError } from '../index.js';

const FATAL_AT_STARTUP: ReadonlySet<string> = new Set([
  'LE_AUTH_FAILED',
  'LE_PERMISSION_DENIED',
  'LE_TLS_ERROR',
  'LE_SCHEMA_MISSING',
  'LE_INVALID_NAME',
  'LE_INVALID_OPTION',
]);

export class StartupCheck {
  readonly #onFailed: (error: unknown) => void;
  #timer: ReturnType<typeof setTimeout> | null;
  #state: 'waiting' | 'confirmed' | 'failed' = 'waiting';
  #lastError: unknown = null;

  constructor(timeoutMs: number, onFailed: (error: unknown) => void) {
    this.#onFailed = onFailed;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#fail(this.#lastError ?? new Error(`no answer within ${Math.round(timeoutMs)} ms`));
    }, timeoutMs);
  }

  /** True once the backend answered. */
  get confirmed(): boolean {
    return this.#state === 'confirmed';
  }

  /** The backend answered: true the first time. */
  confirm(): boolean {
    if (this.#state !== 'waiting') return false;
    this.#state = 'confirmed';
    this.#clear();
    return true;
  }

  /** An error before the confirmation; false when the check is over (report it normally). */
  error(error: unknown): boolean {
    if (this.#state !== 'waiting') return false;
    this.#lastError = error;
    if (isLeaderElectError(error) && FATAL_AT_STARTUP.has(error.code)) this.#fail(error);
    return true;
  }

  cancel(): void {
    if (this.#state === 'waiting') this.#state = 'failed';
    this.#clear();
  }

  #fail(error: unknown): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'failed';
    this.#clear();
    this.#onFailed(error);
  }

  #clear(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
