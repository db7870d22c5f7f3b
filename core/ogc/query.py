"""The items query of a collection: bbox (in ``bbox-crs``), ``datetime``, property equality filters,
a CQL2 ``filter``, ``sortby`` and the output ``crs``, as one WHERE clause shared by the page and its
count (``numberMatched``). Names come from the registry only; request values are bound parameters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pygeofilter import ast
from sqlalchemy import Connection, text

from core import city_extents, districts, layers
from core.divisions import CITY_PARTITIONED
from core.errors import NotFound, UserError
from core.ogc import cql2
from core.ogc import crs as crs_
from core.registry import Layer, registry

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Sort:
    name: str
    descending: bool = False


@dataclass
class Items:
    """What one items request asks of a collection (parsed and checked)."""

    layer: Layer
    limit: int = layers.DEFAULT_LIMIT
    offset: int = 0
    bbox: Box | None = None
    bbox_crs: crs_.Crs = field(default_factory=crs_.default)
    period: tuple[datetime | None, datetime | None] | None = None
    properties: dict[str, object] = field(default_factory=dict)
    filter: ast.Node | None = None
    filter_crs: crs_.Crs = field(default_factory=crs_.default)
    sortby: tuple[Sort, ...] = ()
    crs: crs_.Crs = field(default_factory=crs_.default)
    scope: Sequence[str] | None = None  # the caller's districts (:mod:`core.districts`); None: all


def parse_bbox(value: str, bbox_crs: crs_.Crs) -> Box:
    """A bbox in ``bbox_crs`` (axes in its order; CRS84: minlon,minlat,maxlon,maxlat), checked."""
    return layers.parse_bbox(value, crs84=bbox_crs.uri == crs_.CRS84)


def _instant(value: str, first: bool) -> datetime | None:
    """One end of an RFC 3339 datetime interval: '..' or '' is open; a date is that whole UTC day."""
    if value in ("", ".."):
        return None
    try:
        if len(value) == 10:
            day = datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
            return day if first else day + timedelta(days=1) - timedelta(microseconds=1)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"datetime {value!r} is not RFC 3339: give 2024-05-01, 2024-05-01T08:00:00Z or an interval a/b (.. is open)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_datetime(layer: Layer, value: str) -> tuple[datetime | None, datetime | None]:
    """The period a ``datetime`` parameter asks for (an instant or a/b), for a collection with time."""
    if layer.temporal is None:
        timed = ", ".join(la.name for la in registry().layers if la.temporal)
        raise UserError(f"{layer.name} has no time to filter by datetime; collections with time: {timed}")
    parts = value.split("/")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] in ("", "..") and parts[1] in ("", "..")):
        raise UserError(f"datetime {value!r}: give an instant or an interval start/end with at most one open end")
    start = _instant(parts[0], first=True)
    end = _instant(parts[-1], first=False)
    if start and end and start > end:
        raise UserError(f"datetime {value!r} ends before it starts")
    return start, end


def parse_sortby(layer: Layer, value: str) -> tuple[Sort, ...]:
    """``sortby=+name,-height_m`` (no sign: ascending) over the collection's queryables."""
    sorts = []
    for raw in filter(None, (part.strip() for part in value.split(","))):
        name = raw.lstrip("+-").strip()
        if name not in layer.property_types:
            raise UserError(
                f"sortby {name!r} is not a queryable of {layer.name}; one of: {', '.join(layer.property_types)}"
            )
        sorts.append(Sort(name, raw.startswith("-")))
    return tuple(sorts)


def _period_sql(request: Items, params: dict[str, Any]) -> list[str]:
    temporal = request.layer.temporal
    if request.period is None or temporal is None:
        return []
    start, end = request.period
    as_dates = request.layer.property_types[temporal.start] == "date"
    first = last = f"t.{temporal.start}"
    if temporal.end:
        last = f"COALESCE(t.{temporal.end}, {first})"
    where = []
    if end is not None:
        params["dt_end"] = end.astimezone(UTC).date() if as_dates else end
        where.append(f"{first} <= :dt_end")
    if start is not None:
        params["dt_start"] = start.astimezone(UTC).date() if as_dates else start
        where.append(f"{last} >= :dt_start")
    return where or [f"{first} IS NOT NULL"]


def _box(request: Items) -> tuple[str, dict[str, float]]:
    """SQL of the request's bbox in the store CRS, and its parameters."""
    assert request.bbox is not None
    box = crs_.to_store_sql("ST_MakeEnvelope(:minx, :miny, :maxx, :maxy)", request.bbox_crs)
    return box, dict(zip(("minx", "miny", "maxx", "maxy"), request.bbox, strict=True))


def where_sql(request: Items, cities: tuple[str, ...] | None = None) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (with its leading keyword, or empty) and its parameters; ``cities``: on a table
    partitioned by city, only those cities' rows (written in, so the plan holds their partitions alone)."""
    layer = request.layer
    params: dict[str, Any] = {f"p_{name}": value for name, value in request.properties.items()}
    where = [f"t.{name} = :p_{name}" for name in request.properties]
    if cities is not None:
        where.append(city_extents.condition("t.city_code", cities))
    if request.bbox is not None:
        box, corners = _box(request)
        params.update(corners)
        where.append(f"{layers.overlaps_sql(layer, box)} AND ST_Intersects({layers.geom_sql(layer)}, {box})")
    where += _period_sql(request, params)
    if request.filter is not None:
        condition, bound = cql2.to_sql(layer, request.filter, request.filter_crs)
        where.append(condition)
        params.update(bound)
    if request.scope is not None:
        where.append(districts.condition(layers.geom_sql(layer)))
        params["scope"] = districts.param(request.scope)
    return (" WHERE " + " AND ".join(where)) if where else "", params


def items(conn: Connection, request: Items) -> tuple[list[str], int]:
    """One page of features as GeoJSON text (geometry in ``request.crs``) and how many match in all."""
    layer = request.layer
    cities = None
    if request.bbox is not None and layer.base_table in CITY_PARTITIONED:  # the cities the bbox can hold rows of
        cities = dict(city_extents.meeting_box(conn, *_box(request)))[layer.base_table]
    where, params = where_sql(request, cities)
    order = [f"t.{s.name} {'DESC' if s.descending else 'ASC'} NULLS LAST" for s in request.sortby]
    order.append(f"t.{layer.id_column}")
    geometry = crs_.geojson_sql(layers.geom_sql(layer), request.crs)
    page = (
        f"SELECT {layers.feature_sql(layer, geometry)}::text FROM {layer.from_clause}{where}"
        f" ORDER BY {', '.join(order)} LIMIT :lim OFFSET :off"
    )
    features = [r[0] for r in conn.execute(text(page), {**params, "lim": request.limit, "off": request.offset})]
    if request.offset == 0 and len(features) < request.limit:
        return features, len(features)  # the whole answer is on this page: nothing more to count
    matched = conn.execute(text(f"SELECT count(*) FROM {layer.from_clause}{where}"), params).scalar_one()
    return features, matched


def item(conn: Connection, layer: Layer, fid: str, crs: crs_.Crs, scope: Sequence[str] | None = None) -> str:
    """One feature as GeoJSON text in ``crs``, or a 404 (also when it lies outside the districts
    ``scope`` names)."""
    geometry = crs_.geojson_sql(layers.geom_sql(layer), crs)
    sql = (
        f"SELECT {layers.feature_sql(layer, geometry)}::text FROM {layer.from_clause} "
        f"WHERE t.{layer.id_column} = :fid AND {districts.condition(layers.geom_sql(layer))}"
    )
    params = {"fid": layers.feature_id(layer, fid), "scope": districts.param(scope)}
    row = conn.execute(text(sql), params).first()
    if row is None:
        raise NotFound(f"{layer.name} has no feature {fid!r}")
    return row[0]
