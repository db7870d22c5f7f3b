"""Administrative divisions (``division``, migration 0014): the five levels, their codes, the filter and
grouping every statistic, search and export shares, and the spatial assignment of division codes.

A division is named by the prefix of its 12-digit code that its level keeps (2 province, 4 city,
6 county, 9 township, 12 village digits); "everything in Hubei" is ``division_code LIKE '42%'``,
which the ``varchar_pattern_ops`` index on each coded table serves."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import Connection, text

from core.errors import UserError
from core.models.divisions import LEVELS, PREFIX_DIGITS

# The tables whose rows carry a division code: their key and the SQL (alias ``t``) of the geometry the
# code is found from.
CODED = {
    "building": ("code", "t.footprint"),
    "project": ("code", "coalesce(t.footprint, (SELECT p.geom FROM parcel p WHERE p.code = t.parcel_code))"),
    "pipeline": ("id", "t.geom"),
    "pipe_node": ("id", "t.geom"),
    "enterprise": ("uscc", "t.location"),
    "emergency_event": ("id", "t.location"),
}
LEVEL_NUMBERS = {name: number for number, name in LEVELS.items()}
# The tables partitioned by city (migration 0022) and their geometry column; a house unit (also
# partitioned) lies in its building's city, which triggers keep.
CITY_PARTITIONED = {"building": "footprint", "pipeline": "geom", "pipe_node": "geom"}


def city_sql(geometry_sql: str, division_sql: str | None = None) -> str:
    """SQL of the city (partition key) a row written with this geometry (and division code, when the
    writer gives one) lies in, for the writer to give in its statement: a row routed to the wrong city
    is moved after the statement, which costs a second write."""
    if division_sql is None:
        return f"city_of({geometry_sql})"
    return f"city_of_division(coalesce({division_sql}, division_at({geometry_sql})))"


def level_of(code: str) -> int:
    """A 12-digit code's level, from its trailing zeros (as SQL ``division_level``)."""
    for level in (1, 2, 3, 4):
        if set(code[PREFIX_DIGITS[level] :]) <= {"0"}:
            return level
    return 5


def prefix(division: str) -> str:
    """The code prefix a ``division`` parameter names: a prefix of 2, 4, 6, 9 or 12 digits, a 12-digit
    code standing for its level's prefix (``420100000000`` → ``4201``); else a UserError."""
    value = division.strip()
    if not re.fullmatch(r"[0-9]+", value) or len(value) not in PREFIX_DIGITS.values():
        raise UserError(
            f"division {division!r} is not a division code: give 2 (province), 4 (city), 6 (county), "
            "9 (township) or 12 digits"
        )
    return value[: PREFIX_DIGITS[level_of(value)]] if len(value) == 12 else value


def level(group_by: str) -> int:
    """The level a ``group_by`` names (``city`` or ``2``); else a UserError."""
    if group_by in LEVEL_NUMBERS:
        return LEVEL_NUMBERS[group_by]
    if group_by.isdigit() and int(group_by) in LEVELS:
        return int(group_by)
    raise UserError(f"group_by {group_by!r} is not a level: use {', '.join(LEVELS.values())} (or 1 to 5)")


def condition(column_sql: str, division: str | None) -> tuple[str, dict[str, str]]:
    """The SQL condition (bound to ``:division_like``) that keeps rows of ``division`` (a prefix as
    :func:`prefix` reads it), and its parameters; ``("TRUE", {})`` when there is no filter."""
    if division is None:
        return "TRUE", {}
    return f"{column_sql} LIKE :division_like", {"division_like": prefix(division) + "%"}


def city_condition(table: str, division: str | None) -> str:
    """SQL (alias ``t``) that keeps only the city's partition of a table partitioned by city when
    ``division`` is a city or below, else TRUE. The city is written in as a literal (digits, checked by
    :func:`prefix`): the plan, generic or not, then holds that partition alone."""
    if division is None or table not in CITY_PARTITIONED or len(prefix(division)) < 4:
        return "TRUE"
    return f"t.city_code = '{prefix(division)[:4]}'"


def group_key(column_sql: str, level_number: int) -> str:
    """SQL of the 12-digit code of the ``level_number`` division a row's code lies in."""
    return f"rpad(left({column_sql}, {PREFIX_DIGITS[level_number]}), 12, '0')"


def assign(conn: Connection, tables: Iterable[str] | None = None, *, every: bool = False) -> dict[str, int]:
    """Give rows without a division code (``every``: all rows) the deepest division their geometry lies
    in; enterprises without a location get the county whose name their ``district`` is, when only one
    county has it. Returns the rows given a code per table."""
    chosen = list(tables) if tables is not None else list(CODED)
    unknown = [t for t in chosen if t not in CODED]
    if unknown:
        raise UserError(f"no division codes on {', '.join(unknown)}: use {', '.join(CODED)}")
    counts: dict[str, int] = dict.fromkeys(chosen, 0)
    if not conn.execute(text("SELECT EXISTS (SELECT 1 FROM division)")).scalar():
        return counts  # a store without divisions (a single city) has nothing to assign
    for table in chosen:
        key, geom = CODED[table]
        missing = "TRUE" if every else "t.division_code IS NULL"
        city = ", city_code = left(found.code, 4)" if table in CITY_PARTITIONED else ""
        # Driven by the divisions, each one's boundary tested against the rows its box meets through the
        # table's GiST index (PostGIS keeps the boundary prepared across them): ~30x a lookup per row.
        sql = f"""WITH found AS (SELECT DISTINCT ON (t.{key}) t.{key} AS key, d.code FROM division d
                JOIN {table} t ON d.geom && {geom} AND ST_Intersects(d.geom, ST_PointOnSurface(ST_Force2D({geom})))
                WHERE {missing} ORDER BY t.{key}, d.level DESC, d.code),
            u AS (UPDATE {table} t SET division_code = found.code{city} FROM found
                  WHERE t.{key} = found.key RETURNING 1)
            SELECT count(*) FROM u"""
        counts[table] = conn.execute(text(sql)).scalar_one()
        if table in CITY_PARTITIONED:  # rows written without their city (a bulk load's, triggers set aside) move to it
            conn.execute(
                text(
                    f"UPDATE {table} SET city_code = left(division_code, 4) "
                    "WHERE division_code IS NOT NULL AND city_code <> left(division_code, 4)"
                )
            )
    if "enterprise" in chosen:
        by_name = """WITH u AS (UPDATE enterprise e SET division_code = d.code FROM division d
            WHERE e.division_code IS NULL AND e.location IS NULL AND d.level = 3 AND d.name = e.district
              AND (SELECT count(*) FROM division o WHERE o.level = 3 AND o.name = e.district) = 1 RETURNING 1)
            SELECT count(*) FROM u"""
        counts["enterprise"] += conn.execute(text(by_name)).scalar_one()
    return counts
