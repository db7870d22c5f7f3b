"""Run Alembic migrations programmatically against an engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from core import roles
from core.db import application_role, get_engine, owner_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the schema up to ``revision``, as the schema's owner (by default), then grant the
    application role its rows (nothing when they are the same role)."""
    with (engine or owner_engine()).begin() as connection:
        command.upgrade(_config(connection), revision)
        roles.grant_application(connection, application_role())


def downgrade(engine: Engine | None = None, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (as the schema's owner by default)."""
    with (engine or owner_engine()).begin() as connection:
        command.downgrade(_config(connection), revision)


def current(engine: Engine | None = None) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    with (engine or get_engine()).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def autogenerate(message: str, engine: Engine | None = None) -> None:
    """Write a new revision from the difference between the models and the database."""
    with (engine or get_engine()).begin() as connection:
        command.revision(_config(connection), message=message, autogenerate=True)


def head() -> str | None:
    """The newest revision of the migration scripts."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()
