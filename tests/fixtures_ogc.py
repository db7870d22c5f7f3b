"""Test fixtures for the OGC API Features tests (loaded by tests/conftest.py): a live uvicorn whose
access log the tests read (to count the requests a GDAL client makes), one serving a copy of the
registry with a collection empty by construction, and pyproj transformers computed independently
of the server."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Engine

from core.registry import DEFAULT_DIR, Registry, load, styles_dir
from spatial_api.local_server import uvicorn_server

# A collection no feature can ever be in, whatever other tests write: the emergency events layer
# over a subquery of its table that selects nothing.
EMPTY_COLLECTION = "no_events"


@dataclass
class LoggedServer:
    """A live server and its access log (one line per request)."""

    base: str
    log: Path

    def mark(self) -> int:
        """The number of log lines so far: requests after it are :meth:`requests_since` it."""
        return len(self._lines())

    def requests_since(self, mark: int) -> list[str]:
        return self._lines()[mark:]

    def _lines(self) -> list[str]:
        return [
            line for line in self.log.read_text(errors="replace").splitlines() if '"GET ' in line or '"HEAD ' in line
        ]


@pytest.fixture(scope="session")
def ogc_server(database: Engine, sample_city, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedServer]:
    """A real uvicorn serving the app over the test database with its access log in a file."""
    log = tmp_path_factory.mktemp("ogc-server") / "access.log"
    env = {**os.environ, "DATABASE_URL": database.url.render_as_string(hide_password=False)}
    with uvicorn_server(env, log_path=log) as base:
        yield LoggedServer(base, log)


@dataclass
class EmptyCollectionServer:
    """A live server whose registry is the shipped one plus the collection ``empty``."""

    base: str
    registry: Registry
    empty: str = EMPTY_COLLECTION


@pytest.fixture(scope="session")
def empty_collection_server(
    database: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmptyCollectionServer]:
    """A real uvicorn over the test database serving a copy of the registry (``CIM_REGISTRY_DIR``) with
    one more collection whose source selects no row, so that its emptiness depends on no test's order."""
    folder = tmp_path_factory.mktemp("empty-collection-registry")
    document = json.loads((DEFAULT_DIR / "layers.json").read_text(encoding="utf-8"))
    events = next(layer for layer in document["layers"] if layer["name"] == "emergency_events")
    empty = {key: value for key, value in events.items() if key not in ("pick", "identifiable")}
    empty |= {
        "name": EMPTY_COLLECTION,
        "title": {"zh": "无事件（测试用空集合）", "en": "No events (an empty collection for tests)"},
        "description": {"zh": "不含任何要素的集合", "en": "A collection without features"},
        "source": "(SELECT * FROM emergency_event WHERE false)",
        "mvt": False,
    }
    document["layers"].append(empty)
    (folder / "layers.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    log = folder / "access.log"
    env = {
        **os.environ,
        "DATABASE_URL": database.url.render_as_string(hide_password=False),
        "CIM_REGISTRY_DIR": str(folder),
    }
    with uvicorn_server(env, log_path=log) as base:
        yield EmptyCollectionServer(base, load(folder, styles_dir()))


@pytest.fixture(scope="session")
def store_to(database: Engine) -> Callable[[str], Callable[[shapely.Geometry], shapely.Geometry]]:
    """``store_to("EPSG:4490")(geom)``: store-CRS (EPSG:4549, x = easting) geometry in that CRS, in the
    CRS's own axis order (EPSG:4490: latitude first), with pyproj alone."""

    def make(target: str) -> Callable[[shapely.Geometry], shapely.Geometry]:
        forward = Transformer.from_crs("EPSG:4549", target)  # authority order both ways
        return lambda geom: shapely.transform(
            geom, lambda x, y: forward.transform(y.tolist(), x.tolist()), interleaved=False
        )

    return make
