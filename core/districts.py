"""District data scopes: a user whose ``districts`` lists division codes sees only the features and
records inside those districts (``district`` boundaries, migration 0012); ``None`` is the whole city.

One SQL condition says what is in scope, bound to ``:scope`` (the codes as a text array, or NULL for
no limit): a geometry that meets the districts' union, or, for a record without a geometry, a district
name that is one of theirs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import shapely
import shapely.geometry
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from core.errors import NotFound, UserError
from core.settings import store_srid

# A division code: 6 digits (a county-level district) or 12 (down to a township or street).
CODE = r"^[0-9]{6}([0-9]{6})?$"
MAX_VERTICES = 200_000
CRS84 = 4326

SCOPE_AREA = "(SELECT ST_Union(d.geom) FROM district d WHERE d.code = ANY(CAST(:scope AS text[])))"


def condition(geom_sql: str, name_sql: str | None = None) -> str:
    """SQL true for what the scope ``:scope`` lets through (``geom_sql`` in the store CRS)."""
    inside = f"ST_Intersects({geom_sql}, {SCOPE_AREA})"
    if name_sql is not None and name_sql != "NULL":
        names = "(SELECT d.name FROM district d WHERE d.code = ANY(CAST(:scope AS text[])))"
        inside = f"({inside} OR ({geom_sql} IS NULL AND {name_sql} IN {names}))"
    return f"(CAST(:scope AS text[]) IS NULL OR {inside})"


def param(districts: Sequence[str] | None) -> list[str] | None:
    """The value for ``:scope``."""
    return list(districts) if districts is not None else None


def area(conn: Connection, districts: Sequence[str]) -> shapely.Geometry:
    """The union of the districts' boundaries in the store CRS (empty when none is known)."""
    wkb = conn.execute(text(f"SELECT ST_AsBinary({SCOPE_AREA})"), {"scope": list(districts)}).scalar()
    return shapely.from_wkb(bytes(wkb)) if wkb is not None else shapely.Polygon()


def check(
    conn: Connection,
    table_sql: str,
    id_sql: str,
    key: object,
    geom_sql: str,
    name_sql: str | None,
    districts: Sequence[str] | None,
    what: str,
) -> None:
    """NotFound (as if it did not exist) when the row ``id_sql = key`` of ``table_sql`` (alias ``t``)
    lies outside the districts."""
    if districts is None:
        return
    sql = f"SELECT {condition(geom_sql, name_sql)} FROM {table_sql} WHERE {id_sql} = :key"
    if not conn.execute(text(sql), {"key": key, "scope": list(districts)}).scalar():
        raise NotFound(f"{what} is not in your districts ({', '.join(districts) or 'none'})")


def unknown(conn: Connection, codes: Sequence[str]) -> list[str]:
    """The codes among ``codes`` that name no district."""
    known = set(conn.execute(text("SELECT code FROM district WHERE code = ANY(:c)"), {"c": list(codes)}).scalars())
    return [c for c in codes if c not in known]


class BadBoundary(UserError):
    """A district code or boundary that cannot be saved."""

    status_code = 422


def boundary(geometry: dict[str, Any] | shapely.Geometry, srid: int = CRS84) -> shapely.Geometry:
    """A district's boundary (GeoJSON or a shapely geometry in ``srid``, CRS84 by default) as a valid,
    non-empty 2D (Multi)Polygon of at most MAX_VERTICES vertices, of lon/lat when CRS84; else BadBoundary."""
    if isinstance(geometry, shapely.Geometry):
        shape = geometry
    else:
        try:
            shape = shapely.geometry.shape(geometry)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError):
            raise BadBoundary("geometry is not readable GeoJSON: give a Polygon or MultiPolygon") from None
    shape = shapely.force_2d(shape)
    if shape.geom_type not in ("Polygon", "MultiPolygon") or shape.is_empty or not shape.is_valid:
        raise BadBoundary("geometry must be a valid, non-empty Polygon or MultiPolygon")
    if shapely.get_num_coordinates(shape) > MAX_VERTICES:
        raise BadBoundary(f"the boundary has over {MAX_VERTICES} vertices: simplify it")
    lon0, lat0, lon1, lat1 = shape.bounds
    if srid == CRS84 and not (-180 <= lon0 <= lon1 <= 180 and -90 <= lat0 <= lat1 <= 90):
        raise BadBoundary("geometry must be in CRS84 degrees (lon, lat)")
    return shape


def save(
    db: Session | Connection, code: str, name: str, geometry: dict[str, Any] | shapely.Geometry, srid: int = CRS84
) -> float:
    """Add or replace (by ``code``) a district and its boundary (see :func:`boundary`), stored as a
    MultiPolygon in the store CRS; returns its area in km²."""
    if not re.fullmatch(CODE, code):
        raise BadBoundary(f"district code {code!r} is not a 6- or 12-digit division code")
    if not name.strip():
        raise BadBoundary(f"district {code} needs a name")
    sql = """INSERT INTO district (code, name, geom)
             VALUES (:code, :name, ST_Multi(ST_Transform(ST_GeomFromWKB(:wkb, :srid), :store)))
             ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, geom = EXCLUDED.geom
             RETURNING ST_Area(geom) / 1e6"""
    wkb = shapely.to_wkb(boundary(geometry, srid))
    params = {"code": code, "name": name, "wkb": wkb, "srid": srid, "store": store_srid()}
    return float(db.execute(text(sql), params).scalar_one())
