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
def settings_for(database_url: str, data_dir: Path | None = None, owner_url: str | None = None) -> Iterator[None]:
    """The process on another database (and data folder; the schema owner's URL when another role owns
    it) inside the block, by constructing its settings; the ``cim`` commands tests run as child processes
    get the same through their environment, which is put back afterwards."""
    from core.settings import configured, get_settings

    settings = get_settings().model_copy(
        update={
            "database_url": database_url,
            "data_dir": data_dir or get_settings().data_dir,
            "owner_database_url": owner_url,
        }
    )
    saved = {key: os.environ.get(key) for key in {*settings.environment(), "CIM_OWNER_DATABASE_URL"}}
    os.environ.pop("CIM_OWNER_DATABASE_URL", None)  # an outer block's owner is not this database's
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
    belongs to the application role, and the URL is that role's."""
    from core import cluster

    local = cluster.status()
    owner_url = server_url
    if local.admin_url is not None and make_url(local.admin_url) == make_url(server_url) and local.url:
        owner_url = local.url
    return _create(server_url, name, owner_url)


def create_owned_database(server_url: str, name: str) -> tuple[str, str]:
    """Create an empty database as production has it; return (the application's URL, the owner's URL).
    On the local cluster the owner role (``cim_owner``) owns it and runs the migrations, and the
    application role (``cim``) may only read and write rows (core/roles.py); on another server
    (DATABASE_URL) one role is both."""
    from core import cluster

    local = cluster.status()
    if local.admin_url is None or make_url(local.admin_url) != make_url(server_url) or not local.owner_url:
        url = _create(server_url, name, server_url)
        return url, url
    owner_url = _create(server_url, name, local.owner_url)
    return make_url(local.url).set(database=name).render_as_string(hide_password=False), owner_url


def _create(server_url: str, name: str, owner_url: str) -> str:
    """``name`` made on the server, owned by ``owner_url``'s role; that role's URL to it."""
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


@contextmanager
def migrated_database(server_url: str, prefix: str, data_dir: Path | None = None) -> Iterator[Engine]:
    """A database of its own, migrated, with the process pointed at it (and at ``data_dir``, when given)
    inside the block; dropped after."""
    from core import migrate
    from core.db import get_engine

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = create_database(server_url, name)
    try:
        with settings_for(url, data_dir):
            migrate.upgrade()
            yield get_engine()
            get_engine().dispose()
    finally:
        drop_database(server_url, name)


@pytest.fixture(scope="session", autouse=True)
def database(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A fresh database for the whole session, migrated by the schema's owner and used by the DML-only
    application role as in production; dropped at the end."""
    name = f"cim_test_{uuid.uuid4().hex[:10]}"
    url, owner_url = create_owned_database(server_url, name)
    data_dir = tmp_path_factory.mktemp("cim-data")
    from core import migrate
    from core.db import get_engine
    from core.secrets import generated
    from core.settings import configure

    # The session's own random keys, as the demo makes them (the server refuses to start without),
    # and every layer readable without a login, as most tests read them (tests/test_security_access.py
    # checks the product's default: only buildings, parcels and roads public).
    session_env = {
        f"CIM_{key.upper()}_FILE": str(generated(data_dir, key)) for key in ("jwt_secret", "field_key", "pii_key")
    }
    session_env["CIM_PUBLIC_LAYERS"] = '["*"]'
    # Tokens the session's fixtures take once outlive the product's 15 minutes in a full run
    # (tests/test_security_sessions.py checks the product's default and the expiry itself).
    session_env["CIM_ACCESS_TOKEN_MINUTES"] = "180"
    saved = {key: os.environ.get(key) for key in session_env}
    os.environ.update(session_env)
    configure(None)  # read again with the session's environment
    try:
        with settings_for(url, data_dir, owner_url if owner_url != url else None):
            migrate.upgrade()
            yield get_engine()
            get_engine().dispose()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        configure(None)
        drop_database(server_url, name)


@pytest.fixture(scope="session")
def owner_database(database: Engine) -> Engine:
    """The schema owner's engine on the session's database: for what a test does that the application
    role may not (DDL, triggers), as an operator would."""
    from core.db import owner_engine

    return owner_engine()


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
        "ops",
        "ogc",
        "province",
        "uikit",
    )
]
