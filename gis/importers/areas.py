"""Buildings, parcels, roads and utility tunnels."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.dem import ground_heights
from gis.importers.pipes import NO_GROUND
from gis.importers.report import ImportReport
from gis.importers.rows import Row
from gis.importers.write import upsert

Progress = Callable[[int], None] | None


def _polygon(row: Row, report: ImportReport) -> BaseGeometry | None:
    """A single valid polygon: invalid ones repaired with ``make_valid`` when that gives one polygon."""
    geom = row.geom
    if geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        report.reject(row.fid, f"not a polygon ({geom.geom_type})")
        return None
    if not geom.is_valid:
        why = shapely.is_valid_reason(geom).split("[")[0]
        parts = [g for g in getattr(shapely.make_valid(geom), "geoms", [shapely.make_valid(geom)])]
        polygons = [g for g in parts if g.geom_type == "Polygon" and g.area > 0]
        if len(polygons) != 1:
            report.reject(row.fid, f"invalid polygon ({why}): repair gives {len(polygons)} polygons")
            return None
        report.warn(f"invalid polygon repaired ({why})")
        geom = polygons[0]
    if geom.geom_type != "Polygon":
        report.reject(row.fid, f"multi-part polygon ({len(geom.geoms)} parts)")
        return None
    if geom.area <= 0:
        report.reject(row.fid, "polygon without area")
        return None
    return geom


def _single_line(row: Row, report: ImportReport) -> LineString | None:
    geom = shapely.line_merge(row.geom) if row.geom.geom_type == "MultiLineString" else row.geom
    if geom.geom_type != "LineString":
        report.reject(row.fid, f"not a single line ({geom.geom_type})")
        return None
    if geom.length <= 0:
        report.reject(row.fid, "zero-length line")
        return None
    return geom


def _known(session: Session, table: str, codes: set) -> set:
    if not codes:
        return set()
    return set(session.scalars(text(f"SELECT code FROM {table} WHERE code = ANY(:c)"), {"c": list(codes)}))


def import_buildings(session: Session, rows: list[Row], report: ImportReport, progress: Progress = None) -> dict:
    """Footprints; ground height from the attribute, else the DEM at the footprint's centroid. Project and
    parcel codes the file gives are kept when they name a registered one (the rest are linked spatially)."""
    kept = [(row, poly) for row in rows if (poly := _polygon(row, report)) is not None]
    known = {
        column: _known(session, table, {row.values.get(column) for row, _ in kept} - {None})
        for column, table in (("project_code", "project"), ("parcel_code", "parcel"))
    }
    centroids = np.array([[p.centroid.x, p.centroid.y] for _, p in kept]).reshape(-1, 2)
    dem = ground_heights(centroids)
    records = []
    for (row, poly), g in zip(kept, dem, strict=True):
        v = row.values
        ground = v.get("ground_h_orthometric")
        if ground is None and not np.isnan(g):
            ground = float(g)
        report.warn(NO_GROUND, int(ground is None))
        for column, codes in known.items():
            if v.get(column) is not None and v[column] not in codes:
                report.warn(f"{column} not registered (linked spatially instead)")
        grade = v.get("safety_grade")
        if grade is not None and grade not in ("A", "B", "C", "D"):
            report.reject(row.fid, f"unknown safety grade {grade!r}")
            continue
        records.append(
            {
                "code": row.fid,
                "address": v.get("address"),
                "height_m": v.get("height_m"),
                "ground_h_orthometric": ground,
                "floors_above": v.get("floors_above"),
                "floors_below": v.get("floors_below") or 0,
                "structure": v.get("structure"),
                "use": v.get("use"),
                "year_built": v.get("year_built"),
                "safety_grade": grade,
                **{column: v.get(column) if v.get(column) in codes else None for column, codes in known.items()},
                "footprint": poly,
            }
        )
    upsert(session, "building", "code", records, ("footprint",), progress)
    report.written += len(records)
    return {}


def import_parcels(session: Session, rows: list[Row], report: ImportReport, progress: Progress = None) -> dict:
    records = []
    for row in rows:
        if (poly := _polygon(row, report)) is not None:
            names = ("land_use", "height_limit_m", "max_plot_ratio", "max_density", "min_setback_m")
            records.append({"code": row.fid, **{n: row.values.get(n) for n in names}, "geom": poly})
    upsert(session, "parcel", "code", records, ("geom",), progress)
    report.written += len(records)
    return {}


def import_roads(session: Session, rows: list[Row], report: ImportReport, progress: Progress = None) -> dict:
    """Centre lines; the red line is the centre line buffered by half the width (flat ends)."""
    records = []
    for row in rows:
        line = _single_line(row, report)
        if line is None:
            continue
        width = row.values["width_m"]
        if width <= 0:
            report.reject(row.fid, "width_m not positive")
            continue
        red_line = line.buffer(width / 2, cap_style="flat")
        if red_line.geom_type != "Polygon":
            report.reject(row.fid, "red line is not one polygon")
            continue
        v = row.values
        records.append(
            {"code": row.fid, "name": v["name"], "road_class": v["road_class"], "width_m": width}
            | {"centerline": line, "red_line": red_line}
        )
    upsert(session, "road", "code", records, ("centerline", "red_line"), progress)
    report.written += len(records)
    return {}


def import_tunnels(session: Session, rows: list[Row], report: ImportReport, progress: Progress = None) -> dict:
    """Axes at the floor centre: Z = ground - cover - section height at every vertex."""
    lines = [(row, line) for row in rows if (line := _single_line(row, report)) is not None]
    records = []
    for row, line in lines:
        v = row.values
        xy = shapely.get_coordinates(line)
        ground = ground_heights(xy)
        report.warn(NO_GROUND, int(np.isnan(ground).any()))
        z = np.where(np.isnan(ground), 0.0, ground) - v["cover_depth_m"] - v["height_m"]
        records.append(
            {
                "id": row.fid,
                "name": v["name"],
                "segment": v["segment"],
                "width_m": v["width_m"],
                "height_m": v["height_m"],
                "cover_depth_m": v["cover_depth_m"],
                "owner": v.get("owner"),
                "axis": LineString(np.column_stack([xy, z])),
            }
        )
    upsert(session, "utility_tunnel", "id", records, ("axis",), progress)
    report.written += len(records)
    return {}
