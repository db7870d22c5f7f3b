"""Alembic environment: the URL and connection come from core.db, never from an ini file."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers

from core.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - alembic always gets one from core.migrate
    raise RuntimeError("run migrations through `cim db migrate`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=alembic_helpers.include_object,
    process_revision_directives=alembic_helpers.writer,
    render_item=alembic_helpers.render_item,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
