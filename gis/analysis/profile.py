"""A vertical section along a line: the ground from the DEM and the pipes and tunnels crossing it.

Stations are metres along the line in the store CRS. Each crossing gives the axis height
(orthometric, interpolated along the pipe's 3D axis), the ground there and the depths of the axis
and the top of the pipe below the ground.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely import LineString, Point
from sqlalchemy import Connection, text

from core.errors import UserError
from core.settings import store_srid
from gis.dem import ground_heights

MAX_LENGTH_M = 10_000.0
MAX_SAMPLES = 2_000

_PIPES = text(
    """SELECT id, utility, material, diameter_mm, depth_m, depth_ref, owner, ST_AsBinary(geom) AS geom
         FROM pipeline WHERE ST_Intersects(geom, ST_GeomFromWKB(:wkb, :srid)) ORDER BY id"""
)
_TUNNELS = text(
    """SELECT id, name, width_m, height_m, cover_depth_m, ST_AsBinary(axis) AS axis
         FROM utility_tunnel WHERE ST_Intersects(axis, ST_GeomFromWKB(:wkb, :srid)) ORDER BY id"""
)


def _ground(xy: list[tuple[float, float]]) -> list[float | None]:
    heights = ground_heights(np.asarray(xy, dtype=float).reshape(-1, 2))
    return [round(float(h), 3) if math.isfinite(h) else None for h in heights]


def _crossings(section: LineString, axis: LineString) -> list[tuple[float, Point, float]]:
    """(station, point, axis height) of each place ``axis`` crosses ``section``."""
    where = section.intersection(shapely.force_2d(axis))
    points = [Point(c) for c in shapely.get_coordinates(where)]
    return [(section.project(p), p, float(axis.interpolate(axis.project(p)).z)) for p in points]


def profile(conn: Connection, section: LineString, step_m: float) -> dict:
    """Ground samples every ``step_m`` and the pipe and tunnel crossings along ``section`` (store CRS)."""
    length = section.length
    if length > MAX_LENGTH_M:
        raise UserError(f"the line is {length:.0f} m long; the most is {MAX_LENGTH_M:.0f} m")
    if not (step_m > 0) or length / step_m > MAX_SAMPLES:
        raise UserError(
            f"step_m must be more than 0 and give at most {MAX_SAMPLES} samples (>= {length / MAX_SAMPLES:.1f})"
        )
    stations = [*np.arange(0.0, length, step_m).tolist(), length]
    xy = [section.interpolate(s).coords[0][:2] for s in stations]
    ground = [{"station_m": round(s, 3), "ground_h_orthometric": h} for s, h in zip(stations, _ground(xy), strict=True)]
    params = {"wkb": shapely.to_wkb(section), "srid": store_srid()}
    pipes = []
    for row in conn.execute(_PIPES, params).mappings():
        axis = shapely.from_wkb(row["geom"])
        for station, at, z in _crossings(section, axis):
            pipes.append(
                {
                    "id": row["id"],
                    "utility": row["utility"],
                    "station_m": station,
                    "axis_z": z,
                    "xy": at.coords[0],
                    "diameter_mm": row["diameter_mm"],
                    "material": row["material"],
                    "owner": row["owner"],
                    "recorded_depth_m": row["depth_m"],
                    "depth_ref": row["depth_ref"],
                }
            )
    tunnels = []
    for row in conn.execute(_TUNNELS, params).mappings():
        axis = shapely.from_wkb(row["axis"])
        for station, at, z in _crossings(section, axis):
            tunnels.append(
                {
                    "id": row["id"],
                    "name": row["name"],
                    "station_m": station,
                    "floor_z": z,
                    "top_z": z + row["height_m"],
                    "width_m": row["width_m"],
                    "xy": at.coords[0],
                }
            )
    heights = _ground([p["xy"] for p in pipes] + [t["xy"] for t in tunnels]) if pipes or tunnels else []
    for crossing, h in zip(pipes + tunnels, heights, strict=True):
        crossing["ground_h_orthometric"] = h
        crossing["station_m"] = round(crossing["station_m"], 3)
        del crossing["xy"]
        if "axis_z" in crossing:
            radius = (crossing["diameter_mm"] or 0) / 2000.0
            crossing["axis_depth_m"] = round(h - crossing["axis_z"], 3) if h is not None else None
            crossing["top_depth_m"] = round(h - crossing["axis_z"] - radius, 3) if h is not None else None
            crossing["axis_z"] = round(crossing["axis_z"], 3)
        else:
            crossing["cover_depth_m"] = round(h - crossing["top_z"], 3) if h is not None else None
    return {
        "length_m": round(length, 3),
        "ground": ground,
        "pipes": sorted(pipes, key=lambda p: (p["station_m"], p["id"])),
        "tunnels": sorted(tunnels, key=lambda t: (t["station_m"], t["id"])),
    }
