"""Test fixtures for the gis tests (loaded by tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

CIM = Path(sys.executable).with_name("cim")


def write_geotiff(
    path: Path, values: np.ndarray, origin: tuple[float, float], pixel: float, crs: str | None, units: str | None = None
) -> Path:
    """A one-band float32 GeoTIFF, north up, upper-left corner at ``origin``."""
    profile = {
        "driver": "GTiff",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": "float32",
        "transform": from_origin(origin[0], origin[1], pixel, pixel),
        "nodata": -32768.0,
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype("float32"), 1)
        if units:
            dst.units = (units,)
    return path


@pytest.fixture
def geotiff(tmp_path: Path) -> Callable[..., Path]:
    """Write a GeoTIFF into the test's directory: ``geotiff(name, values, origin, pixel, crs, units=None)``."""

    def make(name: str, values: np.ndarray, origin, pixel: float, crs: str | None, units: str | None = None) -> Path:
        return write_geotiff(tmp_path / name, values, origin, pixel, crs, units)

    return make


@pytest.fixture(scope="module")
def gis_database(database, server_url: str):
    """A database of its own for a gis test module (imports replace the DEM and add network rows, which must
    not leak into the sample city other tests read); the process points at it while the module runs."""
    from tests.conftest import migrated_database

    with migrated_database(server_url, "cim_gis") as engine:
        yield engine


@pytest.fixture(scope="module")
def utm16_database(database, server_url: str):
    """Environment for `cim` subprocesses on a migrated database whose store CRS is UTM 16N (EPSG:32616),
    for the Kentucky water network: a Gauss-Krüger zone at 120°E cannot hold North America."""
    from tests.conftest import create_database, drop_database

    name = f"cim_gis_utm_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    env = os.environ | {"DATABASE_URL": url, "CIM_STORE_SRID": "32616"}
    try:
        subprocess.run([str(CIM), "db", "migrate"], env=env, check=True, capture_output=True, timeout=120)
        yield env
    finally:
        drop_database(server_url, name)
