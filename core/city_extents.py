"""The city partitions (migration 0022) that can hold rows in an area, from the boxes migration 0025 keeps
per city (``city_extent``), and the statements naming them, so a spatial read's plan holds those
partitions alone instead of probing every city's index (and a prepared statement's generic plan, which
cannot prune by an area it does not know, is one city's or a few)."""

from __future__ import annotations

import re
from functools import lru_cache

from sqlalchemy import Connection, TextClause, text

from core.divisions import CITY_PARTITIONED

Bounds = tuple[float, float, float, float]
# For each table partitioned by city, the cities ('' none) that can hold its rows in an area; hashable.
Cities = tuple[tuple[str, tuple[str, ...]], ...]
# Every extent computed again from the rows: after writes with the tables' triggers set aside (a bulk load).
REFRESH = "SELECT city_extent_refresh()"

_MEETING = """SELECT table_name, city_code FROM city_extent, (SELECT {box} AS g) AS a
               WHERE x_min <= ST_XMax(a.g) AND x_max >= ST_XMin(a.g) AND y_min <= ST_YMax(a.g) AND y_max >= ST_YMin(a.g)
               ORDER BY table_name, city_code"""


@lru_cache(maxsize=64)
def _meeting(box_sql: str) -> TextClause:
    return text(_MEETING.format(box=box_sql))


def meeting(conn: Connection, bounds: Bounds) -> Cities:
    """The cities whose rows' box meets ``bounds`` (min x, min y, max x, max y in the store CRS), per table
    partitioned by city and for ``house_unit`` (its rows lie in their building's city): a row whose box
    meets the bounds lies in one of them."""
    names = ("x_min", "y_min", "x_max", "y_max")
    return meeting_box(conn, "ST_MakeEnvelope(:x_min, :y_min, :x_max, :y_max)", dict(zip(names, bounds, strict=True)))


def meeting_box(conn: Connection, box_sql: str, params: dict) -> Cities:
    """As :func:`meeting`, for a box given as SQL in the store CRS (with its parameters)."""
    found: dict[str, list[str]] = {table: [] for table in CITY_PARTITIONED}
    for table, city in conn.execute(_meeting(box_sql), params):
        found.setdefault(table, []).append(city)
    found["house_unit"] = found["building"]
    return tuple(sorted((table, tuple(cities)) for table, cities in found.items()))


def condition(column_sql: str, cities: tuple[str, ...]) -> str:
    """SQL that keeps rows of ``cities`` by the city column ``column_sql``, the cities written in as
    literals (each checked: 4 digits or '') so the planner prunes the other partitions; FALSE for none."""
    for city in cities:
        if not re.fullmatch(r"[0-9]{4}|", city):
            raise ValueError(f"city {city!r} is not a 4-digit city code")
    if not cities:
        return "FALSE"
    quoted = ", ".join(f"'{city}'" for city in cities)
    return f"{column_sql} IN ({quoted})"


@lru_cache(maxsize=4096)
def statement(template: str, columns: tuple[tuple[str, str], ...], cities: Cities) -> TextClause:
    """``template`` with each ``{table}`` of ``columns`` (pairs of a table and its city column as SQL in the
    template, e.g. ``("building", "b.city_code")``) replaced by the condition keeping that table's rows of
    ``cities``: one statement per set of cities, each planned (and prepared) for those alone."""
    named = dict(cities)
    return text(template.format(**{table: condition(column, named[table]) for table, column in columns}))
