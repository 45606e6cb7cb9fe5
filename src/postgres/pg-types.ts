/**
 * The parts of node-postgres (`pg` 8.x) this backend uses, as structural types: a `pg.Pool`
 * fits them, and so our published types do not require `@types/pg`.
 */

export interface PgQueryResult {
  readonly rows: readonly Record<string, unknown>[];
  readonly rowCount: number | null;
}

export interface PgNotification {
  readonly channel: string;
  readonly payload?: string | undefined;
  readonly processId: number;
}

/** A connection checked out of a pool (`pg.PoolClient`). */
export interface PgPoolClient {
  query(text: string, values?: readonly unknown[]): Promise<PgQueryResult>;
  /** Returns the connection to its pool; a truthy argument destroys it instead. */
  release(destroy?: boolean | Error): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'notification', listener: (message: PgNotification) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: node-postgres's own signature (EventEmitter).
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
}

/** A `pg.Pool` (or anything with the same connect / query / end). */
export interface PgPool {
  connect(): Promise<PgPoolClient>;
  query(text: string, values?: readonly unknown[]): Promise<PgQueryResult>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error, client: never) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: node-postgres's own signature (EventEmitter).
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
}
