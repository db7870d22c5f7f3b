"""Planning checks with GIS, against the project's parcel (用地红线), the road red lines (道路红线)
and the DEM: inside the parcel, setback, height above ground, plot ratio and building density.

Element footprints and heights come from the ingested version's ``bim_element`` rows (store CRS,
orthometric heights); the 2D measures are exact in the projected store CRS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from bim_ingest.review import rules
from bim_ingest.review.issues import Issue, rounded

ROOF_CLASSES = ("IfcRoof", "IfcRailing", "IfcCovering")


@dataclass
class Element:
    global_id: str
    ifc_class: str
    predefined_type: str | None
    name: str | None
    storey: str | None
    z_min: float
    z_max: float
    footprint: BaseGeometry


def load_elements(session: Session, version_id: int) -> list[Element]:
    rows = session.execute(
        text(
            """
            SELECT global_id, ifc_class, predefined_type, name, storey,
                   coalesce(z_min, ST_ZMin(geom)) AS z_min, coalesce(z_max, ST_ZMax(geom)) AS z_max,
                   ST_AsBinary(coalesce(footprint, ST_Force2D(ST_ConvexHull(geom)))) AS fp
            FROM bim_element WHERE version_id = :v AND (footprint IS NOT NULL OR geom IS NOT NULL)
            ORDER BY global_id
            """
        ),
        {"v": version_id},
    )
    return [
        Element(
            r.global_id,
            r.ifc_class,
            r.predefined_type,
            r.name,
            r.storey,
            r.z_min,
            r.z_max,
            shapely.from_wkb(bytes(r.fp)),
        )
        for r in rows
        if r.fp is not None and r.z_min is not None
    ]


def _issue(rule: str, element: Element, measured: float, limit: float, unit: str, message: str, **details) -> Issue:
    return Issue(
        rule=rule,
        severity=rules.ERROR,
        message=message,
        global_id=element.global_id,
        ifc_class=element.ifc_class,
        name=element.name,
        measured=rounded(measured),
        limit=limit,
        unit=unit,
        details=details,
    )


def _check(rule: str, measured: float | None, limit: float | None, unit: str, failing: list[Issue], **extra) -> dict:
    return {
        "rule": rule,
        "measured": rounded(measured),
        "limit": limit,
        "unit": unit,
        "passed": not failing if limit is not None and measured is not None else None,
        "elements": sorted({i.global_id for i in failing if i.global_id}),
        **extra,
    }


def ground_level(footprint: BaseGeometry) -> float:
    """Mean DEM height (orthometric) at the corners of the building's convex hull; NaN without DEM."""
    from gis.dem import ground_heights

    hull = footprint.convex_hull
    corners = np.asarray(hull.exterior.coords[:-1] if hull.geom_type == "Polygon" else hull.coords, dtype=float)
    heights = ground_heights(corners[:, :2])
    return float(np.nanmean(heights)) if np.isfinite(heights).any() else float("nan")


def _parcel(session: Session, project_code: str, footprint: BaseGeometry) -> dict | None:
    """The project's parcel; else the parcel that holds most of the building."""
    row = (
        session.execute(
            text(
                """
            SELECT p.code, p.height_limit_m, p.max_plot_ratio, p.max_density, p.min_setback_m, ST_AsBinary(p.geom) AS g
            FROM project pr JOIN parcel p ON p.code = pr.parcel_code WHERE pr.code = :code
            """
            ),
            {"code": project_code},
        )
        .mappings()
        .first()
    )
    if row is None:
        row = (
            session.execute(
                text(
                    """
                SELECT code, height_limit_m, max_plot_ratio, max_density, min_setback_m, ST_AsBinary(geom) AS g
                FROM parcel WHERE ST_Intersects(geom, ST_GeomFromWKB(:fp, :srid))
                ORDER BY ST_Area(ST_Intersection(geom, ST_GeomFromWKB(:fp, :srid))) DESC LIMIT 1
                """
                ),
                {"fp": shapely.to_wkb(footprint), "srid": _srid()},
            )
            .mappings()
            .first()
        )
    return None if row is None else dict(row) | {"geom": shapely.from_wkb(bytes(row["g"]))}


def _srid() -> int:
    from core.settings import get_settings

    return get_settings().store_srid


def _red_lines(session: Session, parcel: BaseGeometry, building: BaseGeometry) -> list[tuple[str, BaseGeometry]]:
    """Red lines near the parcel or near the building (a building placed off its parcel is still
    measured from the roads beside it)."""
    rows = session.execute(
        text(
            "SELECT code, ST_AsBinary(red_line) AS g FROM road"
            " WHERE ST_DWithin(red_line, ST_GeomFromWKB(:p, :srid), :d)"
            " OR ST_DWithin(red_line, ST_GeomFromWKB(:b, :srid), :d)"
        ),
        {"p": shapely.to_wkb(parcel), "b": shapely.to_wkb(building), "srid": _srid(), "d": rules.ROAD_SEARCH_M},
    )
    return [(r.code, shapely.from_wkb(bytes(r.g))) for r in rows]


def planning_checks(
    session: Session, version_id: int, project_code: str, building_global_id: str | None
) -> tuple[list[Issue], list[dict[str, Any]], dict[str, Any]]:
    """Issues per element, a summary per check (measured, limit, elements), and the site facts used."""
    elements = load_elements(session, version_id)
    if not elements:
        return [], [], {"elements_with_geometry": 0}
    building = shapely.union_all([e.footprint for e in elements])
    issues: list[Issue] = []
    checks: list[dict[str, Any]] = []
    parcel = _parcel(session, project_code, building)
    ground = ground_level(building)
    site: dict[str, Any] = {
        "parcel": parcel["code"] if parcel else None,
        "ground_h_orthometric": None if np.isnan(ground) else round(ground, 3),
        "footprint_area_m2": round(building.area, 2),
    }
    if parcel is None:
        issues.append(
            Issue(
                rule=rules.NO_PARCEL,
                severity=rules.ERROR,
                global_id=building_global_id,
                ifc_class="IfcBuilding",
                message=f"no parcel for project {project_code} and none under the building: "
                "record the project's parcel (project.parcel_code) before review",
            )
        )
        return issues, checks, site

    # Inside the parcel: the farthest footprint corner outside the parcel line.
    outside = []
    for e in elements:
        corners = shapely.points(shapely.get_coordinates(e.footprint))
        over = float(shapely.distance(corners, parcel["geom"]).max()) if len(corners) else 0.0
        if over > rules.PLANNING_TOLERANCE_M:
            outside.append(
                _issue(
                    rules.INSIDE_PARCEL,
                    e,
                    over,
                    0.0,
                    "m",
                    f"{e.ifc_class} {e.name or ''} reaches {over:.2f} m beyond parcel {parcel['code']}",
                    parcel=parcel["code"],
                )
            )
    worst = max((i.measured for i in outside), default=0.0)
    checks.append(_check(rules.INSIDE_PARCEL, worst, 0.0, "m", outside, parcel=parcel["code"]))
    issues += outside

    # Setback from the road red lines (the building above ground).
    above = [e for e in elements if np.isnan(ground) or e.z_max > ground + rules.PLANNING_TOLERANCE_M] or elements
    setback = parcel["min_setback_m"] if parcel["min_setback_m"] is not None else rules.DEFAULT_SETBACK_M
    roads = _red_lines(session, parcel["geom"], building)
    near = []
    nearest = None
    for e in above if roads else []:
        d, code = min((float(e.footprint.distance(red_line)), code) for code, red_line in roads)
        nearest = d if nearest is None else min(nearest, d)
        if d < setback - rules.PLANNING_TOLERANCE_M:
            near.append(
                _issue(
                    rules.SETBACK,
                    e,
                    d,
                    setback,
                    "m",
                    f"{e.ifc_class} {e.name or ''} is {d:.2f} m from the red line of road {code}; "
                    f"setback {setback:.1f} m required",
                    road=code,
                )
            )
    checks.append(_check(rules.SETBACK, nearest, setback, "m", near, roads=[c for c, _ in roads]))
    issues += near

    # Height above the ground (DEM) against the parcel's height limit.
    limit = parcel["height_limit_m"]
    if np.isnan(ground):
        issues.append(
            Issue(
                rule=rules.NO_GROUND,
                severity=rules.WARNING,
                global_id=building_global_id,
                ifc_class="IfcBuilding",
                message="no DEM under the building: height and floor area were not checked; import the DEM",
            )
        )
    else:
        top = max(e.z_max for e in elements) - ground
        tall = []
        if limit is not None:
            tall = [
                _issue(
                    rules.HEIGHT,
                    e,
                    e.z_max - ground,
                    limit,
                    "m",
                    f"{e.ifc_class} {e.name or ''} rises {e.z_max - ground:.2f} m above the ground; "
                    f"parcel {parcel['code']} allows {limit:.1f} m",
                )
                for e in elements
                if e.z_max - ground > limit + rules.PLANNING_TOLERANCE_M
            ]
        checks.append(_check(rules.HEIGHT, top, limit, "m", tall, ground_h_orthometric=round(ground, 3)))
        issues += tall

        # Plot ratio: floor area of the storeys above ground over the parcel area; density: the
        # footprint above ground over the parcel area.
        storeys: dict[str, list[Element]] = {}
        for e in elements:
            if e.storey is not None and e.ifc_class not in ROOF_CLASSES and e.predefined_type != "ROOF":
                storeys.setdefault(e.storey, []).append(e)
        floor_area = 0.0
        counted = []
        for name, members in sorted(storeys.items()):
            if max(m.z_max for m in members) > ground + rules.ABOVE_GROUND_M:
                floor_area += shapely.union_all([m.footprint for m in members]).area
                counted.append(name)
        parcel_area = parcel["geom"].area
        base = shapely.union_all([e.footprint for e in above]).area
        for rule, value, cap, what in (
            (rules.PLOT_RATIO, floor_area / parcel_area, parcel["max_plot_ratio"], "plot ratio"),
            (rules.DENSITY, base / parcel_area, parcel["max_density"], "building density"),
        ):
            failing = []
            if cap is not None and value > cap + 1e-4:
                failing.append(
                    Issue(
                        rule=rule,
                        severity=rules.ERROR,
                        global_id=building_global_id,
                        ifc_class="IfcBuilding",
                        measured=rounded(value, 6),
                        limit=cap,
                        message=f"{what} {value:.3f} exceeds parcel {parcel['code']}'s {cap:.2f}",
                    )
                )
            checks.append(_check(rule, value, cap, "ratio", failing))
            checks[-1]["measured"] = rounded(value, 6)
            issues += failing
        site |= {
            "floor_area_m2": round(floor_area, 2),
            "storeys_counted": counted,
            "parcel_area_m2": round(parcel_area, 2),
        }
    return issues, checks, site
