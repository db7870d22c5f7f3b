"""Link buildings, projects and parcels: by the code a file gave, else spatially (a building inside a
project's site belongs to that project, a building or a project on a parcel to that parcel), and
say what stayed unlinked and why. The buildings and parcels imports and the records import of
projects run it over what they wrote."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

SAMPLE = 20  # ids listed per reason in the report
_scratch = itertools.count(1)


@dataclass(frozen=True)
class Link:
    """``source.column`` -> ``target.key``: set where empty to the target whose area covers the
    source's point on surface (the largest overlap when several do)."""

    name: str
    source: str
    source_geom: str
    column: str
    target: str
    target_geom: str
    alive: str = "true"  # which targets count (soft-deleted projects do not)


LINKS = (
    Link("building_project", "building", "footprint", "project_code", "project", "footprint", "p.deleted_at IS NULL"),
    Link("building_parcel", "building", "footprint", "parcel_code", "parcel", "geom"),
    Link("project_parcel", "project", "footprint", "parcel_code", "parcel", "geom"),
)


def _given(conn: Connection, codes: Sequence[str]) -> str:
    """A temporary table of the given codes, sent once (by COPY) for every statement that reads them."""
    table = f"_link_codes_{next(_scratch)}"
    conn.execute(text(f"CREATE TEMP TABLE {table} (code text PRIMARY KEY) ON COMMIT DROP"))
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("the linking's connection is closed")
    with driver.cursor() as cursor, cursor.copy(f"COPY {table} (code) FROM STDIN") as copy:
        for code in dict.fromkeys(codes):
            copy.write_row((code,))
    return table


def _run(conn: Connection, link: Link, scope: str) -> int:
    return conn.execute(
        text(f"""UPDATE {link.source} t SET {link.column} = m.target FROM (
                   SELECT DISTINCT ON (t.code) t.code AS id, p.code AS target
                     FROM {link.source} t JOIN {link.target} p
                       ON ST_Covers(p.{link.target_geom}, ST_PointOnSurface(t.{link.source_geom})) AND {link.alive}
                    WHERE t.{link.column} IS NULL AND t.{link.source_geom} IS NOT NULL AND ({scope})
                    ORDER BY t.code, ST_Area(ST_Intersection(p.{link.target_geom}, t.{link.source_geom})) DESC, p.code
                 ) m WHERE t.code = m.id""")
    ).rowcount


def _unlinked(conn: Connection, link: Link, given: str) -> dict:
    """The sources in scope still without a link, by reason, with sample codes (counted in the database)."""
    rows = conn.execute(
        text(f"""SELECT reason, count(*), (array_agg(code ORDER BY code))[1:{SAMPLE}] FROM (
                   SELECT CASE WHEN t.{link.source_geom} IS NULL THEN 'no_geometry'
                               WHEN NOT EXISTS (SELECT 1 FROM {link.target} p
                                                 WHERE ST_Intersects(p.{link.target_geom}, t.{link.source_geom})
                                                   AND {link.alive})
                                 THEN 'outside_every_{link.target}'
                               ELSE 'overlaps_but_not_inside_a_{link.target}' END AS reason, t.code
                     FROM {link.source} t
                    WHERE t.{link.column} IS NULL AND t.code IN (SELECT code FROM {given})) u
                  GROUP BY reason ORDER BY min(code)""")
    ).all()
    return {reason: {"count": count, "codes": list(sample)} for reason, count, sample in rows}


def link(
    conn: Connection,
    *,
    buildings: Sequence[str] = (),
    projects: Sequence[str] = (),
    parcels: Sequence[str] = (),
) -> dict:
    """Link the given buildings, projects and parcels (as source or as target) in the caller's
    transaction; per link: how many were linked now and, of the given sources, those left unlinked
    by reason."""
    codes = {"building": buildings, "project": projects, "parcel": parcels}
    given = {name: _given(conn, values) for name, values in codes.items() if values}
    report = {}
    for rule in LINKS:
        source, target = given.get(rule.source), given.get(rule.target)
        if source is None and target is None:
            continue
        scope = " OR ".join(
            f"{alias}.code IN (SELECT code FROM {table})" for alias, table in (("t", source), ("p", target)) if table
        )
        entry: dict[str, Any] = {"linked_now": _run(conn, rule, scope)}
        if source is not None:
            entry["unlinked"] = _unlinked(conn, rule, source)
        report[rule.name] = entry
    return report
