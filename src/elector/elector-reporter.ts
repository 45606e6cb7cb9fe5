/**
 * How the elector tells its user what happened without ever letting the user's code break it:
 * callbacks and event listeners that throw or reject are reported as `LE_CALLBACK_FAILED`, and
 * errors reach the `error` event, de-duplicated (the same code and message twice in a row is one
 * report: a backend that is down does not flood the listener).
 *
 * No error is silent: without an `error` listener (eventemitter3, unlike Node's emitter, does not
 * throw then), each distinct error is written once as a process warning with its code, the way
 * Node reports deprecations. "Distinct" ignores the numbers in the message (durations, counts),
 * so a backend that stays down is one warning, not one per attempt.
 */
import type { EventEmitter } from 'eventemitter3';
import {
  ErrorCode,
  isLeaderElectError,
  type LeaderElectError,
  toLeaderElectError,
} from '../errors.js';
import type { ElectorEvents } from './events.js';

/** Distinct warnings written per elector, at most (a misbehaving backend cannot flood stderr). */
const MAX_WARNINGS = 50;

type Events<Fence> = ElectorEvents<Fence>;
type Args<Fence, E extends keyof Events<Fence>> = EventEmitter.ArgumentMap<Events<Fence>>[Extract<
  E,
  keyof Events<Fence>
>];

export class ElectorReporter<Fence> {
  readonly #emitter: EventEmitter<Events<Fence>>;
  readonly #name: string;
  #lastErrorKey: string | null = null;
  /** Errors already written as process warnings (no listener). Created on first use. */
  #warned: Set<string> | null = null;

  constructor(emitter: EventEmitter<Events<Fence>>, name: string) {
    this.#emitter = emitter;
    this.#name = name;
  }

  /** Reports `error` unless it repeats the last one. */
  error(error: LeaderElectError): void {
    const key = `${error.code}:${error.message}`;
    if (key === this.#lastErrorKey) return;
    this.#lastErrorKey = key;
    if (!isLeaderElectError(error)) return;
    if (this.#emitter.listenerCount('error') === 0) {
      this.#warn(error);
      return;
    }
    try {
      this.#emitter.emit('error', error);
    } catch {
      // A throwing error listener must not break the elector.
    }
  }

  #warn(error: LeaderElectError): void {
    const distinct = `${error.code}:${error.message.replace(/\d+(\.\d+)?/g, '#')}`;
    this.#warned ??= new Set();
    if (this.#warned.has(distinct) || this.#warned.size >= MAX_WARNINGS) return;
    this.#warned.add(distinct);
    try {
      process.emitWarning(
        `${this.#name}: ${error.message} (add an 'error' listener to handle it)`,
        {
          type: 'LeaderElectWarning',
          code: error.code,
        },
      );
    } catch {
      // never let reporting break the elector
    }
  }

  /** Things went well again: the next error is reported even if it repeats the last one. */
  recovered(): void {
    this.#lastErrorKey = null;
  }

  /** Whether anyone listens to `event` (to skip building an event nobody receives). */
  listens(event: keyof Events<Fence>): boolean {
    return this.#emitter.listenerCount(event) > 0;
  }

  /** Emits to user listeners; a throwing listener is reported, never propagated. */
  emit<E extends Exclude<keyof Events<Fence>, 'error'>>(event: E, ...args: Args<Fence, E>): void {
    try {
      this.#emitter.emit(event, ...args);
    } catch (error) {
      this.error(
        toLeaderElectError(
          error,
          ErrorCode.CallbackFailed,
          `a "${String(event)}" listener of "${this.#name}" threw`,
        ),
      );
    }
  }

  /** Calls a user callback; a throw or a rejection is reported. */
  callback(name: string, invoke: () => unknown): void {
    try {
      const result = invoke();
      if (result instanceof Promise) {
        result.catch((error: unknown) => this.#callbackFailed(name, error));
      }
    } catch (error) {
      this.#callbackFailed(name, error);
    }
  }

  #callbackFailed(name: string, error: unknown): void {
    this.error(
      toLeaderElectError(error, ErrorCode.CallbackFailed, `${name} of "${this.#name}" failed`),
    );
  }
}
