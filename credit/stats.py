"""Statistics: grade distribution by type and district, ranking, monthly trend, alert handling
times, and the regional risk grid (ST_HexagonGrid) as GeoJSON or a Mapbox vector tile."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.districts import BadBoundary
from core.districts import save as save_district
from core.errors import UserError

# Risk of a grade on the heat map: A 0 … D 3.
RISK = "CASE e.credit_grade WHEN 'A' THEN 0 WHEN 'B' THEN 1 WHEN 'C' THEN 2 WHEN 'D' THEN 3 END"


def distribution(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        text(
            "SELECT type, coalesce(district, '') AS district, credit_grade AS grade, count(*) AS enterprises"
            " FROM enterprise WHERE credit_grade IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
    )
    return [dict(r._mapping) for r in rows]


def ranking(session: Session, limit: int = 20, type_: str | None = None) -> list[dict[str, Any]]:
    """The highest-risk enterprises first (lowest score), optionally of one type."""
    rows = session.execute(
        text(
            "SELECT uscc, name, type, district, credit_grade AS grade, credit_score AS score FROM enterprise"
            " WHERE credit_score IS NOT NULL AND (CAST(:t AS text) IS NULL OR type = :t)"
            " ORDER BY credit_score, uscc LIMIT :n"
        ),
        {"t": type_, "n": limit},
    )
    return [dict(r._mapping) for r in rows]


def trend(session: Session) -> list[dict[str, Any]]:
    """Per month of scoring, each enterprise's last grade of that month, counted by grade."""
    rows = session.execute(
        text(
            """WITH last AS (
                   SELECT DISTINCT ON (s.enterprise_uscc, date_trunc('month', r.as_of))
                          to_char(r.as_of, 'YYYY-MM') AS month, s.grade
                   FROM credit_score s JOIN credit_run r ON r.id = s.run_id
                   ORDER BY s.enterprise_uscc, date_trunc('month', r.as_of), r.as_of DESC, r.id DESC)
               SELECT month, grade, count(*) AS enterprises FROM last GROUP BY 1, 2 ORDER BY 1, 2"""
        )
    )
    return [dict(r._mapping) for r in rows]


def alert_handling(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        text(
            "SELECT kind, count(*) AS alerts, count(*) FILTER (WHERE status = 'closed') AS closed,"
            " count(*) FILTER (WHERE status = 'dispatched' AND due_on < current_date) AS overdue,"
            " round((avg(extract(epoch FROM closed_at - created_at)) / 3600)::numeric, 2)::float AS mean_hours_to_close"
            " FROM credit_alert GROUP BY kind ORDER BY kind"
        )
    )
    return [dict(r._mapping) for r in rows]


MAX_CELLS = 250_000


def _hexagons(bounds: str) -> str:
    """Cells of an ST_HexagonGrid over ``bounds`` (SQL of a geometry in the store CRS) that hold enterprises."""
    return f"""
WITH e AS (SELECT location, {RISK} AS risk FROM enterprise e
           WHERE location IS NOT NULL AND credit_grade IS NOT NULL),
     grid AS (SELECT h.geom, h.i, h.j FROM ST_HexagonGrid(:size, {bounds}) h)
SELECT g.i, g.j, count(*) AS enterprises, round(avg(e.risk)::numeric, 3)::float AS mean_risk,
       count(*) FILTER (WHERE e.risk >= 2) AS high_risk, g.geom
FROM grid g JOIN e ON ST_Intersects(g.geom, e.location)
GROUP BY g.i, g.j, g.geom
"""


def hexagons(session: Session, size_m: float) -> dict[str, Any]:
    """The risk grid as a GeoJSON FeatureCollection in CRS84 (cells with at least one enterprise)."""
    extent = "(SELECT ST_SetSRID(ST_Extent(location)::geometry, max(ST_SRID(location))) FROM e)"
    area = session.execute(
        text(
            "SELECT coalesce(ST_Area(ST_Extent(location)::geometry), 0) FROM enterprise WHERE credit_grade IS NOT NULL"
        )
    ).scalar_one()
    if area / (2.6 * size_m**2) > MAX_CELLS:
        raise UserError(f"hexagons of {size_m:g} m over the whole city make too many cells: use a larger size")
    rows = session.execute(
        text(
            f"SELECT i, j, enterprises, mean_risk, high_risk, ST_AsGeoJSON(ST_Transform(geom, 4326), 7) AS g"
            f" FROM ({_hexagons(extent)}) cells ORDER BY i, j"
        ),
        {"size": size_m},
    )
    features = [
        {
            "type": "Feature",
            "id": f"{r.i}:{r.j}",
            "geometry": json.loads(r.g),
            "properties": {"enterprises": r.enterprises, "mean_risk": r.mean_risk, "high_risk": r.high_risk},
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features}


def hexagon_tile(session: Session, z: int, x: int, y: int, size_m: float) -> bytes:
    """The risk grid as one Mapbox vector tile (layer ``credit_risk``) in Web Mercator; the grid is
    made over the tile only, so its cells line up across tiles."""
    bounds = "ST_Transform(ST_TileEnvelope(:z, :x, :y), (SELECT max(ST_SRID(location)) FROM e))"
    return session.execute(
        text(
            f"""WITH cells AS ({_hexagons(bounds)}),
                    t AS (SELECT enterprises, mean_risk, high_risk,
                                 ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(:z, :x, :y)) AS geom
                          FROM cells WHERE ST_Transform(geom, 3857) && ST_TileEnvelope(:z, :x, :y))
                SELECT coalesce(ST_AsMVT(t, 'credit_risk'), '') FROM t WHERE geom IS NOT NULL"""
        ),
        {"size": size_m, "z": z, "x": x, "y": y},
    ).scalar_one()


def _district_risk() -> str:
    """Per district named by enterprises: how many are graded, their mean risk (A 0 … D 3), how many at C/D."""
    return f"""
SELECT e.district, count(*) AS enterprises, round(avg({RISK})::numeric, 3)::float AS mean_risk,
       count(*) FILTER (WHERE {RISK} >= 2) AS high_risk
FROM enterprise e WHERE e.district IS NOT NULL AND e.credit_grade IS NOT NULL GROUP BY e.district"""


def districts(session: Session) -> list[dict[str, Any]]:
    """Risk by the district enterprises are registered in, whether or not its boundary is loaded."""
    rows = session.execute(text(f"SELECT * FROM ({_district_risk()}) d ORDER BY mean_risk DESC, district"))
    return [dict(r._mapping) for r in rows]


def district_map(session: Session) -> dict[str, Any]:
    """The districts with a loaded boundary and their risk, as GeoJSON in CRS84."""
    rows = session.execute(
        text(
            f"SELECT b.code, b.name, d.enterprises, d.mean_risk, d.high_risk,"
            f" ST_AsGeoJSON(ST_Transform(b.geom, 4326), 7) AS g"
            f" FROM district b JOIN ({_district_risk()}) d ON d.district = b.name ORDER BY b.code"
        )
    )
    features = [
        {
            "type": "Feature",
            "id": r.code,
            "geometry": json.loads(r.g),
            "properties": {
                "district": r.name,
                "enterprises": r.enterprises,
                "mean_risk": r.mean_risk,
                "high_risk": r.high_risk,
            },
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features}


def district_tile(session: Session, z: int, x: int, y: int) -> bytes:
    """The district risk map as one Mapbox vector tile (layer ``credit_district_risk``) in Web Mercator."""
    return session.execute(
        text(
            f"""WITH t AS (
                    SELECT b.code, b.name AS district, d.enterprises, d.mean_risk, d.high_risk,
                           ST_AsMVTGeom(ST_Transform(b.geom, 3857), ST_TileEnvelope(:z, :x, :y)) AS geom
                    FROM district b JOIN ({_district_risk()}) d ON d.district = b.name
                    WHERE ST_Transform(b.geom, 3857) && ST_TileEnvelope(:z, :x, :y))
                SELECT coalesce(ST_AsMVT(t, 'credit_district_risk'), '') FROM t WHERE geom IS NOT NULL"""
        ),
        {"z": z, "x": x, "y": y},
    ).scalar_one()


def load_districts(session: Session, collection: dict[str, Any], srid: int = 4326) -> int:
    """Load district boundaries from a GeoJSON FeatureCollection (properties ``code``, ``name``; in
    ``srid``, CRS84 by default), replacing districts of the same code (core.districts.save); returns how many."""
    features = collection.get("features") or []
    for n, feature in enumerate(features, start=1):
        props = feature.get("properties") or {}
        if not props.get("code") or not props.get("name") or not feature.get("geometry"):
            raise UserError(f"district feature {n} needs properties code and name and a geometry")
    if not features:
        raise UserError("no district features in the file")
    for n, feature in enumerate(features, start=1):
        props = feature["properties"]
        try:
            save_district(session, str(props["code"]), str(props["name"]), feature["geometry"], srid)
        except BadBoundary as exc:
            raise UserError(f"district feature {n}: {exc}") from None
    return len(features)
