"""A throw-away, migrated database on the project's cluster (or DATABASE_URL's server) and a data
dir of its own, for a benchmark run; the process's settings point at both while it lasts."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.settings import configure
from tests.conftest import _server_url, create_database, drop_database


def _point_at(url: str, data_dir: Path) -> None:
    """The process's settings to the database and the data dir, with the data dir's keys (made if missing, as
    the tests make them: the server and the personal-data code refuse to run without)."""
    from core.secrets import generated

    os.environ["DATABASE_URL"] = url
    os.environ["CIM_DATA_DIR"] = str(data_dir)
    for key in ("jwt_secret", "field_key", "pii_key"):
        os.environ.setdefault(f"CIM_{key.upper()}_FILE", str(generated(data_dir, key)))
    configure(None)  # the environment just set, read again


@contextmanager
def kept_database(url: str, data_dir: Path) -> Iterator[tuple[str, Path]]:
    """Yields the database and data dir an earlier ``scratch_database(..., keep=True)`` left, kept after."""
    from core.db import get_engine

    _point_at(url, data_dir)
    try:
        yield url, data_dir
    finally:
        get_engine().dispose()


@contextmanager
def scratch_database(kind: str, *, keep: bool = False) -> Iterator[tuple[str, Path]]:
    """Yields (database URL, data dir); both are removed afterwards unless ``keep``."""
    server = _server_url()
    name = f"cim_bench_{kind}_{uuid.uuid4().hex[:6]}"
    url = create_database(server, name)
    data_dir = Path(tempfile.mkdtemp(prefix=f"cim-bench-{kind}-"))
    _point_at(url, data_dir)
    from core import migrate
    from core.db import get_engine

    try:
        migrate.upgrade()
        yield url, data_dir
    finally:
        get_engine().dispose()
        if not keep:
            drop_database(server, name)
            shutil.rmtree(data_dir, ignore_errors=True)
