"""The coordinate reference systems the features API speaks (OGC API Features Part 2): CRS84 (the
default: longitude, latitude), CGCS2000 geographic (EPSG:4490: latitude, longitude, as EPSG orders
its axes) and the store's projected CRS (for the Gauss-Krüger zones EPSG orders northing first).

Coordinates are transformed in PostGIS (``ST_Transform``, the same PROJ as pyproj) and written in the
axis order of the CRS: ``ST_FlipCoordinates`` for a CRS whose first axis points north."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

import numpy as np
import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer

from core.errors import UserError
from core.settings import get_settings

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
CGCS2000 = 4490
_EPSG = re.compile(
    r"(?:https?://www\.opengis\.net/def/crs/EPSG/0/|urn:ogc:def:crs:EPSG:[\d.]*:|EPSG:|\[EPSG:)(\d+)\]?", re.I
)
_CRS84 = re.compile(
    r"(?:https?://www\.opengis\.net/def/crs/OGC/1\.3/CRS84|urn:ogc:def:crs:OGC:1\.3:CRS84|OGC:CRS84|\[OGC:CRS84\]|CRS84)",
    re.I,
)


@dataclass(frozen=True)
class Crs:
    """A CRS the API offers: its URI, the PostGIS SRID the coordinates are computed in, whether its
    first axis is northing/latitude (written flipped) and the decimals that keep about a millimetre."""

    uri: str
    srid: int
    north_first: bool
    decimals: int

    @property
    def geographic(self) -> bool:
        return self.decimals > 3


def _of_epsg(code: int) -> Crs:
    crs = ProjCRS.from_epsg(code)
    north_first = crs.axis_info[0].direction in ("north", "south")
    return Crs(EPSG_URI.format(code=code), code, north_first, 7 if crs.is_geographic else 3)


@cache
def offered() -> tuple[Crs, ...]:
    """CRS84 first (the default), then CGCS2000 geographic and the store CRS."""
    codes = dict.fromkeys((CGCS2000, get_settings().store_srid))
    return (Crs(CRS84, 4326, False, 7), *(_of_epsg(code) for code in codes))


def default() -> Crs:
    return offered()[0]


def store() -> Crs:
    """The CRS the geometry is stored in (``storageCrs``)."""
    srid = get_settings().store_srid
    return next(c for c in offered() if c.srid == srid and c.uri != CRS84)


def uris() -> list[str]:
    return [c.uri for c in offered()]


def parse(value: str | None, parameter: str = "crs") -> Crs:
    """The offered CRS a request names (a URI, a URN, ``EPSG:n`` or a safe CURIE); CRS84 when absent;
    a 400 naming the offered ones otherwise."""
    if value is None or not value.strip():
        return default()
    text = value.strip()
    if _CRS84.fullmatch(text):
        return default()
    match = _EPSG.fullmatch(text)
    if match:
        code = int(match[1])
        found = next((c for c in offered()[1:] if c.srid == code), None)
        if found:
            return found
    raise UserError(f"{parameter} {value!r} is not offered; use one of: {', '.join(uris())}")


def from_store_sql(geometry: str, crs: Crs) -> str:
    """SQL of a store-CRS geometry expression in ``crs``, axes in the CRS's order."""
    moved = geometry if crs.srid == get_settings().store_srid else f"ST_Transform({geometry}, {crs.srid})"
    return f"ST_FlipCoordinates({moved})" if crs.north_first else moved


def to_store_sql(geometry: str, crs: Crs) -> str:
    """SQL of a geometry given in ``crs`` (axes in its order, no SRID needed) in the store CRS;
    geographic shapes are densified first so that their edges stay straight enough after projection."""
    xy = f"ST_FlipCoordinates({geometry})" if crs.north_first else geometry
    placed = f"ST_SetSRID({xy}, {crs.srid})"
    if crs.srid == get_settings().store_srid:
        return placed
    dense = f"ST_Segmentize({placed}, 0.0005)" if crs.geographic else placed
    return f"ST_Transform({dense}, {get_settings().store_srid})"


def geojson_sql(geometry: str, crs: Crs) -> str:
    """SQL of a store-CRS geometry as GeoJSON text in ``crs``."""
    return f"ST_AsGeoJSON({from_store_sql(geometry, crs)}, {crs.decimals})"


def header(crs: Crs) -> str:
    """The ``Content-Crs`` header value."""
    return f"<{crs.uri}>"


@cache
def zone_extent() -> list[float]:
    """The CRS84 area of use of the store CRS (the city's projection zone): the extent of a
    collection with no features yet, so that clients (GDAL) still open it."""
    area = ProjCRS.from_epsg(get_settings().store_srid).area_of_use
    if area is None:
        return [-180.0, -90.0, 180.0, 90.0]
    return [area.west, area.south, area.east, area.north]


def to_crs84_geojson(geometry: dict, crs: Crs) -> dict:
    """A GeoJSON geometry given in ``crs`` (axes in its order) as CRS84 GeoJSON, transformed by
    pyproj (the write API takes CRS84); unreadable input is a 400."""
    if crs.uri == CRS84:
        return geometry
    try:
        shape = shapely.from_geojson(json.dumps(geometry))
    except (shapely.errors.GEOSException, TypeError, ValueError):
        raise UserError("the feature's geometry is not GeoJSON") from None
    forward = Transformer.from_crs(f"EPSG:{crs.srid}", "OGC:CRS84")  # authority axis order in, lon/lat out
    moved = shapely.transform(shape, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1])))
    return json.loads(shapely.to_geojson(moved))
