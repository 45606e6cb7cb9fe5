export const POSTGRES_MAJOR: number;
export const POSTGRES_BIN: string;
export const ADMIN_USER: string;

export interface PostgresServer {
  readonly dir: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** Superuser connection string (password included). */
  readonly url: string;
  urlFor(user: string, password?: string, database?: string): string;
  start(): Promise<void>;
  /** Signal to the postmaster by PID; resolves after exit (at once for SIGSTOP/SIGCONT). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Fast shutdown (SIGINT). */
  shutdown(): Promise<void>;
  restart(): Promise<void>;
  killNow(): void;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  log(): string;
}

export interface StartPostgresOptions {
  settings?: Record<string, string | number>;
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

export function freePort(): Promise<number>;
export function startPostgres(options?: StartPostgresOptions): Promise<PostgresServer>;
