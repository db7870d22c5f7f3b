"""The DEM as terrain for the viewer, on the sample city: expected answers from PostGIS raster SQL
(ST_Extent, ST_SummaryStats, bilinear ST_Value) and pyproj directly (independent of gis.crs)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import box

import gis.crs  # noqa: F401 - adds Debian's PROJ grids (EGM96) to pyproj's search path

API = "/api/v1/terrain"
STORE_TO_LONLAT_H = "EPSG:4549+5773", "EPSG:4979"
LONLAT_TO_ELLIPSOIDAL = "EPSG:4490+5773", "EPSG:4979"
TO_STORE = "OGC:CRS84", "EPSG:4549"


@cache
def pyproj_transform(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


@pytest.fixture(scope="module")
def dem_sql(rows, sample_city) -> dict:
    box = rows(
        "SELECT ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, ST_YMax(e) AS y1 "
        "FROM (SELECT ST_Extent(ST_Envelope(rast)) AS e FROM dem_tile) s"
    )[0]
    low = rows("SELECT min((ST_SummaryStats(rast)).min) AS low FROM dem_tile")[0]["low"]
    return {**box, "low": low}


def test_extent_is_the_dem_box_and_its_lowest_height(client, dem_sql, to_lonlat):
    answer = client.get(f"{API}/extent").json()
    expected = to_lonlat(box(dem_sql["x0"], dem_sql["y0"], dem_sql["x1"], dem_sql["y1"])).bounds
    assert answer["bbox"] == pytest.approx(expected, abs=1e-9)
    assert answer["h_orthometric_min"] == pytest.approx(dem_sql["low"], abs=1e-4)
    centre = ((dem_sql["x0"] + dem_sql["x1"]) / 2, (dem_sql["y0"] + dem_sql["y1"]) / 2)
    h = pyproj_transform(*STORE_TO_LONLAT_H).transform(*centre, dem_sql["low"])[2]
    assert answer["h_ellipsoidal_min"] == pytest.approx(h, abs=1e-6)
    # EGM96 lies ~5 m above the ellipsoid here: the two heights must differ by that, not be equal
    assert 1.0 < answer["h_ellipsoidal_min"] - answer["h_orthometric_min"] < 15.0


def test_heights_are_bilinear_dem_values_as_ellipsoidal_heights(client, rows, dem_sql, to_lonlat):
    west, south, east, north = to_lonlat(
        box(dem_sql["x0"], dem_sql["y0"], dem_sql["x1"], dem_sql["y1"]).buffer(-200)
    ).bounds
    size = 7
    response = client.get(
        f"{API}/heights", params={"west": west, "south": south, "east": east, "north": north, "size": size}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/octet-stream"
    heights = np.frombuffer(response.content, dtype="<f4").reshape(size, size)
    lon, lat = np.meshgrid(np.linspace(west, east, size), np.linspace(north, south, size))
    x, y = pyproj_transform(*TO_STORE).transform(lon.ravel(), lat.ravel())
    compared = 0
    for k, (px, py) in enumerate(zip(x, y, strict=True)):
        found = rows(
            "SELECT ST_Value(rast, 1, ST_SetSRID(ST_MakePoint(:x, :y), 4549), true, 'bilinear') AS h "
            "FROM dem_tile WHERE ST_Intersects(ST_ConvexHull(rast), "
            "ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 4549), 12))",
            x=float(px),
            y=float(py),
        )
        if len(found) != 1 or found[0]["h"] is None:
            continue  # near a tile edge PostGIS interpolates within one tile only: not comparable
        expected = pyproj_transform(*LONLAT_TO_ELLIPSOIDAL).transform(lon.ravel()[k], lat.ravel()[k], found[0]["h"])[2]
        assert heights.ravel()[k] == pytest.approx(expected, abs=2e-3), (k, px, py)
        compared += 1
    assert compared >= size * size // 2
    # the DEM is not flat: a grid of one repeated value would pass nothing above
    assert np.ptp(heights) > 0.5


def test_heights_outside_the_dem_are_the_fill_height(client, dem_sql, to_lonlat):
    # 20 km east of the DEM, still in the store CRS's zone
    west, south, east, north = to_lonlat(
        box(dem_sql["x1"] + 20_000, dem_sql["y0"], dem_sql["x1"] + 21_000, dem_sql["y0"] + 1_000)
    ).bounds
    fill = 7.5
    params = {"west": west, "south": south, "east": east, "north": north, "size": 3, "fill_h_orthometric": fill}
    heights = np.frombuffer(client.get(f"{API}/heights", params=params).content, dtype="<f4")
    lon, lat = np.meshgrid(np.linspace(west, east, 3), np.linspace(north, south, 3))
    expected = pyproj_transform(*LONLAT_TO_ELLIPSOIDAL).transform(lon.ravel(), lat.ravel(), np.full(9, fill))[2]
    assert heights == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    "params",
    [
        {"west": 119.9, "south": 31.7, "east": 120.0, "north": 31.8, "size": 500},
        {"west": 119.9, "south": 31.7, "east": 120.0, "north": 95.0},
        {"west": "x; DROP TABLE dem_tile", "south": 31.7, "east": 120.0, "north": 31.8},
    ],
)
def test_bad_heights_requests_are_refused_with_422(client, sample_city, params):
    response = client.get(f"{API}/heights", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"{API}/extent").status_code == 200
