"""job parts: a job handed on to parts (sub-jobs any worker runs) names them by ``parent_id``

A tiling job of a large layer is split into parts, one per run of tile subtrees; the last part to be
written assembles the layer's tileset and finishes the job (``core.jobs.fan_out``, ``part_done``).

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "job", sa.Column("parent_id", UUID(as_uuid=True), sa.ForeignKey("job.id", ondelete="CASCADE"), nullable=True)
    )
    op.create_index("ix_job_parent_id", "job", ["parent_id"], postgresql_where=sa.text("parent_id IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_job_parent_id", table_name="job")
    op.drop_column("job", "parent_id")
