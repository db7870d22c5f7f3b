"""district scopes and user changes: the districts (行政区) users' data scopes name, with their
boundaries; a NOTIFY on every change of app_user (core.user_state forgets the user's cached state)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from core.settings import store_srid

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "district",
        sa.Column("code", sa.String(12), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=store_srid(), spatial_index=False), nullable=False),
        sa.UniqueConstraint("name", name=op.f("uq_district_name")),
    )
    op.create_index("idx_district_geom", "district", ["geom"], postgresql_using="gist")
    op.execute(NOTIFY)


NOTIFY = """
CREATE FUNCTION app_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('cim_user_changed', '');
  ELSE
    PERFORM pg_notify('cim_user_changed', OLD.username);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER app_user_changed AFTER UPDATE OR DELETE ON app_user
  FOR EACH ROW EXECUTE FUNCTION app_user_changed();
CREATE TRIGGER app_user_truncated AFTER TRUNCATE ON app_user
  FOR EACH STATEMENT EXECUTE FUNCTION app_user_changed();
"""


def downgrade() -> None:
    op.execute("DROP TRIGGER app_user_truncated ON app_user; DROP TRIGGER app_user_changed ON app_user")
    op.execute("DROP FUNCTION app_user_changed()")
    op.drop_table("district")
