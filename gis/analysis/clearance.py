"""Clear distances between pipes after GB 50289-2016 (城市工程管线综合规划规范).

Horizontal minimum clear distances follow table 4.1.9, vertical ones at crossings table 4.1.14,
simplified: drain and sewer are one class (排水), streetlight cables count as power cables, cables
are direct-buried, and gas is "low/medium" unless its pressure class names "high" (then the
sub-high-pressure column; "medium" takes the medium column where the table has one). Clear distance
is between outer walls: axis distance minus both radii (diameter / 2). Pipes that share a node are
joined, not neighbours, and are not checked.
"""

from __future__ import annotations

import shapely
from shapely import LineString, Point
from shapely.ops import nearest_points
from sqlalchemy import Connection

from core import city_extents, vocab
from core.settings import store_srid

_RULES = vocab.get("utilities").clearances_gb50289
# Horizontal and vertical (class, class) -> metres, the classes sorted; "water_large" is water supply over DN200.
HORIZONTAL_M = {tuple(sorted((a, b))): m for a, b, m in _RULES.horizontal_m} if _RULES else {}
VERTICAL_M = {tuple(sorted((a, b))): m for a, b, m in _RULES.vertical_m} if _RULES else {}
SEARCH_M = max(HORIZONTAL_M.values()) + 2.0  # widest rule plus the widest radii in a city

# ``{pipeline}``: the cities whose pipes can lie in the area (core.city_extents), so the plan holds those alone.
_PAIRS = """WITH p AS (SELECT id, utility, diameter_mm, pressure_class, from_node, to_node, geom
                   FROM pipeline p WHERE {pipeline} AND ST_Intersects(geom, ST_GeomFromWKB(:wkb, :srid)))
       SELECT a.id AS a_id, a.utility AS a_utility, a.diameter_mm AS a_diameter_mm, a.pressure_class AS a_pressure,
              ST_AsBinary(a.geom) AS a_geom, b.id AS b_id, b.utility AS b_utility, b.diameter_mm AS b_diameter_mm,
              b.pressure_class AS b_pressure, ST_AsBinary(b.geom) AS b_geom
         FROM p a JOIN p b ON a.id < b.id AND ST_DWithin(a.geom, b.geom, :search)
        WHERE NOT (ARRAY[a.from_node, a.to_node] && ARRAY[b.from_node, b.to_node])"""
_CITY_COLUMNS = (("pipeline", "p.city_code"),)


def base_class(utility: str) -> str:
    """The clearance class of a utility (its vocabulary entry's; the code itself when it has none)."""
    term = vocab.get("utilities").term(utility)
    return term.clearance_class if term and term.clearance_class else utility


def horizontal_class(utility: str, diameter_mm: float | None, pressure: str | None) -> str:
    """The row of table 4.1.9 a pipe falls in."""
    cls = base_class(utility)
    if cls == "water" and (diameter_mm or 0) > 200:
        return "water_large"
    if cls == "gas" and pressure:
        if "high" in pressure.lower():
            return "gas_high"
        if "medium" in pressure.lower():
            return "gas_medium"
    return cls


def _rule(table: dict[tuple[str, ...], float], a: str, b: str) -> float | None:
    """A rule, falling back from the sub-classes (water_large, gas_medium, gas_high) to their base class."""
    for x in (a, a.split("_")[0]):
        for y in (b, b.split("_")[0]):
            value = table.get(tuple(sorted((x, y))))
            if value is not None:
                return value
    return None


def horizontal_rule(a: dict, b: dict) -> float | None:
    return _rule(
        HORIZONTAL_M,
        horizontal_class(a["utility"], a["diameter_mm"], a["pressure"]),
        horizontal_class(b["utility"], b["diameter_mm"], b["pressure"]),
    )


def vertical_rule(a: dict, b: dict) -> float | None:
    return _rule(VERTICAL_M, base_class(a["utility"]), base_class(b["utility"]))


def _z_at(line: LineString, at: Point) -> float:
    return float(line.interpolate(line.project(at)).z)


def check_pair(a: dict, b: dict) -> dict | None:
    """The violation between two pipes (dicts with utility, diameter_mm, pressure, geom as 3D LineString), if any."""
    radius = ((a["diameter_mm"] or 0) + (b["diameter_mm"] or 0)) / 2000.0
    a2, b2 = shapely.force_2d(a["geom"]), shapely.force_2d(b["geom"])
    crossing = a2.intersection(b2)
    if not crossing.is_empty:
        limit = vertical_rule(a, b)
        at = Point(shapely.get_coordinates(crossing)[0])
        clear = abs(_z_at(a["geom"], at) - _z_at(b["geom"], at)) - radius
        kind = "vertical"
    else:
        limit = horizontal_rule(a, b)
        clear = a2.distance(b2) - radius
        kind = "horizontal"
        at = nearest_points(a2, b2)[0]
    if limit is None or clear >= limit:
        return None
    return {"kind": kind, "clear_m": round(clear, 3), "required_m": limit, "at": at}


def clearance(conn: Connection, area: shapely.Geometry) -> list[dict]:
    """Pairs of pipes in ``area`` (store CRS) closer than GB 50289 allows; ``at`` is a store-CRS point."""
    params = {"wkb": shapely.to_wkb(area), "srid": store_srid(), "search": SEARCH_M}
    violations = []
    pairs = city_extents.statement(_PAIRS, _CITY_COLUMNS, city_extents.meeting(conn, area.bounds))
    for row in conn.execute(pairs, params).mappings():
        a = {"utility": row["a_utility"], "diameter_mm": row["a_diameter_mm"], "pressure": row["a_pressure"]}
        b = {"utility": row["b_utility"], "diameter_mm": row["b_diameter_mm"], "pressure": row["b_pressure"]}
        a["geom"] = shapely.from_wkb(row["a_geom"])
        b["geom"] = shapely.from_wkb(row["b_geom"])
        found = check_pair(a, b)
        if found:
            violations.append({"pipes": [row["a_id"], row["b_id"]], "utilities": [a["utility"], b["utility"]], **found})
    return sorted(violations, key=lambda v: (v["clear_m"] - v["required_m"], v["pipes"]))
