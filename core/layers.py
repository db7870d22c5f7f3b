"""The SQL over the layers of the registry (``core.registry``) behind OGC API Features, MVT and
identify: the fast SQL that turns a page of rows into GeoJSON inside PostGIS (one round trip per
page), bbox and property filters.

Layer and property names come only from the registry; request values are bound parameters.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence

from sqlalchemy import Connection, text

from core import districts
from core.errors import NotFound, UserError
from core.registry import Layer, registry
from core.settings import get_settings

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 100


RESERVED_PARAMS = frozenset({"bbox", "limit", "offset", "f", "bbox-crs", "crs", "datetime"})


def get_collection(collection_id: str) -> Layer:
    """A registered layer, or a 404 naming the ones that exist."""
    layer = registry().get(collection_id)
    if layer is None:
        raise NotFound(f"unknown collection {collection_id!r}; one of: {', '.join(registry().names())}")
    return layer


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` (or the 6-number 3D form) in CRS84, checked."""
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        raise UserError(f"bbox {value!r} is not a list of numbers: give minlon,minlat,maxlon,maxlat") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4:
        raise UserError("bbox needs 4 numbers (minlon,minlat,maxlon,maxlat) or 6 with heights")
    minx, miny, maxx, maxy = numbers
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise UserError("bbox is outside lon -180..180, lat -90..90: give it in CRS84 degrees")
    if minx > maxx or miny > maxy:
        raise UserError("bbox has min > max: give minlon,minlat,maxlon,maxlat")
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


def feature_sql(collection: Layer) -> str:
    props = ", ".join(f"'{p.name}', t.{p.name}" for p in collection.properties)
    return (
        f"json_build_object('type', 'Feature', 'id', t.{collection.id_column}, "
        f"'geometry', ST_AsGeoJSON(ST_Transform({geom_sql(collection)}, 4326), 7)::json, "
        f"'properties', json_build_object({props}))"
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


def items(
    conn: Connection,
    collection: Layer,
    bbox: tuple[float, float, float, float] | None,
    filters: dict[str, object],
    limit: int,
    offset: int,
    scope: Sequence[str] | None = None,
) -> tuple[list[str], bool]:
    """One page of GeoJSON features (as JSON text) and whether more follow; only those in the districts
    ``scope`` names when given."""
    params: dict[str, object] = {f"p_{name}": value for name, value in filters.items()}
    if bbox is not None:
        params.update(zip(("minx", "miny", "maxx", "maxy"), bbox, strict=True))
    params.update(lim=limit + 1, off=offset, scope=districts.param(scope))
    sql = items_sql(collection, list(filters), bbox is not None, scope is not None)
    rows = [r[0] for r in conn.execute(text(sql), params)]
    return rows[:limit], len(rows) > limit


def feature_id(collection: Layer, fid: str) -> object:
    """A feature id from a URL as the type of the collection's id column (a 400 when it is not)."""
    kind = collection.property_types.get(collection.id_column, "text")
    return _cast(collection.id_column, kind, fid) if kind == "int" else fid


def item(conn: Connection, collection: Layer, fid: str, scope: Sequence[str] | None = None) -> str:
    """One feature as GeoJSON text, or a 404 (also when it lies outside the districts ``scope`` names)."""
    sql = (
        f"SELECT {feature_sql(collection)}::text FROM {collection.from_clause} "
        f"WHERE t.{collection.id_column} = :fid AND {districts.condition(geom_sql(collection))}"
    )
    row = conn.execute(text(sql), {"fid": feature_id(collection, fid), "scope": districts.param(scope)}).first()
    if row is None:
        raise NotFound(f"{collection.name} has no feature {fid!r}")
    return row[0]


_extent_cache: dict[str, tuple[float, list[float] | None]] = {}


def extent(conn: Connection, collection: Layer, max_age_s: float = 60.0) -> list[float] | None:
    """The collection's CRS84 bounding box (cached for a minute), None when empty."""
    cached = _extent_cache.get(collection.name)
    if cached and time.monotonic() - cached[0] < max_age_s:
        return cached[1]
    box_sql = f"ST_SetSRID(ST_Extent({geom_sql(collection)})::geometry, {get_settings().store_srid})"
    sql = (
        "SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM "
        f"(SELECT ST_Transform(ST_Segmentize({box_sql}, 100), 4326) AS g FROM {collection.from_clause}) AS s"
    )
    row = conn.execute(text(sql)).first()
    box = None
    if row and row[0] is not None:  # rounded outwards to 1e-7 degrees
        box = [math.floor(row[0] * 1e7) / 1e7, math.floor(row[1] * 1e7) / 1e7]
        box += [math.ceil(row[2] * 1e7) / 1e7, math.ceil(row[3] * 1e7) / 1e7]
    _extent_cache[collection.name] = (time.monotonic(), box)
    return box
