"""Link buildings, projects and parcels: by the code a file gave, else spatially (a building inside a
project's site belongs to that project, a building or a project on a parcel to that parcel), and
say what stayed unlinked and why. Both the buildings import and the records import of projects run it."""

from __future__ import annotations

from sqlalchemy import Connection, text

SAMPLE = 20  # ids listed per reason in the report

# (what is linked, its table, its key, the column set, the target table, its key, its area column,
#  the target's own deleted filter)
_LINKS = (
    ("building_project", "building", "code", "footprint", "project_code", "project", "code", "footprint",
     "p.deleted_at IS NULL"),
    ("building_parcel", "building", "code", "footprint", "parcel_code", "parcel", "code", "geom", "true"),
    ("project_parcel", "project", "code", "footprint", "parcel_code", "parcel", "code", "geom", "true"),
)  # fmt: skip


def _link(conn: Connection, table: str, key: str, geom: str, column: str, target: str, target_key: str,
          target_geom: str, alive: str) -> int:  # fmt: skip
    """Set ``column`` where it is empty to the target whose area covers the row's point on surface
    (the largest overlap when several do); the number of rows linked."""
    return conn.execute(
        text(f"""UPDATE {table} t SET {column} = m.target FROM (
                   SELECT DISTINCT ON (t.{key}) t.{key} AS id, p.{target_key} AS target
                     FROM {table} t JOIN {target} p
                       ON ST_Covers(p.{target_geom}, ST_PointOnSurface(t.{geom})) AND {alive}
                    WHERE t.{column} IS NULL AND t.{geom} IS NOT NULL
                    ORDER BY t.{key}, ST_Area(ST_Intersection(p.{target_geom}, t.{geom})) DESC, p.{target_key}
                 ) m WHERE t.{key} = m.id""")
    ).rowcount


def _unlinked(conn: Connection, table: str, key: str, geom: str, column: str, target: str, target_geom: str,
              alive: str) -> dict:  # fmt: skip
    """Rows still without a link, by reason: no geometry, no target with an area at all, none covering it."""
    rows = conn.execute(
        text(f"""SELECT CASE WHEN t.{geom} IS NULL THEN 'no_geometry'
                             WHEN NOT EXISTS (SELECT 1 FROM {target} p WHERE p.{target_geom} IS NOT NULL AND {alive})
                               THEN 'no_{target}_with_area'
                             ELSE 'outside_every_{target}' END AS reason, t.{key} AS id
                   FROM {table} t WHERE t.{column} IS NULL ORDER BY t.{key}""")
    ).all()
    out: dict[str, dict] = {}
    for reason, fid in rows:
        entry = out.setdefault(reason, {"count": 0, "ids": []})
        entry["count"] += 1
        if len(entry["ids"]) < SAMPLE:
            entry["ids"].append(fid)
    return out


def link(conn: Connection) -> dict:
    """Link what is unlinked, in the caller's transaction; per link: how many were linked now, how many
    are linked in all, and the unlinked by reason with sample ids."""
    report = {}
    for name, table, key, geom, column, target, target_key, target_geom, alive in _LINKS:
        linked = _link(conn, table, key, geom, column, target, target_key, target_geom, alive)
        total = conn.execute(text(f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL")).scalar_one()
        report[name] = {
            "linked_now": linked,
            "linked": total,
            "unlinked": _unlinked(conn, table, key, geom, column, target, target_geom, alive),
        }
    return report
