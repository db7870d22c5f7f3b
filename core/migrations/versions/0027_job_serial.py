"""job serial keys: jobs of one key (one layer's tile builds) run one at a time, in order of submission

A job handed on to parts holds its key until its last part finishes it; one waiting for its turn is
``queued`` without a queue job, and is put on the queue when the job before it ends (``core.jobs``).

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job", sa.Column("serial", sa.String(128), nullable=True))
    op.create_index(
        "ix_job_serial_open",
        "job",
        ["serial", "created_at"],
        postgresql_where=sa.text("serial IS NOT NULL AND status IN ('queued', 'running')"),
    )


def downgrade() -> None:
    op.drop_index("ix_job_serial_open", table_name="job")
    op.drop_column("job", "serial")
