"""records as a system of record: inspections, safety appraisals, record versions, soft deletes,
record numbers, encrypted phones, audit detail, the records editor role

Revision ID: 0004
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from core.privacy import decrypt_field, encrypt_field, mask_phone

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

SOFT_DELETED = ("enterprise", "person", "project", "construction_permit", "credit_record", "penalty")
ROLE = {"name": "records", "description": "records editors: import and edit the four databases"}


def upgrade() -> None:
    op.create_table(
        "inspection",
        sa.Column("inspection_no", sa.String(length=40), nullable=False),
        sa.Column("enterprise_uscc", sa.String(length=18), nullable=False),
        sa.Column("project_code", sa.String(length=32), nullable=True),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("result", sa.String(length=4), nullable=False),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("rectify_order", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("rectify_deadline", sa.Date(), nullable=True),
        sa.Column("closed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("inspector", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('routine', 'special', 'spot_check')", name=op.f("ck_inspection_kind")),
        sa.CheckConstraint("result IN ('pass', 'fail')", name=op.f("ck_inspection_result")),
        sa.ForeignKeyConstraint(
            ["enterprise_uscc"],
            ["enterprise.uscc"],
            name=op.f("fk_inspection_enterprise_uscc_enterprise"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_code"], ["project.code"], name=op.f("fk_inspection_project_code_project"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("inspection_no", name=op.f("pk_inspection")),
    )
    op.create_index(op.f("ix_inspection_enterprise_uscc"), "inspection", ["enterprise_uscc"])
    op.create_index(op.f("ix_inspection_project_code"), "inspection", ["project_code"])
    op.create_table(
        "safety_appraisal",
        sa.Column("appraisal_no", sa.String(length=40), nullable=False),
        sa.Column("building_code", sa.String(length=32), nullable=False),
        sa.Column("appraised_on", sa.Date(), nullable=False),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("measures", sa.Text(), nullable=True),
        sa.CheckConstraint("grade IN ('A', 'B', 'C', 'D')", name=op.f("ck_safety_appraisal_grade")),
        sa.ForeignKeyConstraint(
            ["building_code"],
            ["building.code"],
            name=op.f("fk_safety_appraisal_building_code_building"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("appraisal_no", name=op.f("pk_safety_appraisal")),
    )
    op.create_index(op.f("ix_safety_appraisal_building_code"), "safety_appraisal", ["building_code"])
    op.create_table(
        "record_version",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_version")),
    )
    op.create_index("ix_record_version_lookup", "record_version", ["kind", "key", "valid_from"])
    op.create_index(
        "uq_record_version_current",
        "record_version",
        ["kind", "key"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.add_column("audit_log", sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("complaint", sa.Column("complaint_no", sa.String(length=40), nullable=True))
    op.create_unique_constraint(op.f("uq_complaint_complaint_no"), "complaint", ["complaint_no"])
    op.add_column("credit_record", sa.Column("record_no", sa.String(length=40), nullable=True))
    op.create_unique_constraint(op.f("uq_credit_record_record_no"), "credit_record", ["record_no"])
    for table in SOFT_DELETED:
        op.add_column(table, sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("deleted_reason", sa.Text(), nullable=True))
    op.add_column("person", sa.Column("phone_enc", sa.Text(), nullable=True))
    op.add_column("person", sa.Column("phone_masked", sa.String(length=20), nullable=True))
    _encrypt_phones()
    op.drop_column("person", "phone")
    op.bulk_insert(sa.table("role", sa.column("name"), sa.column("description")), [ROLE])


def _encrypt_phones() -> None:
    """Phones stored in plain before this revision: encrypted (AES-GCM) and masked."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, phone FROM person WHERE phone IS NOT NULL")).all()
    if rows:
        conn.execute(
            sa.text("UPDATE person SET phone_enc = :enc, phone_masked = :masked WHERE id = :id"),
            [{"id": r.id, "enc": encrypt_field(r.phone), "masked": mask_phone(r.phone)} for r in rows],
        )


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE app_user SET role = 'public' WHERE role = 'records'"))
    conn.execute(sa.text("DELETE FROM role WHERE name = 'records'"))
    op.add_column("person", sa.Column("phone", sa.String(length=20), nullable=True))
    rows = conn.execute(sa.text("SELECT id, phone_enc FROM person WHERE phone_enc IS NOT NULL")).all()
    if rows:
        conn.execute(
            sa.text("UPDATE person SET phone = :phone WHERE id = :id"),
            [{"id": r.id, "phone": decrypt_field(r.phone_enc)} for r in rows],
        )
    op.drop_column("person", "phone_masked")
    op.drop_column("person", "phone_enc")
    for table in SOFT_DELETED:
        op.drop_column(table, "deleted_reason")
        op.drop_column(table, "deleted_at")
    op.drop_constraint(op.f("uq_credit_record_record_no"), "credit_record", type_="unique")
    op.drop_column("credit_record", "record_no")
    op.drop_constraint(op.f("uq_complaint_complaint_no"), "complaint", type_="unique")
    op.drop_column("complaint", "complaint_no")
    op.drop_column("audit_log", "detail")
    op.drop_index("uq_record_version_current", table_name="record_version")
    op.drop_index("ix_record_version_lookup", table_name="record_version")
    op.drop_table("record_version")
    op.drop_index(op.f("ix_safety_appraisal_building_code"), table_name="safety_appraisal")
    op.drop_table("safety_appraisal")
    op.drop_index(op.f("ix_inspection_project_code"), table_name="inspection")
    op.drop_index(op.f("ix_inspection_enterprise_uscc"), table_name="inspection")
    op.drop_table("inspection")
