"""credit: district boundaries (区县) for the regional risk map

Revision ID: 0013
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from core.settings import store_srid

revision = "0013"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "district",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "geom",
            Geometry(geometry_type="MULTIPOLYGON", srid=store_srid(), spatial_index=False, name="geometry"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_district")),
        sa.UniqueConstraint("name", name=op.f("uq_district_name")),
    )
    op.create_geospatial_index(
        "idx_district_geom", "district", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )


def downgrade() -> None:
    op.drop_geospatial_index("idx_district_geom", table_name="district", postgresql_using="gist", column_name="geom")
    op.drop_table("district")
