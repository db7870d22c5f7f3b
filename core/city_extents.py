"""The city partitions (migration 0022) that can hold rows in an area, from the boxes migration 0025 keeps
per partition (``city_extent``), and the SQL condition that names them, so a spatial read's plan holds
those partitions alone instead of probing every city's index."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import Connection, text

from core.divisions import CITY_PARTITIONED

Bounds = tuple[float, float, float, float]
# Every extent computed again from the rows: after writes with the tables' triggers set aside (a bulk load).
REFRESH = "SELECT city_extent_refresh()"

_MEETING = text(
    """SELECT table_name, city_code FROM city_extent
        WHERE x_min <= :x_max AND x_max >= :x_min AND y_min <= :y_max AND y_max >= :y_min
        ORDER BY table_name, city_code"""
)


def meeting(conn: Connection, bounds: Bounds) -> dict[str, tuple[str, ...]]:
    """For each table partitioned by city (and ``house_unit``, whose rows lie in their building's city), the
    cities ('' for the default partition) whose rows' box meets ``bounds`` (min x, min y, max x, max y in
    the store CRS); a row in the area lies in one of them."""
    x_min, y_min, x_max, y_max = bounds
    found: dict[str, list[str]] = {table: [] for table in CITY_PARTITIONED}
    params = {"x_min": x_min, "y_min": y_min, "x_max": x_max, "y_max": y_max}
    for table, city in conn.execute(_MEETING, params):
        found.setdefault(table, []).append(city)
    answer = {table: tuple(cities) for table, cities in found.items()}
    answer["house_unit"] = answer["building"]
    return answer


def condition(column_sql: str, cities: Iterable[str]) -> str:
    """SQL that keeps rows of ``cities`` by the city column ``column_sql``, the cities written in as
    literals (each checked: 4 digits or '') so the planner prunes the other partitions; FALSE for none."""
    listed = list(cities)
    for city in listed:
        if not re.fullmatch(r"[0-9]{4}|", city):
            raise ValueError(f"city {city!r} is not a 4-digit city code")
    if not listed:
        return "FALSE"
    quoted = ", ".join(f"'{city}'" for city in listed)
    return f"{column_sql} IN ({quoted})"
