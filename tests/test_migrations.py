"""Migrations go up and down on a real PostGIS, leaving no table behind."""

from __future__ import annotations

import uuid

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from core import migrate
from core.models import Base
from core.models.ops import ROLES
from tests.conftest import create_database, drop_database


def test_upgrade_downgrade_upgrade(server_url: str) -> None:
    name = f"cim_mig_{uuid.uuid4().hex[:8]}"
    engine = create_engine(create_database(server_url, name))
    try:
        migrate.upgrade(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "procrastinate_jobs" in tables
        with engine.connect() as conn:
            gist = conn.execute(
                text(
                    "SELECT count(*) FROM pg_indexes WHERE schemaname IN ('public', 'city_partitions')"
                    " AND indexdef ILIKE '%USING gist%'"
                )
            ).scalar_one()
            geometry_columns = conn.execute(
                text("SELECT (SELECT count(*) FROM geometry_columns) + (SELECT count(*) FROM raster_columns)")
            ).scalar_one()
            roles = conn.execute(text("SELECT array_agg(name ORDER BY name) FROM role")).scalar_one()
        assert gist == geometry_columns  # a GiST index on every geometry and raster column (and city partition)
        assert roles == sorted(ROLES)

        migrate.downgrade(engine)
        left = set(inspect(engine).get_table_names()) - {"spatial_ref_sys", "alembic_version"}
        assert left == set()
        assert migrate.current(engine) is None

        migrate.upgrade(engine)
        heads = ScriptDirectory(str(migrate.MIGRATIONS)).get_heads()
        assert len(heads) == 1 and migrate.current(engine) == heads[0]
    finally:
        engine.dispose()
        drop_database(server_url, name)


def test_models_match_migrations(database) -> None:
    """Autogenerate finds nothing to do: the models and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from geoalchemy2 import alembic_helpers

    def ours(obj, name, type_, reflected, compare_to) -> bool:
        queue_object = (name or "").startswith(("procrastinate", "idx_procrastinate"))
        return not queue_object and alembic_helpers.include_object(obj, name, type_, reflected, compare_to)

    with database.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
