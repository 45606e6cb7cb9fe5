-- leader-elect: the PostgreSQL lease table (leader_elect_leases), one row per election.
-- Idempotent. Run it as the table's owner when electors may not create tables themselves.
CREATE SEQUENCE IF NOT EXISTS "leader_elect_leases_version_seq";

CREATE TABLE IF NOT EXISTS "leader_elect_leases" (
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
  version           bigint NOT NULL DEFAULT nextval('"leader_elect_leases_version_seq"')
);

ALTER SEQUENCE "leader_elect_leases_version_seq" OWNED BY "leader_elect_leases".version;

-- Every change is sent on the channel 'leader_elect_leases': the row as JSON (or only its name and
-- version if that would not fit in a notification), so followers see a release at once.
CREATE OR REPLACE FUNCTION "leader_elect_leases_notify"() RETURNS trigger LANGUAGE plpgsql AS $fn$
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
    WHERE tgrelid = '"leader_elect_leases"'::regclass AND tgname = 'leader_elect_leases_notify'
  ) THEN
    CREATE TRIGGER "leader_elect_leases_notify" AFTER INSERT OR UPDATE OR DELETE ON "leader_elect_leases"
      FOR EACH ROW EXECUTE FUNCTION "leader_elect_leases_notify"('leader_elect_leases');
  END IF;
END
$do$;
