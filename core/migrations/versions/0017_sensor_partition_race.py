"""live city: the monthly partition function is race-free: two writers making the same month at
once both succeed (the second sees the first's table once it holds the lock)

Revision ID: 0017
Revises: 0013
"""

from alembic import op

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None

# After the lock, the month is looked up in pg_class with the statement's fresh snapshot, not with
# to_regclass: that reads the backend's catalog cache, which still holds the "no such table" it
# cached before waiting for the lock, so the second writer went on to CREATE TABLE and failed with
# "already exists". CREATE TABLE IF NOT EXISTS as a second guard.
PARTITION_FUNCTION = """
CREATE OR REPLACE FUNCTION sensor_reading_partition(month timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  lower timestamptz := date_trunc('month', month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  upper timestamptz := (date_trunc('month', month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  name text := 'sensor_reading_' || to_char(month AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
  IF to_regclass('sensor_partitions.' || name) IS NOT NULL THEN RETURN name; END IF;
  PERFORM pg_advisory_xact_lock(hashtext('sensor_reading_partition'));
  IF EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'sensor_partitions' AND c.relname = name) THEN
    RETURN name;
  END IF;
  EXECUTE format('CREATE TABLE IF NOT EXISTS sensor_partitions.%I (LIKE sensor_reading INCLUDING DEFAULTS)', name);
  EXECUTE format('ALTER TABLE sensor_partitions.%I ADD CHECK (time >= %L AND time < %L)', name, lower, upper);
  EXECUTE format(
    'WITH moved AS (DELETE FROM sensor_partitions.sensor_reading_default WHERE time >= %L AND time < %L RETURNING *)
     INSERT INTO sensor_partitions.%I SELECT * FROM moved', lower, upper, name);
  EXECUTE format('ALTER TABLE sensor_reading ATTACH PARTITION sensor_partitions.%I FOR VALUES FROM (%L) TO (%L)',
                 name, lower, upper);
  RETURN name;
END $$;
"""

PREVIOUS_FUNCTION = PARTITION_FUNCTION.replace(
    """IF EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'sensor_partitions' AND c.relname = name) THEN
    RETURN name;
  END IF;""",
    "IF to_regclass('sensor_partitions.' || name) IS NOT NULL THEN RETURN name; END IF;",
).replace("CREATE TABLE IF NOT EXISTS", "CREATE TABLE")


def upgrade() -> None:
    op.execute(PARTITION_FUNCTION)


def downgrade() -> None:
    op.execute(PREVIOUS_FUNCTION)
