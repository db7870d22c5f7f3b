"""partitioning: the audit log by UTC month (schema ``audit_partitions``), converted in place with
its ids and hash chain as written; the chain, append-only triggers and the application role's
SELECT/INSERT-only rights carried to the partitioned table

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

COLUMNS = "id, at, username, action, object, address, result, detail, prev_hash, hash"

# A month's partition, made on demand and race-free as sensor_reading_partition() (0017): rows of the
# month that waited in the default partition move into it as written. The new table has no triggers
# until it is attached (so the chain trigger does not re-number them), and the default partition's
# append-only trigger is set aside for the move only; the default partition is locked first, so no
# writer can put a row of the month there between the move and the attach.
PARTITION_FUNCTION = """
CREATE FUNCTION audit_log_partition(month timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  lower timestamptz := date_trunc('month', month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  upper timestamptz := (date_trunc('month', month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  name text := 'audit_log_' || to_char(month AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
  IF to_regclass('audit_partitions.' || name) IS NOT NULL THEN RETURN name; END IF;
  PERFORM pg_advisory_xact_lock(hashtext('audit_log_partition'));
  IF EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'audit_partitions' AND c.relname = name) THEN
    RETURN name;
  END IF;
  LOCK TABLE audit_partitions.audit_log_default IN ACCESS EXCLUSIVE MODE;
  EXECUTE format('CREATE TABLE audit_partitions.%I (LIKE audit_log INCLUDING DEFAULTS)', name);
  EXECUTE format('ALTER TABLE audit_partitions.%I ADD CHECK (at >= %L AND at < %L)', name, lower, upper);
  IF EXISTS (SELECT FROM audit_partitions.audit_log_default WHERE at >= lower AND at < upper) THEN
    ALTER TABLE audit_partitions.audit_log_default DISABLE TRIGGER audit_log_immutable;
    EXECUTE format(
      'WITH moved AS (DELETE FROM audit_partitions.audit_log_default WHERE at >= %L AND at < %L RETURNING *)
       INSERT INTO audit_partitions.%I SELECT * FROM moved', lower, upper, name);
    ALTER TABLE audit_partitions.audit_log_default ENABLE TRIGGER audit_log_immutable;
  END IF;
  EXECUTE format('ALTER TABLE audit_log ATTACH PARTITION audit_partitions.%I FOR VALUES FROM (%L) TO (%L)',
                 name, lower, upper);
  -- A statement trigger on the partitioned table is not cloned to its partitions: TRUNCATE refused here too.
  EXECUTE format('CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_partitions.%I
                  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable()', name);
  RETURN name;
END $$;
"""

# The chain's last hash is kept in a one-row table (written under the chain's lock by the trigger, which
# runs as the owner: the application role has no rights on it), instead of read as the newest row of the
# log, which on a partitioned table is an index probe into every month (~0.3 ms per row).
CHAIN_BODY = r"""
CREATE OR REPLACE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql {security} AS $$
DECLARE previous text;
BEGIN
  -- One writer at a time, so ids and the chain follow the same order.
  PERFORM pg_advisory_xact_lock(hashtext('audit_log_chain'));
  NEW.id := nextval(pg_get_serial_sequence('{table}', 'id'));
  NEW.at := coalesce(NEW.at, now());
  {previous}
  NEW.prev_hash := coalesce(previous, '');
  NEW.hash := encode(sha256(convert_to(concat_ws(E'\x1f', NEW.prev_hash, NEW.id::text,
      to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), coalesce(NEW.username, ''), NEW.action,
      coalesce(NEW.object, ''), coalesce(NEW.address, ''), NEW.result, coalesce(NEW.detail::text, '')), 'UTF8')), 'hex');
  {remember}
  RETURN NEW;
END $$;
"""
# Its tables named with their schema, so no temporary table of the caller's can stand in for them (a SET
# search_path clause would cost more than the insert itself).
CHAIN = CHAIN_BODY.format(
    security="SECURITY DEFINER",
    table="public.audit_log",
    previous="SELECT hash INTO previous FROM public.audit_log_head;",
    remember="UPDATE public.audit_log_head SET id = NEW.id, hash = NEW.hash;",
)
CHAIN_0008 = CHAIN_BODY.format(
    security="",
    table="audit_log",
    previous="SELECT hash INTO previous FROM audit_log ORDER BY id DESC LIMIT 1;",
    remember="",
)

TRIGGERS = """
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT DISTINCT grantee FROM information_schema.role_table_grants
            WHERE table_schema = 'public' AND table_name = 'audit_log'
              AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE') AND grantee <> current_user
  LOOP EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM %I', r.grantee); END LOOP;
END $$;
"""

DROP_TRIGGERS = """
DROP TRIGGER audit_log_chain ON {table};
DROP TRIGGER audit_log_immutable ON {table};
DROP TRIGGER audit_log_no_truncate ON {table};
"""

INDEXES = ("at", "username", "action")


def _set_aside(table: str) -> None:
    """The old table renamed with its key and indexes, its triggers dropped (so it can be emptied)."""
    op.execute(f"ALTER TABLE audit_log RENAME TO {table}")
    op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT pk_audit_log TO pk_{table}")
    for column in INDEXES:
        op.execute(f"ALTER INDEX ix_audit_log_{column} RENAME TO ix_{table}_{column}")
    op.execute(DROP_TRIGGERS.format(table=table))


def _finish(old: str, partitioned: bool) -> None:
    """Indexes on the new table, the old one's rows copied as they are, then the chain's triggers."""
    op.execute("ALTER SEQUENCE audit_log_id_seq OWNED BY audit_log.id")
    for column in INDEXES:
        op.execute(f"CREATE INDEX ix_audit_log_{column} ON audit_log ({column})")
    op.execute(f"INSERT INTO audit_log ({COLUMNS}) SELECT {COLUMNS} FROM {old}")
    op.execute(f"DROP TABLE {old}")
    op.execute(TRIGGERS)
    if partitioned:
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_partitions.audit_log_default"
            " FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable()"
        )


def _create(partitioned: bool) -> None:
    key = "id, at" if partitioned else "id"
    op.execute(
        f"""CREATE TABLE audit_log (
              id bigint NOT NULL DEFAULT nextval('audit_log_id_seq'),
              at timestamptz NOT NULL DEFAULT now(),
              username varchar(64), action varchar(64) NOT NULL, object text, address varchar(64),
              result varchar(16) NOT NULL, detail jsonb, prev_hash varchar(64), hash varchar(64),
              CONSTRAINT pk_audit_log PRIMARY KEY ({key}))"""
        + (" PARTITION BY RANGE (at)" if partitioned else "")
    )


def upgrade() -> None:
    op.execute("CREATE SCHEMA audit_partitions")
    _set_aside("audit_log_flat")
    _create(partitioned=True)
    op.execute("CREATE TABLE audit_partitions.audit_log_default PARTITION OF audit_log DEFAULT")
    op.execute(PARTITION_FUNCTION)
    # Every month the log holds, this month and the next: no row waits in the default partition.
    op.execute(
        """SELECT audit_log_partition(m) FROM (
             SELECT date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m FROM audit_log_flat
             UNION SELECT now() UNION SELECT now() + interval '1 month') AS months ORDER BY m"""
    )
    _finish("audit_log_flat", partitioned=True)
    op.execute(
        """CREATE TABLE audit_log_head (one boolean NOT NULL DEFAULT true, id bigint NOT NULL, hash varchar(64),
                                        CONSTRAINT pk_audit_log_head PRIMARY KEY (one),
                                        CONSTRAINT ck_audit_log_head_one CHECK (one))"""
    )
    op.execute("REVOKE ALL ON audit_log_head FROM PUBLIC")
    op.execute(
        "INSERT INTO audit_log_head SELECT true, coalesce(max(id), 0),"
        " (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) FROM audit_log"
    )
    op.execute(CHAIN)


def downgrade() -> None:
    op.execute(CHAIN_0008)
    op.execute("DROP TABLE audit_log_head")
    _set_aside("audit_log_partitioned")
    _create(partitioned=False)
    _finish("audit_log_partitioned", partitioned=False)
    op.execute("DROP FUNCTION audit_log_partition(timestamptz)")
    op.execute("DROP SCHEMA audit_partitions")
