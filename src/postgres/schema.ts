import { DEFAULT_TABLE, resolveTable, type TableRef } from './identifiers.js';

/**
 * Advisory lock key under which first-use schema creation is serialised: concurrent
 * `CREATE TABLE IF NOT EXISTS` of the same table can fail with a unique violation in the
 * catalogs, and every candidate of a fresh deployment starts at once.
 */
export const SCHEMA_LOCK_KEY = 0x6c65_6c65; // "lele"

/**
 * The DDL of the lease table, its version sequence and the trigger that NOTIFYs every change on
 * the channel named after the table. Idempotent: safe to run again (the shipped
 * `sql/leader-elect-postgres.sql` is this text for the default table).
 *
 * Columns may be NULL on purpose: a row that a foreign writer left incomplete (a holder without
 * a duration, say) is reported as `LE_CORRUPT_RECORD`, never treated as free.
 */
export function schemaSql(table: string | TableRef = DEFAULT_TABLE): string {
  const ref = typeof table === 'string' ? resolveTable(table) : table;
  const seqLiteral = `'${ref.sequence.replaceAll("'", "''")}'`;
  const channelLiteral = `'${ref.channel}'`;
  return `-- leader-elect: the PostgreSQL lease table (${ref.display}), one row per election.
-- Idempotent. Run it as the table's owner when electors may not create tables themselves.
CREATE SEQUENCE IF NOT EXISTS ${ref.sequence};

CREATE TABLE IF NOT EXISTS ${ref.qualified} (
  -- The election name.
  name              text PRIMARY KEY,
  -- '' = released / free.
  holder_identity   text,
  -- How long the holder's lease lasts after each renewal, in milliseconds.
  lease_duration_ms integer,
  -- RFC 3339 wall time of the holder's acquisition and last renewal, as the holder wrote them:
  -- data for humans, never used to decide expiry.
  acquire_time      text,
  renew_time        text,
  -- Incremented on every acquisition: the fencing token of the holder's term.
  lease_transitions bigint,
  -- Coordinated leader election fields, kept as found.
  strategy          text,
  preferred_holder  text,
  -- Compare-and-swap handle: a new value of the sequence on every write, never repeated.
  version           bigint NOT NULL DEFAULT nextval(${seqLiteral})
);

ALTER SEQUENCE ${ref.sequence} OWNED BY ${ref.qualified}.version;

-- Every change is sent on the channel ${channelLiteral}: the row as JSON (or only its name and
-- version if that would not fit in a notification), so followers see a release at once.
CREATE OR REPLACE FUNCTION ${ref.notifyFunction}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  payload text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify(TG_ARGV[0], json_build_object('name', OLD.name, 'deleted', true)::text);
    RETURN OLD;
  END IF;
  payload := row_to_json(NEW)::text;
  IF octet_length(payload) > 7900 THEN
    payload := json_build_object('name', NEW.name, 'version', NEW.version)::text;
  END IF;
  PERFORM pg_notify(TG_ARGV[0], payload);
  RETURN NEW;
END
$fn$;

DO $do$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_trigger
    WHERE tgrelid = '${ref.qualified.replaceAll("'", "''")}'::regclass AND tgname = '${ref.table}_notify'
  ) THEN
    CREATE TRIGGER ${ref.trigger} AFTER INSERT OR UPDATE OR DELETE ON ${ref.qualified}
      FOR EACH ROW EXECUTE FUNCTION ${ref.notifyFunction}(${channelLiteral});
  END IF;
END
$do$;
`;
}
