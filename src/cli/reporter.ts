/**
 * One line per event: `<ISO time> [leader-elect] <text>` for humans, or a JSON object per line
 * (`{"time", "event", ...fields}`) with `--json`. Fencing tokens are bigints and are written as
 * decimal strings so that no JSON parser rounds them.
 */
import type { Writable } from 'node:stream';

export type EventFields = Readonly<Record<string, unknown>>;

export interface Reporter {
  /** One event: `text` for humans, `event` and `fields` for machines. */
  event(event: string, fields: EventFields, text: string): void;
}

export interface ReporterOptions {
  readonly json: boolean;
  readonly stream: Writable;
  /** Wall clock for the time stamps. @default Date.now */
  readonly now?: () => number;
  /** Prefix of human lines. @default `[leader-elect]` */
  readonly prefix?: string;
}

export function createReporter(options: ReporterOptions): Reporter {
  const now = options.now ?? Date.now;
  const prefix = options.prefix ?? '[leader-elect]';
  return {
    event(event, fields, text) {
      const time = new Date(now()).toISOString();
      const line = options.json
        ? JSON.stringify({ time, event, ...fields }, jsonValue)
        : `${time} ${prefix === '' ? '' : `${prefix} `}${text}`;
      options.stream.write(`${line}\n`);
    },
  };
}

function jsonValue(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** `token 7`, or `no token` for a null token, for human lines. */
export function tokenText(token: bigint | null | undefined): string {
  return token === null || token === undefined ? 'no token' : `token ${token}`;
}
