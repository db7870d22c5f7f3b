"""Session fixtures: a throw-away PostGIS database on the project's cluster (or on the server
that DATABASE_URL names), migrated once; the API app; the shared public datasets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
ARTIFACTS = ROOT / "test-artifacts"


@contextmanager
def settings_for(database_url: str, data_dir: Path | None = None) -> Iterator[None]:
    """The process on another database (and data folder) inside the block, by constructing its
    settings; the ``cim`` commands tests run as child processes get the same through their
    environment, which is put back afterwards."""
    from core.settings import configured, get_settings

    settings = get_settings().model_copy(
        update={"database_url": database_url, "data_dir": data_dir or get_settings().data_dir}
    )
    saved = {key: os.environ.get(key) for key in settings.environment()}
    os.environ.update(settings.environment())
    try:
        with configured(settings):
            yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _server_url() -> str:
    """URL of the server to make test databases on: DATABASE_URL's, else the local cluster's."""
    from core import cluster

    if os.environ.get("DATABASE_URL"):
        from core.db import database_url

        return database_url()
    return cluster.up().url or ""


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


def create_database(server_url: str, name: str) -> str:
    """Create an empty database on the server; return its URL."""
    admin = create_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


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
    from core import migrate
    from core.db import get_engine

    with settings_for(url, tmp_path_factory.mktemp("cim-data")):
        migrate.upgrade()
        yield get_engine()
        get_engine().dispose()
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
pytest_plugins = [f"tests.fixtures_{area}" for area in ("city", "gis", "bim", "tiles", "api", "review", "viewer")]
