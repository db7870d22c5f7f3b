"""district scopes: the districts (行政区) users' data scopes name, with their boundaries

Revision ID: 0012
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from core.settings import store_srid

revision = "0012"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "district",
        sa.Column("code", sa.String(12), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=store_srid(), spatial_index=False), nullable=False),
    )
    op.create_index("idx_district_geom", "district", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("district")
