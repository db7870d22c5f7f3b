"""The DEM as terrain for the viewer: its extent and heightmap samples (ellipsoidal heights)."""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
from fastapi import APIRouter, Query, Response
from pyproj import CRS, Transformer
from pyproj.crs import CompoundCRS

from core.errors import NotFound
from core.settings import get_settings
from gis import crs, dem
from spatial_api.schemas.terrain import MapGrid, TerrainExtent

router = APIRouter(prefix="/terrain", tags=["terrain"])

MAX_SIZE = 129


@lru_cache
def _orthometric_to_ellipsoidal() -> Transformer:
    """(lon, lat, orthometric height) on the store's datum to ellipsoidal height: valid world-wide,
    unlike the projected store CRS far outside its zone."""
    geographic = crs.store_crs().geodetic_crs
    vertical = CRS.from_epsg(get_settings().store_vertical_srid)
    compound = CompoundCRS(f"{geographic.name} + {vertical.name}", [geographic, vertical])
    return crs.pinned_transformer(compound.srs, crs.GEOGRAPHIC_3D.srs)


@router.get("/extent", response_model=TerrainExtent)
def extent() -> dict:
    """The DEM's bounding box in CRS84 and its lowest height (orthometric, and ellipsoidal at the
    box's centre): what the viewer takes as ground outside the DEM. 404 when no DEM is loaded."""
    found = dem.extent()
    if found is None:
        raise NotFound("no DEM is loaded: import one with `cim gis import-dem` or load the sample city")
    box, low = found
    xs, ys = np.array([box[0], box[2], box[0], box[2]]), np.array([box[1], box[1], box[3], box[3]])
    lon, lat = crs.store_to_crs84().transform(xs, ys)
    _, _, h_ellipsoidal = crs.store_to_lonlat_h().transform(xs.mean(), ys.mean(), low)
    return {
        "bbox": [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())],
        "h_orthometric_min": low,
        "h_ellipsoidal_min": float(h_ellipsoidal),
    }


@router.get("/grid", response_model=MapGrid)
def grid() -> dict:
    """The city's map grid (the projected store CRS): what the viewer shows and reads grid
    coordinates (easting, northing) in."""
    store = crs.store_crs()
    area = store.area_of_use
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "may lose information": a projected grid keeps all it needs
        proj4 = store.to_proj4()
    return {
        "epsg": store.to_epsg(),
        "name": store.name,
        "proj4": proj4,
        "bbox": [area.west, area.south, area.east, area.north] if area else [-180.0, -90.0, 180.0, 90.0],
    }


@router.get(
    "/heights",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
)
def heights(
    west: float = Query(..., ge=-180, le=180),
    south: float = Query(..., ge=-90, le=90),
    east: float = Query(..., ge=-180, le=180),
    north: float = Query(..., ge=-90, le=90),
    size: int = Query(33, ge=2, le=MAX_SIZE),
    fill_h_orthometric: float = Query(0.0, description="ground height taken where the DEM has no value"),
) -> Response:
    """A size×size grid of ellipsoidal heights (float32, little-endian, rows north to south, edges
    included) over a lon/lat rectangle, bilinear from the DEM; ``fill_h_orthometric`` outside it."""
    lon, lat = (a.ravel() for a in np.meshgrid(np.linspace(west, east, size), np.linspace(north, south, size)))
    x, y = crs.crs84_to_store().transform(lon, lat)
    h = np.full(lon.shape, fill_h_orthometric)
    in_zone = np.isfinite(x) & np.isfinite(y)
    if in_zone.any():
        sampled = np.asarray(dem.ground_heights(np.column_stack([x[in_zone], y[in_zone]])), dtype=float)
        h[in_zone] = np.where(np.isnan(sampled), fill_h_orthometric, sampled)
    _, _, h_ellipsoidal = _orthometric_to_ellipsoidal().transform(lon, lat, h)
    body = np.asarray(h_ellipsoidal, dtype="<f4").tobytes()
    return Response(body, media_type="application/octet-stream", headers={"Cache-Control": "max-age=3600"})


def warm_up() -> None:
    """Load the DEM and build the transformers the answers above use (about a second), at start-up
    rather than in the first page load. Without a DEM there is nothing to do."""
    try:
        box = extent()["bbox"]
    except NotFound:
        return
    heights(west=box[0], south=box[1], east=box[2], north=box[3], size=2, fill_h_orthometric=0.0)
