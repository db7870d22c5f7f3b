"""Statistics by administrative division: buildings, projects, pipes, enterprises and events of a
division (a code prefix, any level), grouped by the divisions of one level below it or of a level asked
for. Rows are matched by their ``division_code`` prefix, so the coded tables' prefix indexes serve it.

Lengths and areas are measured in the 3-degree zone of each row's city (``division.zone_srid``), not in
the store CRS: a province store spans several zones, and outside its own zone the store's projection
stretches lengths by up to 1.5 % (README, "Multi-zone storage")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from core import districts
from core import divisions as div
from core.errors import NotFound
from core.models.divisions import LEVELS
from core.settings import store_srid

# Each measure: table, geometry SQL (alias t) for the scope, and its aggregates (name → SQL); ``{zone}``
# is the row's zone SRID.
MEASURES: dict[str, tuple[str, dict[str, str]]] = {
    "building": (
        "t.footprint",
        {"buildings": "count(*)", "building_footprint_m2": "sum(ST_Area(ST_Transform(t.footprint, {zone})))"},
    ),
    "project": ("t.footprint", {"projects": "count(*)"}),
    "pipeline": (
        "t.geom",
        {"pipelines": "count(*)", "pipeline_km": "sum(ST_Length(ST_Transform(t.geom, {zone}))) / 1000"},
    ),
    "enterprise": ("t.location", {"enterprises": "count(*)"}),
    "emergency_event": ("t.location", {"events": "count(*)"}),
}
COUNTS = tuple(name for _, aggregates in MEASURES.values() for name in aggregates)


def _table_sql(
    table: str, geom: str, aggregates: dict[str, str], where: str, key: str, scoped: bool, division: str | None
) -> str:
    zone = f"coalesce(z.zone_srid, {store_srid()})"
    columns = ", ".join(f"{sql.format(zone=zone)} AS {name}" for name, sql in aggregates.items())
    scope = f" AND {districts.condition(geom)}" if scoped else ""
    return f"""SELECT {key} AS code, {columns} FROM {table} t
      LEFT JOIN division z ON z.code = rpad(left(t.division_code, 4), 12, '0') AND z.level = 2
     WHERE {where} AND {div.city_condition(table, division)}{scope} GROUP BY 1"""


def statistics(
    conn: Connection, division: str | None, group_by: str | None, scope: Sequence[str] | None = None
) -> dict[str, Any]:
    """The measures of ``division`` (None: every coded row) per division of level ``group_by`` (default:
    the level below the division's, the province for none), each group with its code, names and level;
    ``scope``: the caller's districts, None for no limit."""
    prefix = div.prefix(division) if division is not None else None
    own_level = div.level_of(prefix.ljust(12, "0")) if prefix is not None else 0
    if (
        prefix is not None
        and not conn.execute(
            text("SELECT EXISTS (SELECT 1 FROM division WHERE code = :code)"), {"code": prefix.ljust(12, "0")}
        ).scalar()
    ):
        raise NotFound(
            f"no division {prefix.ljust(12, '0')}: load the divisions first (cim province generate or an import)"
        )
    level = div.level(group_by) if group_by is not None else min(own_level + 1, 5)
    where, params = div.condition("t.division_code", division)
    where = f"t.division_code IS NOT NULL AND {where}"
    key = div.group_key("t.division_code", level)
    parts = {t: _table_sql(t, g, a, where, key, scope is not None, division) for t, (g, a) in MEASURES.items()}
    ctes = ",\n".join(f"m_{t} AS ({sql})" for t, sql in parts.items())
    codes = " UNION ".join(f"SELECT code FROM m_{t}" for t in MEASURES)
    joins = " ".join(f"LEFT JOIN m_{t} USING (code)" for t in MEASURES)
    selected = ", ".join(f"coalesce({name}, 0) AS {name}" for name in COUNTS)
    sql = f"""WITH {ctes}, codes AS ({codes})
      SELECT codes.code, d.name, d.name_en, {selected} FROM codes {joins}
      LEFT JOIN division d ON d.code = codes.code ORDER BY codes.code"""
    bound: dict[str, object] = {**params, "scope": districts.param(scope)}
    groups = [dict(r) | {"level": level} for r in conn.execute(text(sql), bound).mappings()]
    for group in groups:
        for name in COUNTS:
            group[name] = float(group[name]) if name.endswith(("_m2", "_km")) else int(group[name])
    total = {name: sum(g[name] for g in groups) for name in COUNTS}
    return {
        "division": prefix.ljust(12, "0") if prefix is not None else None,
        "group_by": LEVELS[level],
        "groups": groups,
        "total": total,
    }
