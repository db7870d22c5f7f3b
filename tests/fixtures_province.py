"""Fixtures for the province tests: a database of its own holding a small generated province."""

from __future__ import annotations

import uuid

import pytest

PROVINCE_CITIES, PROVINCE_BUILDINGS, PROVINCE_SEED = 3, 3000, 11


@pytest.fixture(scope="module")
def province(database, client, server_url: str):
    """A small province (3 cities, 3000 buildings) loaded into its own database, and the same province
    generated again in memory; the process points at that database while the module runs (the API
    client, and its queue worker, are started on the session database before)."""
    from sqlalchemy.orm import Session

    from core import migrate
    from core.db import get_engine
    from core.users import upsert_user
    from sample_models.province import generate_province, write_province
    from tests.conftest import create_database, drop_database, settings_for

    name = f"cim_province_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    try:
        with settings_for(url):
            migrate.upgrade()
            generated = generate_province(PROVINCE_CITIES, PROVINCE_BUILDINGS, PROVINCE_SEED)
            counts = write_province(generated.cities)
            with Session(get_engine()) as session:
                upsert_user(session, "planner", "planner-demo", "planner")
                session.commit()
            yield {
                "url": url,
                "engine": get_engine(),
                "counts": counts,
                "generated": generated,
            }
            get_engine().dispose()
    finally:
        drop_database(server_url, name)
