"""export approval: jobs held for a second person's approval, and the approvals (exports of personal
data or large ones, views of personal data past a threshold); search order indexes (search_text, and
length(search_text) with the id: a broad query reads its best matches in order instead of ranking all)

Revision ID: 0011
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_STATUSES = "('queued', 'running', 'succeeded', 'failed')"
# table -> its id column (the search order indexes)
SEARCHED = {"building": "code", "road": "code", "enterprise": "uscc", "person": "id", "project": "code"}
NEW_STATUSES = "('pending_approval', 'queued', 'running', 'succeeded', 'failed', 'rejected')"


def upgrade() -> None:
    op.alter_column("job", "status", type_=sa.String(16), existing_type=sa.String(12), existing_nullable=False)
    op.drop_constraint(op.f("ck_job_status"), "job", type_="check")
    op.create_check_constraint(op.f("ck_job_status"), "job", f"status IN {NEW_STATUSES}")
    op.create_table(
        "approval",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('export', 'view')", name=op.f("ck_approval_kind")),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f("ck_approval_status")),
        sa.CheckConstraint("decided_by IS NULL OR decided_by <> requested_by", name=op.f("ck_approval_second_person")),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_approval_job_id_job"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval")),
        sa.UniqueConstraint("job_id", name=op.f("uq_approval_job_id")),
    )
    op.create_index("ix_approval_requested_by_status", "approval", ["requested_by", "status"])
    for table, id_column in SEARCHED.items():
        op.create_index(f"ix_{table}_search_text", table, ["search_text"])
        op.create_index(f"ix_{table}_search_length", table, [sa.text("length(search_text)"), id_column])


def downgrade() -> None:
    for table in SEARCHED:
        op.drop_index(f"ix_{table}_search_length", table_name=table)
        op.drop_index(f"ix_{table}_search_text", table_name=table)
    op.drop_table("approval")
    op.execute("DELETE FROM job WHERE status IN ('pending_approval', 'rejected')")
    op.drop_constraint(op.f("ck_job_status"), "job", type_="check")
    op.create_check_constraint(op.f("ck_job_status"), "job", f"status IN {OLD_STATUSES}")
    op.alter_column("job", "status", type_=sa.String(12), existing_type=sa.String(16), existing_nullable=False)
