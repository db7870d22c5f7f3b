"""District data scopes: a user whose ``districts`` lists division codes sees only the features and
records inside those districts (``district`` boundaries, migration 0012); ``None`` is the whole city.

One SQL condition says what is in scope, bound to ``:scope`` (the codes as a text array, or NULL for
no limit): a geometry that meets the districts' union, or, for a record without a geometry, a district
name that is one of theirs."""

from __future__ import annotations

from collections.abc import Sequence

import shapely
from sqlalchemy import Connection, text

from core.errors import NotFound

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
