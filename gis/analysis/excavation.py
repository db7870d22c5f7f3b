"""Excavation check: the pipes and tunnels a dig of a given depth inside a polygon would hit.

A pipe is hit when its axis crosses the polygon (2D) and its top lies above the dig's bottom: the
top depth is ``depth_m`` when measured to the top, else ``depth_m`` minus half the diameter; a pipe
of unknown depth counts as hit. A tunnel is hit when its outline (axis grown by half its width)
meets the polygon and its cover depth is less than the dig depth.
"""

from __future__ import annotations

import shapely
from sqlalchemy import Connection, text

from core import city_extents
from core.errors import UserError
from core.settings import store_srid

MAX_DEPTH_M = 100.0

# ``{pipeline}``: the cities whose pipes can lie in the area (core.city_extents), so the plan holds those alone.
_PIPES = """SELECT p.id, p.utility, p.material, p.diameter_mm, p.depth_m, p.depth_ref, p.owner, p.status,
              CASE WHEN p.depth_ref = 'axis' THEN p.depth_m - COALESCE(p.diameter_mm, 0) / 2000.0
                   ELSE p.depth_m END AS top_depth_m,
              ST_Length(ST_Intersection(ST_Force2D(p.geom), z.g)) AS length_in_area_m
         FROM pipeline p, (SELECT ST_GeomFromWKB(:wkb, :srid) AS g) AS z
        WHERE {pipeline} AND ST_Intersects(p.geom, z.g)
          AND (p.depth_m IS NULL OR CASE WHEN p.depth_ref = 'axis'
                                         THEN p.depth_m - COALESCE(p.diameter_mm, 0) / 2000.0
                                         ELSE p.depth_m END < :depth)
        ORDER BY p.utility, p.id"""
_CITY_COLUMNS = (("pipeline", "p.city_code"),)
_TUNNELS = text(
    """SELECT u.id, u.name, u.segment, u.owner, u.cover_depth_m, u.width_m, u.height_m,
              (SELECT json_agg(json_build_object('id', c.id, 'name', c.name, 'utilities', c.utilities) ORDER BY c.id)
                 FROM tunnel_compartment c WHERE c.tunnel_id = u.id) AS compartments
         FROM utility_tunnel u, (SELECT ST_GeomFromWKB(:wkb, :srid) AS g) AS z
        WHERE ST_DWithin(ST_Force2D(u.axis), z.g, u.width_m / 2) AND u.cover_depth_m < :depth
        ORDER BY u.id"""
)


def excavation(conn: Connection, area: shapely.Geometry, depth_m: float) -> dict:
    """Pipes and tunnels hit by a dig of ``depth_m`` inside ``area`` (store CRS), with their owners."""
    if not (0 < depth_m <= MAX_DEPTH_M):
        raise UserError(f"depth_m must be more than 0 and at most {MAX_DEPTH_M:.0f} m, not {depth_m}")
    params = {"wkb": shapely.to_wkb(area), "srid": store_srid(), "depth": depth_m}
    pipes_sql = city_extents.statement(_PIPES, _CITY_COLUMNS, city_extents.meeting(conn, area.bounds))
    pipes = [dict(r) for r in conn.execute(pipes_sql, params).mappings()]
    tunnels = [dict(r) for r in conn.execute(_TUNNELS, params).mappings()]
    owners = sorted({p["owner"] for p in pipes if p["owner"]} | {t["owner"] for t in tunnels if t["owner"]})
    return {"depth_m": depth_m, "pipes": pipes, "tunnels": tunnels, "owners_to_notify": owners}
