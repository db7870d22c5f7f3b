"""search prefix ranges: pattern b-trees on the searched names and codes

A name or code that starts with the query is found as a range of bytes (``col ~>=~ :q AND col ~<~
:q_hi``), which a ``text_pattern_ops`` b-tree reads with the value unknown, so the search runs on one
generic plan instead of being planned for every query (LIKE 'q%' used an index only in a plan made for
its value, and only in a database whose default collation is C). They replace the ``search_text``
b-trees of revision 0011 (equality reads them too). An enterprise's exact name (present or former)
is found through a GIN index of its names (through its gram index it read every enterprise named 常州…).

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# table -> its code column (the search's codes); the tables with a search_text
CODES = {"building": "code", "project": "code", "enterprise": "uscc", "person": "id", "parcel": "code", "road": "code"}
NAMED = ("building", "project", "enterprise", "person", "road")


def upgrade() -> None:
    for table in NAMED:
        op.drop_index(f"ix_{table}_search_text", table_name=table)
        ops = {"search_text": "text_pattern_ops"}
        op.create_index(f"ix_{table}_search_prefix", table, ["search_text"], postgresql_ops=ops)
    for table, column in CODES.items():
        ops = {column: "varchar_pattern_ops"}
        op.create_index(f"ix_{table}_code_prefix", table, [column], postgresql_ops=ops)
    names = sa.text("string_to_array(search_text, '|'::text)")
    op.create_index("ix_enterprise_search_names", "enterprise", [names], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_enterprise_search_names", table_name="enterprise")
    for table in CODES:
        op.drop_index(f"ix_{table}_code_prefix", table_name=table)
    for table in NAMED:
        op.drop_index(f"ix_{table}_search_prefix", table_name=table)
        op.create_index(f"ix_{table}_search_text", table, ["search_text"])
