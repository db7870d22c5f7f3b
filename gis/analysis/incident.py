"""Emergency overlays: what lies in the zone of a gas leak, pipe burst, flood or fire.

The zone is the given polygon, or a buffer of ``radius_m`` around the given point (or polygon).
Inside it: buildings with their house units, construction sites with their contractors and people,
pipes by utility, tunnel compartments with the latest sensor readings. A pipe burst adds the valves
to close, the isolated pipes and the buildings that lose supply; a flood at a water level adds the
water depth at each building (level minus the DEM ground at the footprint centroid).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import shapely
from sqlalchemy import Connection, text

from core import city_extents
from core.errors import UserError
from core.settings import store_srid
from gis.analysis import isolation, records
from gis.dem import ground_heights
from gis.network import pipe_graph

IncidentType = Literal["gas_leak", "pipe_burst", "flood", "fire"]
DEFAULT_RADIUS_M = {"gas_leak": 200.0, "pipe_burst": 100.0, "flood": 300.0, "fire": 100.0}
ACTIVE_STAGES = ("preparation", "construction")
BURST_SEARCH_M = 50.0

_ZONE = "(SELECT ST_GeomFromWKB(:wkb, :srid) AS g) AS z"
# Over the tables partitioned by city, the statements name the cities whose rows can lie in the zone
# (``{building}``, ``{house_unit}``, ``{pipeline}``: core.city_extents), so their plans hold those alone.
_CITY_COLUMNS = (("building", "b.city_code"), ("house_unit", "h.city_code"), ("pipeline", "p.city_code"))
_BUILDINGS = f"""SELECT b.code, b.address, b.use, b.floors_above, b.height_m, b.safety_grade,
               round(ST_Distance(b.footprint, ST_GeomFromWKB(:origin, :srid))::numeric, 1)::float AS distance_m,
               ST_X(ST_Centroid(b.footprint)) AS cx, ST_Y(ST_Centroid(b.footprint)) AS cy,
               COALESCE((SELECT json_agg(json_build_object('id', h.id, 'unit_no', h.unit_no, 'floor', h.floor,
                                 'area_m2', h.area_m2, 'residents', h.residents, 'owner', h.owner_masked)
                                 ORDER BY h.floor, h.unit_no)
                           FROM house_unit h WHERE {{house_unit}} AND h.city_code = b.city_code
                            AND h.building_code = b.code), '[]'::json) AS units
          FROM building b, {_ZONE} WHERE {{building}} AND ST_Intersects(b.footprint, z.g) ORDER BY distance_m, b.code"""
_SITES = text(
    f"""SELECT p.code, p.name, p.stage, p.hazardous_works, p.contractor_uscc
          FROM project p, {_ZONE}
         WHERE ST_Intersects(p.footprint, z.g) AND p.stage = ANY(:stages) ORDER BY p.code"""
)
_PIPES = f"""SELECT p.utility, p.id, ST_Length(ST_Intersection(ST_Force2D(p.geom), z.g)) AS length_m
          FROM pipeline p, {_ZONE} WHERE {{pipeline}} AND ST_Intersects(p.geom, z.g) ORDER BY p.utility, p.id"""
_COMPARTMENTS = text(
    f"""SELECT c.id, c.name, c.tunnel_id, c.utilities
          FROM tunnel_compartment c JOIN utility_tunnel u ON u.id = c.tunnel_id, {_ZONE}
         WHERE ST_Intersects(u.axis, z.g) ORDER BY c.id"""
)
_SENSORS = text(
    f"""SELECT s.id, s.compartment_id, s.kind, s.unit, s.alarm_above, s.alarm_below,
               r.time, r.value, r.alarm
          FROM sensor s, {_ZONE},
               LATERAL (SELECT time, value, alarm FROM sensor_reading WHERE sensor_id = s.id
                         ORDER BY time DESC LIMIT 1) AS r
         WHERE ST_Intersects(s.position, z.g) ORDER BY s.compartment_id, s.id"""
)
_NEAREST_WATER_PIPE = """SELECT p.id FROM pipeline p
        WHERE {pipeline} AND p.utility = 'water' AND ST_DWithin(p.geom, ST_GeomFromWKB(:origin, :srid), :d)
        ORDER BY p.geom <-> ST_GeomFromWKB(:origin, :srid), p.id LIMIT 1"""
_PIPE_UTILITY = text("SELECT utility FROM pipeline WHERE id = :id")


def zone(location: shapely.Geometry, radius_m: float | None) -> shapely.Geometry:
    """The incident zone in the store CRS."""
    if radius_m is None:
        if location.geom_type == "Point":
            raise UserError("a point incident needs radius_m")
        return location
    return location.buffer(radius_m, quad_segs=16)


def _sites(conn: Connection, params: dict, personal: bool) -> list[dict]:
    sites = [dict(r) for r in conn.execute(_SITES, {**params, "stages": list(ACTIVE_STAGES)}).mappings()]
    for site in sites:
        project = records.project(conn, site["code"], personal) or {}
        site["contractor"] = project.get("parties", {}).get("contractor")
        site["people"] = project.get("people", {})
        site.pop("contractor_uscc")
    return sites


def _flood_depths(buildings: list[dict], water_level_m: float) -> None:
    if not buildings:
        return
    ground = ground_heights(np.array([[b["cx"], b["cy"]] for b in buildings], dtype=float))
    for building, h in zip(buildings, ground, strict=True):
        ok = bool(np.isfinite(h))
        building["ground_h_orthometric"] = round(float(h), 3) if ok else None
        building["water_depth_m"] = round(max(water_level_m - float(h), 0.0), 3) if ok else None


def _burst(conn: Connection, origin: shapely.Geometry, pipe_id: str | None) -> dict:
    if pipe_id is None:
        params = {"origin": shapely.to_wkb(origin.centroid), "srid": store_srid(), "d": BURST_SEARCH_M}
        at, d = origin.centroid, BURST_SEARCH_M
        cities = city_extents.meeting(conn, (at.x - d, at.y - d, at.x + d, at.y + d))
        pipe_id = conn.execute(city_extents.statement(_NEAREST_WATER_PIPE, _CITY_COLUMNS, cities), params).scalar()
        if pipe_id is None:
            raise UserError(f"no water pipe within {BURST_SEARCH_M:.0f} m of the burst: give pipe_id")
    utility = conn.execute(_PIPE_UTILITY, {"id": pipe_id}).scalar()
    if utility is None:
        raise UserError(f"pipe {pipe_id!r} does not exist: give the id of the burst pipe")
    result = isolation.isolate(pipe_graph(utility), pipe_id)
    result["utility"] = utility
    result["buildings_losing_supply"] = isolation.losing_supply(conn, utility, result["isolated_pipes"])
    return result


def incident(
    conn: Connection,
    kind: IncidentType,
    location: shapely.Geometry,
    radius_m: float | None,
    personal: bool,
    pipe_id: str | None = None,
    water_level_m: float | None = None,
) -> dict:
    """Everything in an incident's zone (store-CRS geometries; the caller turns the zone to CRS84)."""
    if kind == "flood" and water_level_m is None:
        raise UserError("a flood needs water_level_m (orthometric metres) to compute depths")
    area = zone(location, radius_m)
    params = {"wkb": shapely.to_wkb(area), "srid": store_srid(), "origin": shapely.to_wkb(location)}
    cities = city_extents.meeting(conn, area.bounds)
    buildings_sql = city_extents.statement(_BUILDINGS, _CITY_COLUMNS, cities)
    buildings = [dict(r) for r in conn.execute(buildings_sql, params).mappings()]
    if kind == "flood" and water_level_m is not None:
        _flood_depths(buildings, water_level_m)
    for building in buildings:
        building.pop("cx")
        building.pop("cy")
    pipes: dict[str, dict] = {}
    for row in conn.execute(city_extents.statement(_PIPES, _CITY_COLUMNS, cities), params).mappings():
        entry = pipes.setdefault(row["utility"], {"count": 0, "length_m": 0.0, "ids": []})
        entry["count"] += 1
        entry["length_m"] = round(entry["length_m"] + row["length_m"], 2)
        entry["ids"].append(row["id"])
    compartments = {r["id"]: {**dict(r), "sensors": []} for r in conn.execute(_COMPARTMENTS, params).mappings()}
    for sensor in conn.execute(_SENSORS, params).mappings():
        if sensor["compartment_id"] in compartments:
            compartments[sensor["compartment_id"]]["sensors"].append(dict(sensor))
    result = {
        "type": kind,
        "zone_area_m2": round(area.area, 1),
        "buildings": buildings,
        "residents": sum(u["residents"] or 0 for b in buildings for u in b["units"]),
        "construction_sites": _sites(conn, params, personal),
        "pipes_by_utility": pipes,
        "tunnel_compartments": list(compartments.values()),
        "zone": area,
    }
    if kind == "pipe_burst":
        result["isolation"] = _burst(conn, location, pipe_id)
    return result
