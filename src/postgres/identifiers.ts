import { ErrorCode, LeaderElectError } from '../errors.js';

/** The default lease table: one row per election. */
export const DEFAULT_TABLE = 'leader_elect_leases';

/**
 * Unquoted PostgreSQL identifiers as they fold: lowercase letters, digits and `_`, not starting
 * with a digit. Mixed case would mean different tables quoted and unquoted, so it is refused.
 */
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
/**
 * PostgreSQL truncates identifiers at 63 bytes; the table's sequence, trigger and function
 * names add up to 12 characters to it.
 */
const MAX_TABLE = 48;
const MAX_SCHEMA = 48;
/** NOTIFY channels are identifiers too (63 bytes): `schema.table` must fit. */
const MAX_CHANNEL = 63;
const MAX_ELECTION = 256;

/** A validated table reference; `sql` parts are quoted, ready to interpolate. */
export interface TableRef {
  readonly schema: string | null;
  readonly table: string;
  /** `"schema"."table"` or `"table"`. */
  readonly qualified: string;
  /** For messages: `schema.table` or `table`. */
  readonly display: string;
  /** The NOTIFY channel: the unquoted display name. */
  readonly channel: string;
  readonly sequence: string;
  readonly notifyFunction: string;
  readonly trigger: string;
}

function identifierProblem(value: unknown, what: string, max: number): string | null {
  if (typeof value !== 'string') return `${what} must be a string, got ${typeof value}`;
  if (value.length === 0) return `${what} must not be empty`;
  if (value.length > max) return `${what} must be at most ${max} characters, got ${value.length}`;
  if (!IDENTIFIER.test(value)) {
    return `${what} must be a plain SQL identifier: lowercase letters, digits and '_', not starting with a digit`;
  }
  return null;
}

/** Double-quotes an identifier (already validated: it holds no quote). */
function quote(identifier: string): string {
  return `"${identifier}"`;
}

/**
 * Validates the table (and schema) option. Names are checked against a strict pattern and then
 * quoted, so that nothing a caller passes can become SQL.
 */
export function resolveTable(
  table: unknown = DEFAULT_TABLE,
  schema: unknown = undefined,
): TableRef {
  const tableProblem = identifierProblem(table, 'table', MAX_TABLE);
  if (tableProblem !== null) {
    throw new LeaderElectError(
      ErrorCode.InvalidName,
      `invalid table ${JSON.stringify(table)}: ${tableProblem}`,
      {
        details: { table, rule: 'SQL identifier' },
      },
    );
  }
  if (schema !== undefined) {
    const schemaProblem = identifierProblem(schema, 'schema', MAX_SCHEMA);
    if (schemaProblem !== null) {
      throw new LeaderElectError(
        ErrorCode.InvalidName,
        `invalid schema ${JSON.stringify(schema)}: ${schemaProblem}`,
        {
          details: { schema, rule: 'SQL identifier' },
        },
      );
    }
  }
  const t = table as string;
  const s = (schema as string | undefined) ?? null;
  const display = s === null ? t : `${s}.${t}`;
  if (display.length > MAX_CHANNEL) {
    throw new LeaderElectError(
      ErrorCode.InvalidName,
      `schema and table "${display}" must be at most ${MAX_CHANNEL} characters together (the NOTIFY channel is named after them)`,
      { details: { table, schema, rule: 'channel length' } },
    );
  }
  const prefix = s === null ? '' : `${quote(s)}.`;
  return {
    schema: s,
    table: t,
    qualified: `${prefix}${quote(t)}`,
    display,
    channel: display,
    sequence: `${prefix}${quote(`${t}_version_seq`)}`,
    notifyFunction: `${prefix}${quote(`${t}_notify`)}`,
    trigger: quote(`${t}_notify`),
  };
}

/**
 * Election names are row keys, always sent as query parameters (never interpolated): any text
 * of 1 to 256 characters without control characters (PostgreSQL text cannot hold NUL at all).
 */
export function validateElectionName(name: unknown): string {
  const fail = (problem: string): never => {
    throw new LeaderElectError(
      ErrorCode.InvalidName,
      `invalid election name ${JSON.stringify(name)}: ${problem}`,
      {
        details: { name },
      },
    );
  };
  if (typeof name !== 'string') return fail(`expected a string, got ${typeof name}`);
  if (name.length === 0) return fail('must not be empty');
  if (name.length > MAX_ELECTION)
    return fail(`must be at most ${MAX_ELECTION} characters, got ${name.length}`);
  if (/\p{Cc}/u.test(name)) return fail('must not contain control characters');
  return name;
}
