"""Test fixtures for the OGC API Features tests (loaded by tests/conftest.py): a live uvicorn whose
access log the tests read (to count the requests a GDAL client makes), and pyproj transformers
computed independently of the server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Engine

from spatial_api.local_server import uvicorn_server


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
