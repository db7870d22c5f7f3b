"""Upserts of imported rows, geometry as WKB in the store CRS."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import shapely
from sqlalchemy import String, text
from sqlalchemy.orm import Session

from core import divisions
from core.models import Base
from core.settings import store_srid

CHUNK = 500


def too_long(table: str, values: dict) -> str | None:
    """The first string value longer than its column allows, as a rejection reason."""
    columns = Base.metadata.tables[table].c
    for name, value in values.items():
        column = columns.get(name)
        limit = column.type.length if column is not None and isinstance(column.type, String) else None
        if limit and isinstance(value, str) and len(value) > limit:
            return f"{name} longer than {limit} characters"
    return None


def upsert(
    session: Session,
    table: str,
    key: str,
    rows: Sequence[dict],
    geometry: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Insert ``rows`` (all with the same keys; shapely geometries under the ``geometry`` names), replacing rows
    with the same ``key``; into a table partitioned by city with the city found in the statement, replacing
    the row of the same city and ``key``."""
    if not rows:
        return
    names = list(rows[0])
    srid = store_srid()
    expressions = {n: f"ST_GeomFromWKB(:{n}, {srid})" if n in geometry else f":{n}" for n in names}
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n != key)
    conflict = key
    if table in divisions.CITY_PARTITIONED:
        division = ":division_code" if "division_code" in names else None
        expressions["city_code"] = divisions.city_sql(expressions[divisions.CITY_PARTITIONED[table]], division)
        conflict = f"city_code, {key}"
    sql = text(
        f"INSERT INTO {table} ({', '.join(expressions)}) VALUES ({', '.join(expressions.values())}) "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    )
    for start in range(0, len(rows), CHUNK):
        chunk = [
            {n: shapely.to_wkb(v) if n in geometry else v for n, v in row.items()}
            for row in rows[start : start + CHUNK]
        ]
        session.execute(sql, chunk)
        if progress:
            progress(len(chunk))


def record_issues(session: Session, layer: str, issues: Sequence[tuple[str | None, str]]) -> None:
    """Keep what the import could not connect or had to reject in ``network_issue``."""
    if issues:
        session.execute(
            text("INSERT INTO network_issue (layer, feature_id, problem) VALUES (:layer, :fid, :problem)"),
            [{"layer": layer, "fid": fid[:40] if fid else None, "problem": problem} for fid, problem in issues],
        )
