/**
 * The watch: one dedicated connection per store that LISTENs on the table's channel and fans
 * notifications out to the elections watched through it. When the connection fails it reports
 * `down` (electors poll meanwhile), reconnects with jittered exponential backoff, re-reads every
 * watched row (so a version written while it was down is reported), and reports `up`. A probe
 * (`SELECT 1`) every `probeIntervalMs` finds a connection that died silently (a partition).
 */

import type { WatchHandle } from '../backend/lease-backend.js';
import type { RecordWatchEvent, StoredRecord } from '../backend/record-store.js';
import { ErrorCode, LeaderElectError } from '../errors.js';
import { type PgRequestContext, toPgError } from './pg-errors.js';
import type { PgNotification, PgPool, PgPoolClient } from './pg-types.js';
import { rowToRecord } from './row.js';

export interface NotifyListenerOptions {
  readonly pool: PgPool;
  readonly channel: string;
  readonly context: Omit<PgRequestContext, 'operation'>;
  /** Reads one row, for re-reads after a reconnect and for notifications without the row. */
  readonly read: (name: string, signal: AbortSignal) => Promise<StoredRecord | null>;
  readonly timeoutMs: () => number;
  readonly probeIntervalMs: () => number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

type Listener = (event: RecordWatchEvent) => void;

const DEFAULT_BACKOFF = { initialMs: 100, maxMs: 5_000 };

export class NotifyListener {
  readonly #options: NotifyListenerOptions;
  readonly #subscriptions = new Map<string, Set<Listener>>();
  /** Highest version reported per election (versions come from one sequence). */
  readonly #reported = new Map<string, bigint | null>();
  #running = false;
  #up = false;
  #closed = false;
  #failures = 0;
  /** Ends the current connection's wait (failure, probe failure, no subscribers, close). */
  #breakConnection: ((error?: unknown) => void) | null = null;
  #wake: (() => void) | null = null;
  #sleepTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: NotifyListenerOptions) {
    this.#options = options;
  }

  subscribe(name: string, listener: Listener): WatchHandle {
    let set = this.#subscriptions.get(name);
    if (set === undefined) {
      set = new Set();
      this.#subscriptions.set(name, set);
    }
    set.add(listener);
    let open = true;
    if (this.#up) {
      queueMicrotask(() => {
        if (open && this.#up) listener({ type: 'up' });
      });
    }
    this.#ensureRunning();
    return {
      close: () => {
        if (!open) return;
        open = false;
        const current = this.#subscriptions.get(name);
        current?.delete(listener);
        if (current !== undefined && current.size === 0) {
          this.#subscriptions.delete(name);
          this.#reported.delete(name);
        }
        if (this.#subscriptions.size === 0) this.#stopConnection();
      },
    };
  }

  /** Stops for good: no reconnects. */
  close(): void {
    this.#closed = true;
    this.#stopConnection();
  }

  #stopConnection(): void {
    this.#breakConnection?.();
    this.#wake?.();
  }

  #ensureRunning(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    void this.#loop().finally(() => {
      this.#running = false;
      // A subscription made while the loop was winding down.
      if (!this.#closed && this.#subscriptions.size > 0) this.#ensureRunning();
    });
  }

  async #loop(): Promise<void> {
    while (!this.#closed && this.#subscriptions.size > 0) {
      let failure: unknown;
      try {
        failure = await this.#connectAndListen();
      } catch (error) {
        failure = error;
      }
      if (this.#closed || this.#subscriptions.size === 0) break;
      if (this.#up || this.#failures === 0) this.#emitAll({ type: 'down', error: failure });
      this.#up = false;
      this.#failures++;
      await this.#sleep(this.#nextDelay());
    }
    this.#up = false;
  }

  /** One connection's life; resolves with the reason it ended. */
  async #connectAndListen(): Promise<unknown> {
    const { pool, channel } = this.#options;
    const timeoutMs = this.#options.timeoutMs();
    let client: PgPoolClient;
    const connecting = pool.connect();
    try {
      client = await withTimeout(connecting, timeoutMs, () => this.#timeout('connect'));
    } catch (error) {
      connecting.then(
        (late) => late.release(true),
        () => undefined,
      );
      throw toPgError(error, this.#context('connect for LISTEN'));
    }
    let ended: (error?: unknown) => void = () => undefined;
    const brokenPromise = new Promise<unknown>((resolve) => {
      ended = resolve;
    });
    this.#breakConnection = ended;
    const onError = (error: Error) => ended(toPgError(error, this.#context('listen')));
    const onEnd = () => ended(this.#unavailable('the LISTEN connection ended'));
    const onNotification = (message: PgNotification) => this.#onNotification(message);
    client.on('error', onError);
    client.on('end', onEnd);
    client.on('notification', onNotification);
    let probe: ReturnType<typeof setInterval> | null = null;
    try {
      await withTimeout(client.query(`LISTEN "${channel}"`), timeoutMs, () =>
        this.#timeout('LISTEN'),
      );
      // Re-read what changed while we were not listening, then report up.
      for (const name of [...this.#subscriptions.keys()]) {
        const record = await this.#options.read(name, AbortSignal.timeout(timeoutMs));
        this.#deliver(name, record);
      }
      if (this.#closed || this.#subscriptions.size === 0) return undefined;
      this.#up = true;
      this.#failures = 0;
      this.#emitAll({ type: 'up' });
      let probing = false;
      probe = setInterval(() => {
        if (probing) return;
        probing = true;
        withTimeout(client.query('SELECT 1'), this.#options.timeoutMs(), () =>
          this.#timeout('probe'),
        )
          .catch((error: unknown) =>
            ended(toPgError(error, this.#context('probe the LISTEN connection'))),
          )
          .finally(() => {
            probing = false;
          });
      }, this.#options.probeIntervalMs());
      probe.unref?.();
      return await brokenPromise;
    } catch (error) {
      return toPgError(error, this.#context('listen'));
    } finally {
      if (probe !== null) clearInterval(probe);
      this.#breakConnection = null;
      client.removeListener('notification', onNotification);
      client.removeListener('end', onEnd);
      // Never back to the pool: it is LISTENing. The pool discards a destroyed client, which
      // keeps a listener: a late 'error' from its socket must not go unheard.
      client.removeListener('error', onError);
      client.on('error', () => undefined);
      client.release(true);
    }
  }

  #onNotification(message: PgNotification): void {
    if (message.channel !== this.#options.channel || message.payload === undefined) return;
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(message.payload) as Record<string, unknown>;
    } catch {
      return; // not ours (someone else NOTIFYing on the channel)
    }
    const name = payload.name;
    if (typeof name !== 'string' || !this.#subscriptions.has(name)) return;
    if (payload.deleted === true) {
      this.#deliver(name, null);
      return;
    }
    if ('holder_identity' in payload) {
      this.#deliver(name, rowToRecord(payload));
      return;
    }
    // Too large for a notification: read the row.
    void this.#options
      .read(name, AbortSignal.timeout(this.#options.timeoutMs()))
      .then((record) => this.#deliver(name, record))
      .catch(() => this.#breakConnection?.(this.#unavailable('re-reading a changed row failed')));
  }

  #deliver(name: string, record: StoredRecord | null): void {
    const set = this.#subscriptions.get(name);
    if (set === undefined) return;
    const version = record === null ? null : BigInt(record.version);
    const last = this.#reported.get(name);
    if (last !== undefined) {
      if (version === null && last === null) return;
      // An older version than one already reported (a notification racing a re-read).
      if (version !== null && last !== null && version <= last) return;
    }
    this.#reported.set(name, version);
    for (const listener of [...set]) listener({ type: 'record', record });
  }

  #emitAll(event: RecordWatchEvent): void {
    for (const set of [...this.#subscriptions.values()]) {
      for (const listener of [...set]) listener(event);
    }
  }

  #context(operation: string): PgRequestContext {
    return { ...this.#options.context, operation };
  }

  #timeout(what: string): LeaderElectError {
    return this.#unavailable(`${what} got no answer within ${this.#options.timeoutMs()} ms`);
  }

  #unavailable(message: string): LeaderElectError {
    return new LeaderElectError(
      ErrorCode.BackendUnavailable,
      `watch on ${this.#options.context.target} at ${this.#options.context.server}: ${message}`,
    );
  }

  #nextDelay(): number {
    const { initialMs, maxMs } = this.#options.backoff ?? DEFAULT_BACKOFF;
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.#failures - 1, 20));
    return base * (0.8 + Math.random() * 0.4);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        if (this.#sleepTimer !== null) clearTimeout(this.#sleepTimer);
        this.#sleepTimer = null;
        this.#wake = null;
        resolve();
      };
      this.#wake = done;
      this.#sleepTimer = setTimeout(done, ms);
    });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, error: () => unknown): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    if (timer !== null) clearTimeout(timer);
  });
}
