"""The SQL over the layers of the registry (``core.registry``) behind OGC API Features, MVT and
identify: the fast SQL that turns a page of rows into GeoJSON inside PostGIS (one round trip per
page), bbox and property filters.

Layer and property names come only from the registry; request values are bound parameters.
"""

from __future__ import annotations

import math
import re
import time

from sqlalchemy import Connection, text

from core import districts
from core.errors import NotFound, UserError
from core.registry import Layer, registry
from core.settings import get_settings

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100


RESERVED_PARAMS = frozenset(
    {
        "bbox",
        "limit",
        "offset",
        "f",
        "bbox-crs",
        "crs",
        "datetime",
        "filter",
        "filter-lang",
        "filter-crs",
        "sortby",
        "resultType",
    }
)


def get_collection(collection_id: str) -> Layer:
    """A registered layer, or a 404 naming the ones that exist."""
    layer = registry().get(collection_id)
    if layer is None:
        raise NotFound(f"unknown collection {collection_id!r}; one of: {', '.join(registry().names())}")
    return layer


def parse_bbox(value: str, crs84: bool = True) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` (or the 6-number 3D form) in CRS84, checked; with ``crs84``
    False, the lower then upper corner in another CRS's axis order (ranges not checked)."""
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise UserError(f"bbox {value!r} is not a list of numbers: give minlon,minlat,maxlon,maxlat") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise UserError("bbox needs 4 numbers (minlon,minlat,maxlon,maxlat) or 6 with heights")
    minx, miny, maxx, maxy = numbers
    inside = -180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90
    if crs84 and not inside:
        raise UserError("bbox is outside lon -180..180, lat -90..90: give it in CRS84 degrees")
    if minx > maxx or miny > maxy:
        raise UserError("bbox has min > max: give the lower corner, then the upper corner")
    return minx, miny, maxx, maxy


def _cast(name: str, kind: str, raw: str) -> object:
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
    except ValueError:
        raise UserError(f"filter {name}={raw!r} is not a valid {kind}") from None
    return raw


def property_filters(collection: Layer, params: dict[str, str]) -> dict[str, object]:
    """Query parameters other than the reserved ones, checked against the collection's properties."""
    filters: dict[str, object] = {}
    for name, raw in params.items():
        if name in RESERVED_PARAMS:
            continue
        kind = collection.property_types.get(name)
        if kind is None:
            known = ", ".join(collection.property_types)
            raise UserError(f"unknown parameter {name!r} for {collection.name}; filter on one of: {known}")
        filters[name] = _cast(name, kind, raw)
    return filters


def feature_sql(collection: Layer, geojson: str | None = None) -> str:
    """SQL of a feature as a GeoJSON object; ``geojson``: SQL of its geometry as GeoJSON text (default:
    CRS84 to 7 decimals, about 1 cm)."""
    props = ", ".join(f"'{p.name}', t.{p.name}" for p in collection.properties)
    geometry = geojson or f"ST_AsGeoJSON(ST_Transform({geom_sql(collection)}, 4326), 7)"
    return (
        f"json_build_object('type', 'Feature', 'id', t.{collection.id_column}, "
        f"'geometry', {geometry}::json, 'properties', json_build_object({props}))"
    )


_FORCED_2D = re.compile(r"ST_Force2D\((\w+)\)")


def geom_sql(collection: Layer) -> str:
    """SQL of the collection's 2D store-CRS geometry, qualified by the alias ``t`` (so that it means
    the feature's geometry inside subqueries over other tables too)."""
    column = _FORCED_2D.fullmatch(collection.geometry)
    return f"ST_Force2D(t.{column[1]})" if column else f"t.{collection.geometry}"


def overlaps_sql(collection: Layer, box: str) -> str:
    """``&&`` of the stored (GiST-indexed) column against a box, so a test on the 2D expression
    (``ST_Force2D(geom)``), which no index covers, runs only on the rows the index finds."""
    column = _FORCED_2D.fullmatch(collection.geometry)
    return f"t.{column[1] if column else collection.geometry} && {box}"


def bbox_condition(collection: Layer) -> str:
    """Index-assisted test against a CRS84 box densified before it is projected to the store CRS."""
    srid = get_settings().store_srid
    box = f"ST_Transform(ST_Segmentize(ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326), 0.0005), {srid})"
    return f"{overlaps_sql(collection, box)} AND ST_Intersects({geom_sql(collection)}, {box})"


def items_sql(collection: Layer, filtered: list[str], with_bbox: bool, scoped: bool = False) -> str:
    """SQL of a page of features as GeoJSON text, in id order, with parameters ``:p_<property>`` for
    each property in ``filtered``, ``:minx :miny :maxx :maxy`` with a bbox, ``:scope`` when ``scoped``
    (the caller's districts, :mod:`core.districts`), and ``:lim :off``."""
    where = [f"t.{name} = :p_{name}" for name in filtered]
    if with_bbox:
        where.append(bbox_condition(collection))
    if scoped:
        where.append(districts.condition(geom_sql(collection)))
    return (
        f"SELECT {feature_sql(collection)}::text FROM {collection.from_clause}"
        f"{' WHERE ' + ' AND '.join(where) if where else ''}"
        f" ORDER BY t.{collection.id_column} LIMIT :lim OFFSET :off"
    )


def feature_id(collection: Layer, fid: str) -> object:
    """A feature id from a URL as the type of the collection's id column (a 400 when it is not)."""
    kind = collection.property_types.get(collection.id_column, "text")
    return _cast(collection.id_column, kind, fid) if kind == "int" else fid


_extent_cache: dict[str, tuple[float, list[float] | None]] = {}


def extent(conn: Connection, collection: Layer, max_age_s: float = 60.0) -> list[float] | None:
    """The collection's CRS84 bounding box (cached for a minute), None when empty. Each geometry is
    projected to CRS84 before the box is taken: a box taken in the store CRS and then projected spans
    half the globe once a feature lies outside the store's zone."""
    cached = _extent_cache.get(collection.name)
    if cached and time.monotonic() - cached[0] < max_age_s:
        return cached[1]
    extent_sql = f"ST_Extent(ST_Transform({geom_sql(collection)}, 4326))::geometry"
    corners = "ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g)"
    sql = f"SELECT {corners} FROM (SELECT {extent_sql} AS g FROM {collection.from_clause}) s"
    row = conn.execute(text(sql)).first()
    box = None
    if row and row[0] is not None:  # rounded outwards to 1e-7 degrees
        box = [math.floor(row[0] * 1e7) / 1e7, math.floor(row[1] * 1e7) / 1e7]
        box += [math.ceil(row[2] * 1e7) / 1e7, math.ceil(row[3] * 1e7) / 1e7]
    _extent_cache[collection.name] = (time.monotonic(), box)
    return box
