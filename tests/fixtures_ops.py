"""A bundled cluster of the tests' own (its own data folder, port and passwords), for the
readiness, backup and restore tests that stop, restart and restore it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def bundled_at(data_dir: Path, database_url: str | None = None, owner_url: str | None = None) -> Iterator[None]:
    """Inside the block, ``core.cluster`` (and the backups) work on the cluster under ``data_dir``,
    and the database is ``database_url`` with ``owner_url`` its schema owner's (unchanged when None)."""
    from core.settings import configured, get_settings

    update: dict[str, object] = {"data_dir": data_dir}
    if database_url is not None:
        update["database_url"] = database_url
    if owner_url is not None:
        update["owner_database_url"] = owner_url
    with configured(get_settings().model_copy(update=update)):
        yield


@pytest.fixture(scope="session")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh bundled cluster (initdb, roles, PostGIS) under a data folder of its own; stopped and
    removed at the end, backups and restores beside it included."""
    from core import cluster

    data = tmp_path_factory.mktemp("ops-bundled")
    with bundled_at(data):
        state = cluster.up()
    try:
        yield data
    finally:
        with bundled_at(data):
            cluster.down()
        place = state.data_dir.parent
        if place != data:  # root: the cluster lives under /var/lib/cim/<hash>
            shutil.rmtree(place, ignore_errors=True)
