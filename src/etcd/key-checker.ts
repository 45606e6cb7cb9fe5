/**
 * Batched existence checks: "what is the create revision of key K now?" for many elections of
 * one client, answered by one transaction of range requests per batch instead of one request per
 * key. A leader renews by keepalive and trusts a watch on its own key to learn of its deletion;
 * until that watch is live and complete, each renewal must read the key. A process with
 * thousands of elections starting at once would otherwise send thousands of reads per second
 * while etcd is still creating their watches.
 *
 * Checks asked for in the same turn of the event loop go out together, at most
 * {@link MAX_KEYS_PER_TXN} per transaction (etcd's --max-txn-ops defaults to 128), in the
 * request gate's urgent lane. A read transaction is linearizable, like a plain range.
 */
import { setMaxListeners } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { raceAbort, scopedSignal } from '../abort.js';
import { type Clock, systemClock } from '../clock.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import type { CallOptions } from './grpc-call.js';
import type { Lane } from './request-gate.js';

export const MAX_KEYS_PER_TXN = 64;

type Unary = <T>(
  call: (options: CallOptions) => Promise<T>,
  signal: AbortSignal,
  timeoutMs: number,
  lane?: Lane,
) => Promise<T>;

interface Check {
  readonly key: Buffer;
  readonly resolve: (createRevision: bigint | null) => void;
  readonly reject: (error: unknown) => void;
}

export class KeyChecker {
  readonly #client: Etcd3;
  readonly #unary: Unary;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #closing = new AbortController();
  #batch: Check[] = [];
  #scheduled = false;

  constructor(client: Etcd3, unary: Unary, timeoutMs: number, clock: Clock = systemClock) {
    this.#client = client;
    this.#unary = unary;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
    // Every batch in flight links its signal to this one and unlinks when it settles: 10,000
    // elections starting at once keep about 160 batches in flight, and Node's leak warning at
    // 11 listeners was noise in their process (seen in the scale benchmark), not a leak.
    setMaxListeners(0, this.#closing.signal);
  }

  /**
   * The key's create revision, or null if it does not exist, as of a read sent after this call.
   * Without `signal` the check is bounded by the request timeout and the client's release only.
   */
  createRevision(key: Buffer, signal?: AbortSignal): Promise<bigint | null> {
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    const answer = new Promise<bigint | null>((resolve, reject) => {
      this.#batch.push({ key, resolve, reject });
    });
    if (!this.#scheduled) {
      // The checks of this turn of the event loop go out together (setImmediate: a turn, not a time).
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return signal === undefined ? answer : raceAbort(answer, signal);
  }

  /** Fails checks still waiting; later ones fail at once. */
  close(): void {
    this.#closing.abort(new Error('the etcd client resources were released'));
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#batch;
    this.#batch = [];
    for (let i = 0; i < batch.length; i += MAX_KEYS_PER_TXN) {
      this.#send(batch.slice(i, i + MAX_KEYS_PER_TXN));
    }
  }

  #send(checks: readonly Check[]): void {
    const scope = scopedSignal(this.#closing.signal, {
      ms: this.#timeoutMs,
      clock: this.#clock,
      reason: () =>
        new LeaderElectError(
          ErrorCode.BackendTimeout,
          `etcd did not answer a key check within ${this.#timeoutMs} ms`,
        ),
    });
    const signal = scope.signal;
    this.#unary(
      (options) =>
        this.#client.kv.txn(
          {
            compare: [],
            success: checks.map((check) => ({
              request_range: { key: check.key, keys_only: true },
            })),
            failure: [],
          },
          options,
        ),
      signal,
      this.#timeoutMs,
      'urgent',
    ).then(
      (response) => {
        scope.dispose();
        checks.forEach((check, i) => {
          const kv = response.responses[i]?.response_range?.kvs[0];
          check.resolve(kv === undefined ? null : BigInt(kv.create_revision));
        });
      },
      (error: unknown) => {
        scope.dispose();
        for (const check of checks) check.reject(error);
      },
    );
  }
}
