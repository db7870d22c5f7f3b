"""Checked analysis inputs: CRS84 GeoJSON and points turned into store-CRS shapely geometry.

Every check raises a UserError that says what is wrong and what to send instead.
"""

from __future__ import annotations

import time

import shapely
from pyproj import Transformer
from shapely import Point, Polygon
from shapely.geometry import shape
from shapely.validation import explain_validity
from sqlalchemy import Connection, text

from core.errors import UserError
from core.settings import store_srid
from gis.crs import crs84_to_store, store_to_crs84

MAX_RADIUS_M = 5_000.0
MAX_AREA_M2 = 100e6  # 100 km², a district
MAX_VERTICES = 20_000  # a drawn area or line; a million held a worker for over a minute
CITY_MARGIN_M = 2_000.0
EXTENT_MAX_AGE_S = 60.0

_city: tuple[float, Polygon | None] | None = None


class OutsideCity(UserError):
    status_code = 422


def _lonlat_ok(lon: float, lat: float) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise UserError(f"({lon}, {lat}) is not a CRS84 position: give longitude -180..180, latitude -90..90")


def _project(transformer: Transformer, geom: shapely.Geometry) -> shapely.Geometry:
    # Lists, not 1-element arrays, so pyproj takes its array path for single points too.
    return shapely.transform(geom, lambda x, y: transformer.transform(x.tolist(), y.tolist()), interleaved=False)


def to_store(geom: shapely.Geometry) -> shapely.Geometry:
    """CRS84 → store CRS, every vertex through pyproj."""
    return _project(crs84_to_store(), geom)


def to_crs84(geom: shapely.Geometry) -> shapely.Geometry:
    return _project(store_to_crs84(), geom)


def city_extent(conn: Connection) -> Polygon | None:
    """The box around every building, parcel, road and pipe (store CRS), grown by a margin; cached."""
    global _city
    if _city is not None and time.monotonic() - _city[0] < EXTENT_MAX_AGE_S:
        return _city[1]
    row = conn.execute(
        text(
            """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(g) AS e FROM (
                 SELECT ST_Extent(footprint)::geometry AS g FROM building
                 UNION ALL SELECT ST_Extent(geom)::geometry FROM parcel
                 UNION ALL SELECT ST_Extent(red_line)::geometry FROM road
                 UNION ALL SELECT ST_Extent(geom)::geometry FROM pipeline) AS parts) AS s"""
        )
    ).first()
    box = None
    if row is not None and row[0] is not None:
        box = shapely.box(*row).buffer(CITY_MARGIN_M, join_style="mitre")
    _city = (time.monotonic(), box)
    return box


def forget_city_extent() -> None:
    """Drop the cached extent (after the city was replaced)."""
    global _city
    _city = None


def _inside_city(conn: Connection, geom: shapely.Geometry, what: str) -> None:
    city = city_extent(conn)
    if city is None:
        raise OutsideCity("no city is loaded: load one with `cim demo` or import layers with `cim gis import`")
    if not city.intersects(geom):
        lon0, lat0, lon1, lat1 = to_crs84(city).bounds
        raise OutsideCity(
            f"the {what} lies outside the city (lon {lon0:.4f}..{lon1:.4f}, lat {lat0:.4f}..{lat1:.4f}): "
            "give a location inside it"
        )


def point(conn: Connection, lon: float, lat: float) -> Point:
    """A CRS84 position inside the city, in the store CRS."""
    _lonlat_ok(lon, lat)
    pt = to_store(Point(lon, lat))
    _inside_city(conn, pt, "point")
    return pt


def radius(value: float, what: str = "radius_m") -> float:
    if not (0 < value <= MAX_RADIUS_M):
        raise UserError(f"{what} must be more than 0 and at most {MAX_RADIUS_M:.0f} m, not {value}")
    return float(value)


def geometry(conn: Connection, geojson: object, kinds: tuple[str, ...], what: str = "geometry") -> shapely.Geometry:
    """A GeoJSON geometry in CRS84 of one of ``kinds``, valid, not too large, inside the city; in the store CRS."""
    if not isinstance(geojson, dict) or geojson.get("type") not in kinds:
        raise UserError(f"{what} must be a GeoJSON geometry of type {' or '.join(kinds)} in CRS84 (lon, lat)")
    try:
        geom = shape(geojson)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise UserError(f"{what} is not readable GeoJSON ({exc}): check its coordinates") from None
    if geom.is_empty:
        raise UserError(f"{what} is empty")
    vertices = shapely.get_num_coordinates(geom)
    if vertices > MAX_VERTICES:
        raise UserError(f"{what} has {vertices} vertices; the most is {MAX_VERTICES}: simplify it")
    lon0, lat0, lon1, lat1 = geom.bounds
    _lonlat_ok(lon0, lat0)
    _lonlat_ok(lon1, lat1)
    if not geom.is_valid:
        raise UserError(f"{what} is not a valid geometry ({explain_validity(geom)}): fix the ring and send it again")
    stored = to_store(geom)
    _inside_city(conn, stored, what)
    if stored.area > MAX_AREA_M2:
        raise UserError(f"{what} covers {stored.area / 1e6:.1f} km²; the most is {MAX_AREA_M2 / 1e6:.0f} km²")
    return stored


# gis.analysis.identify's name for core.settings.store_srid, until the layer registry's change moves it
srid = store_srid
