"""record versions: a record's row is its open version, ``record_version`` keeps superseded ones

Each versioned table gets ``version_from``, ``version_by`` and ``version_reason`` (what the open
version held: since when, by whom, why). The open versions with data move onto their rows and leave
``record_version``; the open versions without data (hard-deleted keys) stay. A first import of new
keys then writes only the rows. Downgrade writes each versioned row's open version back.

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# kind (records/kinds.json) -> table and the columns of its key, as of this revision
KINDS = {
    "enterprises": ("enterprise", ("uscc",)),
    "qualifications": ("qualification", ("certificate_no",)),
    "people": ("person", ("id",)),
    "projects": ("project", ("code",)),
    "project_people": ("project_person", ("project_code", "person_id", "role")),
    "permits": ("construction_permit", ("permit_no",)),
    "filings": ("completion_filing", ("filing_no",)),
    "credit_records": ("credit_record", ("record_no",)),
    "penalties": ("penalty", ("decision_no",)),
    "complaints": ("complaint", ("complaint_no",)),
    "inspections": ("inspection", ("inspection_no",)),
    "safety_appraisals": ("safety_appraisal", ("appraisal_no",)),
    "house_units": ("house_unit", ("id",)),
    "sensors": ("sensor", ("id",)),
}
COLUMNS = ("version_from", "version_by", "version_reason")


def _key(columns: tuple[str, ...]) -> str:
    return "concat_ws(':', " + ", ".join(f"t.{c}::text" for c in columns) + ")"


def upgrade() -> None:
    for kind, (table, key) in KINDS.items():
        op.add_column(table, sa.Column("version_from", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("version_by", sa.String(64), nullable=True))
        op.add_column(table, sa.Column("version_reason", sa.Text(), nullable=True))
        op.execute(
            f"""UPDATE {table} t SET version_from = v.valid_from, version_by = v.changed_by, version_reason = v.reason
                  FROM record_version v WHERE v.kind = '{kind}' AND v.valid_to IS NULL AND v.data IS NOT NULL
                   AND v.key = {_key(key)}"""
        )
    op.execute("DELETE FROM record_version WHERE valid_to IS NULL AND data IS NOT NULL")


def downgrade() -> None:
    for kind, (table, key) in KINDS.items():
        # a version's data: the row's stored columns (not the generated ones, nor the version's own)
        generated = [
            name
            for (name,) in op.get_bind().execute(
                sa.text(
                    """SELECT column_name FROM information_schema.columns
                        WHERE table_schema = current_schema() AND table_name = :t AND is_generated = 'ALWAYS'"""
                ),
                {"t": table},
            )
        ]
        dropped = "".join(f" - '{c}'" for c in (*COLUMNS, *generated))
        op.execute(
            f"""INSERT INTO record_version (kind, key, data, valid_from, changed_by, reason)
                SELECT '{kind}', {_key(key)}, to_jsonb(t){dropped}, t.version_from, t.version_by, t.version_reason
                  FROM {table} t WHERE t.version_from IS NOT NULL"""
        )
        for column in reversed(COLUMNS):
            op.drop_column(table, column)
