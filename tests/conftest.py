"""Session fixtures: a throw-away PostGIS database on the project's cluster (or on the server
that DATABASE_URL names), migrated once; the API app; the shared public datasets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
ARTIFACTS = ROOT / "test-artifacts"


def _clear_caches() -> None:
    from core import db, jobs, settings

    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    db._session_factory.cache_clear()
    jobs.get_queue.cache_clear()


def _server_url() -> str:
    """URL of the server to make test databases on: DATABASE_URL's, else the local cluster's
    superuser's (the application role may not create databases)."""
    from core import cluster

    if os.environ.get("DATABASE_URL"):
        from core.db import database_url

        return database_url()
    return cluster.up().admin_url or ""


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


def create_database(server_url: str, name: str) -> str:
    """Create an empty database on the server; return its URL. On the local cluster the database
    belongs to the application role, and the URL is that role's, as the server would use it."""
    from core import cluster

    local = cluster.status()
    owner_url = server_url
    if local.admin_url is not None and make_url(local.admin_url) == make_url(server_url) and local.url:
        owner_url = local.url
    owner = make_url(owner_url).username
    admin = create_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
    admin.dispose()
    return make_url(owner_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    admin = create_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def database(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A fresh, migrated database for the whole session; dropped at the end."""
    name = f"cim_test_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    secret_files = {f"CIM_{name.upper()}_FILE": name for name in ("jwt_secret", "field_key", "pii_key")}
    saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "CIM_DATA_DIR", "CIM_PUBLIC_LAYERS", *secret_files)}
    data_dir = tmp_path_factory.mktemp("cim-data")
    os.environ["DATABASE_URL"] = url
    os.environ["CIM_DATA_DIR"] = str(data_dir)
    # The session's own random keys, as the demo makes them (the server refuses to start without).
    from core.secrets import generated

    for variable, name in secret_files.items():
        os.environ[variable] = str(generated(data_dir, name))
    # Every layer readable without a login, as most tests read them; tests/test_security_access.py
    # checks the product's default (only buildings, parcels and roads public).
    os.environ["CIM_PUBLIC_LAYERS"] = '["*"]'
    _clear_caches()
    from core import migrate
    from core.db import get_engine

    migrate.upgrade()
    yield get_engine()
    get_engine().dispose()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _clear_caches()
    drop_database(server_url, name)


@pytest.fixture(scope="session")
def client(database: Engine):
    """The API app with its lifespan (queue worker included)."""
    from fastapi.testclient import TestClient

    from spatial_api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip("../shared/datasets is absent: the public test data lives beside the project")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# Each area keeps its fixtures in its own module.
pytest_plugins = [
    f"tests.fixtures_{area}"
    for area in (
        "city",
        "gis",
        "bim",
        "tiles",
        "api",
        "review",
        "joint_review",
        "viewer",
        "records",
        "credit",
        "security",
        "live",
    )
]
