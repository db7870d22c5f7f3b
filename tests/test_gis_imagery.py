"""Imagery: `cim gis import-imagery` of a GeoTIFF in the store CRS, its XYZ PNG tiles compared with
an independent rasterio reprojection of the source into the tile's grid, the DEM hillshade the demo
uses, and bad input (not a raster, no CRS, a path with '..', unknown layer, a tile off the grid)."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.transform import from_bounds, from_origin
from rasterio.warp import reproject

from tests.fixtures_gis import CIM
from tests.test_maps_2d import _tile_box, _tile_of

API = "/api/v1"
ORIGIN = (452_000.0, 3_391_000.0)  # EPSG:4549 (CGCS2000 / 3-degree GK CM 120E), upper-left corner
PIXEL = 2.0
HALF = 20037508.342789244


def _cim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CIM), *args], capture_output=True, text=True, timeout=300, env=os.environ.copy())


def _rgb(path, crs: str | None = "EPSG:4549", shape=(150, 200)):
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    bands = np.stack(
        [
            (cols * 255 / shape[1]).astype(np.uint8),
            (rows * 255 / shape[0]).astype(np.uint8),
            (128 + 100 * np.sin(cols / 15) * np.cos(rows / 20)).astype(np.uint8),
        ]
    )
    profile = {
        "driver": "GTiff",
        "width": shape[1],
        "height": shape[0],
        "count": 3,
        "dtype": "uint8",
        "transform": from_origin(*ORIGIN, PIXEL, PIXEL),
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(bands)
    return path


@pytest.fixture(scope="module")
def imported(gis_database, tmp_path_factory) -> dict:
    path = _rgb(tmp_path_factory.mktemp("imagery") / "aerial.tif")
    done = _cim("gis", "import-imagery", str(path), "--json")
    assert done.returncode == 0, done.stderr
    return {"path": path, "result": json.loads(done.stdout.strip().splitlines()[-1])}


def test_import_records_the_layer(imported, client):
    result = imported["result"]
    assert result["name"] == "aerial" and result["bands"] == 3 and result["source_crs"] == "EPSG:4549"
    to_lonlat = Transformer.from_crs("EPSG:4549", "OGC:CRS84", always_xy=True)
    corners = [to_lonlat.transform(ORIGIN[0] + dx, ORIGIN[1] - dy) for dx in (0, 400) for dy in (0, 300)]
    west, south = min(c[0] for c in corners), min(c[1] for c in corners)
    east, north = max(c[0] for c in corners), max(c[1] for c in corners)
    got = [result["west"], result["south"], result["east"], result["north"]]
    assert all(abs(g - e) < 2e-5 for g, e in zip(got, [west, south, east, north], strict=True)), (got, west, south)
    listed = client.get(f"{API}/imagery").json()
    (layer,) = [la for la in listed if la["name"] == "aerial"]
    # The native zoom: a tile pixel about the image's 2 m pixel (Web Mercator stretches it by 1/cos(lat)).
    mercator_pixel = PIXEL / math.cos(math.radians((south + north) / 2))
    native = round(math.log2(2 * HALF / 256 / mercator_pixel))
    assert layer["tiles"] == f"{API}/imagery/aerial/{{z}}/{{x}}/{{y}}.png" and layer["maxzoom"] == native


@pytest.mark.parametrize("z", [16, 18])
def test_tile_pixels_match_an_independent_reprojection(imported, client, z):
    lon, lat = Transformer.from_crs("EPSG:4549", "OGC:CRS84", always_xy=True).transform(
        ORIGIN[0] + 200, ORIGIN[1] - 150
    )
    x, y = _tile_of(lon, lat, z)
    response = client.get(f"{API}/imagery/aerial/{z}/{x}/{y}.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    got = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))
    expected = np.zeros((3, 256, 256), np.float32)
    with rasterio.open(imported["path"]) as src:
        reproject(
            src.read().astype(np.float32),
            expected,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=from_bounds(*_tile_box(z, x, y).bounds, 256, 256),
            dst_crs="EPSG:3857",
            resampling=Resampling.bilinear,
            src_nodata=None,
            dst_nodata=np.nan,
        )
    covered = ~np.isnan(expected).any(axis=0)
    opaque = got[..., 3] == 255
    assert covered.sum() > 1000
    assert (covered == opaque).mean() > 0.97  # the image's footprint, give or take its edge pixels
    both = covered & opaque
    diff = np.abs(got[..., :3].transpose(2, 0, 1)[:, both].astype(np.float32) - expected[:, both])
    assert diff.mean() < 3.0 and np.percentile(diff, 99) < 20, (diff.mean(), np.percentile(diff, 99))


def test_a_tile_outside_the_image_is_transparent(imported, client):
    response = client.get(f"{API}/imagery/aerial/10/0/0.png")
    assert response.status_code == 200
    assert np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))[..., 3].max() == 0


def test_dem_hillshade_is_the_demos_imagery(gis_database, client, geotiff, tmp_path):
    """A plane rising to the east lit from the west-north-west: every pixel alike, and the value of
    the hillshade formula (computed here) for that slope."""
    from gis.imagery import hillshade

    heights = np.tile(np.arange(60, dtype=np.float32) * 0.5, (40, 1))  # +0.5 m per 2 m pixel eastwards
    dem = geotiff("dem.tif", heights, ORIGIN, PIXEL, "EPSG:4549")
    shade = hillshade(dem, tmp_path / "shade.tif")
    with rasterio.open(shade) as src:
        grey = src.read(1)[2:-2, 2:-2]
    slope = math.atan(0.25)
    zenith, azimuth = math.radians(45), math.radians(360 - 315 + 90)
    aspect = math.atan2(-0.25, 0)  # dz/dx = 0.25, dz/dy = 0
    value = math.sin(zenith) * math.cos(slope) + math.cos(zenith) * math.sin(slope) * math.cos(azimuth - aspect)
    assert np.all(np.abs(grey.astype(int) - round(1 + 254 * value)) <= 1), (grey.min(), grey.max(), value)
    done = _cim("gis", "import-imagery", str(shade), "--name", "hillshade", "--json")
    assert done.returncode == 0, done.stderr
    assert any(la["name"] == "hillshade" and la["bands"] == 1 for la in client.get(f"{API}/imagery").json())


def test_bad_input_gets_a_clear_error(gis_database, tmp_path):
    text_file = tmp_path / "notes.tif"
    text_file.write_text("not a raster")
    done = _cim("gis", "import-imagery", str(text_file))
    assert done.returncode == 2 and "not a raster" in done.stderr
    no_crs = _rgb(tmp_path / "nocrs.tif", crs=None)
    done = _cim("gis", "import-imagery", str(no_crs))
    assert done.returncode == 2 and "no CRS" in done.stderr
    done = _cim("gis", "import-imagery", str(tmp_path / ".." / tmp_path.name / "nocrs.tif"))
    assert done.returncode == 2 and "'..'" in done.stderr
    assert not (tmp_path / "imagery").exists()


@pytest.mark.parametrize(
    ("url", "status"),
    [("/imagery/nowhere/1/0/0.png", 404), ("/imagery/aerial/2/9/0.png", 400), ("/imagery/aerial/30/0/0.png", 422)],
)
def test_tile_problems(imported, client, url, status):
    response = client.get(API + url)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"
