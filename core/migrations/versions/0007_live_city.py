"""live city: monthly partitions of sensor_reading, refused readings, alarm state, alarms and their
lifecycle, emergency events' timeline and tasks; sensors on buildings, valves that do not close

Revision ID: 0007
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from core.settings import store_srid

revision = "0007"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_KINDS = "('CH4', 'H2S', 'O2', 'temperature', 'humidity', 'water_level', 'smoke')"
KINDS = "('CH4', 'H2S', 'O2', 'temperature', 'humidity', 'water_level', 'smoke', 'settlement', 'tilt', 'manhole_cover')"

# A month's partition of sensor_reading, created on demand: rows of that month already in the
# default partition move into it first (so creating a partition never fails), under a lock so that
# two writers creating the same month do not collide. Bounds are UTC months.
PARTITION_FUNCTION = """
CREATE FUNCTION sensor_reading_partition(month timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  lower timestamptz := date_trunc('month', month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  upper timestamptz := (date_trunc('month', month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  name text := 'sensor_reading_' || to_char(month AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
  IF to_regclass('sensor_partitions.' || name) IS NOT NULL THEN RETURN name; END IF;
  PERFORM pg_advisory_xact_lock(hashtext('sensor_reading_partition'));
  IF to_regclass('sensor_partitions.' || name) IS NOT NULL THEN RETURN name; END IF;
  EXECUTE format('CREATE TABLE sensor_partitions.%I (LIKE sensor_reading INCLUDING DEFAULTS)', name);
  EXECUTE format('ALTER TABLE sensor_partitions.%I ADD CHECK (time >= %L AND time < %L)', name, lower, upper);
  EXECUTE format(
    'WITH moved AS (DELETE FROM sensor_partitions.sensor_reading_default WHERE time >= %L AND time < %L RETURNING *)
     INSERT INTO sensor_partitions.%I SELECT * FROM moved', lower, upper, name);
  EXECUTE format('ALTER TABLE sensor_reading ATTACH PARTITION sensor_partitions.%I FOR VALUES FROM (%L) TO (%L)',
                 name, lower, upper);
  RETURN name;
END $$;
"""


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.execute("CREATE SCHEMA sensor_partitions")
    op.execute("ALTER TABLE sensor_reading RENAME TO sensor_reading_flat")
    op.execute("ALTER TABLE sensor_reading_flat RENAME CONSTRAINT pk_sensor_reading TO pk_sensor_reading_flat")
    op.execute(
        """CREATE TABLE sensor_reading (
             sensor_id varchar(40) NOT NULL, time timestamptz NOT NULL, value float8 NOT NULL, alarm boolean NOT NULL,
             CONSTRAINT pk_sensor_reading PRIMARY KEY (sensor_id, time),
             CONSTRAINT fk_sensor_reading_sensor_id_sensor_p FOREIGN KEY (sensor_id) REFERENCES sensor (id)
               ON DELETE CASCADE
           ) PARTITION BY RANGE (time)"""
    )
    op.execute("CREATE TABLE sensor_partitions.sensor_reading_default PARTITION OF sensor_reading DEFAULT")
    op.execute(PARTITION_FUNCTION)
    op.execute(
        """SELECT sensor_reading_partition(m) FROM (SELECT DISTINCT date_trunc('month', time) AS m
                                                      FROM sensor_reading_flat) AS months"""
    )
    op.execute("INSERT INTO sensor_reading SELECT sensor_id, time, value, alarm FROM sensor_reading_flat")
    op.execute("DROP TABLE sensor_reading_flat")
    op.execute(
        "ALTER TABLE sensor_reading RENAME CONSTRAINT fk_sensor_reading_sensor_id_sensor_p "
        "TO fk_sensor_reading_sensor_id_sensor"
    )

    op.drop_constraint(op.f("ck_sensor_kind"), "sensor", type_="check")
    op.create_check_constraint(op.f("ck_sensor_kind"), "sensor", f"kind IN {KINDS}")
    op.alter_column("sensor", "compartment_id", existing_type=sa.String(40), nullable=True)
    op.add_column("sensor", sa.Column("building_code", sa.String(length=32), nullable=True))
    op.create_foreign_key(
        op.f("fk_sensor_building_code_building"), "sensor", "building", ["building_code"], ["code"], ondelete="CASCADE"
    )
    op.create_index(op.f("ix_sensor_building_code"), "sensor", ["building_code"], unique=False)
    op.create_check_constraint(
        op.f("ck_sensor_site"),
        "sensor",
        "compartment_id IS NOT NULL OR building_code IS NOT NULL OR kind = 'manhole_cover'",
    )
    op.add_column("pipe_node", sa.Column("operable", sa.Boolean(), server_default="true", nullable=False))
    for column in (
        sa.Column("reporter", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=8), server_default="open", nullable=False),
        sa.Column("action_sheet", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    ):
        op.add_column("emergency_event", column)
    op.create_check_constraint(op.f("ck_emergency_event_status"), "emergency_event", "status IN ('open', 'closed')")

    op.create_table(
        "sensor_rejection",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("sensor_id", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensor_rejection")),
    )
    op.create_index(op.f("ix_sensor_rejection_sensor_id"), "sensor_rejection", ["sensor_id"], unique=False)
    op.create_geospatial_table(
        "alarm",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("sensor_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reading_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("peak_value", sa.Float(), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("compartment_id", sa.String(length=40), nullable=True),
        sa.Column("neighbours", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("pipes", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("valves", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("readings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "location",
            Geometry(
                geometry_type="POINTZ",
                srid=store_srid(),
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('raised', 'acknowledged', 'handled', 'closed')", name=op.f("ck_alarm_status")),
        sa.CheckConstraint("level IN ('warning', 'alarm')", name=op.f("ck_alarm_level")),
        sa.ForeignKeyConstraint(
            ["sensor_id"], ["sensor.id"], name=op.f("fk_alarm_sensor_id_sensor"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm")),
    )
    op.create_geospatial_index(
        "idx_alarm_location", "alarm", ["location"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_alarm_sensor_id"), "alarm", ["sensor_id"], unique=False)
    op.create_index(op.f("ix_alarm_status"), "alarm", ["status"], unique=False)
    op.create_index(op.f("ix_alarm_compartment_id"), "alarm", ["compartment_id"], unique=False)
    op.create_table(
        "alarm_step",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("alarm_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('raised', 'acknowledged', 'handled', 'closed')", name=op.f("ck_alarm_step_status")
        ),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarm.id"], name=op.f("fk_alarm_step_alarm_id_alarm"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_step")),
    )
    op.create_index(op.f("ix_alarm_step_alarm_id"), "alarm_step", ["alarm_id"], unique=False)
    op.create_table(
        "sensor_state",
        sa.Column("sensor_id", sa.String(length=40), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("pending_level", sa.SmallInteger(), nullable=False),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clear_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("ref_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ref_value", sa.Float(), nullable=True),
        sa.Column("alarm_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarm.id"], name=op.f("fk_sensor_state_alarm_id_alarm"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["sensor_id"], ["sensor.id"], name=op.f("fk_sensor_state_sensor_id_sensor"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sensor_id", name=op.f("pk_sensor_state")),
    )
    op.create_table(
        "event_step",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["emergency_event.id"],
            name=op.f("fk_event_step_event_id_emergency_event"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_step")),
    )
    op.create_index(op.f("ix_event_step_event_id"), "event_step", ["event_id"], unique=False)
    op.create_table(
        "event_task",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("feedback_by", sa.String(length=64), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('dispatched', 'done', 'failed')", name=op.f("ck_event_task_status")),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["emergency_event.id"],
            name=op.f("fk_event_task_event_id_emergency_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["role"], ["role.name"], name=op.f("fk_event_task_role_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_task")),
    )
    op.create_index(op.f("ix_event_task_event_id"), "event_task", ["event_id"], unique=False)


def downgrade() -> None:
    for table in ("event_task", "event_step", "sensor_state", "alarm_step"):
        op.drop_table(table)
    op.drop_geospatial_index("idx_alarm_location", table_name="alarm", postgresql_using="gist", column_name="location")
    op.drop_geospatial_table("alarm")
    op.drop_table("sensor_rejection")
    op.drop_constraint(op.f("ck_emergency_event_status"), "emergency_event", type_="check")
    for column in ("closed_at", "summary", "action_sheet", "status", "occurred_at", "reporter"):
        op.drop_column("emergency_event", column)
    op.drop_column("pipe_node", "operable")
    op.execute("DELETE FROM sensor WHERE compartment_id IS NULL")
    op.drop_constraint(op.f("ck_sensor_site"), "sensor", type_="check")
    op.drop_index(op.f("ix_sensor_building_code"), table_name="sensor")
    op.drop_constraint(op.f("fk_sensor_building_code_building"), "sensor", type_="foreignkey")
    op.drop_column("sensor", "building_code")
    op.alter_column("sensor", "compartment_id", existing_type=sa.String(40), nullable=False)
    op.drop_constraint(op.f("ck_sensor_kind"), "sensor", type_="check")
    op.create_check_constraint(op.f("ck_sensor_kind"), "sensor", f"kind IN {OLD_KINDS}")

    op.execute("ALTER TABLE sensor_reading RENAME TO sensor_reading_partitioned")
    op.execute("ALTER TABLE sensor_reading_partitioned RENAME CONSTRAINT pk_sensor_reading TO pk_sensor_reading_p")
    op.execute(
        """CREATE TABLE sensor_reading (
             sensor_id varchar(40) NOT NULL, time timestamptz NOT NULL, value float8 NOT NULL, alarm boolean NOT NULL,
             CONSTRAINT pk_sensor_reading PRIMARY KEY (sensor_id, time))"""
    )
    op.execute("INSERT INTO sensor_reading SELECT sensor_id, time, value, alarm FROM sensor_reading_partitioned")
    op.execute("DROP TABLE sensor_reading_partitioned CASCADE")
    op.execute(
        "ALTER TABLE sensor_reading ADD CONSTRAINT fk_sensor_reading_sensor_id_sensor FOREIGN KEY (sensor_id) "
        "REFERENCES sensor (id) ON DELETE CASCADE"
    )
    op.execute("DROP FUNCTION sensor_reading_partition(timestamptz)")
    op.execute("DROP SCHEMA sensor_partitions CASCADE")
