"""Alembic migrations; run them with :func:`spatial_api.migrate.upgrade`."""
