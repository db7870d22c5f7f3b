"""DEM import and ground-height sampling: planes (exact under bilinear), foot units, warping, PostGIS agreement."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer
from sqlalchemy import text

from gis.dem import DemError, ground_heights, import_dem

X0, Y0, PIXEL = 500_000.0, 3_520_000.0, 10.0  # store CRS EPSG:4549, near Changzhou


def plane(x, y):
    return 5.0 + 0.002 * (x - X0) - 0.001 * (Y0 - y)


def plane_grid(rows: int, cols: int) -> np.ndarray:
    cx = X0 + (np.arange(cols) + 0.5) * PIXEL
    cy = Y0 - (np.arange(rows) + 0.5) * PIXEL
    return plane(cx[None, :], cy[:, None])


def test_plane_in_store_crs_samples_exactly_and_matches_postgis(geotiff, gis_database):
    values = plane_grid(300, 520)  # 2 x 3 tiles of 256
    values[0:5, 0:5] = -32768.0  # nodata corner
    report = import_dem(geotiff("plane.tif", values, (X0, Y0), PIXEL, "EPSG:4549"))
    assert report["tiles"] == 6
    assert report["size"] == [520, 300]
    assert report["bounds"] == pytest.approx([X0, Y0 - 3000, X0 + 5200, Y0])
    assert report["nodata_pixels"] == 25
    with gis_database.connect() as conn:
        assert conn.execute(text("SELECT count(*), min(ST_SRID(rast)) FROM dem_tile")).one() == (6, 4549)
    rng = np.random.default_rng(1)
    xy = np.column_stack([rng.uniform(X0 + 100, X0 + 5100, 200), rng.uniform(Y0 - 2900, Y0 - 100, 200)])
    got = ground_heights(xy)
    np.testing.assert_allclose(got, plane(xy[:, 0], xy[:, 1]), atol=1e-4)  # float32 storage
    # across tile seams too, and NaN outside the raster
    seam = np.array([[X0 + 2560.0, Y0 - 1000.0], [X0 + 1000.0, Y0 - 2560.0]])
    np.testing.assert_allclose(ground_heights(seam), plane(seam[:, 0], seam[:, 1]), atol=1e-4)
    assert np.isnan(ground_heights(np.array([[X0 - 50, Y0 - 50], [X0 + 9000, Y0 - 10]]))).all()
    # PostGIS's own bilinear ST_Value agrees away from tile edges
    with gis_database.connect() as conn:
        for x, y in xy[:10]:
            sql = (
                "SELECT ST_Value(rast, 1, ST_SetSRID(ST_Point(:x, :y), 4549), resample => 'bilinear') FROM dem_tile "
                "WHERE ST_Intersects(rast, ST_SetSRID(ST_Point(:x, :y), 4549))"
            )
            pg = conn.execute(text(sql), {"x": x, "y": y}).scalars().first()
            assert pg == pytest.approx(plane(x, y), abs=1e-3)


def test_feet_heights_become_metres_and_reimport_replaces(geotiff, gis_database):
    values = np.full((20, 20), 100.0)  # 100 ft
    report = import_dem(geotiff("feet.tif", values, (X0, Y0), PIXEL, "EPSG:4549", units="ft"))
    assert report["z_factor"] == pytest.approx(0.3048)
    assert ground_heights(np.array([[X0 + 100, Y0 - 100]]))[0] == pytest.approx(30.48, abs=1e-4)
    with gis_database.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM dem_tile")).scalar_one() == 1
    # z_unit override wins over the band's unit
    report = import_dem(geotiff("feet2.tif", values, (X0, Y0), PIXEL, "EPSG:4549", units="ft"), z_unit="m")
    assert ground_heights(np.array([[X0 + 100, Y0 - 100]]))[0] == pytest.approx(100.0, abs=1e-4)


def test_geographic_dem_is_warped_into_store_crs(geotiff, gis_database):
    # a plane in lon/lat around 119.9E 31.8N, 0.0005 deg pixels
    lon0, lat0, step = 119.90, 31.80, 0.0005
    lons = lon0 + (np.arange(200) + 0.5) * step
    lats = lat0 - (np.arange(160) + 0.5) * step
    grid = 10.0 + 1000.0 * (lons[None, :] - lon0) + 500.0 * (lat0 - lats[:, None])
    report = import_dem(geotiff("geo.tif", grid, (lon0, lat0), step, "EPSG:4326"))
    assert report["crs"] == "EPSG:4549"
    to_store = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
    rng = np.random.default_rng(2)
    lon = rng.uniform(lon0 + 0.01, lon0 + 0.09, 50)
    lat = rng.uniform(lat0 - 0.07, lat0 - 0.01, 50)
    x, y = to_store.transform(lon, lat)
    expected = 10.0 + 1000.0 * (lon - lon0) + 500.0 * (lat0 - lat)
    np.testing.assert_allclose(ground_heights(np.column_stack([x, y])), expected, atol=1e-3)


def test_dem_without_crs_is_a_clear_error(geotiff, gis_database):
    path = geotiff("nocrs.tif", np.zeros((4, 4)), (X0, Y0), PIXEL, None)
    with pytest.raises(DemError, match="no CRS"):
        import_dem(path)
