"""division assign when needed: on the unpartitioned tables (``project``, ``enterprise``,
``emergency_event``) the insert trigger of revision 0014 fires only for a row that has a geometry and
no division code (a ``WHEN`` condition), the update trigger as before

A row inserted without a geometry, or with its division given, kept its code unchanged through the
PL/pgSQL call (``division_at(NULL)`` is NULL): the call cost about 13 µs a row (a records import of
200,000 projects without footprints spent 2-3 s in it). The partitioned tables of 0022 keep their
trigger: on insert it also fills ``city_code``.

Revision ID: 0024
Revises: 0023
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# The unpartitioned tables whose rows carry a division, and the geometry column it is found from.
TABLES = {"project": "footprint", "enterprise": "location", "emergency_event": "location"}


def upgrade() -> None:
    for table, geom in TABLES.items():
        op.execute(f"DROP TRIGGER division_assign ON {table}")
        op.execute(
            f"CREATE TRIGGER division_assign BEFORE INSERT ON {table} FOR EACH ROW"
            f" WHEN (NEW.{geom} IS NOT NULL AND NEW.division_code IS NULL) EXECUTE FUNCTION division_assign('{geom}')"
        )
        op.execute(
            f"CREATE TRIGGER division_assign_update BEFORE UPDATE OF {geom} ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION division_assign('{geom}')"
        )


def downgrade() -> None:
    for table, geom in TABLES.items():
        op.execute(f"DROP TRIGGER division_assign_update ON {table}")
        op.execute(f"DROP TRIGGER division_assign ON {table}")
        op.execute(
            f"CREATE TRIGGER division_assign BEFORE INSERT OR UPDATE OF {geom} ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION division_assign('{geom}')"
        )
