"""Link buildings, projects and parcels: by the code a file gave, else spatially (a building inside a
project's site belongs to that project, a building or a project on a parcel to that parcel), and
say what stayed unlinked and why. The buildings and parcels imports and the records import of
projects run it over what they wrote."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

SAMPLE = 20  # ids listed per reason in the report


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


def _run(conn: Connection, link: Link, scope: str, codes: dict) -> int:
    return conn.execute(
        text(f"""UPDATE {link.source} t SET {link.column} = m.target FROM (
                   SELECT DISTINCT ON (t.code) t.code AS id, p.code AS target
                     FROM {link.source} t JOIN {link.target} p
                       ON ST_Covers(p.{link.target_geom}, ST_PointOnSurface(t.{link.source_geom})) AND {link.alive}
                    WHERE t.{link.column} IS NULL AND t.{link.source_geom} IS NOT NULL AND ({scope})
                    ORDER BY t.code, ST_Area(ST_Intersection(p.{link.target_geom}, t.{link.source_geom})) DESC, p.code
                 ) m WHERE t.code = m.id"""),
        codes,
    ).rowcount


def _unlinked(conn: Connection, link: Link, codes: dict) -> dict:
    """The sources in scope still without a link, by reason, with sample codes."""
    rows = conn.execute(
        text(f"""SELECT CASE WHEN t.{link.source_geom} IS NULL THEN 'no_geometry'
                             WHEN NOT EXISTS (SELECT 1 FROM {link.target} p
                                               WHERE ST_Intersects(p.{link.target_geom}, t.{link.source_geom})
                                                 AND {link.alive})
                               THEN 'outside_every_{link.target}'
                             ELSE 'overlaps_but_not_inside_a_{link.target}' END AS reason, t.code
                   FROM {link.source} t
                  WHERE t.{link.column} IS NULL AND t.code = ANY(:{link.source}) ORDER BY t.code"""),
        codes,
    ).all()
    out: dict[str, dict] = {}
    for reason, code in rows:
        entry = out.setdefault(reason, {"count": 0, "codes": []})
        entry["count"] += 1
        if len(entry["codes"]) < SAMPLE:
            entry["codes"].append(code)
    return out


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
    codes = {"building": list(buildings), "project": list(projects), "parcel": list(parcels)}
    report = {}
    for rule in LINKS:
        if not codes[rule.source] and not codes[rule.target]:
            continue
        scope = f"t.code = ANY(:{rule.source}) OR p.code = ANY(:{rule.target})"
        entry: dict[str, Any] = {"linked_now": _run(conn, rule, scope, codes)}
        if codes[rule.source]:
            entry["unlinked"] = _unlinked(conn, rule, codes)
        report[rule.name] = entry
    return report
