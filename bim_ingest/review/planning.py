"""Planning checks with GIS, against the project's parcel (用地红线), the road red lines (道路红线)
and the DEM: inside the parcel, setback, height above ground, plot ratio and building density.

Element footprints and heights come from the ingested version's ``bim_element`` rows (store CRS,
orthometric heights); the 2D measures are exact in the projected store CRS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from bim_ingest.review import rules
from bim_ingest.review.issues import Issue, rounded
from core.settings import store_srid

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
                {"fp": shapely.to_wkb(footprint), "srid": store_srid()},
            )
            .mappings()
            .first()
        )
    return None if row is None else dict(row) | {"geom": shapely.from_wkb(bytes(row["g"]))}


def _red_lines(session: Session, parcel: BaseGeometry, building: BaseGeometry) -> list[tuple[str, BaseGeometry]]:
    """Red lines near the parcel or near the building (a building placed off its parcel is still
    measured from the roads beside it)."""
    rows = session.execute(
        text(
            "SELECT code, ST_AsBinary(red_line) AS g FROM road"
            " WHERE ST_DWithin(red_line, ST_GeomFromWKB(:p, :srid), :d)"
            " OR ST_DWithin(red_line, ST_GeomFromWKB(:b, :srid), :d)"
        ),
        {"p": shapely.to_wkb(parcel), "b": shapely.to_wkb(building), "srid": store_srid(), "d": rules.ROAD_SEARCH_M},
    )
    return [(r.code, shapely.from_wkb(bytes(r.g))) for r in rows]


@dataclass
class Site:
    """What the checks measure against: the version's elements, the project's parcel and the ground."""

    session: Session
    elements: list[Element]
    building: BaseGeometry  # the union of the elements' footprints
    parcel: dict[str, Any]
    ground: float  # orthometric, NaN without DEM
    building_global_id: str | None
    facts: dict[str, Any]  # the site facts the report shows; checks may add theirs

    @cached_property
    def above(self) -> list[Element]:
        """The elements above ground (all of them without a DEM, or when none is above)."""
        tolerance = rules.PLANNING_TOLERANCE_M
        return [e for e in self.elements if np.isnan(self.ground) or e.z_max > self.ground + tolerance] or self.elements

    def building_issue(self, rule: str, severity: str, message: str, **measures: Any) -> Issue:
        return Issue(
            rule=rule,
            severity=severity,
            global_id=self.building_global_id,
            ifc_class="IfcBuilding",
            message=message,
            **measures,
        )


# a check's issues and its summaries (one per rule it decides)
Found = tuple[list[Issue], list[dict[str, Any]]]


def inside_parcel(site: Site) -> Found:
    """The farthest footprint corner outside the parcel line, per element."""
    parcel = site.parcel
    outside = []
    for e in site.elements:
        corners = shapely.points(shapely.get_coordinates(e.footprint))
        over = float(shapely.distance(corners, parcel["geom"]).max()) if len(corners) else 0.0
        if over > rules.PLANNING_TOLERANCE_M:
            message = f"{e.ifc_class} {e.name or ''} reaches {over:.2f} m beyond parcel {parcel['code']}"
            outside.append(_issue(rules.INSIDE_PARCEL, e, over, 0.0, "m", message, parcel=parcel["code"]))
    worst = max((i.measured or 0.0 for i in outside), default=0.0)
    return outside, [_check(rules.INSIDE_PARCEL, worst, 0.0, "m", outside, parcel=parcel["code"])]


def setback(site: Site) -> Found:
    """The distance of the building above ground from the nearest road red line."""
    parcel = site.parcel
    required = parcel["min_setback_m"] if parcel["min_setback_m"] is not None else rules.DEFAULT_SETBACK_M
    roads = _red_lines(site.session, parcel["geom"], site.building)
    near = []
    nearest = None
    for e in site.above if roads else []:
        d, code = min((float(e.footprint.distance(red_line)), code) for code, red_line in roads)
        nearest = d if nearest is None else min(nearest, d)
        if d < required - rules.PLANNING_TOLERANCE_M:
            message = (
                f"{e.ifc_class} {e.name or ''} is {d:.2f} m from the red line of road {code}; "
                f"setback {required:.1f} m required"
            )
            near.append(_issue(rules.SETBACK, e, d, required, "m", message, road=code))
    return near, [_check(rules.SETBACK, nearest, required, "m", near, roads=[c for c, _ in roads])]


def height(site: Site) -> Found:
    """The height above the ground (DEM) against the parcel's height limit; without a DEM, a
    warning that height and floor area were not checked."""
    if np.isnan(site.ground):
        message = "no DEM under the building: height and floor area were not checked; import the DEM"
        return [site.building_issue(rules.NO_GROUND, rules.WARNING, message)], []
    ground, limit, parcel = site.ground, site.parcel["height_limit_m"], site.parcel["code"]
    top = max(e.z_max for e in site.elements) - ground
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
                f"parcel {parcel} allows {limit:.1f} m",
            )
            for e in site.elements
            if e.z_max - ground > limit + rules.PLANNING_TOLERANCE_M
        ]
    return tall, [_check(rules.HEIGHT, top, limit, "m", tall, ground_h_orthometric=round(ground, 3))]


def _floor_area(site: Site) -> tuple[float, list[str]]:
    """The floor area of the storeys above ground (roofs left out) and those storeys' names."""
    storeys: dict[str, list[Element]] = {}
    for e in site.elements:
        if e.storey is not None and e.ifc_class not in ROOF_CLASSES and e.predefined_type != "ROOF":
            storeys.setdefault(e.storey, []).append(e)
    floor_area = 0.0
    counted = []
    for name, members in sorted(storeys.items()):
        if max(m.z_max for m in members) > site.ground + rules.ABOVE_GROUND_M:
            floor_area += shapely.union_all([m.footprint for m in members]).area
            counted.append(name)
    return floor_area, counted


def intensity(site: Site) -> Found:
    """Plot ratio (floor area above ground over the parcel's area) and building density (the
    footprint above ground over the parcel's area) against the parcel's caps; needs the DEM."""
    if np.isnan(site.ground):
        return [], []
    parcel = site.parcel
    floor_area, counted = _floor_area(site)
    parcel_area = parcel["geom"].area
    base = shapely.union_all([e.footprint for e in site.above]).area
    issues: list[Issue] = []
    checks = []
    for rule, value, cap, what in (
        (rules.PLOT_RATIO, floor_area / parcel_area, parcel["max_plot_ratio"], "plot ratio"),
        (rules.DENSITY, base / parcel_area, parcel["max_density"], "building density"),
    ):
        failing = []
        if cap is not None and value > cap + 1e-4:
            message = f"{what} {value:.3f} exceeds parcel {parcel['code']}'s {cap:.2f}"
            failing.append(
                site.building_issue(rule, rules.ERROR, message, measured=rounded(value, 6), limit=cap),
            )
        checks.append(_check(rule, value, cap, "ratio", failing) | {"measured": rounded(value, 6)})
        issues += failing
    site.facts |= {
        "floor_area_m2": round(floor_area, 2),
        "storeys_counted": counted,
        "parcel_area_m2": round(parcel_area, 2),
    }
    return issues, checks


# The planning checks in the order the report lists them; a new check is one more function here.
CHECKS: tuple[Callable[[Site], Found], ...] = (inside_parcel, setback, height, intensity)


def planning_checks(
    session: Session, version_id: int, project_code: str, building_global_id: str | None
) -> tuple[list[Issue], list[dict[str, Any]], dict[str, Any]]:
    """Issues per element, a summary per check (measured, limit, elements), and the site facts used."""
    elements = load_elements(session, version_id)
    if not elements:
        return [], [], {"elements_with_geometry": 0}
    building = shapely.union_all([e.footprint for e in elements])
    parcel = _parcel(session, project_code, building)
    ground = ground_level(building)
    facts: dict[str, Any] = {
        "parcel": parcel["code"] if parcel else None,
        "ground_h_orthometric": None if np.isnan(ground) else round(ground, 3),
        "footprint_area_m2": round(building.area, 2),
    }
    site = Site(session, elements, building, parcel or {}, ground, building_global_id, facts)
    if parcel is None:
        message = (
            f"no parcel for project {project_code} and none under the building: "
            "record the project's parcel (project.parcel_code) before review"
        )
        return [site.building_issue(rules.NO_PARCEL, rules.ERROR, message)], [], facts
    issues: list[Issue] = []
    checks: list[dict[str, Any]] = []
    for check in CHECKS:
        found, summaries = check(site)
        issues += found
        checks += summaries
    return issues, checks, site.facts
