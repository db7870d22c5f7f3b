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


@contextmanager
def scratch_database(kind: str, *, keep: bool = False) -> Iterator[tuple[str, Path]]:
    """Yields (database URL, data dir); both are removed afterwards unless ``keep``."""
    server = _server_url()
    name = f"cim_bench_{kind}_{uuid.uuid4().hex[:6]}"
    url = create_database(server, name)
    data_dir = Path(tempfile.mkdtemp(prefix=f"cim-bench-{kind}-"))
    os.environ["DATABASE_URL"] = url
    os.environ["CIM_DATA_DIR"] = str(data_dir)
    # Keys of its own, as the tests make them (the server and the personal-data code refuse to run without).
    from core.secrets import generated

    for key in ("jwt_secret", "field_key", "pii_key"):
        os.environ.setdefault(f"CIM_{key.upper()}_FILE", str(generated(data_dir, key)))
    configure(None)  # the environment just set, read again
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
