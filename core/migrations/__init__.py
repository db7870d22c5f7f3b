"""Alembic migrations; run them with :func:`core.migrate.upgrade`."""
