"""networks: a version per network (pipes, roads) that every write to its tables moves on, so the
graphs kept in memory (``gis.network``) know when to build again with one cheap read

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# The version comes from a sequence (never handed out twice, even by a transaction that rolled back),
# written into a row (transactional: readers see it move only when the write commits).
# Statement-level triggers: one UPDATE per statement, whatever the rows (bulk loads stay cheap).
TABLES = {"pipeline": "pipe", "pipe_node": "pipe", "road": "road"}


def upgrade() -> None:
    op.execute("CREATE SEQUENCE network_version_seq")
    op.execute(
        "CREATE TABLE network_version (network text PRIMARY KEY, version bigint NOT NULL DEFAULT "
        "nextval('network_version_seq'))"
    )
    op.execute("INSERT INTO network_version (network) VALUES ('pipe'), ('road')")
    op.execute(
        """CREATE FUNCTION network_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
             UPDATE network_version SET version = nextval('network_version_seq') WHERE network = TG_ARGV[0];
             RETURN NULL;
           END $$"""
    )
    for table, network in TABLES.items():
        op.execute(
            f"CREATE TRIGGER {table}_network_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION network_version_bump('{network}')"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_network_version ON {table}")
    op.execute("DROP FUNCTION network_version_bump()")
    op.execute("DROP TABLE network_version")
    op.execute("DROP SEQUENCE network_version_seq")
