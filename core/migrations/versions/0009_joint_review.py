"""joint drawing review: agency members, drawing type routes, submissions; drawing_review gets its
submission and due time

Revision ID: 0009
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_agency_member",
        sa.Column("agency_uscc", sa.String(length=18), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.CheckConstraint("role IN ('reviewer', 'chief')", name=op.f("ck_review_agency_member_role")),
        sa.ForeignKeyConstraint(
            ["agency_uscc"],
            ["enterprise.uscc"],
            name=op.f("fk_review_agency_member_agency_uscc_enterprise"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["username"],
            ["app_user.username"],
            name=op.f("fk_review_agency_member_username_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agency_uscc", "username", name=op.f("pk_review_agency_member")),
    )
    op.create_table(
        "review_route",
        sa.Column("drawing_type", sa.String(length=24), nullable=False),
        sa.Column("agency_uscc", sa.String(length=18), nullable=False),
        sa.Column("due_days", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_uscc"],
            ["enterprise.uscc"],
            name=op.f("fk_review_route_agency_uscc_enterprise"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("drawing_type", name=op.f("pk_review_route")),
    )
    op.create_index(op.f("ix_review_route_agency_uscc"), "review_route", ["agency_uscc"], unique=False)
    op.create_table(
        "review_submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_code", sa.String(length=32), nullable=False),
        sa.Column("submitted_by", sa.Text(), nullable=True),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("files", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('in_review', 'returned', 'approved')", name=op.f("ck_review_submission_status")),
        sa.ForeignKeyConstraint(
            ["project_code"], ["project.code"], name=op.f("fk_review_submission_project_code_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_submission")),
    )
    op.create_index(op.f("ix_review_submission_project_code"), "review_submission", ["project_code"], unique=False)
    op.add_column("drawing_review", sa.Column("submission_id", sa.Integer(), nullable=True))
    op.add_column("drawing_review", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_drawing_review_submission_id_review_submission"),
        "drawing_review",
        "review_submission",
        ["submission_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(op.f("ix_drawing_review_submission_id"), "drawing_review", ["submission_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_drawing_review_submission_id"), table_name="drawing_review")
    op.drop_constraint(op.f("fk_drawing_review_submission_id_review_submission"), "drawing_review", type_="foreignkey")
    op.drop_column("drawing_review", "due_at")
    op.drop_column("drawing_review", "submission_id")
    op.drop_index(op.f("ix_review_submission_project_code"), table_name="review_submission")
    op.drop_table("review_submission")
    op.drop_index(op.f("ix_review_route_agency_uscc"), table_name="review_route")
    op.drop_table("review_route")
    op.drop_table("review_agency_member")
