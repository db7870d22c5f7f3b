"""job queue: procrastinate's schema (the PostgreSQL-backed queue the workers poll)

Revision ID: 0002
Revises: 0001
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs", "procrastinate_workers")
TYPES = ("procrastinate_job_to_defer_v1", "procrastinate_job_event_type", "procrastinate_job_status")


def upgrade() -> None:
    op.execute(SchemaManager.get_schema())


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute(
        """
        DO $$ DECLARE f record; BEGIN
          FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                   JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
          LOOP EXECUTE 'DROP FUNCTION IF EXISTS ' || f.sig || ' CASCADE'; END LOOP;
        END $$;
        """
    )
    op.execute("DROP TYPE IF EXISTS " + ", ".join(TYPES) + " CASCADE")
